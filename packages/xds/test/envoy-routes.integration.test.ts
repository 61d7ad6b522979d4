/**
 * VirtualService routes on a real stock Envoy 1.40 sidecar, outbound: Envoy runs in a network
 * namespace with Istio-style outbound capture (iptables REDIRECT of port 80 to 15001, inside the
 * namespace only); curl in the namespace calls the echo service; the backends are HTTP servers
 * on the host that answer with who they are and what they received. Checks live traffic for a
 * rewrite, a mirror and a consistent-hash (sticky) route.
 *
 * Needs root (network namespace, iptables in it) and Envoy; skips without them unless
 * MESHCTL_REQUIRE lists envoy.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderBootstrap, startXdsServer, staticMeshSource, type XdsServerHandle } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, envoyInNetnsGate, startEnvoy } from "./envoy-process.js";
import { createTestNetns, type TestNetns } from "./netns.js";

const { gate, envoyPath } = await envoyInNetnsGate("xds envoy routes test");

interface Seen {
  readonly id: string;
  readonly path: string;
  readonly host: string;
}

/** An HTTP backend on the host that answers `{id, path, host}` and remembers what it saw. */
async function startBackend(
  id: string,
  host: string,
): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s = { id, path: req.url ?? "", host: req.headers.host ?? "" };
    seen.push(s);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

const ECHO = "echo.demo.svc.cluster.local";

describe.skipIf(gate.skip)("VirtualService routes on a real Envoy sidecar (outbound)", () => {
  let ns: TestNetns | undefined;
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  const backends: Awaited<ReturnType<typeof startBackend>>[] = [];

  /** One request from inside the namespace, through the sidecar. */
  async function call(path: string, headers: Record<string, string> = {}): Promise<Seen> {
    const args = ["-sS", "--max-time", "5", "-H", `host: ${ECHO}`];
    for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
    // Any address on port 80 is captured to 15001; the host's end of the veth has a route.
    const out = await ns?.run("curl", [...args, `http://${ns.hostIp}:80${path}`]);
    return JSON.parse(out ?? "") as Seen;
  }

  beforeAll(async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    ns = await createTestNetns({
      tag: `rt${process.pid % 10_000}`,
      octet: 216,
      index: 1 + (process.pid % 250),
    });
    // Istio's outbound capture, reduced to port 80: the app's connections go to 15001.
    await ns.run("iptables", [
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-p",
      "tcp",
      "--dport",
      "80",
      "-j",
      "REDIRECT",
      "--to-ports",
      "15001",
    ]);
    for (const id of ["a", "b", "c", "d", "mirror"]) backends.push(await startBackend(id, ns.hostIp));
    const slice = (name: string, service: string, labels: Record<string, string>, port: number) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace: "demo", labels: { "kubernetes.io/service-name": service, ...labels } },
      addressType: "IPv4",
      ports: [{ name: "http", port }],
      endpoints: [{ addresses: [ns?.hostIp] }],
    });
    const [a, b, c, d, mirror] = backends;
    const source = staticMeshSource([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "echo", namespace: "demo" },
        spec: { ports: [{ name: "http", port: 80 }] },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "shadow", namespace: "demo" },
        spec: { ports: [{ name: "http", port: 80 }] },
      },
      slice("echo-a", "echo", { version: "v1" }, a?.port ?? 0),
      slice("echo-b", "echo", { version: "v2" }, b?.port ?? 0),
      slice("echo-c", "echo", { version: "v2" }, c?.port ?? 0),
      slice("echo-d", "echo", { version: "v2" }, d?.port ?? 0),
      slice("shadow", "shadow", {}, mirror?.port ?? 0),
      {
        apiVersion: "networking.istio.io/v1",
        kind: "DestinationRule",
        metadata: { name: "echo", namespace: "demo" },
        spec: {
          host: "echo",
          subsets: [
            { name: "v1", labels: { version: "v1" } },
            {
              name: "v2",
              labels: { version: "v2" },
              trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } },
            },
          ],
        },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "echo", namespace: "demo" },
        spec: {
          hosts: ["echo"],
          http: [
            {
              name: "rewrite",
              match: [{ uri: { prefix: "/old/" } }],
              rewrite: { uri: "/new/", authority: "rewritten.example" },
              route: [{ destination: { host: "echo", subset: "v1" } }],
            },
            {
              name: "mirror",
              match: [{ uri: { prefix: "/mirror" } }],
              route: [{ destination: { host: "echo", subset: "v1" } }],
              mirror: { host: "shadow" },
            },
            // The rest are here so Envoy validates every shape meshctl generates (no NACK).
            {
              name: "everything",
              match: [
                {
                  uri: { regex: "/every.*" },
                  ignoreUriCase: true,
                  method: { exact: "GET" },
                  headers: { "x-a": {} },
                  withoutHeaders: { "x-b": { exact: "no" } },
                  queryParams: { q: { prefix: "p" } },
                },
              ],
              rewrite: { uriRegexRewrite: { match: "^/every(.*)$", rewrite: "/all\\1" } },
              headers: { request: { set: { "x-s": "1" }, add: { "x-t": "2" }, remove: ["x-r"] } },
              corsPolicy: {
                allowOrigins: [{ exact: "https://a.example" }, { regex: ".*\\.b\\.example" }],
                allowMethods: ["GET"],
                maxAge: "1h",
                allowCredentials: true,
              },
              retries: { attempts: 3, perTryTimeout: "1s", retryOn: "5xx,503", retryRemoteLocalities: true },
              timeout: "5s",
              fault: { delay: { fixedDelay: "1ms", percentage: { value: 1 } } },
              route: [
                {
                  destination: { host: "echo", subset: "v1" },
                  weight: 50,
                  headers: { response: { add: { "x-d": "d" } } },
                },
                { destination: { host: "echo", subset: "v2" }, weight: 50 },
              ],
            },
            {
              name: "redirect",
              match: [{ uri: { exact: "/go" } }],
              redirect: { uri: "/gone", authority: "elsewhere.example", redirectCode: 308 },
            },
            {
              name: "teapot",
              match: [{ uri: { prefix: "/tea" } }],
              directResponse: { status: 418, body: { string: "short and stout" } },
            },
            { name: "sticky", route: [{ destination: { host: "echo", subset: "v2" } }] },
          ],
        },
      },
    ]);
    // The namespace reaches the server over its veth: a test-only plaintext listener beyond loopback.
    xds = await startXdsServer({ source, host: ns.hostIp, port: 0, debugPort: false, insecure: true });
    envoy = await startEnvoy(
      envoyPath,
      renderBootstrap({
        kind: "envoy",
        name: "client-1",
        namespace: "demo",
        ip: ns.ip,
        server: xds.address,
        adminPort: 0,
      }),
      { netns: ns },
    );
    await waitFor(
      async () => {
        try {
          return (await call("/old/x")).path === "/new/x";
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: "the rewrite route to serve" },
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}\nclients: ${JSON.stringify(xds?.clients())}\nEnvoy log:\n${envoy?.log()}`,
      );
    });
  }, 90_000);

  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
    await ns?.close();
    for (const b of backends) await new Promise((r) => b.server.close(r));
  });

  test("Envoy accepts every route: nothing NACKed", () => {
    for (const [kind, t] of Object.entries(xds?.clients()[0]?.types ?? {}))
      expect(t.nacks, `${kind}: ${t.lastNackError}`).toBe(0);
  });

  test("redirect and direct response are answered by Envoy itself", async () => {
    const raw = (path: string) =>
      ns?.run("curl", [
        "-sS",
        "--max-time",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-H",
        `host: ${ECHO}`,
        `http://${ns.hostIp}:80${path}`,
      ]);
    expect(await raw("/go")).toBe("308 http://elsewhere.example/gone");
    expect(
      await ns?.run("curl", ["-sS", "--max-time", "5", "-H", `host: ${ECHO}`, `http://${ns.hostIp}:80/tea`]),
    ).toBe("short and stout");
  });

  test("regex rewrite and header edits on the everything route", async () => {
    const seen = await call("/everything?q=pp", { "x-a": "1" });
    expect(seen.path).toBe("/allthing?q=pp");
  });

  test("rewrite: the backend sees the new path prefix and authority", async () => {
    expect(await call("/old/thing?q=1")).toEqual({
      id: "a",
      path: "/new/thing?q=1",
      host: "rewritten.example",
    });
  });

  test("mirror: the shadow service gets a copy, the caller the primary's answer", async () => {
    const before = backends[4]?.seen.length ?? 0;
    expect((await call("/mirror/one")).id).toBe("a");
    await waitFor(() => (backends[4]?.seen.length ?? 0) > before, {
      timeoutMs: 5_000,
      what: "the mirrored copy",
    });
    expect(backends[4]?.seen.at(-1)?.path).toBe("/mirror/one");
  });

  test("consistent hash: the same x-user always reaches the same backend; users spread", {
    timeout: 60_000,
  }, async () => {
    const chosen = new Map<string, string>();
    for (const user of ["alice", "bob", "carol", "dave", "erin", "frank"]) {
      const ids = new Set<string>();
      for (let i = 0; i < 8; i++) ids.add((await call("/sticky", { "x-user": user })).id);
      expect([...ids], user).toHaveLength(1);
      chosen.set(user, [...ids][0] ?? "");
    }
    // Six users over three ring-hash backends: not all on one (probability 3 * (1/3)^6 < 0.5%).
    expect(new Set(chosen.values()).size).toBeGreaterThan(1);
  });
});
