import * as hdr from "hdr-histogram-js";
import type { HistogramBucket, LatencySummary } from "./types.js";

/** 1 µs .. 1 h at 3 significant digits (0.1% value error), auto-resizing beyond that. */
const HIGHEST_US = 3_600_000_000;

/**
 * A latency histogram in integer microseconds. Wraps hdr-histogram-js's pure-JS implementation:
 * no WebAssembly init, nothing to destroy, works the same in worker threads (ADR 0031).
 */
export class LatencyHistogram {
  readonly hdr: hdr.Histogram;

  constructor(from?: hdr.Histogram) {
    this.hdr =
      from ??
      hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: HIGHEST_US,
        numberOfSignificantValueDigits: 3,
        bitBucketSize: 32,
        autoResize: true,
        useWebAssembly: false,
      });
  }

  /** Records one latency; fractional microseconds round to the nearest integer, negatives to 0. */
  record(us: number): void {
    this.hdr.recordValue(us <= 0 ? 0 : Math.round(us));
  }

  get count(): number {
    return this.hdr.totalCount;
  }

  percentile(p: number): number {
    return this.hdr.totalCount === 0 ? 0 : this.hdr.getValueAtPercentile(p);
  }

  add(other: LatencyHistogram): void {
    this.hdr.add(other.hdr);
  }

  reset(): void {
    this.hdr.reset();
  }

  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.hdr);
  }

  static decode(encoded: string): LatencyHistogram {
    return new LatencyHistogram(hdr.decodeFromCompressedBase64(encoded, 32, false));
  }

  summary(): LatencySummary {
    const h = this.hdr;
    if (h.totalCount === 0) {
      return {
        count: 0,
        min: 0,
        mean: 0,
        stdev: 0,
        max: 0,
        p50: 0,
        p75: 0,
        p90: 0,
        p99: 0,
        p999: 0,
        p9999: 0,
      };
    }
    // HDR reports a percentile (and the recorded minimum) as the top of its bucket, but the max as
    // the exact largest sample: above 2048 µs a bucket is wider than 1 µs, so p99.9 could exceed
    // max. The true value lies between the bucket's bottom and the max: clamp into [min, max].
    const max = h.maxValue;
    const min = Math.min(max, h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : minRecorded(this));
    const at = (p: number) => Math.max(min, Math.min(max, h.getValueAtPercentile(p)));
    return {
      count: h.totalCount,
      min,
      mean: round1(h.mean),
      stdev: round1(h.stdDeviation),
      max,
      p50: at(50),
      p75: at(75),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      p9999: at(99.99),
    };
  }

  /** Distinct recorded values with their counts, ascending. */
  recorded(): Array<[valueUs: number, count: number]> {
    const out: Array<[number, number]> = [];
    const it = (this.hdr as unknown as JsHistogramLike).recordedValuesIterator;
    it.reset();
    while (it.hasNext()) {
      const v = it.next();
      out.push([v.valueIteratedTo, v.countAtValueIteratedTo]);
    }
    return out;
  }

  /**
   * Log-spaced buckets (10 per decade, like 1, 1.26, 1.58 ... µs) between the lowest and highest
   * recorded value; empty leading/trailing buckets are dropped.
   */
  buckets(perDecade = 10): HistogramBucket[] {
    return logBuckets(this.recorded(), perDecade);
  }

  /**
   * Percentile spectrum [percentile, valueUs] at the points HdrHistogram plots use
   * (halving the distance to 100% each step: 0, 50, 75, 87.5 ... up to the max).
   */
  spectrum(): Array<readonly [number, number]> {
    if (this.count === 0) return [];
    const out: Array<readonly [number, number]> = [];
    const max = this.hdr.maxValue;
    for (const p of spectrumPoints(this.count))
      out.push([p, Math.min(max, this.hdr.getValueAtPercentile(p))] as const);
    out.push([100, max] as const);
    return out;
  }
}

interface JsHistogramLike {
  recordedValuesIterator: {
    reset(): void;
    hasNext(): boolean;
    next(): { valueIteratedTo: number; countAtValueIteratedTo: number };
  };
}

function minRecorded(h: LatencyHistogram): number {
  // hdr's minNonZeroValue skips zeros; a 0 µs sample (sub-µs) is a legitimate minimum.
  const first = h.recorded()[0];
  return first ? first[0] : 0;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Percentiles 0, 50, 75, 87.5, ... with 5 ticks per half distance, until below one sample. */
export function spectrumPoints(count: number): number[] {
  const points: number[] = [0];
  const ticksPerHalf = 5;
  let remaining = 100;
  // Stop once the remaining tail holds less than one sample: finer percentiles repeat the max.
  while (remaining / 100 >= 1 / Math.max(count, 1) && remaining > 1e-6) {
    const lower = 100 - remaining;
    const half = remaining / 2;
    for (let i = 1; i <= ticksPerHalf; i++) {
      points.push(round6(lower + (half * i) / ticksPerHalf));
    }
    remaining = half;
  }
  return [...new Set(points)].filter((p) => p < 100);
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Groups exact (value, count) pairs into log-spaced buckets. Pure: used by tests and reports. */
export function logBuckets(
  values: ReadonlyArray<readonly [number, number]>,
  perDecade = 10,
): HistogramBucket[] {
  if (values.length === 0) return [];
  const edge = (i: number): number => (i < 0 ? 0 : Number((10 ** (i / perDecade)).toPrecision(3)));
  // Sub-microsecond samples (recorded as 0) get their own [0, 1) bucket, index -1.
  const indexOf = (v: number): number => (v < 1 ? -1 : Math.floor(Math.log10(v) * perDecade + 1e-9));
  const counts = new Map<number, number>();
  for (const [v, c] of values) {
    const i = indexOf(v);
    counts.set(i, (counts.get(i) ?? 0) + c);
  }
  const keys = [...counts.keys()];
  const lo = Math.min(...keys);
  const hi = Math.max(...keys);
  const out: HistogramBucket[] = [];
  for (let i = lo; i <= hi; i++) {
    out.push({ startUs: edge(i), endUs: i < 0 ? 1 : edge(i + 1), count: counts.get(i) ?? 0 });
  }
  return out;
}
