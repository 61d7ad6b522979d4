import { describe, expect, test } from "vitest";
import type { LatencySummary } from "../engine/types.js";
import {
  checkCorrectedCoversUncorrected,
  checkLatencyOrder,
  LATENCY_ORDER,
  orderLatencySummary,
  orderSpectrum,
} from "./latency-order.js";

/** min, p50, p75, p90, p99, p99.9, p99.99, max (µs), as a summary of 10 000 samples. */
function summary(values: readonly number[], mean = values[1] ?? 0): LatencySummary {
  const [min, p50, p75, p90, p99, p999, p9999, max] = values as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { count: 10_000, min, mean, stdev: 1, max, p50, p75, p90, p99, p999, p9999 };
}

const inOrder = (s: LatencySummary): number[] => LATENCY_ORDER.map((k) => s[k]);

describe("orderLatencySummary", () => {
  test.each([
    {
      // hdr-histogram-js: p99.99 is its bucket's top (110 015), the max the exact sample (110 001).
      name: "p99.99 one HDR bucket above the max",
      raw: [100_031, 100_543, 100_799, 100_927, 100_991, 101_055, 110_015, 110_001],
      shown: [100_031, 100_543, 100_799, 100_927, 100_991, 101_055, 110_001, 110_001],
    },
    {
      name: "p99.9 and p99.99 above the max",
      raw: [1000, 1000, 1000, 1000, 1000, 110_015, 110_015, 110_001],
      shown: [1000, 1000, 1000, 1000, 1000, 110_001, 110_001, 110_001],
    },
    {
      // A single sample: the min is reported as its bucket's top too.
      name: "one sample, min above the max",
      raw: [10_007, 10_007, 10_007, 10_007, 10_007, 10_007, 10_007, 10_001],
      shown: [10_001, 10_001, 10_001, 10_001, 10_001, 10_001, 10_001, 10_001],
    },
    {
      name: "already in order: unchanged",
      raw: [1, 500, 750, 900, 990, 999, 1000, 1000],
      shown: [1, 500, 750, 900, 990, 999, 1000, 1000],
    },
    {
      name: "a dip in the middle is lifted, not the tail lowered",
      raw: [1, 500, 400, 900, 990, 999, 1000, 1000],
      shown: [1, 500, 500, 900, 990, 999, 1000, 1000],
    },
  ])("$name", ({ raw, shown }) => {
    const ordered = orderLatencySummary(summary(raw));
    expect(inOrder(ordered)).toEqual(shown);
    for (let i = 1; i < LATENCY_ORDER.length; i++)
      expect(ordered[LATENCY_ORDER[i] as keyof LatencySummary]).toBeGreaterThanOrEqual(
        ordered[LATENCY_ORDER[i - 1] as keyof LatencySummary],
      );
  });

  test("the mean stays within [min, max]; count and stdev are kept", () => {
    const s = { ...summary([10_007, 10_007, 10_007, 10_007, 10_007, 10_007, 10_007, 10_001]), mean: 10_004 };
    expect(orderLatencySummary(s)).toMatchObject({ mean: 10_001, count: 10_000, stdev: 1 });
  });
});

describe("checkLatencyOrder", () => {
  test("HDR rounding (one bucket) is not reported", () => {
    const raw = summary([1000, 1000, 1000, 1000, 1000, 110_015, 110_015, 110_001]);
    expect(checkLatencyOrder(raw, "corrected")).toEqual([]);
  });

  test("a max far below its own p99.9 is reported, naming both", () => {
    // e.g. a max taken from another histogram than the percentiles.
    const raw = summary([100, 500, 700, 900, 5000, 9000, 9500, 4000]);
    expect(checkLatencyOrder(raw, "corrected")).toEqual([
      "corrected latencies out of order beyond HDR rounding: p99 5ms > max 4ms, p99.9 9ms > max 4ms, p99.99 9.5ms > max 4ms",
    ]);
  });

  test("an empty summary has nothing to report", () => {
    expect(checkLatencyOrder({ ...summary([0, 0, 0, 0, 0, 0, 0, 0]), count: 0 }, "corrected")).toEqual([]);
  });
});

describe("checkCorrectedCoversUncorrected", () => {
  const corrected = summary([10, 500, 750, 900, 990, 999, 1000, 1000]);

  test("uncorrected at or below corrected is fine", () => {
    expect(
      checkCorrectedCoversUncorrected(corrected, summary([5, 250, 375, 450, 495, 499, 500, 500])),
    ).toEqual([]);
  });

  test("uncorrected above corrected for the same requests is reported", () => {
    const swapped = summary([10, 500, 750, 900, 990, 999, 1000, 3000]);
    expect(checkCorrectedCoversUncorrected(corrected, swapped)).toEqual([
      "uncorrected latencies above the corrected ones (impossible for the same requests): max 3ms > 1ms",
    ]);
  });

  test("different counts are different requests: no comparison", () => {
    const other = { ...summary([10, 500, 750, 900, 990, 999, 1000, 3000]), count: 5 };
    expect(checkCorrectedCoversUncorrected(corrected, other)).toEqual([]);
  });
});

describe("orderSpectrum", () => {
  test("never above the max, never decreasing", () => {
    expect(
      orderSpectrum(
        [
          [0, 100],
          [50, 200],
          [99.9, 110_015],
          [100, 110_001],
        ],
        110_001,
      ),
    ).toEqual([
      [0, 100],
      [50, 200],
      [99.9, 110_001],
      [100, 110_001],
    ]);
  });
});
