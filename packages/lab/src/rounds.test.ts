import { describe, expect, test } from "vitest";
import {
  compareScenarios,
  deltasOf,
  interleaveRounds,
  medianOf,
  roundStatOf,
  summarizeRounds,
} from "./rounds.js";
import type { LabMeasurement, LabScenario } from "./types.js";

function measurement(
  scenario: LabScenario,
  round: number,
  p50: number,
  p90 = p50 * 2,
  p99 = p50 * 4,
): LabMeasurement {
  const latency = { p50, p90, p99, p999: p99 * 2, max: p99 * 3 };
  return {
    scenario,
    round,
    protocol: "http1",
    requests: 100,
    errors: round === 1 ? 1 : 0,
    achievedQps: 1000,
    rateReached: true,
    latencyUs: latency,
    uncorrectedLatencyUs: latency,
    raw: null,
  };
}

describe("interleaveRounds", () => {
  test("runs A B C A B C, not A A B B C C", () => {
    const order = interleaveRounds(["direct", "sidecar", "sidecar-ebpf"], 2).map(
      (s) => `${s.scenario}#${s.round}`,
    );
    expect(order).toEqual([
      "direct#1",
      "sidecar#1",
      "sidecar-ebpf#1",
      "direct#2",
      "sidecar#2",
      "sidecar-ebpf#2",
    ]);
  });
  test("zero rounds is an empty run", () => {
    expect(interleaveRounds(["direct"], 0)).toEqual([]);
  });
});

describe("median and spread", () => {
  test("median of odd and even lists, unsorted input", () => {
    expect(medianOf([5, 1, 3])).toBe(3);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNaN();
  });
  test("spread is the range relative to the median", () => {
    const s = roundStatOf([110, 90, 100]);
    expect(s).toMatchObject({ median: 100, min: 90, max: 110 });
    expect(s.spread).toBeCloseTo(0.2, 10);
    expect(roundStatOf([7]).spread).toBe(0);
  });
});

describe("summaries and comparisons", () => {
  const measurements = [
    measurement("direct", 1, 100),
    measurement("sidecar", 1, 300),
    measurement("sidecar-ebpf", 1, 250),
    measurement("direct", 2, 120),
    measurement("sidecar", 2, 320),
    measurement("sidecar-ebpf", 2, 260),
    measurement("direct", 3, 110),
    measurement("sidecar", 3, 310),
    measurement("sidecar-ebpf", 3, 270),
  ];
  const summaries = summarizeRounds(measurements, ["direct", "sidecar", "sidecar-ebpf"]);

  test("summarises each scenario across its rounds by median", () => {
    const direct = summaries.find((s) => s.scenario === "direct")!;
    expect(direct.rounds).toBe(3);
    expect(direct.p50.median).toBe(110);
    expect(direct.p50.values).toEqual([100, 120, 110]);
    expect(direct.p90.median).toBe(220);
    expect(direct.requests).toBe(300);
    expect(direct.errors).toBe(1);
  });

  test("sidecar overhead over direct and eBPF gain over sidecar at p50/p90/p99", () => {
    const comparisons = compareScenarios(summaries);
    const overhead = comparisons.find((c) => c.id === "sidecar-overhead")!;
    expect(overhead.deltas.map((d) => d.percentile)).toEqual(["p50", "p90", "p99"]);
    expect(overhead.deltas[0]).toMatchObject({ baselineUs: 110, valueUs: 310, deltaUs: 200 });
    expect(overhead.deltas[0]!.deltaFraction).toBeCloseTo(200 / 110, 10);
    // Paired: per-round (300-100)/100, (320-120)/120, (310-110)/110 -> median 200/110.
    expect(overhead.deltas[0]!.perRoundFractions).toEqual([2, 200 / 120, 200 / 110]);
    expect(overhead.deltas[0]!.pairedFraction).toBeCloseTo(200 / 110, 10);
    const gain = comparisons.find((c) => c.id === "ebpf-gain")!;
    // Paired: (250-300)/300, (260-320)/320, (270-310)/310 -> median -50/300.
    expect(gain.deltas[0]!.pairedFraction).toBeCloseTo(-50 / 300, 10);
    expect(gain.deltas[0]).toMatchObject({ baselineUs: 310, valueUs: 260, deltaUs: -50 });
    expect(gain.deltas[0]!.deltaFraction).toBeCloseTo(-50 / 310, 10);
  });

  test("comparisons needing an absent scenario are left out", () => {
    const only = compareScenarios(summarizeRounds(measurements, ["direct", "sidecar"]));
    expect(only.map((c) => c.id)).toEqual(["sidecar-overhead"]);
    expect(deltasOf(summaries[0]!, summaries[0]!).every((d) => d.deltaUs === 0)).toBe(true);
  });
});
