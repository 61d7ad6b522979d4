import { describe, expect, test } from "vitest";
import { formatBytes, formatDelta, formatDuration, formatRate, formatUs } from "./format.js";
import { usTick } from "./svg.js";

// Expected strings written by hand from the unit rules (µs below 1ms, at most three significant
// digits, zeros dropped only after a decimal point), not computed with the code under test.
// Issue 14: 110ms printed as "11ms" and 200ms as "2ms".

describe("formatUs", () => {
  test.each([
    [0, "0µs"],
    [0.4, "0µs"],
    [1, "1µs"],
    [10, "10µs"],
    [100, "100µs"],
    [110, "110µs"],
    [200, "200µs"],
    [850, "850µs"],
    [999, "999µs"],
    [999.6, "1ms"],
    [1000, "1ms"],
    [1010, "1.01ms"],
    [1100, "1.1ms"],
    [1234, "1.23ms"],
    [1500, "1.5ms"],
    [2000, "2ms"],
    [10_000, "10ms"],
    [10_500, "10.5ms"],
    [20_000, "20ms"],
    [100_000, "100ms"],
    [110_000, "110ms"],
    [110_015, "110ms"],
    [200_000, "200ms"],
    [500_000, "500ms"],
    [999_999, "1s"],
    [1_000_000, "1s"],
    [1_500_000, "1.5s"],
    [2_050_000, "2.05s"],
    [10_000_000, "10s"],
    [100_000_000, "100s"],
    [110_000_000, "110s"],
    [-1500, "-1.5ms"],
    [-110_000, "-110ms"],
  ])("%d µs -> %s", (us, text) => {
    expect(formatUs(us)).toBe(text);
  });
});

describe("formatDuration", () => {
  test.each([
    [0, "0ms"],
    [1, "1ms"],
    [10, "10ms"],
    [100, "100ms"],
    [110, "110ms"],
    [200, "200ms"],
    [999.6, "1s"],
    [1000, "1s"],
    [1500, "1.5s"],
    [10_000, "10s"],
    [20_000, "20s"],
    [100_000, "100s"],
    [110_000, "110s"],
    [119_999, "2m0s"],
    [120_000, "2m0s"],
    [150_000, "2m30s"],
    [179_600, "3m0s"],
    [600_000, "10m0s"],
    [3_600_000, "1h0m0s"],
    [3_723_000, "1h2m3s"],
  ])("%d ms -> %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("formatDelta", () => {
  test.each([
    [0, 0, "±0µs (0.0%)"],
    [500, 100, "+500µs (+100.0%)"],
    [-1500, -12.5, "-1.5ms (-12.5%)"],
    [1100, 10, "+1.1ms (+10.0%)"],
    [10_000, null, "+10ms"],
    [110_000, 110, "+110ms (+110.0%)"],
    [-200_000, -50, "-200ms (-50.0%)"],
    [1_000_000, 1000, "+1s (+1000.0%)"],
  ] as const)("%d µs, %s%% -> %s", (us, pct, text) => {
    expect(formatDelta(us, pct)).toBe(text);
  });
});

describe("formatRate", () => {
  test.each([
    [0, "0.0"],
    [1, "1.0"],
    [10, "10.0"],
    [100, "100.0"],
    [110, "110.0"],
    [999.94, "999.9"],
    [999.96, "1,000"],
    [1000, "1,000"],
    [1500.25, "1,500"],
    [3938.2, "3,938"],
    [9999.96, "10,000"],
    [10_000, "10,000"],
    [110_000, "110,000"],
  ])("%d req/s -> %s", (qps, text) => {
    expect(formatRate(qps)).toBe(text);
  });
});

describe("formatBytes", () => {
  test.each([
    [0, "0 B"],
    [1, "1 B"],
    [10, "10 B"],
    [100, "100 B"],
    [1000, "1000 B"],
    [1024, "1 KiB"],
    [1536, "1536 B"],
    [10_240, "10 KiB"],
    [102_400, "100 KiB"],
    [112_640, "110 KiB"],
    [1_048_576, "1 MiB"],
    [10_485_760, "10 MiB"],
    [209_715_200, "200 MiB"],
  ])("%d -> %s", (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe("chart axis ticks", () => {
  test.each([
    [1, "1µs"],
    [10, "10µs"],
    [100, "100µs"],
    [1000, "1ms"],
    [10_000, "10ms"],
    [100_000, "100ms"],
    [1_000_000, "1s"],
    [10_000_000, "10s"],
    [100_000_000, "100s"],
  ])("%d µs -> %s", (us, text) => {
    expect(usTick(us)).toBe(text);
  });
});
