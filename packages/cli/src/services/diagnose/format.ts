import { paint } from "../../ui/terminal.js";
import type { DiagnoseReport } from "./types.js";

/** Plain-text rendering of a diagnose report, for pipes and logs. */
export function formatDiagnoseText(
  report: DiagnoseReport,
  options: { color: boolean; verbose: boolean },
): string {
  const c = paint(options.color);
  const mark = { ok: c.green("ok  "), warn: c.yellow("warn"), fail: c.red("FAIL") };
  const lines = [
    `meshctl diagnose: ${report.host.hostname}, Linux ${report.host.kernel}, ${report.host.cpus} CPUs, Node ${report.host.node}`,
  ];
  let group = "";
  for (const check of report.checks) {
    if (check.group !== group) {
      group = check.group;
      lines.push("", c.bold(`[${group}]`));
    }
    lines.push(`  ${mark[check.status]}  ${check.summary}  ${c.dim(`(${check.id})`)}`);
    if (options.verbose || check.status !== "ok")
      for (const e of check.evidence) lines.push(c.dim(`        ${e}`));
    if (check.recommendation && check.status !== "ok") lines.push(`        -> ${check.recommendation}`);
  }
  lines.push("", `${report.summary.ok} ok, ${report.summary.warn} warn, ${report.summary.fail} fail`);
  return lines.join("\n");
}
