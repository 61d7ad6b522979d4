import { once } from "node:events";
import { createConnection, createServer } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { labelsOf, localFixture, parseExposition } from "../test/fixtures.js";
import { PROMETHEUS_CONTENT_TYPE, startTstatsExporter } from "./exporter.js";
import { encodePeerMetadataHeader } from "./peer-metadata.js";
import { TstatsRecorder } from "./recorder.js";
import { trackTcpSocket } from "./tcp-tracker.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("exporter", () => {
  test("serves the exposition at /stats/prometheus and /metrics, 404 elsewhere, and a clear error for a taken port", async () => {
    const recorder = new TstatsRecorder({ local: localFixture("echo") });
    recorder.recordHttp(recorder.callSite({ reporter: "destination" }), recorder.resolvePeer(undefined), {
      protocol: "http",
      responseCode: 200,
      durationMs: 1,
      requestBytes: 1,
      responseBytes: 1,
    });
    const exporter = await startTstatsExporter({ registry: recorder.registry, host: "127.0.0.1", port: 0 });
    cleanups.push(() => exporter.close());
    for (const path of ["/stats/prometheus", "/metrics"]) {
      const res = await fetch(`http://127.0.0.1:${exporter.port}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
      expect(parseExposition(await res.text()).some((s) => s.name === "istio_requests_total")).toBe(true);
    }
    expect((await fetch(`http://127.0.0.1:${exporter.port}/nope`)).status).toBe(404);
    await expect(
      startTstatsExporter({ registry: recorder.registry, host: "127.0.0.1", port: exporter.port }),
    ).rejects.toMatchObject({
      code: "TSTATS_EXPORTER_LISTEN_FAILED",
    });
  });
});

describe("TCP tracking on real sockets", () => {
  test("counts open, bytes both ways and close for both reporters", async () => {
    const server = new TstatsRecorder({ local: localFixture("db") });
    const client = new TstatsRecorder({ local: localFixture("app") });
    const srv = createServer((socket) => {
      trackTcpSocket(server, socket, {
        site: server.callSite({ reporter: "destination" }),
        peer: server.resolvePeer(encodePeerMetadataHeader(localFixture("app")), "app-id"),
        reportingIntervalMs: 0,
      });
      socket.on("data", (d) => socket.write(Buffer.concat([d, d])));
    });
    srv.listen(0, "127.0.0.1");
    await once(srv, "listening");
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    const port = (srv.address() as { port: number }).port;
    const sock = createConnection(port, "127.0.0.1");
    await once(sock, "connect");
    trackTcpSocket(client, sock, {
      site: client.callSite({
        reporter: "source",
        service: { host: "db.default.svc.cluster.local", name: "db", namespace: "default" },
      }),
      peer: client.resolvePeer(encodePeerMetadataHeader(localFixture("db")), "db-id"),
      reportingIntervalMs: 0,
    });
    sock.write("hello");
    await once(sock, "data");
    sock.end();
    await once(sock, "close");
    await new Promise((r) => setTimeout(r, 50));
    const value = (r: TstatsRecorder, name: string) =>
      parseExposition(r.registry.renderPrometheus()).find((s) => s.name === name);
    expect(value(client, "istio_tcp_sent_bytes_total")!.value).toBe(5);
    expect(value(client, "istio_tcp_received_bytes_total")!.value).toBe(10);
    expect(value(client, "istio_tcp_connections_opened_total")!.value).toBe(1);
    expect(value(client, "istio_tcp_connections_closed_total")!.value).toBe(1);
    expect(labelsOf(value(client, "istio_tcp_sent_bytes_total")!)).toMatchObject({
      reporter: "source",
      destination_workload: "db-v1",
      destination_service: "db.default.svc.cluster.local",
      request_protocol: "tcp",
    });
    expect(value(server, "istio_tcp_received_bytes_total")!.value).toBe(5);
    expect(value(server, "istio_tcp_sent_bytes_total")!.value).toBe(10);
    expect(labelsOf(value(server, "istio_tcp_connections_closed_total")!)).toMatchObject({
      reporter: "destination",
      source_workload: "app-v1",
    });
  });
});

describe("demo", () => {
  test("serves Istio-shaped series from demo traffic", async () => {
    const { startTstatsDemo } = await import("./demo.js");
    const demo = await startTstatsDemo({
      local: localFixture("echo"),
      host: "127.0.0.1",
      port: 0,
      rate: 200,
    });
    cleanups.push(() => demo.close());
    const deadline = Date.now() + 10_000;
    let workloads = new Set<string>();
    while (Date.now() < deadline && workloads.size < 2) {
      await new Promise((r) => setTimeout(r, 100));
      const text = await (await fetch(demo.exporter.url)).text();
      workloads = new Set(
        parseExposition(text)
          .filter((s) => s.name === "istio_requests_total" && labelsOf(s).reporter === "destination")
          .map((s) => labelsOf(s).source_workload!),
      );
    }
    expect([...workloads].sort()).toEqual(["batch-v1", "frontend-v1"]);
    expect(demo.calls()).toBeGreaterThan(0);
  });
});
