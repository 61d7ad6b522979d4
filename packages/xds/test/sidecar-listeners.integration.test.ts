/**
 * Sidecar `ingress` and egress `port`/`bind`/`captureMode` against a real stock Envoy 1.40: Envoy
 * accepts every shape meshctl sends for them (STATIC inbound clusters to loopback, the pod IP and
 * a unix socket, an ingress listener bound to the pod IP, egress listeners on their own
 * addresses), and a connection to an egress listener with captureMode NONE (bound to
 * 127.0.0.1:PORT in the "pod", no iptables) reaches the service's endpoint.
 *
 * Needs root (network namespace) and Envoy; skips without them unless MESHCTL_REQUIRE lists envoy.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderBootstrap, startXdsServer, staticMeshSource, type XdsServerHandle } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, envoyInNetnsGate, startEnvoy, waitForEnvoyAcks } from "./envoy-process.js";
import { createTestNetns, type TestNetns } from "./netns.js";

const { gate, envoyPath } = await envoyInNetnsGate("xds Sidecar listeners test");

/** One TCP exchange from inside the namespace; prints what came back. */
const CLIENT = `
const [host, port] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done("timeout"), 5000);
const s = require("node:net").connect(Number(port), host, () => s.write("ping"));
let data = "";
s.on("data", (d) => { data += d; if (data === "ping") { s.end(); done("echo " + data); } });
s.on("close", () => done("closed " + data));
s.on("error", (e) => done("error " + e.code));`;

const EGRESS_PORT = 9000;

describe.skipIf(gate.skip)("Sidecar ingress and egress ports on a real Envoy sidecar", () => {
  let ns: TestNetns | undefined;
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  let echo: Server | undefined;

  beforeAll(async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    ns = await createTestNetns({
      tag: `sl${process.pid % 10_000}`,
      octet: 218,
      index: 1 + (process.pid % 250),
    });
    const server = createServer((s) => s.pipe(s));
    echo = server;
    const echoPort = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, ns?.hostIp, () => resolve((server.address() as { port: number }).port));
    });
    const objects: Record<string, unknown>[] = [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "echo", namespace: "demo" },
        spec: {
          clusterIP: "10.96.7.7",
          ports: [
            { name: "tcp", port: EGRESS_PORT, targetPort: echoPort },
            { name: "http", port: 8080 },
          ],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "echo-0", namespace: "demo", labels: { "kubernetes.io/service-name": "echo" } },
        addressType: "IPv4",
        ports: [
          { name: "tcp", port: echoPort },
          { name: "http", port: 8080 },
        ],
        endpoints: [{ addresses: [ns.hostIp] }],
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Sidecar",
        metadata: { name: "default", namespace: "demo" },
        spec: {
          ingress: [
            { port: { number: 9080, protocol: "HTTP" }, defaultEndpoint: "127.0.0.1:8080" },
            { port: { number: 9090, protocol: "TCP" }, defaultEndpoint: "0.0.0.0:7070" },
            { port: { number: 9443, protocol: "HTTP2" } },
            { port: { number: 9555, protocol: "GRPC" }, defaultEndpoint: "unix:///tmp/mcx-app.sock" },
            {
              port: { number: 9092, protocol: "HTTP" },
              captureMode: "NONE",
              defaultEndpoint: "127.0.0.1:8082",
            },
          ],
          egress: [
            { port: { number: EGRESS_PORT, protocol: "TCP" }, captureMode: "NONE", hosts: ["./*"] },
            { port: { number: 8080, protocol: "HTTP" }, bind: "127.0.0.2", hosts: ["./*"] },
            { hosts: ["./*"] },
          ],
        },
      },
    ];
    xds = await startXdsServer({
      source: staticMeshSource(objects),
      host: ns.hostIp,
      port: 0,
      debugPort: false,
      insecure: true,
    });
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
    echo?.close();
  });

  test("Envoy takes the inbound clusters and listeners of the ingress ports", async () => {
    const listeners = await envoy?.adminGet("/listeners?format=json");
    for (const name of [`${ns?.ip}_9092`, "127.0.0.2_8080", `127.0.0.1_${EGRESS_PORT}`, "virtualInbound"])
      expect(listeners).toContain(`"${name}"`);
    expect(await envoy?.hostsOf("inbound|9080||")).toEqual(["127.0.0.1"]);
    expect(await envoy?.hostsOf("inbound|9090||")).toEqual([ns?.ip]);
    // Only the egress ports' ports of echo: 9000 and 8080 both, through their listeners.
    expect(await envoy?.hostsOf(`outbound|${EGRESS_PORT}||echo.demo.svc.cluster.local`)).toEqual([
      ns?.hostIp,
    ]);
  });

  test("captureMode NONE: a connection to 127.0.0.1:PORT in the pod reaches the service", {
    timeout: 30_000,
  }, async () => {
    const answer = await waitFor(
      async () => {
        const r = (
          await (ns as TestNetns).run(process.execPath, ["-e", CLIENT, "127.0.0.1", String(EGRESS_PORT)])
        ).trim();
        return r === "echo ping" ? r : false;
      },
      { timeoutMs: 20_000, what: "an echo through the bound egress listener" },
    );
    expect(answer).toBe("echo ping");
  });
});
