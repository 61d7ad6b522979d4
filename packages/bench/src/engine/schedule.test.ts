import { describe, expect, test } from "vitest";
import { LatencyHistogram } from "./histogram.js";
import { latencyPairUs, OpenLoopSchedule, simulateOpenLoop } from "./schedule.js";

describe("OpenLoopSchedule", () => {
  test("spaces requests evenly from the start", () => {
    const s = new OpenLoopSchedule(1000, 200);
    expect(s.intervalMs).toBe(5);
    expect([0, 1, 2, 10].map((k) => s.intendedAt(k))).toEqual([1000, 1005, 1010, 1050]);
  });

  test("counts due requests, inclusive of the exact intended time", () => {
    const s = new OpenLoopSchedule(0, 1000);
    expect(s.dueBy(-1)).toBe(0);
    expect(s.dueBy(0)).toBe(1);
    expect(s.dueBy(0.999)).toBe(1);
    expect(s.dueBy(1)).toBe(2);
    expect(s.dueBy(10.5)).toBe(11);
  });

  test("finds the first request at or after a time", () => {
    const s = new OpenLoopSchedule(0, 100);
    expect(s.firstAtOrAfter(0)).toBe(0);
    expect(s.firstAtOrAfter(10)).toBe(1);
    expect(s.firstAtOrAfter(10.01)).toBe(2);
    expect(s.firstAtOrAfter(-50)).toBe(0);
  });

  test("shards with offsets w/W interleave into one even schedule", () => {
    const workers = 4;
    const total = 1000;
    const shards = Array.from(
      { length: workers },
      (_, w) => new OpenLoopSchedule(0, total / workers, w / workers),
    );
    const times = shards
      .flatMap((s) => Array.from({ length: 5 }, (_, k) => s.intendedAt(k)))
      .sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    for (const g of gaps) expect(g).toBeCloseTo(1, 9);
  });

  test("rejects a non-positive rate", () => {
    expect(() => new OpenLoopSchedule(0, 0)).toThrow(RangeError);
  });
});

describe("coordinated-omission correction", () => {
  test("latency pair: corrected counts from the intended time", () => {
    expect(latencyPairUs(1000, 1500, 1502)).toEqual({ corrected: 502_000, uncorrected: 2000 });
  });

  test("one 1 s stall at 100 req/s: corrected p99 holds the stall, uncorrected does not", () => {
    // 10 s at 100 req/s, 1 ms service time, and the server stalls once from t=5 s to t=6 s.
    const stalled = (sent: number): number => (sent >= 5000 && sent < 6000 ? 6000 - sent + 1 : 1);
    const reqs = simulateOpenLoop({ qps: 100, requests: 1000, serviceMs: stalled });
    const corrected = new LatencyHistogram();
    const uncorrected = new LatencyHistogram();
    for (const r of reqs) {
      const l = latencyPairUs(r.intendedMs, r.sentMs, r.endMs);
      corrected.record(l.corrected);
      uncorrected.record(l.uncorrected);
    }
    // Requests intended during the stall wait for it: ~100 samples spread over 1 ms..1 s.
    expect(corrected.percentile(99)).toBeGreaterThanOrEqual(900_000);
    expect(corrected.percentile(90)).toBeGreaterThanOrEqual(1000);
    // Only the one request that hit the stall sees it in service time.
    expect(uncorrected.percentile(99)).toBe(1000);
    expect(uncorrected.hdr.maxValue).toBeGreaterThanOrEqual(1_000_000);
    // Exactly: the request intended at 5000 ms ends at 6001 ms.
    const atStall = reqs[500];
    expect(atStall).toEqual({ intendedMs: 5000, sentMs: 5000, endMs: 6001 });
    // The queue behind it drains one request per service time: 501 goes at 6001 ms, 550 at 6050 ms.
    expect(reqs[501]?.sentMs).toBe(6001);
    expect(reqs[550]?.sentMs).toBe(6050);
  });

  test("without stalls both figures agree", () => {
    const reqs = simulateOpenLoop({ qps: 100, requests: 100, serviceMs: () => 2 });
    for (const r of reqs) {
      const l = latencyPairUs(r.intendedMs, r.sentMs, r.endMs);
      expect(l.corrected).toBeCloseTo(l.uncorrected, 6);
      expect(l.corrected).toBeCloseTo(2000, 6);
    }
  });
});
