// A real Prometheus (Debian's package) scrapes the tstats exporter while proxyless gRPC clients
// call a server through the tstats interceptors; then Istio-dashboard-style PromQL is run.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type SpawnedProgram, spawnProgram } from "@meshctl/core";
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
import { freePort, until } from "./harness.js";

const prometheusPath = await findProgram("prometheus");
const gate = requirementGate(
  "prometheus",
  prometheusPath ? undefined : "`prometheus` is not installed (apt-get install prometheus)",
  "tstats Prometheus",
);

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(gate.skip)("Prometheus scrapes tstats", () => {
  let dir = "";
  let prom: SpawnedProgram | undefined;
  let promUrl = "";
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
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    await writeFile(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: mct-tstats",
        "    metrics_path: /stats/prometheus",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${exporter.port}"]`,
        "",
      ].join("\n"),
    );
    prom = spawnProgram(prometheusPath!, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--log.level=warn",
    ]);
    prom.stderr?.resume();
    prom.stdout?.resume();

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
    if (prom) {
      prom.kill("SIGTERM");
      await Promise.race([prom.exited, new Promise((r) => setTimeout(r, 5000))]);
      prom.kill("SIGKILL");
    }
    for (const c of clients) c.close();
    await server?.close();
    await exporter?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function query(promql: string): Promise<PromVector[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: PromVector[] } };
    expect(body.status).toBe("success");
    return body.data.result;
  }

  test("Istio dashboard PromQL returns the expected series", async () => {
    const promql =
      'sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload, response_code)';
    const result = await until(
      "Prometheus",
      async () => {
        const r = await query(promql);
        return r.length > 0 && r.every((v) => Number(v.value[1]) > 0) ? r : undefined;
      },
      45_000,
    );
    expect(result.map((r) => r.metric)).toEqual([{ destination_workload: "echo-v1", response_code: "200" }]);

    // gRPC status split and source workloads, as Kiali's graph queries group them.
    const bySource = await until(
      "Prometheus",
      async () => {
        const r = await query(
          'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="default"}[1m])) by (source_workload, grpc_response_status)',
        );
        return r.length >= 3 ? r : undefined;
      },
      30_000,
    );
    const keys = bySource.map((r) => `${r.metric.source_workload}/${r.metric.grpc_response_status}`).sort();
    expect(keys).toEqual(["batch-v1/0", "batch-v1/5", "frontend-v1/0"]);

    // Client-side view and latency histogram quantile, as in Istio's service dashboard.
    const p50 = await until(
      "Prometheus",
      async () => {
        const r = await query(
          'histogram_quantile(0.5, sum(rate(istio_request_duration_milliseconds_bucket{reporter="source",source_workload="frontend-v1"}[1m])) by (le, destination_service))',
        );
        return r.length === 1 && Number.isFinite(Number(r[0]!.value[1])) ? r : undefined;
      },
      30_000,
    );
    expect(p50[0]!.metric).toEqual({ destination_service: "echo.default.svc.cluster.local" });

    const series = await query('count by (__name__) ({__name__=~"istio_.*", job="mct-tstats"})');
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
