// Shared by the tstats integration tests: a free loopback port and a bounded wait.
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a value (errors count as "not yet"), at most `timeoutMs`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}: ${String(last ?? "")}`);
}

export interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

/** A real Prometheus on 127.0.0.1 scraping `scrapeConfigs` every second, its data under `dir`. */
export interface RunningPrometheus {
  readonly url: string;
  query(promql: string): Promise<PromVector[]>;
  close(): Promise<void>;
}

export async function startPrometheus(
  prometheusPath: string,
  dir: string,
  scrapeConfigs: readonly Record<string, unknown>[],
): Promise<RunningPrometheus> {
  const { writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { spawnProgram } = await import("@meshctl/core");
  const port = await freePort();
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    JSON.stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: scrapeConfigs,
    }),
  );
  const prom = spawnProgram(prometheusPath, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ]);
  prom.stderr?.resume();
  prom.stdout?.resume();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; data: { result: PromVector[] } };
      if (body.status !== "success") throw new Error(`PromQL failed: ${promql}`);
      return body.data.result;
    },
    async close() {
      prom.kill("SIGTERM");
      await Promise.race([prom.exited, new Promise((r) => setTimeout(r, 5000))]);
      prom.kill("SIGKILL");
    },
  };
}

/**
 * Istio's dashboard PromQL over the fixture traffic every telemetry test sends (frontend-v1 gets
 * OKs, batch-v1 some NOT_FOUND, both calling echo-v1 as echo.default.svc.cluster.local), and the
 * series each query must give. The proxyless and the Envoy tests run exactly these.
 */
export async function expectIstioDashboardSeries(
  prom: RunningPrometheus,
  expect: (actual: unknown) => { toEqual(expected: unknown): void },
): Promise<void> {
  const rate = await until(
    "rate by destination_workload",
    async () => {
      const r = await prom.query(
        'sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload, response_code)',
      );
      return r.length > 0 && r.every((v) => Number(v.value[1]) > 0) ? r : undefined;
    },
    45_000,
  );
  expect(rate.map((r) => r.metric)).toEqual([{ destination_workload: "echo-v1", response_code: "200" }]);
  // gRPC status split and source workloads, as Kiali's graph queries group them.
  const bySource = await until(
    "rate by source_workload",
    async () => {
      const r = await prom.query(
        'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="default"}[1m])) by (source_workload, grpc_response_status)',
      );
      return r.length >= 3 ? r : undefined;
    },
    30_000,
  );
  expect(bySource.map((r) => `${r.metric.source_workload}/${r.metric.grpc_response_status}`).sort()).toEqual([
    "batch-v1/0",
    "batch-v1/5",
    "frontend-v1/0",
  ]);
  // Client-side view and latency histogram quantile, as in Istio's service dashboard.
  const p50 = await until(
    "p50 latency",
    async () => {
      const r = await prom.query(
        'histogram_quantile(0.5, sum(rate(istio_request_duration_milliseconds_bucket{reporter="source",source_workload="frontend-v1"}[1m])) by (le, destination_service))',
      );
      return r.length === 1 && Number.isFinite(Number(r[0]!.value[1])) ? r : undefined;
    },
    30_000,
  );
  expect(p50[0]!.metric).toEqual({ destination_service: "echo.default.svc.cluster.local" });
}

const INSTALL_HINT: Record<string, string> = {
  envoy: "bash scripts/install-envoy.sh",
  prometheus: "apt-get install prometheus",
  clang: "apt-get install clang",
};

/**
 * Finds the programs a test needs and gates it on them (`requirementGate`: skipped where one is
 * absent, failing instead where MESHCTL_REQUIRE lists it, as in CI). Returns their paths.
 */
export async function programsGate(
  test: string,
  programs: readonly ("envoy" | "prometheus" | "clang")[],
): Promise<{ gate: { skip: boolean; missing?: string }; paths: Record<string, string> }> {
  const { findProgram } = await import("@meshctl/core");
  const { requirementGate } = await import("@meshctl/core/testing");
  const paths: Record<string, string> = {};
  for (const name of programs) {
    const path = await findProgram(name);
    if (!path)
      return {
        gate: requirementGate(name, `${name} is not installed (${INSTALL_HINT[name]})`, test),
        paths,
      };
    paths[name] = path;
  }
  return { gate: { skip: false }, paths };
}
