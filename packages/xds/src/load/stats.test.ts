import { describe, expect, test } from "vitest";
import { percentileOfSorted, summarizePercentiles } from "./stats.js";

describe("percentiles", () => {
  test("nearest rank", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentileOfSorted(sorted, 50)).toBe(50);
    expect(percentileOfSorted(sorted, 99)).toBe(99);
    expect(percentileOfSorted(sorted, 100)).toBe(100);
    expect(percentileOfSorted([7], 1)).toBe(7);
    expect(percentileOfSorted([], 50)).toBeNull();
  });

  test("summary of unsorted values", () => {
    expect(summarizePercentiles([3, 1, 2, 10])).toEqual({ count: 4, p50: 2, p90: 10, p99: 10, max: 10 });
    expect(summarizePercentiles([])).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null });
  });
});
