/**
 * The figures every lab view prints, formatted once. The text report (`text-report.ts`) and the
 * HTML report (`html-report.ts`) lay these cells out differently but never format a number
 * themselves, and they read only the result's summaries, comparisons and curves (which
 * `rounds.ts` computes), so the two cannot disagree.
 */
import { formatBytes, formatDuration, formatRate, formatUs } from "@meshctl/bench";
import { medianOf } from "./rounds.js";
import {
  LAB_CPU_PARTS,
  LAB_SEGMENTS,
  type LabComparison,
  type LabCpuPart,
  type LabCurve,
  type LabDelta,
  type LabEbpfCounters,
  type LabMetric,
  type LabRate,
  type LabResult,
  type LabScenarioSummary,
  type LabSegment,
  type RoundStat,
} from "./types.js";

/** What each per-hop segment is called in reports, in request order. */
export const SEGMENT_LABELS: Readonly<Record<LabSegment, string>> = {
  "client-app-to-sidecar": "client app ⇄ client sidecar",
  "client-sidecar": "client sidecar",
  "sidecar-to-sidecar": "sidecar ⇄ sidecar",
  "server-sidecar": "server sidecar",
  "server-sidecar-to-app": "server sidecar ⇄ app + app",
};

export const CPU_PART_LABELS: Readonly<Record<LabCpuPart, string>> = {
  "client-app": "client app",
  "client-sidecar": "client sidecar",
  "server-app": "server app",
  "server-sidecar": "server sidecar",
};

const METRIC_LABELS: Readonly<Record<LabMetric, string>> = {
  p50: "p50",
  p90: "p90",
  p99: "p99",
  "sidecar-cpu": "sidecar CPU",
  "sidecar-system-cpu": "sidecar system CPU",
  "total-cpu": "total CPU",
};

/** The typographic minus, so a negative figure cannot be misread as a dash. */
const MINUS = "\u2212";

/**
 * A target rate for prose: "1,000 req/s" or "max (closed loop)".
 *
 * @example
 * formatLabRate(2000); // "2,000 req/s"
 */
export function formatLabRate(rate: LabRate): string {
  return rate === "max" ? "max (closed loop)" : `${rate.toLocaleString("en-US")} req/s`;
}

/**
 * A target rate in a table cell.
 *
 * @example
 * rateCell(1000); // "1,000"
 * rateCell("max"); // "max"
 */
export function rateCell(rate: LabRate): string {
  return rate === "max" ? "max" : rate.toLocaleString("en-US");
}

/**
 * The rates of a run for prose.
 *
 * @example
 * formatLabRates([500, 2000, "max"]); // "500 req/s, 2,000 req/s and max (closed loop)"
 */
export function formatLabRates(rates: readonly LabRate[]): string {
  const words = rates.map(formatLabRate);
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

/**
 * A signed relative change with one decimal (none from 1,000%) and a real minus sign: "+3.1%",
 * "−8.4%", "0.0%", "+3,342%".
 *
 * @example
 * formatSignedFraction(-0.084); // "−8.4%"
 */
export function formatSignedFraction(fraction: number): string {
  if (!Number.isFinite(fraction)) return "n/a";
  const abs = Math.abs(fraction * 100);
  // A tenth of a percent means nothing on an interval of thousands of percent (two rounds).
  const digits = abs >= 1000 ? Math.round(abs).toLocaleString("en-US") : abs.toFixed(1);
  if (Number(abs.toFixed(1)) === 0) return "0.0%";
  return `${fraction > 0 ? "+" : MINUS}${digits}%`;
}

/**
 * CPU time per request: three significant digits below a millisecond ("3.42µs", "42.3µs").
 *
 * @example
 * formatCpuUs(42.31); // "42.3µs"
 */
export function formatCpuUs(us: number): string {
  if (!Number.isFinite(us)) return "n/a";
  if (Math.abs(us) >= 1000) return formatUs(us);
  return `${Number(us.toPrecision(3))}µs`;
}

/**
 * CPU time per 1,000 requests, from µs per request.
 *
 * @example
 * formatCpuPerThousand(42.3); // "42.3ms"
 */
export function formatCpuPerThousand(usPerRequest: number): string {
  return formatUs(usPerRequest * 1000);
}

/** A latency across rounds: its median and ± half the range (the spread) when rounds differ. */
function latencyStat(s: RoundStat): string {
  const median = formatUs(s.median);
  return s.values.length > 1 ? `${median} ±${Math.round((s.spread / 2) * 100)}%` : median;
}

/** Column heads of the scenario summary table. */
export const SUMMARY_COLUMNS = [
  "scenario",
  "rate",
  "proto",
  "rounds",
  "achieved req/s",
  "p50",
  "p90",
  "p99",
  "p99.9",
  "max",
  "errors",
] as const;

/** Marks an achieved rate below the target (explained under the table). */
export const RATE_NOT_REACHED_MARK = "!";

/**
 * One summary as table cells, in SUMMARY_COLUMNS order: medians across rounds (± half their
 * range), total errors, and the achieved rate flagged with `!` when the target was missed.
 *
 * @example
 * summaryCells(result.summaries[0]); // ["direct", "1,000", "http1", "3", "999.8", "112µs ±4%", ...]
 */
export function summaryCells(s: LabScenarioSummary): string[] {
  return [
    s.scenario,
    rateCell(s.rate),
    s.protocol,
    String(s.rounds),
    `${formatRate(s.achievedQps.median)}${s.rateReached ? "" : ` ${RATE_NOT_REACHED_MARK}`}`,
    latencyStat(s.p50),
    latencyStat(s.p90),
    latencyStat(s.p99),
    latencyStat(s.p999),
    latencyStat(s.max),
    s.errors.toLocaleString("en-US"),
  ];
}

/**
 * One line per scenario and rate whose target rate was not reached in every round, whatever the
 * scenario (HTTP or gRPC): its latency was measured at a lower load than asked.
 *
 * @example
 * rateNotReachedLines(result.summaries); // ["grpc-proxyless at 5,000 req/s: target rate not reached ..."]
 */
export function rateNotReachedLines(summaries: readonly LabScenarioSummary[]): string[] {
  return summaries
    .filter((s) => !s.rateReached)
    .map(
      (s) =>
        `${s.scenario} at ${formatLabRate(s.rate)}: target rate not reached (median ${formatRate(s.achievedQps.median)} req/s achieved over ${s.rounds} round${s.rounds === 1 ? "" : "s"}); its latency was measured at a lower load than asked and does not compare like for like.`,
    );
}

/** Column heads of a comparison's delta table. */
export const DELTA_COLUMNS = [
  "metric",
  "baseline → scenario",
  "paired change [95% interval]",
  "verdict",
] as const;

/**
 * One delta as table cells, in DELTA_COLUMNS order: the metric, both medians, the paired estimate
 * with its 95% interval, and the verdict. A "not resolved" verdict is printed as exactly that;
 * CPU is in µs per request.
 *
 * @example
 * deltaCells(delta); // ["p50", "310µs → 284µs", "−8.4% [−11.0%, −5.7%]", "lower"]
 */
export function deltaCells(d: LabDelta): string[] {
  const cpu = d.unit === "us/request";
  const value = cpu ? formatCpuUs : formatUs;
  const interval = d.interval
    ? `[${formatSignedFraction(d.interval.low)}, ${formatSignedFraction(d.interval.high)}]`
    : "(no interval: one round)";
  return [
    cpu ? `${METRIC_LABELS[d.metric]} /request` : METRIC_LABELS[d.metric],
    `${value(d.baseline)} → ${value(d.value)}`,
    d.pairedFraction === null ? "no paired rounds" : `${formatSignedFraction(d.pairedFraction)} ${interval}`,
    d.verdict,
  ];
}

/**
 * A comparison's heading.
 *
 * @example
 * comparisonHeading(c); // "Sidecar overhead over direct (HTTP/1.1) at 1,000 req/s: sidecar vs direct"
 */
export function comparisonHeading(c: LabComparison): string {
  return `${c.title} at ${formatLabRate(c.rate)}: ${c.scenario} vs ${c.baseline}`;
}

/** Column heads of a per-hop breakdown table. */
export const BREAKDOWN_COLUMNS = ["segment", "p50", "p90", "p99", "share of p50s"] as const;

/**
 * The per-hop breakdown of a meshed summary as rows (segments in request order): each segment's
 * p50/p90/p99, medians across rounds, and its share of the segments' summed p50s. Empty without a
 * breakdown.
 *
 * @example
 * breakdownRows(sidecarSummary)[1]; // ["client sidecar", "96µs", "140µs", "410µs", "31%"]
 */
export function breakdownRows(s: LabScenarioSummary): string[][] {
  const b = s.breakdown;
  if (!b) return [];
  const sum = LAB_SEGMENTS.reduce((a, seg) => a + Math.max(0, b[seg].p50.median), 0);
  return LAB_SEGMENTS.map((seg) => [
    SEGMENT_LABELS[seg],
    formatUs(b[seg].p50.median),
    formatUs(b[seg].p90.median),
    formatUs(b[seg].p99.median),
    sum > 0 ? `${Math.round((Math.max(0, b[seg].p50.median) / sum) * 100)}%` : "n/a",
  ]);
}

/** Column heads of a CPU-per-request table. */
export const CPU_COLUMNS = [
  "scenario",
  "part",
  "user /request",
  "system /request",
  "total /request",
  "CPU per 1,000 requests",
] as const;

/** Median across rounds of the per-round sum of several per-request series. */
function medianOfSums(stats: readonly RoundStat[]): number {
  const rounds = Math.min(...stats.map((s) => s.values.length));
  return medianOf(
    Array.from({ length: rounds }, (_, i) => stats.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)),
  );
}

/**
 * CPU per request of a summary as rows, one per measured part and, when all four parts were
 * measured, an "all parts" row: user, system and total µs per request (medians across rounds;
 * totals are the median of each round's sum), and the total as CPU time per 1,000 requests.
 *
 * @example
 * cpuRows(sidecarSummary)[1]; // ["sidecar", "client sidecar", "38.2µs", "21µs", "59.2µs", "59.2ms"]
 */
export function cpuRows(s: LabScenarioSummary): string[][] {
  const cpu = s.cpu;
  if (!cpu) return [];
  const rows: string[][] = [];
  for (const part of LAB_CPU_PARTS) {
    const c = cpu[part];
    if (!c) continue;
    const total = medianOfSums([c.userUsPerRequest, c.systemUsPerRequest]);
    rows.push([
      s.scenario,
      CPU_PART_LABELS[part],
      formatCpuUs(c.userUsPerRequest.median),
      formatCpuUs(c.systemUsPerRequest.median),
      formatCpuUs(total),
      formatCpuPerThousand(total),
    ]);
  }
  const total = cpuTotal(s);
  if (total) rows.push([s.scenario, "all parts", total.user, total.system, total.total, total.perThousand]);
  return rows;
}

/**
 * The "all parts" CPU figures of a summary (all four parts measured), or undefined; each total
 * is the median across rounds of that round's sum.
 *
 * @example
 * cpuTotal(sidecarSummary)?.total; // "168µs"
 */
export function cpuTotal(
  s: LabScenarioSummary,
): { user: string; system: string; total: string; perThousand: string } | undefined {
  const parts = LAB_CPU_PARTS.map((p) => s.cpu?.[p]);
  if (parts.some((p) => !p)) return undefined;
  const all = parts as { userUsPerRequest: RoundStat; systemUsPerRequest: RoundStat }[];
  const user = medianOfSums(all.map((p) => p.userUsPerRequest));
  const system = medianOfSums(all.map((p) => p.systemUsPerRequest));
  const total = medianOfSums(all.flatMap((p) => [p.userUsPerRequest, p.systemUsPerRequest]));
  return {
    user: formatCpuUs(user),
    system: formatCpuUs(system),
    total: formatCpuUs(total),
    perThousand: formatCpuPerThousand(total),
  };
}

/** Column heads of a latency-vs-throughput table. */
export const CURVE_COLUMNS = ["rate", "achieved req/s", "p50", "p99", "status"] as const;

/**
 * One scenario's points over the rate sweep as rows: target, achieved rate, p50, p99 (medians
 * across rounds) and whether the level was sustained.
 *
 * @example
 * curveRows(curve)[0]; // ["500", "499.9", "140µs", "420µs", "sustained"]
 */
export function curveRows(c: LabCurve): string[][] {
  return c.points.map((p) => [
    rateCell(p.rate),
    formatRate(p.achievedQps),
    formatUs(p.p50),
    formatUs(p.p99),
    p.rate === "max"
      ? `closed loop${p.errors > 0 ? `, ${p.errors.toLocaleString("en-US")} errors` : ""}`
      : !p.rateReached
        ? "rate not reached"
        : p.errors > 0
          ? `${p.errors.toLocaleString("en-US")} errors`
          : "sustained",
  ]);
}

/**
 * A curve's max sustainable rate, or why there is none.
 *
 * @example
 * maxSustainableText(curve); // "max sustainable rate: 4812.3 req/s"
 */
export function maxSustainableText(c: LabCurve): string {
  return c.maxSustainableQps === null
    ? "max sustainable rate: none (no level reached its target without errors)"
    : `max sustainable rate: ${formatRate(c.maxSustainableQps)} req/s`;
}

/**
 * The run's setup in one line.
 *
 * @example
 * setupLine(result); // "3 interleaved rounds × 3s (+1s warm-up) per scenario and rate, at 1,000 req/s, ..."
 */
export function setupLine(result: LabResult): string {
  const o = result.options;
  return `${o.rounds} interleaved round${o.rounds === 1 ? "" : "s"} × ${formatDuration(o.durationSeconds * 1000)} (+${formatDuration(o.warmupSeconds * 1000)} warm-up) per scenario and rate, at ${formatLabRates(o.rates)}, ${o.connections} connections, ${formatBytes(o.payloadBytes)} payload, sidecar ${o.sidecar} (${o.sidecarMode})${o.pacing === "timer" ? ", timer pacing (sends up to ~1 ms late, in every scenario)" : ""}`;
}

/**
 * Where the run happened, in one line.
 *
 * @example
 * environmentLine(result); // "Linux 6.18 · 2 CPUs (EPYC) · Node v20.20.2 · sidecar: envoy 1.40.0 · ..."
 */
export function environmentLine(result: LabResult): string {
  const e = result.environment;
  return `Linux ${e.kernel} · ${e.cpus} CPUs (${e.cpuModel}) · Node ${e.node} · sidecar: ${e.sidecar}${e.sidecarVersion ? ` ${e.sidecarVersion}` : ""} · eBPF: ${e.ebpf} · CPU pinning: ${e.cpuPinning}`;
}

/** How to read the figures. */
export const METHOD_LINES = [
  "Latency is measured from each request's intended send time (coordinated-omission corrected). Figures are medians across rounds, ± half their range.",
  'Comparisons pair the two scenarios round by round (they ran back to back): the paired change with its 95% interval, and a verdict, "lower" or "higher" only when the interval excludes zero, otherwise "not resolved".',
] as const;

/**
 * How long the run took and that it cleaned up.
 *
 * @example
 * finishedLine(result); // "Finished in 2m51s; everything the lab created was removed."
 */
export function finishedLine(result: LabResult): string {
  return `Finished in ${formatDuration(result.durationSeconds * 1000)}; everything the lab created was removed.`;
}

/**
 * What the eBPF programs did, in one line.
 *
 * @example
 * ebpfLine(result.ebpfCounters); // "eBPF (sidecar-ebpf): 12,000 messages redirected socket-to-socket (...)"
 */
export function ebpfLine(k: LabEbpfCounters): string {
  return `eBPF (sidecar-ebpf): ${k.redirectedMessages.toLocaleString("en-US")} messages redirected socket-to-socket (${k.egressMessages.toLocaleString("en-US")} between the client app and its sidecar after the 15001 REDIRECT, ${k.ingressMessages.toLocaleString("en-US")} between the server sidecar and its app), ${k.passedMessages.toLocaleString("en-US")} sent through TCP, ${k.pairsCreated.toLocaleString("en-US")} REDIRECT pairs.`;
}

/**
 * The distinct rates of the summaries, in run order.
 *
 * @example
 * ratesOf(result.summaries); // [500, 2000, "max"]
 */
export function ratesOf(summaries: readonly { readonly rate: LabRate }[]): LabRate[] {
  return [...new Set(summaries.map((s) => s.rate))];
}
