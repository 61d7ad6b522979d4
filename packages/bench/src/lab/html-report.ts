import type { LoadResult } from "../engine/types.js";
import { renderHtmlReport } from "../report/html.js";
import { medianOf } from "./rounds.js";
import { renderComparison, renderSummaryTable } from "./text-report.js";
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
  const notes = [
    `Local mesh lab: ${o.rounds} interleaved rounds × ${o.durationSeconds}s per scenario (+${o.warmupSeconds}s warm-up), ${o.qps} req/s open loop, ${o.connections} connections, ${o.payloadBytes} B payload. Charts show each scenario's median round; the table below gives medians across all rounds ± half their range.`,
    ...renderSummaryTable(result.summaries),
    ...result.comparisons.flatMap((c) => renderComparison(c)),
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
