/**
 * Sidecar `outboundTrafficPolicy` against a real stock Envoy 1.40 sidecar: the "pod" is a network
 * namespace whose app traffic (a client running as `nobody`) is captured to 15001 as Istio's
 * iptables rules do (Envoy itself, as root, is not captured). A request to a host the mesh does
 * not know, on a port it has an HTTP listener for, passes through with ALLOW_ANY (the default)
 * and is answered 502 by Envoy once a Sidecar sets REGISTRY_ONLY; a TCP connection to a port the
 * mesh does not know goes through, then is blackholed.
 *
 * Needs root (network namespace, iptables in it) and Envoy; skips without them unless
 * MESHCTL_REQUIRE lists envoy.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  renderBootstrap,
  type StaticMeshSource,
  startXdsServer,
  staticMeshSource,
  type XdsServerHandle,
} from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, envoyInNetnsGate, startEnvoy, waitForEnvoyAcks } from "./envoy-process.js";
import { createTestNetns, type TestNetns } from "./netns.js";

const { gate, envoyPath } = await envoyInNetnsGate("xds outbound traffic policy test");

const APP_UID = 65_534;

/** One HTTP request (or TCP exchange) from the app's uid inside the namespace; prints the outcome. */
const CLIENT = `
const [kind, host, port] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done("timeout"), 5000);
if (kind === "http") {
  require("node:http").get({ host, port: Number(port), path: "/", headers: { host: "unknown.example.com" } }, (res) => {
    let body = "";
    res.on("data", (d) => (body += d));
    res.on("end", () => done(res.statusCode + " " + body));
  }).on("error", (e) => done("error " + e.code));
} else {
  const s = require("node:net").connect(Number(port), host, () => s.write("ping"));
  let data = "";
  s.on("data", (d) => { data += d; if (data === "ping") { s.end(); done("echo " + data); } });
  s.on("close", () => done("closed " + data));
  s.on("error", (e) => done("error " + e.code));
}`;

function listen(server: Server | TcpServer, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
}

describe.skipIf(gate.skip)("outboundTrafficPolicy on a real Envoy sidecar", () => {
  let ns: TestNetns | undefined;
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  let source: StaticMeshSource | undefined;
  let http: Server | undefined;
  let tcp: TcpServer | undefined;
  let httpPort = 0;
  let tcpPort = 0;
  let objects: Record<string, unknown>[] = [];

  const client = async (kind: "http" | "tcp", port: number): Promise<string> =>
    (
      await (ns as TestNetns).run("setpriv", [
        `--reuid=${APP_UID}`,
        `--regid=${APP_UID}`,
        "--clear-groups",
        process.execPath,
        "-e",
        CLIENT,
        kind,
        (ns as TestNetns).hostIp,
        String(port),
      ])
    ).trim();

  beforeAll(async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    ns = await createTestNetns({
      tag: `ot${process.pid % 10_000}`,
      // Its own /16: envoy-routes uses 216, and the two files may run at the same time.
      octet: 217,
      index: 1 + (process.pid % 250),
    });
    // Istio's outbound capture for the app's uid: every TCP connection it opens goes to 15001.
    await ns.run("iptables", [
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-p",
      "tcp",
      "-m",
      "owner",
      "--uid-owner",
      String(APP_UID),
      "-j",
      "REDIRECT",
      "--to-ports",
      "15001",
    ]);
    // "The internet": servers on the host the mesh knows nothing about.
    http = createHttpServer((_req, res) => res.end("outside"));
    httpPort = await listen(http, ns.hostIp);
    tcp = createTcpServer((s) => s.pipe(s));
    tcpPort = await listen(tcp, ns.hostIp);
    // The mesh has an HTTP service on the same port (so Envoy has an HTTP listener there), with
    // an endpoint nobody reaches: only the catch-all virtual host decides the request's fate.
    objects = [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "demo" },
        spec: { ports: [{ name: "http", port: httpPort }] },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-0", namespace: "demo", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: httpPort }],
        endpoints: [{ addresses: ["192.0.2.1"] }],
      },
    ];
    source = staticMeshSource(objects);
    xds = await startXdsServer({ source, host: ns.hostIp, port: 0, debugPort: false, insecure: true });
    envoy = await startEnvoy(
      envoyPath,
      renderBootstrap({
        kind: "envoy",
        name: "app-1",
        namespace: "demo",
        ip: ns.ip,
        server: xds.address,
        adminPort: 0,
      }),
      { netns: ns },
    );
    if (xds && envoy) await waitForEnvoyAcks(xds, envoy);
  }, 90_000);

  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
    await ns?.close();
    http?.close();
    tcp?.close();
  });

  test("ALLOW_ANY (the mesh default): unknown hosts and ports pass through", {
    timeout: 30_000,
  }, async () => {
    expect(await client("http", httpPort)).toBe("200 outside");
    expect(await client("tcp", tcpPort)).toBe("echo ping");
    // istiod's alt_stat_name ("PassthroughCluster;") names the cluster's stats.
    const stats = await envoy?.stats();
    expect(stats?.get("cluster.PassthroughCluster;.upstream_cx_total")).toBeGreaterThanOrEqual(2);
  });

  test("REGISTRY_ONLY: the request is answered 502 by Envoy, the TCP connection blackholed", {
    timeout: 40_000,
  }, async () => {
    source?.update([
      ...objects,
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Sidecar",
        metadata: { name: "default", namespace: "demo" },
        spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
      },
    ]);
    const answer = await waitFor(
      async () => {
        const r = await client("http", httpPort);
        return r.startsWith("502") ? r : false;
      },
      { timeoutMs: 20_000, what: "Envoy to answer 502 for an unknown host" },
    );
    expect(answer).toMatch(/^502/);
    expect(await client("tcp", tcpPort)).toMatch(/^(closed|error)/);
    for (const [kind, t] of Object.entries(xds?.clients()[0]?.types ?? {}))
      expect(t.nacks, `${kind}: ${t.lastNackError}`).toBe(0);
  });
});
