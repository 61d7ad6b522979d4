import { LatencyHistogram, logBuckets } from "../engine/histogram.js";
import type { LatencySummary, LoadResult } from "../engine/types.js";
import { orderLatencySummary } from "./latency-order.js";

/** fortio's histogram JSON (values in seconds). */
export interface FortioHistogram {
  Count: number;
  Min: number;
  Max: number;
  Sum: number;
  Avg: number;
  StdDev: number;
  Data: Array<{ Start: number; End: number; Percent: number; Count: number }>;
  Percentiles: Array<{ Percentile: number; Value: number }>;
}

/** The subset of fortio's RunnerResults/HTTPRunnerResults that `fortio report` reads. */
export interface FortioResult {
  RunType: string;
  Labels: string;
  StartTime: string;
  RequestedQPS: string;
  RequestedDuration: string;
  ActualQPS: number;
  ActualDuration: number;
  NumThreads: number;
  Version: string;
  DurationHistogram: FortioHistogram;
  ErrorsDurationHistogram: FortioHistogram;
  Exactly: number;
  Jitter: boolean;
  Uniform: boolean;
  NoCatchUp: boolean;
  RunID: number;
  AccessLoggerInfo: string;
  ID: string;
  RetCodes: Record<string, number>;
  URL?: string;
  Destination?: string;
  NumConnections: number;
  SocketCount: number;
  Sizes?: FortioHistogram;
  HeaderSizes?: FortioHistogram;
  [extra: string]: unknown;
}

const FORTIO_PERCENTILES = [50, 75, 90, 99, 99.9, 99.99] as const;
const RUN_TYPE = { http1: "HTTP", http2: "HTTP", grpc: "GRPC", tcp: "TCP" } as const;

function histogramFromHdr(encoded: string, summary: LatencySummary): FortioHistogram {
  const h = LatencyHistogram.decode(encoded);
  const total = h.count;
  const recorded = h.recorded();
  const buckets = logBuckets(recorded, 20);
  let cumulative = 0;
  const data = buckets
    .filter((b) => b.count > 0)
    .map((b) => {
      cumulative += b.count;
      return {
        Start: b.startUs / 1e6,
        End: b.endUs / 1e6,
        Percent: round((cumulative / total) * 100, 4),
        Count: b.count,
      };
    });
  // fortio's first bucket starts at the minimum and its last one ends at the maximum.
  if (data.length > 0) {
    (data[0] as { Start: number }).Start = summary.min / 1e6;
    const last = data[data.length - 1] as { Start: number; End: number };
    if (summary.max / 1e6 > last.Start) last.End = summary.max / 1e6;
  }
  const sum = recorded.reduce((a, [v, c]) => a + v * c, 0);
  return {
    Count: total,
    Min: summary.min / 1e6,
    Max: summary.max / 1e6,
    Sum: sum / 1e6,
    Avg: total > 0 ? sum / total / 1e6 : 0,
    StdDev: summary.stdev / 1e6,
    Data: data,
    // A bucket's top can lie above the exact max (see latency-order.ts): never report a
    // percentile above Max.
    Percentiles:
      total > 0
        ? FORTIO_PERCENTILES.map((p) => ({
            Percentile: p,
            Value: Math.min(h.percentile(p), summary.max) / 1e6,
          }))
        : [],
  };
}

function emptyHistogram(): FortioHistogram {
  return { Count: 0, Min: 0, Max: 0, Sum: 0, Avg: 0, StdDev: 0, Data: [], Percentiles: [] };
}

function goDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Converts a result to fortio's JSON result shape, so `fortio report` (and tools reading fortio
 * JSON, like Istio's benchmark scripts) can show it. `DurationHistogram` holds the corrected
 * latencies; the uncorrected ones are kept under `MeshctlUncorrectedHistogram`.
 *
 * @example
 * writeFileSync("run.json", JSON.stringify(toFortioJson(result, { labels: "sidecar" })));
 */
export function toFortioJson(result: LoadResult, options: { labels?: string } = {}): FortioResult {
  const o = result.options;
  const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
  const ok = result.requests - errorCount;
  const retCodes: Record<string, number> = {};
  if (result.protocol === "http1" || result.protocol === "http2") {
    if (ok > 0) retCodes["200"] = ok;
    for (const [k, v] of Object.entries(result.errors)) {
      const code = /^http_(\d+)$/.exec(k)?.[1] ?? "-1";
      retCodes[code] = (retCodes[code] ?? 0) + v;
    }
  } else {
    if (ok > 0) retCodes[result.protocol === "grpc" ? "SERVING" : "OK"] = ok;
    if (errorCount > 0) retCodes[result.protocol === "grpc" ? "ERROR" : "-1"] = errorCount;
  }
  const start = new Date(result.startedAt);
  const id = `${start.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-")}_${(options.labels ?? "meshctl").replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const out: FortioResult = {
    RunType: RUN_TYPE[result.protocol],
    Labels: options.labels ?? `meshctl bench ${result.target}`,
    StartTime: start.toISOString(),
    RequestedQPS: o.qps === null ? "max" : String(o.qps),
    RequestedDuration: o.durationMs !== null ? goDuration(o.durationMs) : `exactly ${o.requests} calls`,
    ActualQPS: result.achievedQps,
    ActualDuration: Math.round(result.durationMs * 1e6),
    NumThreads: o.connections,
    Version: `meshctl-bench ${result.environment.meshctlBench}`,
    DurationHistogram:
      result.corrected.count > 0
        ? histogramFromHdr(result.histogram.correctedHdr, orderLatencySummary(result.corrected))
        : emptyHistogram(),
    ErrorsDurationHistogram: emptyHistogram(),
    Exactly: o.requests ?? 0,
    Jitter: false,
    Uniform: true,
    NoCatchUp: false,
    RunID: 0,
    AccessLoggerInfo: "",
    ID: id,
    RetCodes: retCodes,
    NumConnections: o.connections,
    SocketCount: o.connections,
    MeshctlUncorrectedHistogram:
      result.uncorrected.count > 0
        ? histogramFromHdr(result.histogram.uncorrectedHdr, orderLatencySummary(result.uncorrected))
        : emptyHistogram(),
  };
  if (result.protocol === "http1" || result.protocol === "http2") out.URL = result.target;
  else out.Destination = result.target;
  return out;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
