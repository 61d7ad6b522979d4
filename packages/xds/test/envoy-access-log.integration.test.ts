/**
 * The access log option against a real stock Envoy 1.40 sidecar: Envoy runs in a network namespace
 * with Istio-style inbound capture (iptables REDIRECT to 15006, inside the namespace only), the app
 * listening on the pod address (inbound clusters go to the original destination, as Istio's);
 * one HTTP request and one TCP connection go through the generated virtualInbound listener, and
 * the JSON access log has the per-request timings the lab reads, typed as Envoy types them
 * (durations are numbers).
 *
 * Needs root (network namespace, iptables in it) and Envoy; skips without them unless
 * MESHCTL_REQUIRE lists envoy.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SpawnedProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderBootstrap, startXdsServer, staticMeshSource, type XdsServerHandle } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, envoyInNetnsGate, startEnvoy, waitForEnvoyAcks } from "./envoy-process.js";
import { createTestNetns, type TestNetns } from "./netns.js";

const { gate, envoyPath } = await envoyInNetnsGate("xds envoy access log test");

const HTTP_PORT = 8080;
const TCP_PORT = 5432;

/** The lab's per-request timing fields (docs/xds.md, "Access logs"). */
const FORMAT = {
  request_id: "%REQ(X-REQUEST-ID)%",
  start_time: "%START_TIME(%s.%6f)%",
  duration_us: "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
  request_overhead_us: "%COMMON_DURATION(DS_RX_BEG:US_TX_BEG:us)%",
  upstream_us: "%COMMON_DURATION(US_TX_BEG:US_RX_END:us)%",
  response_overhead_us: "%COMMON_DURATION(US_RX_END:DS_TX_END:us)%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  response_code: "%RESPONSE_CODE%",
  upstream_cluster: "%UPSTREAM_CLUSTER%",
  bytes_received: "%BYTES_RECEIVED%",
};
type LogLine = Record<keyof typeof FORMAT, unknown>;

// The app: HTTP on 8080 (answers after 20 ms, so the upstream time is visible) and a TCP echo on
// 5432, both on 127.0.0.1 as behind a sidecar.
const APP = `
const http = require("node:http"), net = require("node:net");
let up = 0;
const ready = () => { if (++up === 2) process.stdout.write("ready\\n"); };
http.createServer((req, res) => setTimeout(() => res.end("hello"), 20)).listen(${HTTP_PORT}, "0.0.0.0", ready);
net.createServer((s) => s.pipe(s)).listen(${TCP_PORT}, "0.0.0.0", ready);
process.on("SIGTERM", () => process.exit(0));`;

describe.skipIf(gate.skip)("a JSON access log on a real Envoy sidecar", () => {
  let ns: TestNetns | undefined;
  let app: SpawnedProgram | undefined;
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  let dir = "";
  const logPath = () => join(dir, "access.log");
  const logLines = async (): Promise<LogLine[]> =>
    (await readFile(logPath(), "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as LogLine);

  beforeAll(async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mcx-envoy-al-"));
    ns = await createTestNetns({
      tag: `al${process.pid % 10_000}`,
      octet: 215,
      index: 1 + (process.pid % 250),
    });
    // Istio's inbound capture, reduced to the two ports: connections to the pod go to 15006.
    for (const port of [HTTP_PORT, TCP_PORT])
      await ns.run("iptables", [
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-p",
        "tcp",
        "--dport",
        String(port),
        "-j",
        "REDIRECT",
        "--to-ports",
        "15006",
      ]);
    app = ns.spawn(process.execPath, ["-e", APP]);
    let out = "";
    app.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    app.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await waitFor(() => out.includes("ready"), { timeoutMs: 10_000, what: `the app (${out})` });
    const source = staticMeshSource([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "demo" },
        spec: {
          ports: [
            { name: "http", port: 80, targetPort: HTTP_PORT },
            { name: "tcp-db", port: TCP_PORT },
          ],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-0", namespace: "demo", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [
          { name: "http", port: HTTP_PORT },
          { name: "tcp-db", port: TCP_PORT },
        ],
        endpoints: [{ addresses: [ns.ip] }],
      },
    ]);
    xds = await startXdsServer({
      source,
      // The veth address of the test's own network namespace: beyond loopback, so explicit.
      host: ns.hostIp,
      insecure: true,
      port: 0,
      debugPort: false,
      accessLog: { path: logPath(), encoding: "JSON", format: FORMAT },
    });
    envoy = await startEnvoy(
      envoyPath,
      renderBootstrap({
        kind: "envoy",
        name: "web-1",
        namespace: "demo",
        ip: ns.ip,
        server: xds.address,
        adminPort: 0,
      }),
      // Envoy writes access logs to the file every 10 s by default (--file-flush-interval-msec).
      { netns: ns, args: ["--file-flush-interval-msec", "100"] },
    );
    if (xds && envoy) await waitForEnvoyAcks(xds, envoy, ["cds", "lds"]);
  }, 90_000);

  afterAll(async () => {
    await envoy?.close();
    app?.kill("SIGTERM");
    await app?.exited;
    await xds?.close();
    await ns?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("Envoy accepts the format: nothing NACKed", () => {
    for (const [kind, t] of Object.entries(xds?.clients()[0]?.types ?? {}))
      expect(t.nacks, `${kind}: ${t.lastNackError}`).toBe(0);
  });

  test("an HTTP request through the inbound listener logs its timings as numbers", {
    timeout: 30_000,
  }, async () => {
    const before = Date.now() / 1000;
    const res = await fetch(`http://${ns?.ip}:${HTTP_PORT}/hello`, {
      headers: { "x-request-id": "mcx-al-http-1" },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello");
    const line = await waitFor(
      async () => (await logLines()).find((l) => l.request_id === "mcx-al-http-1") ?? false,
      {
        timeoutMs: 10_000,
        what: "the request's access log line",
      },
    );
    expect(line.response_code).toBe(200);
    expect(line.upstream_cluster).toBe(`inbound|${HTTP_PORT}||`);
    for (const field of [
      "duration_us",
      "request_overhead_us",
      "upstream_us",
      "response_overhead_us",
      "bytes_received",
    ] as const)
      expect(typeof line[field], `${field} = ${JSON.stringify(line[field])}`).toBe("number");
    const duration = line.duration_us as number;
    const upstream = line.upstream_us as number;
    const requestPath = line.request_overhead_us as number;
    const responsePath = line.response_overhead_us as number;
    // The app waits 20 ms: that is inside the upstream time.
    expect(upstream).toBeGreaterThanOrEqual(20_000);
    expect(Math.min(requestPath, responsePath)).toBeGreaterThanOrEqual(0);
    // The three spans tile the whole exchange (each is truncated to whole microseconds).
    expect(Math.abs(duration - (requestPath + upstream + responsePath))).toBeLessThanOrEqual(3);
    // START_TIME is text even in JSON: seconds with microseconds.
    expect(line.start_time).toMatch(/^\d+\.\d{6}$/);
    expect(Number(line.start_time)).toBeGreaterThanOrEqual(Math.floor(before) - 1);
    expect(Number(line.start_time)).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    // The router's x-envoy-upstream-service-time header: milliseconds, as text.
    expect(line.upstream_service_time).toMatch(/^\d+$/);
    expect(Number(line.upstream_service_time)).toBeGreaterThanOrEqual(20);
  });

  test("a TCP connection through the inbound listener logs too, HTTP fields null", {
    timeout: 30_000,
  }, async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      // Five bytes at least: the inbound tls_inspector (as istiod's) reads a whole TLS record
      // header before it lets a connection on.
      // Close only after the echo: a FIN sent while Envoy still connects upstream can end in a reset.
      const s = connect(TCP_PORT, ns?.ip ?? "", () => s.write("ping!"));
      let data = "";
      s.on("data", (d: Buffer) => {
        data += d.toString();
        if (data.length >= 5) s.end();
      });
      s.on("close", () => resolve(data));
      s.on("error", reject);
    });
    expect(echoed).toBe("ping!");
    const line = await waitFor(
      async () => (await logLines()).find((l) => l.upstream_cluster === `inbound|${TCP_PORT}||`) ?? false,
      { timeoutMs: 10_000, what: "the TCP connection's access log line" },
    );
    expect(line.request_id).toBeNull();
    expect(line.bytes_received).toBe(5);
    expect(line.start_time).toMatch(/^\d+\.\d{6}$/);
  });
});
