import type { LatencySummary, LoadResult } from "../engine/types.js";
import {
  orderLatencySummary,
  orderLoadResult,
  PERCENTILE_KEYS,
  PERCENTILE_LABELS,
  type PercentileKey,
} from "./latency-order.js";

/** A result with the name it is shown under (a scenario, a file, a run). */
export interface ReportEntry {
  readonly label: string;
  readonly result: LoadResult;
}

export type ReportInput = LoadResult | ReportEntry;

export { PERCENTILE_KEYS, PERCENTILE_LABELS, type PercentileKey };

export interface LatencyDelta {
  readonly metric: PercentileKey | "mean";
  readonly baselineUs: number;
  readonly valueUs: number;
  readonly deltaUs: number;
  /** Relative change in percent; null when the baseline is 0. */
  readonly deltaPct: number | null;
}

export interface ResultComparison {
  readonly baseline: string;
  readonly label: string;
  readonly corrected: readonly LatencyDelta[];
  readonly achievedQps: {
    readonly baseline: number;
    readonly value: number;
    readonly deltaPct: number | null;
  };
}

/**
 * Labels entries: plain results get "run N" (or their target when targets differ).
 *
 * @example
 * toReportEntries([result]) // [{ label: "http://127.0.0.1:8080/", result }]
 */
export function toReportEntries(inputs: readonly ReportInput[]): ReportEntry[] {
  const targets = new Set(inputs.map((i) => ("result" in i ? i.result.target : i.target)));
  return inputs.map((input, i) => {
    if ("result" in input) return input;
    return { label: targets.size === inputs.length ? input.target : `run ${i + 1}`, result: input };
  });
}

/**
 * The entry as reports show it: same label, result passed through {@link orderLoadResult}
 * (percentiles never above the max; inconsistencies beyond HDR rounding become warnings).
 *
 * @example
 * renderResultText(e.label, orderReportEntry(e).result)
 */
export function orderReportEntry(entry: ReportEntry): ReportEntry {
  return { label: entry.label, result: orderLoadResult(entry.result) };
}

/**
 * Absolute and relative latency change of `value` against `baseline` for each percentile, on
 * the ordered summaries (see {@link orderLatencySummary}), so a delta never compares a max with
 * a p99.9 above it.
 *
 * @example
 * compareLatency(direct.corrected, sidecar.corrected).find((d) => d.metric === "p90")?.deltaUs
 */
export function compareLatency(baseline: LatencySummary, value: LatencySummary): LatencyDelta[] {
  const metrics: Array<PercentileKey | "mean"> = [...PERCENTILE_KEYS, "mean"];
  const base = orderLatencySummary(baseline);
  const other = orderLatencySummary(value);
  return metrics.map((metric) => {
    const b = base[metric];
    const v = other[metric];
    return {
      metric,
      baselineUs: b,
      valueUs: v,
      deltaUs: round1(v - b),
      deltaPct: b === 0 ? null : round1(((v - b) / b) * 100),
    };
  });
}

/**
 * Compares every entry with the baseline entry (corrected latencies and achieved rate).
 *
 * @example
 * compareResults({ label: "direct", result: a }, [{ label: "sidecar", result: b }])
 */
export function compareResults(baseline: ReportEntry, entries: readonly ReportEntry[]): ResultComparison[] {
  return entries
    .filter((e) => e !== baseline)
    .map((e) => {
      const b = baseline.result.achievedQps;
      const v = e.result.achievedQps;
      return {
        baseline: baseline.label,
        label: e.label,
        corrected: compareLatency(baseline.result.corrected, e.result.corrected),
        achievedQps: { baseline: b, value: v, deltaPct: b === 0 ? null : round1(((v - b) / b) * 100) },
      };
    });
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
