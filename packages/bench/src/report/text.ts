import type { LatencySummary, LoadResult } from "../engine/types.js";
import {
  compareResults,
  PERCENTILE_LABELS,
  type ReportEntry,
  type ReportInput,
  toReportEntries,
} from "./compare.js";
import { formatBytes, formatDelta, formatDuration, formatRate, formatUs, table } from "./format.js";
import { orderLatencySummary, orderLoadResult } from "./latency-order.js";

export interface TextReportOptions {
  /** Entry (or label of an entry) the others are compared with; a LoadResult from another run works too. */
  readonly baseline?: ReportInput | string;
  /** Show the uncorrected (service time) row; default true. */
  readonly uncorrected?: boolean;
}

const COLUMNS = ["min", "p50", "p75", "p90", "p99", "p999", "p9999", "max"] as const;
const DELTA_COLUMNS = ["p50", "p90", "p99", "p999", "max"] as const;

/** One line describing how a run was driven. */
export function describeRun(r: LoadResult): string {
  const o = r.options;
  const load = o.mode === "open" ? `open loop at ${formatRate(o.qps ?? 0)} req/s` : "closed loop (max rate)";
  const length = o.durationMs !== null ? formatDuration(o.durationMs) : `${o.requests} requests`;
  const parts = [
    o.protocol,
    load,
    `${o.connections} connection${o.connections === 1 ? "" : "s"}`,
    length,
    `payload ${formatBytes(o.payloadBytes)}`,
  ];
  if (o.warmupMs > 0) parts.push(`warm-up ${formatDuration(o.warmupMs)}`);
  if (o.workers > 1) parts.push(`${o.workers} workers`);
  return parts.join(" · ");
}

function latencyRow(name: string, s: LatencySummary): string[] {
  return [name, ...COLUMNS.map((c) => formatUs(s[c])), `${formatUs(s.mean)} ± ${formatUs(s.stdev)}`];
}

/**
 * The table block for one result, with its latencies in order and a WARNING for any
 * inconsistency HDR rounding cannot explain (see orderLoadResult).
 */
export function renderResultText(label: string, result: LoadResult, showUncorrected = true): string {
  const r = orderLoadResult(result);
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const rate =
    r.targetQps === null
      ? `${formatRate(r.achievedQps)} req/s`
      : `${formatRate(r.achievedQps)} req/s achieved (${(r.achievedRatio * 100).toFixed(1)}% of ${formatRate(r.targetQps)})`;
  const lines = [
    `${label}`,
    `  ${describeRun(r)}`,
    `  ${r.requests.toLocaleString("en-US")} requests in ${formatDuration(r.durationMs)}, ${rate}, ${errors} error${errors === 1 ? "" : "s"}`,
  ];
  const header = [
    "latency",
    ...COLUMNS.map((c) => (c === "min" ? "min" : PERCENTILE_LABELS[c])),
    "mean ± stdev",
  ];
  const rows = [header, latencyRow(r.options.mode === "open" ? "corrected" : "measured", r.corrected)];
  if (showUncorrected && r.options.mode === "open") rows.push(latencyRow("uncorrected", r.uncorrected));
  lines.push(table(rows));
  if (errors > 0)
    lines.push(
      `  errors: ${Object.entries(r.errors)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  for (const w of r.warnings) lines.push(`  WARNING: ${w}`);
  return lines.join("\n");
}

/**
 * Plain-text report: one table per result and, for several results or a baseline, a comparison
 * with absolute and relative deltas (corrected latencies).
 *
 * @example
 * renderTextReport([{ label: "direct", result: a }, { label: "sidecar", result: b }], { baseline: "direct" })
 */
export function renderTextReport(
  inputs: ReportInput | readonly ReportInput[],
  options: TextReportOptions = {},
): string {
  const entries = toReportEntries(Array.isArray(inputs) ? inputs : [inputs as ReportInput]);
  const blocks = entries.map((e) => renderResultText(e.label, e.result, options.uncorrected ?? true));
  let baseline: ReportEntry | undefined;
  let all = entries;
  if (typeof options.baseline === "string") baseline = entries.find((e) => e.label === options.baseline);
  else if (options.baseline) {
    const b = options.baseline;
    baseline = "result" in b ? b : { label: "baseline", result: b };
    if (!entries.includes(baseline)) all = [baseline, ...entries];
  } else if (entries.length > 1) baseline = entries[0];
  if (all.length > 1) blocks.push(renderComparison(all, baseline));
  return `${blocks.join("\n\n")}\n`;
}

function renderComparison(entries: readonly ReportEntry[], baseline: ReportEntry | undefined): string {
  const header = ["", "req/s", ...DELTA_COLUMNS.map((c) => PERCENTILE_LABELS[c]), "errors"];
  const rows = entries.map((e) => [
    e.label,
    formatRate(e.result.achievedQps),
    ...DELTA_COLUMNS.map((c) => formatUs(orderLatencySummary(e.result.corrected)[c])),
    String(Object.values(e.result.errors).reduce((a, b) => a + b, 0)),
  ]);
  const lines = ["Comparison (corrected latency)", table([header, ...rows])];
  if (baseline) {
    lines.push("", `Change vs ${baseline.label}`);
    const deltaRows = compareResults(baseline, entries).map((c) => [
      c.label,
      c.achievedQps.deltaPct === null
        ? "-"
        : `${c.achievedQps.deltaPct > 0 ? "+" : ""}${c.achievedQps.deltaPct.toFixed(1)}%`,
      ...DELTA_COLUMNS.map((k) => {
        const d = c.corrected.find((x) => x.metric === k);
        return d ? formatDelta(d.deltaUs, d.deltaPct) : "-";
      }),
    ]);
    lines.push(table([["", "req/s", ...DELTA_COLUMNS.map((c) => PERCENTILE_LABELS[c])], ...deltaRows]));
  }
  return lines.join("\n");
}
