import type {
  LabComparison,
  LabDelta,
  LabMeasurement,
  LabScenario,
  LabScenarioSummary,
  RoundStat,
} from "./types.js";

/** One slot of the run order. */
export interface LabSlot {
  readonly scenario: LabScenario;
  /** 1-based round number. */
  readonly round: number;
}

/**
 * The run order: rounds interleaved (A B C A B C ...) so slow drifts of the machine (thermal, other
 * tenants, page cache) hit every scenario alike instead of biasing whichever ran last.
 *
 * @example
 * interleaveRounds(["direct", "sidecar"], 2);
 * // [{direct,1}, {sidecar,1}, {direct,2}, {sidecar,2}]
 */
export function interleaveRounds(scenarios: readonly LabScenario[], rounds: number): LabSlot[] {
  const slots: LabSlot[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of scenarios) slots.push({ scenario, round });
  }
  return slots;
}

/**
 * The median of a list (mean of the two middle values for even lengths).
 *
 * @example
 * medianOf([3, 1, 2]); // 2
 */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid]!;
  return (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Median, range and relative spread of one statistic across rounds.
 *
 * @example
 * roundStatOf([100, 110, 90]); // { median: 100, min: 90, max: 110, spread: 0.2, ... }
 */
export function roundStatOf(values: readonly number[]): RoundStat {
  const median = medianOf(values);
  const min = values.length ? Math.min(...values) : Number.NaN;
  const max = values.length ? Math.max(...values) : Number.NaN;
  const spread = median > 0 ? (max - min) / median : 0;
  return { median, min, max, spread, values: [...values] };
}

/**
 * Groups measurements by scenario and summarises each across its rounds.
 *
 * @example
 * const summaries = summarizeRounds(result.measurements, ["direct", "sidecar"]);
 */
export function summarizeRounds(
  measurements: readonly LabMeasurement[],
  scenarios: readonly LabScenario[],
): LabScenarioSummary[] {
  const out: LabScenarioSummary[] = [];
  for (const scenario of scenarios) {
    const mine = measurements.filter((m) => m.scenario === scenario);
    if (mine.length === 0) continue;
    out.push({
      scenario,
      protocol: mine[0]!.protocol,
      rounds: mine.length,
      requests: mine.reduce((sum, m) => sum + m.requests, 0),
      errors: mine.reduce((sum, m) => sum + m.errors, 0),
      achievedQps: roundStatOf(mine.map((m) => m.achievedQps)),
      p50: roundStatOf(mine.map((m) => m.latencyUs.p50)),
      p90: roundStatOf(mine.map((m) => m.latencyUs.p90)),
      p99: roundStatOf(mine.map((m) => m.latencyUs.p99)),
      p999: roundStatOf(mine.map((m) => m.latencyUs.p999)),
    });
  }
  return out;
}

/**
 * Deltas of `value` over `baseline` at p50/p90/p99: the difference of the medians across rounds,
 * and the median of the per-round (paired) relative differences. Values are in round order.
 *
 * @example
 * deltasOf(direct, sidecar)[0]; // { percentile: "p50", deltaUs: 180, deltaFraction: 1.2, ... }
 */
export function deltasOf(baseline: LabScenarioSummary, value: LabScenarioSummary): LabDelta[] {
  return (["p50", "p90", "p99"] as const).map((percentile) => {
    const b = baseline[percentile].median;
    const v = value[percentile].median;
    const bs = baseline[percentile].values;
    const vs = value[percentile].values;
    const perRoundFractions =
      bs.length === vs.length && bs.length > 0 && bs.every((x) => x > 0)
        ? bs.map((x, i) => (vs[i]! - x) / x)
        : [];
    return {
      percentile,
      baselineUs: b,
      valueUs: v,
      deltaUs: v - b,
      deltaFraction: b > 0 ? (v - b) / b : 0,
      pairedFraction: perRoundFractions.length > 0 ? medianOf(perRoundFractions) : null,
      perRoundFractions,
    };
  });
}

/**
 * The comparisons a lab report headlines: what the sidecar costs over direct (Istio's figure), what
 * eBPF gives back over the plain sidecar, and the remaining cost of the accelerated sidecar.
 *
 * @example
 * compareScenarios(summaries).find((c) => c.id === "ebpf-gain");
 */
export function compareScenarios(summaries: readonly LabScenarioSummary[]): LabComparison[] {
  const by = new Map(summaries.map((s) => [s.scenario, s]));
  const out: LabComparison[] = [];
  const add = (id: LabComparison["id"], title: string, baseline: LabScenario, scenario: LabScenario) => {
    const b = by.get(baseline);
    const v = by.get(scenario);
    if (b && v) out.push({ id, title, baseline, scenario, deltas: deltasOf(b, v) });
  };
  add("sidecar-overhead", "Sidecar overhead over direct", "direct", "sidecar");
  add("ebpf-gain", "sidecar-ebpf against sidecar", "sidecar", "sidecar-ebpf");
  add("ebpf-overhead", "sidecar-ebpf overhead over direct", "direct", "sidecar-ebpf");
  add(
    "grpc-proxyless-overhead",
    "Proxyless gRPC (grpc-js, xDS-routed) against direct HTTP/1.1",
    "direct",
    "grpc-proxyless",
  );
  return out;
}
