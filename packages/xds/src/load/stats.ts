/**
 * Percentiles of the load report. @meshctl/xds may depend only on @meshctl/core, and the repo's
 * other percentile code is an HdrHistogram in @meshctl/bench (microsecond latencies of a load
 * generator), so this is the one nearest-rank helper of this package.
 */

export interface PercentileSummary {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/**
 * Nearest-rank percentile of ascending `sorted` (p in 0..100), or null when empty.
 *
 * @example
 * percentileOfSorted([1, 2, 3, 4], 50); // 2
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

function round(value: number | null, digits: number): number | null {
  if (value === null) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * p50/p90/p99/max of unsorted values (rounded to `digits` decimals).
 *
 * @example
 * summarizePercentiles([5, 1, 9]).p50; // 5
 */
export function summarizePercentiles(
  values: readonly number[] | Float64Array,
  digits = 1,
): PercentileSummary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: round(percentileOfSorted(sorted, 50), digits),
    p90: round(percentileOfSorted(sorted, 90), digits),
    p99: round(percentileOfSorted(sorted, 99), digits),
    max: round(sorted.length > 0 ? (sorted[sorted.length - 1] as number) : null, digits),
  };
}
