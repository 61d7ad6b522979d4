import { textTable as table } from "@meshctl/bench";
import {
  BREAKDOWN_COLUMNS,
  breakdownRows,
  CPU_COLUMNS,
  CURVE_COLUMNS,
  comparisonHeading,
  cpuRows,
  curveRows,
  DELTA_COLUMNS,
  deltaCells,
  ebpfLine,
  environmentLine,
  finishedLine,
  formatLabRate,
  METHOD_LINES,
  maxSustainableText,
  RATE_NOT_REACHED_MARK,
  rateNotReachedLines,
  ratesOf,
  SUMMARY_COLUMNS,
  setupLine,
  summaryCells,
} from "./report-figures.js";
import type { LabResult } from "./types.js";

/** Pads column `col` so the table's right alignment leaves its words left-aligned. */
function leftAligned(rows: readonly string[][], col: number): string[][] {
  const width = Math.max(...rows.map((r) => [...(r[col] ?? "")].length));
  return rows.map((r) => r.map((cell, i) => (i === col ? cell.padEnd(width) : cell)));
}

/**
 * The plain-text lab report: setup, one row per scenario and rate, rate-not-reached warnings, the
 * paired comparisons with their 95% intervals and verdicts, per-hop latency and CPU per request of
 * each scenario, the latency-vs-throughput curves of a rate sweep, then skipped scenarios and
 * warnings. It reads only the result's summaries, comparisons and curves (the HTML report formats
 * the same cells), so the two reports always show the same figures.
 *
 * @example
 * process.stdout.write(renderLabText(await runLab()));
 */
export function renderLabText(result: LabResult): string {
  const lines = [
    `meshctl bench lab — ${setupLine(result)}`,
    environmentLine(result),
    ...METHOD_LINES,
    "",
    "Scenarios",
    table([[...SUMMARY_COLUMNS], ...result.summaries.map(summaryCells)]),
  ];
  const missed = rateNotReachedLines(result.summaries);
  if (missed.length > 0) {
    lines.push(`  ${RATE_NOT_REACHED_MARK} = target rate not reached:`);
    for (const m of missed) lines.push(`  ${RATE_NOT_REACHED_MARK} ${m}`);
  }

  if (result.comparisons.length > 0) {
    lines.push("", "Comparisons");
    for (const c of result.comparisons) {
      lines.push(
        `  ${comparisonHeading(c)}`,
        table([[...DELTA_COLUMNS], ...c.deltas.map(deltaCells)], "    "),
      );
    }
  }

  const broken = result.summaries.filter((s) => s.breakdown);
  if (broken.length > 0) {
    lines.push("", "Per-hop latency (each segment's percentiles, medians across rounds)");
    for (const s of broken) {
      lines.push(
        `  ${s.scenario} at ${formatLabRate(s.rate)}`,
        table([[...BREAKDOWN_COLUMNS], ...breakdownRows(s)], "    "),
      );
    }
  }

  const cpu = result.summaries.filter((s) => s.cpu);
  if (cpu.length > 0) {
    lines.push("", "CPU per request (medians across rounds, during the measured phase)");
    for (const rate of ratesOf(cpu)) {
      const rows = cpu.filter((s) => s.rate === rate).flatMap(cpuRows);
      lines.push(`  At ${formatLabRate(rate)}`, table(leftAligned([[...CPU_COLUMNS], ...rows], 1), "    "));
    }
  }

  if (result.curves.some((c) => c.points.length > 1)) {
    lines.push("", "Latency against throughput (medians across rounds)");
    for (const c of result.curves) {
      lines.push(
        `  ${c.scenario}: ${maxSustainableText(c)}`,
        table([[...CURVE_COLUMNS], ...curveRows(c)], "    "),
      );
    }
  }

  if (result.ebpfCounters) lines.push("", ebpfLine(result.ebpfCounters));
  if (result.skipped.length > 0) {
    lines.push("", "Skipped:");
    for (const s of result.skipped) lines.push(`  ${s.scenario}: ${s.reason}`);
  }
  if (result.warnings.length > 0) {
    lines.push("", "Warnings:");
    for (const w of result.warnings) lines.push(`  ! ${w}`);
  }
  lines.push("", finishedLine(result));
  return `${lines.join("\n")}\n`;
}
