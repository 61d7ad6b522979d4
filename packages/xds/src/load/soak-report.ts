/** The soak report as a readable table (the script prints it; `--json` prints the report itself). */
import type { XdsSoakReport } from "./soak-types.js";

const n = (v: number | null | undefined, unit = "") =>
  v === null || v === undefined ? "–" : `${v.toLocaleString("en-US")}${unit}`;

/** A row per figure, label and value aligned; a second table lists each restart. */
function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`);
}

/** A compact text plot of the RSS series: one character per point, eight levels. */
export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return "";
  const blocks = "▁▂▃▄▅▆▇█";
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values
    .map((v) => blocks[hi === lo ? 0 : Math.min(7, Math.floor(((v - lo) / (hi - lo)) * 8))])
    .join("");
}

/**
 * @example
 * process.stdout.write(formatXdsSoakReport(report));
 */
export function formatXdsSoakReport(r: XdsSoakReport): string {
  const c = r.changeToAck;
  const g = r.memory.growth;
  const h = r.memory.heapUsed.growth;
  const counts = (rec: Readonly<Record<string, number>>) =>
    Object.entries(rec)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(", ");
  const lines: string[] = [];
  lines.push(
    `xDS soak: ${n(r.config.proxies)} proxies (${r.proxies.envoySotw} SotW, ${r.proxies.envoyDelta} Delta, ${r.proxies.grpc} gRPC; ${r.proxies.channels} connections), ` +
      `${n(r.config.services)} services, ${n(r.soakSeconds)} s of ${n(r.config.durationSeconds)} s` +
      (r.stoppedEarly ? ` (stopped early: ${r.stoppedEarly})` : ""),
  );
  lines.push("");
  const rows: [string, string][] = [
    [
      "initial convergence",
      r.initial.notConverged === 0
        ? n(r.initial.allConvergedMs, " ms")
        : `${r.initial.notConverged} proxies never converged`,
    ],
    [
      "inputs tried",
      `${n(r.inputs.total)} (churn ${n(Object.values(r.inputs.churn).reduce((a, b) => a + b, 0))}, service deletions ${n(r.inputs.serviceDeletions)}, bad edits ${n(r.inputs.badEditsTotal)})`,
    ],
    ["  churn", counts(r.inputs.churn)],
    ["  bad edits", counts(r.inputs.badEdits)],
    [
      "config versions served",
      `${n(r.configVersions.acked)} ACKed by proxies; ${n(r.configVersions.modelUpdates)} model updates`,
    ],
    ["pushes (debounced)", `full ${n(r.pushes.triggers.full)}, eds ${n(r.pushes.triggers.eds)}`],
    ["per-proxy pushes", `full ${n(r.pushes.proxyPushes.full)}, eds ${n(r.pushes.proxyPushes.eds)}`],
    ["responses sent", counts(r.pushes.responses)],
    [
      "change→ACK",
      `p50 ${n(c.overall.p50, " ms")}, p99 ${n(c.overall.p99, " ms")}, max ${n(c.overall.max, " ms")} (${n(c.received)}/${n(c.expectedReceipts)} receipts, ${n(c.leftBehind)} left behind)`,
    ],
    ...Object.entries(c.byKind).map(([k, v]): [string, string] => [
      `  ${k}`,
      `p99 ${n(v.latencyMs.p99, " ms")}, max ${n(v.latencyMs.max, " ms")}, ${n(v.changes)} changes, ${n(v.leftBehind)} left behind`,
    ]),
    [
      "last-good violations",
      `${n(r.lastGood.violations)} in ${n(r.lastGood.checks)} checks${r.lastGood.unchecked > 0 ? ` (${n(r.lastGood.unchecked)} proxy resources skipped while reconnecting)` : ""}${r.lastGood.lateRestores > 0 ? ` (${n(r.lastGood.lateRestores)} removals after a delete-restore the harness restored later than the 100 ms debounce)` : ""}${r.lastGood.violations === 0 ? "" : "  <-- must be 0"}`,
    ],
    [
      "crashes",
      r.crashes.length === 0
        ? "0"
        : `${r.crashes.length}  <-- must be 0 (${r.crashes.map((c) => `${c.atSeconds} s after ${c.lastBadEdit ?? "no bad edit"}: ${c.stderr}`).join("; ")})`,
    ],
    [
      "restarts survived",
      `${r.restarts.survived} / ${r.restarts.attempted}${r.restarts.maxReconvergeMs !== null ? `, re-converged in at most ${n(r.restarts.maxReconvergeMs, " ms")}` : ""}`,
    ],
    [
      "server RSS",
      `peak ${n(r.memory.peakRssMiB, " MiB")}; ${sparkline(r.memory.series.map((s) => s.rssMiB))}`,
    ],
    [
      "RSS growth (2nd half)",
      g.slopeMiBPerHour === null
        ? `${g.verdict} (${g.points} samples)`
        : `${g.verdict}: ${g.slopeMiBPerHour} MiB/h, 95 % [${g.ci95MiBPerHour?.[0]}, ${g.ci95MiBPerHour?.[1]}] (${g.points} samples, ${g.segmentsUsed} lifetimes)`,
    ],
    [
      "V8 heap (2nd half)",
      h.slopeMiBPerHour === null
        ? `${h.verdict} (${h.points} samples)`
        : `${h.verdict}: ${h.slopeMiBPerHour} MiB/h, 95 % [${h.ci95MiBPerHour?.[0]}, ${h.ci95MiBPerHour?.[1]}] (${h.points} samples, ${h.segmentsUsed} lifetimes)`,
    ],
    [
      "RSS parts (2nd half)",
      Object.entries(r.memory.parts)
        .map(([part, { series, growth }]) => {
          const last = series.at(-1);
          const slope = growth.slopeMiBPerHour === null ? "n/a" : `${growth.slopeMiBPerHour} MiB/h`;
          return `${part} ${last ? n(Math.round(last.rssMiB), " MiB") : "n/a"} (${slope})`;
        })
        .join(", "),
    ],
    ["CPU seconds", `server ${n(r.cpuSeconds.server)}, harness ${n(r.cpuSeconds.harness)}`],
    ["debug port", `${n(r.debugPort.failures)} failures in ${n(r.debugPort.probes)} probes`],
    [
      "stream errors",
      `${n(r.streams.errorsOutsideRestarts)} outside restarts, ${n(r.streams.errorsDuringRestarts)} during; ${n(r.streams.rejected)} rejected (RESOURCE_EXHAUSTED), ${n(r.streams.reconnects)} reconnects`,
    ],
  ];
  lines.push(...table(rows));
  if (r.restarts.details.length > 0) {
    lines.push("", "  restart  at (s)  down (ms)  re-converged (ms)  mismatched proxies  survived");
    r.restarts.details.forEach((d, i) => {
      lines.push(
        `  ${String(i + 1).padStart(7)}  ${String(d.atSeconds).padStart(6)}  ${n(d.downMs).padStart(9)}  ${(d.reconvergeMs === null ? `${d.notReconverged} late` : n(d.reconvergeMs)).padStart(17)}  ${String(d.mismatchedProxies).padStart(18)}  ${d.survived ? "yes" : "NO"}`,
      );
    });
  }
  const bad = Object.entries(r.lastGood.byKind);
  if (bad.length > 0) {
    lines.push("", "  bad edit            edits  checks  violations");
    for (const [k, v] of bad)
      lines.push(
        `  ${k.padEnd(18)}  ${String(v.edits).padStart(5)}  ${String(v.checks).padStart(6)}  ${String(v.violations).padStart(10)}`,
      );
  }
  const samples = [
    ...r.lastGood.samples,
    ...r.restarts.mismatchSamples,
    ...r.changeToAck.leftBehindSamples,
    // Inside restart windows every stream ends by design: samples only when errors happened outside.
    ...(r.streams.errorsOutsideRestarts > 0 ? r.streams.errorSamples.slice(0, 5) : []),
  ];
  if (samples.length > 0) lines.push("", "  samples:", ...samples.map((s) => `    ${s}`));
  if (r.notes.length > 0) lines.push("", ...r.notes.map((s) => `  note: ${s}`));
  return `${lines.join("\n")}\n`;
}
