/**
 * Keeps the latencies a report shows in order: min <= p50 <= ... <= p99.99 <= max.
 *
 * Why the raw summary can be out of order: hdr-histogram-js returns a percentile as the *highest*
 * value of the HDR bucket holding it (like Java's HdrHistogram), but its `maxValue` is the exact
 * largest sample (Java's `getMaxValue()` rounds it up to the bucket's top too). Above 2048µs a
 * bucket is wider than 1µs (3 significant digits: up to 1/1024 of the value), so a tail whose top
 * samples share the max's bucket reports p99.9 or p99.99 a little above the max, e.g. 110.015ms
 * vs 110.001ms. The true percentile lies between the bucket's bottom and the max, so clamping it
 * to the max stays within the histogram's precision and is closer to the truth.
 *
 * A gap larger than one bucket is not rounding: the figures come from different data (say, a max
 * taken from the uncorrected histogram) and the report says so instead of hiding it.
 */
import type { LatencySummary, LoadResult } from "../engine/types.js";
import { formatUs } from "./format.js";

export const PERCENTILE_KEYS = ["p50", "p75", "p90", "p99", "p999", "p9999", "max"] as const;
export type PercentileKey = (typeof PERCENTILE_KEYS)[number];

export const PERCENTILE_LABELS: Record<PercentileKey, string> = {
  p50: "p50",
  p75: "p75",
  p90: "p90",
  p99: "p99",
  p999: "p99.9",
  p9999: "p99.99",
  max: "max",
};

/** Summary fields in the order their values can never decrease. */
export const LATENCY_ORDER = ["min", ...PERCENTILE_KEYS] as const;
type OrderedKey = (typeof LATENCY_ORDER)[number];

/**
 * How far a value may exceed a later one and still be HDR rounding: one bucket at 3 significant
 * digits is at most 1/1024 of the value (0.1% covers it), plus 1µs for integer rounding.
 */
export function hdrRoundingToleranceUs(valueUs: number): number {
  return Math.abs(valueUs) * 0.001 + 1;
}

function label(k: OrderedKey): string {
  return k === "min" ? "min" : PERCENTILE_LABELS[k];
}

/**
 * The summary with every percentile clamped to the max (and the min), then made non-decreasing;
 * the mean is kept within [min, max]. Count and stdev are unchanged.
 *
 * @example
 * orderLatencySummary({ ...s, p999: 110_015, max: 110_001 }).p999 // 110_001
 */
export function orderLatencySummary(s: LatencySummary): LatencySummary {
  const max = s.max;
  const out = {} as Record<OrderedKey, number>;
  let floor = Math.min(s.min, max);
  for (const k of LATENCY_ORDER) {
    const v = Math.max(Math.min(s[k], max), floor);
    out[k] = v;
    floor = v;
  }
  return { ...s, ...out, mean: Math.min(Math.max(s.mean, out.min), out.max) };
}

/**
 * Inconsistencies in a raw summary that HDR rounding cannot explain: a value above a later one
 * (e.g. p99.9 above the max) by more than {@link hdrRoundingToleranceUs}. Empty when consistent.
 *
 * @example
 * checkLatencyOrder({ ...s, p999: 9_000, max: 4_000 }, "corrected")
 * // ["corrected latencies out of order beyond HDR rounding: p99.9 9ms > max 4ms"]
 */
export function checkLatencyOrder(s: LatencySummary, name: string): string[] {
  if (s.count === 0) return [];
  const found: string[] = [];
  LATENCY_ORDER.forEach((k, i) => {
    // The smallest value that comes after k is the one it must not exceed.
    let lowest: OrderedKey | undefined;
    for (const later of LATENCY_ORDER.slice(i + 1))
      if (lowest === undefined || s[later] < s[lowest]) lowest = later;
    if (lowest !== undefined && s[k] - s[lowest] > hdrRoundingToleranceUs(s[lowest]))
      found.push(`${label(k)} ${formatUs(s[k])} > ${label(lowest)} ${formatUs(s[lowest])}`);
  });
  return found.length === 0
    ? []
    : [`${name} latencies out of order beyond HDR rounding: ${found.join(", ")}`];
}

/**
 * Corrected latency is measured from the intended send time, uncorrected from the actual one, so
 * for the same requests no uncorrected percentile can exceed the corrected one. Returns the
 * violations beyond HDR rounding (empty when the counts differ: not the same requests).
 *
 * @example
 * checkCorrectedCoversUncorrected(result.corrected, result.uncorrected) // []
 */
export function checkCorrectedCoversUncorrected(
  corrected: LatencySummary,
  uncorrected: LatencySummary,
): string[] {
  if (corrected.count === 0 || corrected.count !== uncorrected.count) return [];
  const found = LATENCY_ORDER.filter(
    (k) => uncorrected[k] - corrected[k] > hdrRoundingToleranceUs(corrected[k]),
  ).map((k) => `${label(k)} ${formatUs(uncorrected[k])} > ${formatUs(corrected[k])}`);
  return found.length === 0
    ? []
    : [
        `uncorrected latencies above the corrected ones (impossible for the same requests): ${found.join(", ")}`,
      ];
}

/** A spectrum [percentile, µs][] made non-decreasing and capped at the summary's max. */
export function orderSpectrum(
  points: ReadonlyArray<readonly [number, number]>,
  maxUs: number,
): Array<readonly [number, number]> {
  let floor = 0;
  return points.map(([p, v]) => {
    const clamped = Math.max(Math.min(v, maxUs), floor);
    floor = clamped;
    return [p, clamped] as const;
  });
}

/**
 * The result as reports show it: summaries and spectra in order (see {@link orderLatencySummary}),
 * plus a warning for every inconsistency rounding cannot explain. The input is not modified.
 *
 * @example
 * renderRow(orderLoadResult(result).corrected)
 */
export function orderLoadResult(result: LoadResult): LoadResult {
  const issues = [
    ...checkLatencyOrder(result.corrected, result.options.mode === "open" ? "corrected" : "measured"),
    ...(result.options.mode === "open" ? checkLatencyOrder(result.uncorrected, "uncorrected") : []),
    ...checkCorrectedCoversUncorrected(result.corrected, result.uncorrected),
  ];
  const corrected = orderLatencySummary(result.corrected);
  const uncorrected = orderLatencySummary(result.uncorrected);
  return {
    ...result,
    corrected,
    uncorrected,
    histogram: {
      ...result.histogram,
      spectrum: orderSpectrum(result.histogram.spectrum, corrected.max),
      uncorrectedSpectrum: orderSpectrum(result.histogram.uncorrectedSpectrum, uncorrected.max),
    },
    warnings: [...result.warnings, ...issues],
  };
}
