import { type LoadResult, renderHtmlReport } from "@meshctl/bench";
import { medianOf } from "./rounds.js";
import { formatMicros } from "./text-report.js";
import type { LabMeasurement, LabResult } from "./types.js";

/**
 * The round that stands for a scenario in charts: the one whose p50 is closest to the median p50
 * across rounds (a real measurement, not a blend of histograms).
 *
 * @example
 * representativeRound(result.measurements.filter((m) => m.scenario === "sidecar"));
 */
export function representativeRound(measurements: readonly LabMeasurement[]): LabMeasurement | undefined {
  const median = medianOf(measurements.map((m) => m.latencyUs.p50));
  return [...measurements].sort(
    (a, b) => Math.abs(a.latencyUs.p50 - median) - Math.abs(b.latencyUs.p50 - median),
  )[0];
}

/**
 * Renders the lab result as the load engine's self-contained HTML report: one entry per scenario
 * (its representative round, baseline `direct`), with the across-rounds table and the headline
 * comparisons as notes and the lab's setup in the environment block.
 *
 * @example
 * await writeFile("lab.html", renderLabHtmlReport(await runLab()));
 */
export function renderLabHtmlReport(result: LabResult): string {
  const entries = result.summaries.flatMap((s) => {
    const m = representativeRound(result.measurements.filter((x) => x.scenario === s.scenario));
    return m ? [{ label: s.scenario, result: m.raw as LoadResult }] : [];
  });
  const o = result.options;
  const pct = (f: number) => `${f >= 0 ? "+" : ""}${(f * 100).toFixed(1)}%`;
  const notes = [
    `Local mesh lab: ${o.rounds} interleaved rounds × ${o.durationSeconds}s per scenario (+${o.warmupSeconds}s warm-up), ${o.qps} req/s open loop, ${o.connections} connections, ${o.payloadBytes} B payload. Charts and tables below show each scenario's median round; these notes give medians across all rounds ± half their range.`,
    ...result.summaries.map(
      (s) =>
        `${s.scenario} (${s.protocol}, ${s.rounds} rounds): p50 ${formatMicros(s.p50.median)} ±${((s.p50.spread / 2) * 100).toFixed(0)}%, p90 ${formatMicros(s.p90.median)} ±${((s.p90.spread / 2) * 100).toFixed(0)}%, p99 ${formatMicros(s.p99.median)} ±${((s.p99.spread / 2) * 100).toFixed(0)}%.`,
    ),
    ...result.comparisons.map(
      (c) =>
        `${c.title}: ${c.deltas.map((d) => `${d.percentile} ${d.deltaUs >= 0 ? "+" : "-"}${formatMicros(Math.abs(d.deltaUs))} (${pct(d.deltaFraction)}${d.pairedFraction !== null && d.perRoundFractions.length > 1 ? `; paired per round ${pct(d.pairedFraction)}` : ""})`).join(", ")}.`,
    ),
    ...(result.ebpfCounters
      ? [
          `eBPF: ${result.ebpfCounters.redirectedMessages} messages redirected socket-to-socket, ${result.ebpfCounters.passedMessages} through TCP.`,
        ]
      : []),
    ...result.skipped.map((s) => `Skipped ${s.scenario}: ${s.reason}`),
    ...result.warnings.map((w) => `Warning: ${w}`),
  ];
  const e = result.environment;
  return renderHtmlReport(entries, {
    title: "meshctl bench: local mesh lab",
    ...(entries.some((x) => x.label === "direct") ? { baseline: "direct" } : {}),
    environment: {
      sidecar: `${e.sidecar} ${e.sidecarVersion}`.trim(),
      ebpf: e.ebpf,
      "lab cgroup": e.cgroupRoot,
    },
    notes,
    generatedAt: new Date(result.startedAt),
  });
}
