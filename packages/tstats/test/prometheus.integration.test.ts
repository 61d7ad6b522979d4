// A real Prometheus (Debian's package) scrapes the tstats exporter while proxyless gRPC clients
// call a server through the tstats interceptors; then Istio-dashboard-style PromQL is run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  MetricRegistry,
  type RunningExporter,
  startTstatsExporter,
  TstatsRecorder,
  withMessageSizes,
} from "../src/index.js";
import {
  callEcho,
  ECHO_SERVICE,
  type EchoClient,
  type EchoServer,
  echoClient,
  startEchoServer,
} from "./echo-service.js";
import { localFixture } from "./fixtures.js";
import { expectIstioDashboardSeries, type RunningPrometheus, startPrometheus } from "./harness.js";

const prometheusPath = await findProgram("prometheus");
const gate = requirementGate(
  "prometheus",
  prometheusPath ? undefined : "`prometheus` is not installed (apt-get install prometheus)",
  "tstats Prometheus",
);

describe.skipIf(gate.skip)("Prometheus scrapes tstats", () => {
  let dir = "";
  let prom: RunningPrometheus | undefined;
  let exporter: RunningExporter | undefined;
  let server: EchoServer | undefined;
  const clients: EchoClient[] = [];
  let stopTraffic = false;
  let traffic: Promise<void> | undefined;

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    // One process-wide registry, as a pod with a proxyless server and clients would have.
    const registry = new MetricRegistry({ istioVersion: "1.24.0" });
    const echo = new TstatsRecorder({ local: localFixture("echo"), registry });
    const service = withMessageSizes(ECHO_SERVICE);
    server = await startEchoServer({ service, interceptors: [createTstatsServerInterceptor(echo)] });
    for (const name of ["frontend", "batch"]) {
      const rec = new TstatsRecorder({ local: localFixture(name), registry });
      clients.push(
        echoClient(server.port, {
          service,
          interceptors: [
            createTstatsClientInterceptor(rec, { target: "echo.default.svc.cluster.local:8080" }),
          ],
        }),
      );
    }
    exporter = await startTstatsExporter({ registry, host: "127.0.0.1", port: 0 });

    dir = await mkdtemp(join(tmpdir(), "mct-tstats-prom-"));
    prom = await startPrometheus(prometheusPath!, dir, [
      {
        job_name: "mct-tstats",
        metrics_path: "/stats/prometheus",
        static_configs: [{ targets: [`127.0.0.1:${exporter.port}`] }],
      },
    ]);

    // Steady traffic: frontend gets OKs, batch gets some NOT_FOUND.
    traffic = (async () => {
      let i = 0;
      while (!stopTraffic) {
        await callEcho(clients[0]!, { text: `f${i}` });
        await callEcho(clients[1]!, i % 3 === 0 ? { text: "b", fail: 5 } : { text: `b${i}` });
        i++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }, 60_000);

  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    await prom?.close();
    for (const c of clients) c.close();
    await server?.close();
    await exporter?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("Istio dashboard PromQL returns the expected series", async () => {
    await expectIstioDashboardSeries(prom!, expect);

    const series = await prom!.query('count by (__name__) ({__name__=~"istio_.*", job="mct-tstats"})');
    const names = series.map((s) => s.metric.__name__).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        "istio_build",
        "istio_request_bytes_bucket",
        "istio_request_duration_milliseconds_bucket",
        "istio_request_messages_total",
        "istio_requests_total",
        "istio_response_bytes_count",
        "istio_response_messages_total",
      ]),
    );
  }, 120_000);
});
