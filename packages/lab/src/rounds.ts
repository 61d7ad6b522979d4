import {
  LAB_CPU_PARTS,
  LAB_SEGMENTS,
  type LabComparison,
  type LabCpuPart,
  type LabCurve,
  type LabDelta,
  type LabMeasurement,
  type LabMetric,
  type LabRate,
  type LabScenario,
  type LabScenarioSummary,
  type LabSegment,
  type RoundStat,
} from "./types.js";

/** One slot of the run order. */
export interface LabSlot {
  readonly scenario: LabScenario;
  readonly rate: LabRate;
  /** 1-based round number within its rate. */
  readonly round: number;
}

/**
 * The run order: per rate, rounds interleaved (A B C A B C ...) so slow drifts of the machine
 * (thermal, other tenants, page cache) hit every scenario alike instead of biasing whichever ran
 * last; rates one after the other, lowest first.
 *
 * @example
 * interleaveRounds(["direct", "sidecar"], 2);
 * // [{direct,1}, {sidecar,1}, {direct,2}, {sidecar,2}]
 */
export function interleaveRounds(
  scenarios: readonly LabScenario[],
  rounds: number,
  rates: readonly LabRate[] = [1000],
): LabSlot[] {
  const slots: LabSlot[] = [];
  for (const rate of rates) {
    for (let round = 1; round <= rounds; round++) {
      for (const scenario of scenarios) slots.push({ scenario, rate, round });
    }
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
  return quantileOf(values, 0.5);
}

/**
 * The q-quantile of a list by linear interpolation between order statistics (q = 0.5 is the median).
 *
 * @example
 * quantileOf([1, 2, 3, 4], 0.9); // 3.7
 */
export function quantileOf(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
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

/** CPU per request of one part in one measurement, µs; undefined when not measured. */
function cpuPerRequest(m: LabMeasurement, part: LabCpuPart): { user: number; system: number } | undefined {
  const use = m.cpu?.parts[part];
  if (!use || !m.cpu || m.cpu.requests <= 0) return undefined;
  return { user: use.userUs / m.cpu.requests, system: use.systemUs / m.cpu.requests };
}

function sameRate(a: LabRate, b: LabRate): boolean {
  return a === b;
}

/**
 * Groups measurements by rate and scenario and summarises each across its rounds (values in round
 * order, so two summaries of one rate pair up by index).
 *
 * @example
 * const summaries = summarizeRounds(result.measurements, ["direct", "sidecar"]);
 */
export function summarizeRounds(
  measurements: readonly LabMeasurement[],
  scenarios: readonly LabScenario[],
  rates: readonly LabRate[] = [...new Set(measurements.map((m) => m.rate))],
): LabScenarioSummary[] {
  const out: LabScenarioSummary[] = [];
  for (const rate of rates) {
    for (const scenario of scenarios) {
      const mine = measurements
        .filter((m) => m.scenario === scenario && sameRate(m.rate, rate))
        .sort((a, b) => a.round - b.round);
      if (mine.length === 0) continue;
      const cpu: Partial<Record<LabCpuPart, { userUsPerRequest: RoundStat; systemUsPerRequest: RoundStat }>> =
        {};
      for (const part of LAB_CPU_PARTS) {
        const per = mine.map((m) => cpuPerRequest(m, part));
        if (per.some((p) => p === undefined)) continue;
        cpu[part] = {
          userUsPerRequest: roundStatOf(per.map((p) => p!.user)),
          systemUsPerRequest: roundStatOf(per.map((p) => p!.system)),
        };
      }
      const withBreakdown = mine.filter((m) => m.breakdown && m.breakdown.joined > 0);
      let breakdown: LabScenarioSummary["breakdown"];
      if (withBreakdown.length === mine.length) {
        const entries = LAB_SEGMENTS.map((segment) => [
          segment,
          {
            p50: roundStatOf(withBreakdown.map((m) => m.breakdown!.segments[segment].p50)),
            p90: roundStatOf(withBreakdown.map((m) => m.breakdown!.segments[segment].p90)),
            p99: roundStatOf(withBreakdown.map((m) => m.breakdown!.segments[segment].p99)),
          },
        ]);
        breakdown = Object.fromEntries(entries) as Record<
          LabSegment,
          { p50: RoundStat; p90: RoundStat; p99: RoundStat }
        >;
      }
      out.push({
        scenario,
        rate,
        protocol: mine[0]!.protocol,
        rounds: mine.length,
        requests: mine.reduce((sum, m) => sum + m.requests, 0),
        errors: mine.reduce((sum, m) => sum + m.errors, 0),
        achievedQps: roundStatOf(mine.map((m) => m.achievedQps)),
        p50: roundStatOf(mine.map((m) => m.latencyUs.p50)),
        p90: roundStatOf(mine.map((m) => m.latencyUs.p90)),
        p99: roundStatOf(mine.map((m) => m.latencyUs.p99)),
        p999: roundStatOf(mine.map((m) => m.latencyUs.p999)),
        max: roundStatOf(mine.map((m) => m.latencyUs.max)),
        rateReached: mine.every((m) => m.rateReached),
        ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
        ...(breakdown ? { breakdown } : {}),
      });
    }
  }
  return out;
}

/** Two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/**
 * The paired relative difference of `value` over `baseline` (same rounds, same order): the
 * geometric mean of the per-round ratios minus 1, with a 95% interval from Student's t over the
 * log ratios, and a verdict that is `not resolved` whenever the interval includes zero.
 *
 * @example
 * pairedDifference([100, 102, 98], [110, 113, 107]); // { fraction: ≈0.10, interval: {low: ≈0.08, high: ≈0.12}, verdict: "higher" }
 */
export function pairedDifference(
  baseline: readonly number[],
  value: readonly number[],
): Pick<LabDelta, "pairedFraction" | "interval" | "verdict" | "perRoundFractions"> {
  const paired =
    baseline.length === value.length &&
    baseline.length > 0 &&
    baseline.every((x) => x > 0) &&
    value.every((x) => x > 0);
  if (!paired)
    return { pairedFraction: null, interval: null, verdict: "not resolved", perRoundFractions: [] };
  const perRoundFractions = baseline.map((b, i) => (value[i]! - b) / b);
  const logs = baseline.map((b, i) => Math.log(value[i]! / b));
  const n = logs.length;
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  const pairedFraction = Math.exp(mean) - 1;
  if (n < 2) return { pairedFraction, interval: null, verdict: "not resolved", perRoundFractions };
  const sd = Math.sqrt(logs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (T95[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
  const interval = { low: Math.exp(mean - half) - 1, high: Math.exp(mean + half) - 1 };
  const verdict = interval.low > 0 ? "higher" : interval.high < 0 ? "lower" : "not resolved";
  return { pairedFraction, interval, verdict, perRoundFractions };
}

/**
 * The parts `total-cpu` adds up: the server's app and both sidecars when meshed. The client app is
 * the load generator, whose precise pacing spins between sends: its CPU per request falls when the
 * target slows down, so it is reported but kept out of the total.
 */
const TOTAL_CPU_PARTS: readonly LabCpuPart[] = ["server-app", "client-sidecar", "server-sidecar"];

/**
 * Per-round values of a CPU metric, or undefined when a summary lacks the parts it needs: the
 * sidecar metrics need both sidecars; `total-cpu` sums TOTAL_CPU_PARTS as measured, so a meshed
 * scenario compares with `direct` on what serving the request cost.
 */
function cpuMetricValues(s: LabScenarioSummary, metric: LabMetric): number[] | undefined {
  const parts: readonly LabCpuPart[] =
    metric === "total-cpu"
      ? TOTAL_CPU_PARTS.filter((p) => s.cpu?.[p])
      : (["client-sidecar", "server-sidecar"] as const);
  if (metric === "total-cpu" && !s.cpu?.["server-app"]) return undefined;
  const stats = parts.map((p) => s.cpu?.[p]);
  if (stats.length === 0 || stats.some((x) => !x)) return undefined;
  return Array.from({ length: s.rounds }, (_, i) =>
    stats.reduce(
      (sum, x) =>
        sum +
        (metric === "sidecar-system-cpu" ? 0 : x!.userUsPerRequest.values[i]!) +
        x!.systemUsPerRequest.values[i]!,
      0,
    ),
  );
}

function deltaOf(
  metric: LabMetric,
  unit: LabDelta["unit"],
  baseline: readonly number[],
  value: readonly number[],
): LabDelta {
  const b = medianOf(baseline);
  const v = medianOf(value);
  return {
    metric,
    unit,
    baseline: b,
    value: v,
    delta: v - b,
    deltaFraction: b > 0 ? (v - b) / b : 0,
    ...pairedDifference(baseline, value),
  };
}

/**
 * Paired deltas of `value` over `baseline`: latency at p50/p90/p99, and CPU per request (the
 * sidecars' user+system and system alone, and every part's total) when both measured it.
 *
 * @example
 * deltasOf(sidecar, sidecarEbpf).find((d) => d.metric === "p50")?.verdict; // "lower" | "higher" | "not resolved"
 */
export function deltasOf(baseline: LabScenarioSummary, value: LabScenarioSummary): LabDelta[] {
  const out: LabDelta[] = (["p50", "p90", "p99"] as const).map((p) =>
    deltaOf(p, "us", baseline[p].values, value[p].values),
  );
  for (const metric of ["sidecar-cpu", "sidecar-system-cpu", "total-cpu"] as const) {
    const b = cpuMetricValues(baseline, metric);
    const v = cpuMetricValues(value, metric);
    if (b && v) out.push(deltaOf(metric, "us/request", b, v));
  }
  return out;
}

/** The comparisons a lab report headlines, baseline first. */
const COMPARISONS: readonly {
  id: LabComparison["id"];
  title: string;
  baseline: LabScenario;
  scenario: LabScenario;
}[] = [
  {
    id: "sidecar-overhead",
    title: "Sidecar overhead over direct (HTTP/1.1)",
    baseline: "direct",
    scenario: "sidecar",
  },
  {
    id: "ebpf-gain",
    title: "eBPF acceleration: sidecar-ebpf against sidecar",
    baseline: "sidecar",
    scenario: "sidecar-ebpf",
  },
  {
    id: "ebpf-overhead",
    title: "sidecar-ebpf overhead over direct",
    baseline: "direct",
    scenario: "sidecar-ebpf",
  },
  {
    id: "sidecar-grpc-overhead",
    title: "Sidecar overhead over direct (gRPC)",
    baseline: "direct-grpc",
    scenario: "sidecar-grpc",
  },
  {
    id: "grpc-proxyless-overhead",
    title: "Proxyless gRPC (xDS-routed) over direct gRPC",
    baseline: "direct-grpc",
    scenario: "grpc-proxyless",
  },
  {
    id: "grpc-proxyless-vs-sidecar",
    title: "Proxyless gRPC against gRPC through sidecars",
    baseline: "sidecar-grpc",
    scenario: "grpc-proxyless",
  },
  {
    id: "tstats-native-vs-wasm",
    title: "Telemetry: the native tstats module against the same logic in Wasm",
    baseline: "sidecar-tstats-wasm",
    scenario: "sidecar-tstats",
  },
  {
    id: "tstats-native-cost",
    title: "Telemetry cost: native tstats module over no telemetry",
    baseline: "sidecar",
    scenario: "sidecar-tstats",
  },
  {
    id: "tstats-wasm-cost",
    title: "Telemetry cost: tstats in Wasm over no telemetry",
    baseline: "sidecar",
    scenario: "sidecar-tstats-wasm",
  },
];

/**
 * The headline comparisons per rate, each like with like: what the sidecar costs over direct (HTTP
 * and gRPC), what eBPF gives back over the plain sidecar, and what proxyless gRPC costs over
 * direct gRPC and saves over gRPC through sidecars.
 *
 * @example
 * compareScenarios(summaries).find((c) => c.id === "ebpf-gain");
 */
export function compareScenarios(summaries: readonly LabScenarioSummary[]): LabComparison[] {
  const out: LabComparison[] = [];
  const rates = [...new Set(summaries.map((s) => s.rate))];
  for (const rate of rates) {
    const by = new Map(summaries.filter((s) => s.rate === rate).map((s) => [s.scenario, s]));
    for (const c of COMPARISONS) {
      const b = by.get(c.baseline);
      const v = by.get(c.scenario);
      if (b && v) out.push({ ...c, rate, deltas: deltasOf(b, v) });
    }
  }
  return out;
}

/**
 * Latency against throughput per scenario over the rates, and the highest rate each sustained:
 * the best median achieved rate among levels that reached their target without errors, or the
 * closed-loop (`max`) level's median achieved rate.
 *
 * @example
 * curvesOf(summaries).find((c) => c.scenario === "sidecar")?.maxSustainableQps;
 */
export function curvesOf(summaries: readonly LabScenarioSummary[]): LabCurve[] {
  const scenarios = [...new Set(summaries.map((s) => s.scenario))];
  return scenarios.map((scenario) => {
    const mine = summaries.filter((s) => s.scenario === scenario);
    const points = mine.map((s) => ({
      rate: s.rate,
      achievedQps: s.achievedQps.median,
      p50: s.p50.median,
      p99: s.p99.median,
      rateReached: s.rate === "max" ? true : s.rateReached,
      errors: s.errors,
    }));
    const sustained = points.filter((p) => p.errors === 0 && (p.rate === "max" || p.rateReached));
    return {
      scenario,
      points,
      maxSustainableQps: sustained.length > 0 ? Math.max(...sustained.map((p) => p.achievedQps)) : null,
    };
  });
}
