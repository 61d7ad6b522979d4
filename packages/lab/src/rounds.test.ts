import { describe, expect, test } from "vitest";
import {
  compareScenarios,
  curvesOf,
  deltasOf,
  interleaveRounds,
  medianOf,
  pairedDifference,
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
    rate: 1000,
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

  test("sidecar overhead over direct and eBPF gain over sidecar at p50/p90/p99, paired by round", () => {
    const comparisons = compareScenarios(summaries);
    const overhead = comparisons.find((c) => c.id === "sidecar-overhead")!;
    expect(overhead.rate).toBe(1000);
    expect(overhead.deltas.map((d) => d.metric)).toEqual(["p50", "p90", "p99"]);
    expect(overhead.deltas[0]).toMatchObject({ unit: "us", baseline: 110, value: 310, delta: 200 });
    expect(overhead.deltas[0]!.deltaFraction).toBeCloseTo(200 / 110, 10);
    expect(overhead.deltas[0]!.perRoundFractions).toEqual([2, 200 / 120, 200 / 110]);
    // Paired: the geometric mean of the per-round ratios 3, 320/120, 310/110, minus 1.
    expect(overhead.deltas[0]!.pairedFraction).toBeCloseTo(Math.cbrt(3 * (320 / 120) * (310 / 110)) - 1, 10);
    expect(overhead.deltas[0]!.verdict).toBe("higher");
    expect(overhead.deltas[0]!.interval!.low).toBeGreaterThan(0);
    const gain = comparisons.find((c) => c.id === "ebpf-gain")!;
    expect(gain.deltas[0]).toMatchObject({ baseline: 310, value: 260, delta: -50, verdict: "lower" });
    expect(gain.deltas[0]!.interval!.high).toBeLessThan(0);
  });

  test("comparisons needing an absent scenario are left out", () => {
    const only = compareScenarios(summarizeRounds(measurements, ["direct", "sidecar"]));
    expect(only.map((c) => c.id)).toEqual(["sidecar-overhead"]);
    expect(deltasOf(summaries[0]!, summaries[0]!).every((d) => d.delta === 0)).toBe(true);
  });
});

describe("pairedDifference", () => {
  test("a consistent 10% increase is resolved as higher with an interval around it", () => {
    const d = pairedDifference([100, 102, 98, 101, 99], [110, 112.2, 107.8, 111.1, 108.9]);
    expect(d.pairedFraction).toBeCloseTo(0.1, 6);
    expect(d.verdict).toBe("higher");
    expect(d.interval!.low).toBeCloseTo(0.1, 6);
    expect(d.interval!.high).toBeCloseTo(0.1, 6);
  });

  test("a difference smaller than the round-to-round noise is not resolved", () => {
    // Rounds disagree in sign: -43% in one, +70% in another (a report once printed "loss 70.7 %").
    const d = pairedDifference([100, 100, 100], [57, 170, 101]);
    expect(d.verdict).toBe("not resolved");
    expect(d.interval!.low).toBeLessThan(0);
    expect(d.interval!.high).toBeGreaterThan(0);
  });

  test("one round has an estimate but no interval; unpaired input has neither", () => {
    expect(pairedDifference([100], [90])).toMatchObject({ interval: null, verdict: "not resolved" });
    expect(pairedDifference([100], [90]).pairedFraction).toBeCloseTo(-0.1, 10);
    expect(pairedDifference([100, 100], [90])).toMatchObject({
      pairedFraction: null,
      verdict: "not resolved",
    });
  });

  test("the interval narrows with more rounds of the same noise (t quantiles)", () => {
    const base = [100, 100, 100, 100, 100, 100, 100, 100, 100, 100];
    const noisy = [104, 96, 106, 94, 105, 95, 104, 96, 105, 95].map((x) => x * 1.05);
    const few = pairedDifference(base.slice(0, 3), noisy.slice(0, 3));
    const many = pairedDifference(base, noisy);
    expect(many.interval!.high - many.interval!.low).toBeLessThan(few.interval!.high - few.interval!.low);
  });
});

describe("CPU per request, rates and curves", () => {
  const withCpu = (
    scenario: LabScenario,
    round: number,
    rate: number | "max",
    sidecarSys: number,
    qps: number,
  ) => ({
    ...measurement(scenario, round, 200),
    rate,
    achievedQps: qps,
    rateReached: rate === "max" || qps >= 0.99 * rate,
    errors: 0,
    cpu: {
      requests: 1000,
      parts: {
        "client-app": { userUs: 20_000, systemUs: 10_000 },
        "server-app": { userUs: 20_000, systemUs: 10_000 },
        "client-sidecar": { userUs: 40_000, systemUs: sidecarSys },
        "server-sidecar": { userUs: 40_000, systemUs: sidecarSys },
      },
    },
  });
  const ms = [1, 2, 3].flatMap((r) => [
    withCpu("sidecar", r, 500, 30_000 + r * 100, 500),
    withCpu("sidecar-ebpf", r, 500, 24_000 + r * 100, 500),
    withCpu("sidecar", r, "max", 30_000, 2600 + r),
    withCpu("sidecar-ebpf", r, "max", 24_000, 2900 + r),
    withCpu("sidecar", r, 5000, 30_000, 2500),
  ]);

  test("summaries per scenario and rate carry CPU per request of each part", () => {
    const summaries = summarizeRounds(ms, ["sidecar", "sidecar-ebpf"], [500, 5000, "max"]);
    expect(summaries.map((s) => `${s.scenario}@${s.rate}`)).toEqual([
      "sidecar@500",
      "sidecar-ebpf@500",
      "sidecar@5000",
      "sidecar@max",
      "sidecar-ebpf@max",
    ]);
    expect(summaries[0]!.cpu?.["server-sidecar"]?.systemUsPerRequest.values).toEqual([30.1, 30.2, 30.3]);
    expect(summaries[0]!.cpu?.["client-app"]?.userUsPerRequest.median).toBe(20);
  });

  test("eBPF's sidecar system CPU per request is compared paired, per rate", () => {
    const comparisons = compareScenarios(
      summarizeRounds(ms, ["sidecar", "sidecar-ebpf"], [500, 5000, "max"]),
    );
    expect(comparisons.map((c) => `${c.id}@${c.rate}`)).toEqual(["ebpf-gain@500", "ebpf-gain@max"]);
    const sys = comparisons[0]!.deltas.find((d) => d.metric === "sidecar-system-cpu")!;
    expect(sys.unit).toBe("us/request");
    expect(sys.baseline).toBeCloseTo(60.4, 6);
    expect(sys.value).toBeCloseTo(48.4, 6);
    expect(sys.verdict).toBe("lower");
    expect(comparisons[0]!.deltas.map((d) => d.metric)).toEqual([
      "p50",
      "p90",
      "p99",
      "sidecar-cpu",
      "sidecar-system-cpu",
      "total-cpu",
    ]);
  });

  test("curves: the max sustainable rate is the best sustained level or the closed-loop rate", () => {
    const curves = curvesOf(summarizeRounds(ms, ["sidecar", "sidecar-ebpf"], [500, 5000, "max"]));
    const sidecar = curves.find((c) => c.scenario === "sidecar")!;
    expect(sidecar.points.map((p) => [p.rate, p.rateReached])).toEqual([
      [500, true],
      [5000, false],
      ["max", true],
    ]);
    expect(sidecar.maxSustainableQps).toBe(2602);
    expect(curves.find((c) => c.scenario === "sidecar-ebpf")!.maxSustainableQps).toBe(2902);
  });
});
