import { describe, expect, test } from "vitest";
import { LatencyHistogram, logBuckets, spectrumPoints } from "./histogram.js";

function filled(values: number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  return h;
}

describe("LatencyHistogram", () => {
  test("percentiles of 1..1000 µs are exact at 3 significant digits", () => {
    const h = filled(Array.from({ length: 1000 }, (_, i) => i + 1));
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBe(1);
    expect(s.max).toBe(1000);
    expect(s.p50).toBe(500);
    expect(s.p75).toBe(750);
    expect(s.p90).toBe(900);
    expect(s.p99).toBe(990);
    expect(s.p999).toBe(999);
    expect(s.p9999).toBe(1000);
    expect(s.mean).toBeCloseTo(500.5, 1);
    // population standard deviation of 1..n = sqrt((n^2 - 1) / 12)
    expect(s.stdev).toBeCloseTo(Math.sqrt((1000 ** 2 - 1) / 12), 0);
  });

  test("large values keep 0.1% resolution", () => {
    const h = filled([1_234_567]);
    expect(Math.abs(h.percentile(50) - 1_234_567) / 1_234_567).toBeLessThan(0.001);
  });

  test("fractions round to the nearest µs and negatives clamp to 0", () => {
    const h = filled([0.4, 0.6, 2.5, -3]);
    expect(h.recorded()).toEqual([
      [0, 2],
      [1, 1],
      [3, 1],
    ]);
    expect(h.summary().min).toBe(0);
  });

  test("percentiles never exceed the max nor the min exceed them, where HDR buckets are wider than 1 µs", () => {
    // Two samples of 9994 µs: HDR's bucket top for 9994 is 9999, the exact max is 9994.
    const h = new LatencyHistogram();
    h.record(9994);
    h.record(9994);
    const s = h.summary();
    expect(s.max).toBe(9994);
    expect(s.p999).toBe(9994);
    expect(s.p9999).toBe(9994);
    expect(s.min).toBeLessThanOrEqual(s.p50);
    const ordered = [s.min, s.p50, s.p75, s.p90, s.p99, s.p999, s.p9999, s.max];
    expect([...ordered].sort((a, b) => a - b)).toEqual(ordered);
    expect(Math.max(...h.spectrum().map(([, v]) => v))).toBe(9994);
  });

  test("an empty histogram summarizes to zeros", () => {
    expect(new LatencyHistogram().summary()).toEqual({
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
    });
  });

  test("encode/decode is lossless and merging adds counts", () => {
    const a = filled([10, 20, 30]);
    const b = LatencyHistogram.decode(a.encode());
    expect(a.encode().startsWith("HISTF")).toBe(true);
    expect(b.summary()).toEqual(a.summary());
    b.add(filled([40]));
    expect(b.count).toBe(4);
    expect(b.summary().max).toBe(40);
  });

  test("spectrum ends at the maximum and is non-decreasing", () => {
    const h = filled(Array.from({ length: 10_000 }, (_, i) => (i % 100) + 1));
    const spec = h.spectrum();
    expect(spec[0]).toEqual([0, 1]);
    expect(spec.at(-1)).toEqual([100, 100]);
    for (let i = 1; i < spec.length; i++) {
      expect(spec[i]?.[0]).toBeGreaterThan(spec[i - 1]?.[0] as number);
      expect(spec[i]?.[1]).toBeGreaterThanOrEqual(spec[i - 1]?.[1] as number);
    }
  });
});

describe("spectrumPoints", () => {
  test("halves the distance to 100% in 5 ticks per half", () => {
    const pts = spectrumPoints(100);
    expect(pts.slice(0, 6)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(pts).toContain(75);
    expect(pts).toContain(87.5);
    expect(Math.max(...pts)).toBeLessThan(100);
  });

  test("goes deeper into the tail with more samples", () => {
    expect(Math.max(...spectrumPoints(1_000_000))).toBeGreaterThan(99.999);
    expect(Math.max(...spectrumPoints(100))).toBeLessThan(99.9);
  });
});

describe("logBuckets", () => {
  test("groups values into 10 buckets per decade with empty gaps kept", () => {
    const b = logBuckets([
      [100, 5],
      [105, 1],
      [1000, 2],
    ]);
    expect(b[0]).toEqual({ startUs: 100, endUs: 126, count: 6 });
    expect(b.at(-1)).toEqual({ startUs: 1000, endUs: 1260, count: 2 });
    expect(b).toHaveLength(11);
    expect(b.reduce((a, x) => a + x.count, 0)).toBe(8);
  });

  test("sub-microsecond samples get a [0, 1) bucket", () => {
    expect(logBuckets([[0, 3]])).toEqual([{ startUs: 0, endUs: 1, count: 3 }]);
  });

  test("no values, no buckets", () => {
    expect(logBuckets([])).toEqual([]);
  });
});
