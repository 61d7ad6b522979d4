import type { LabComparison, LabResult, LabScenarioSummary, RoundStat } from "./types.js";

/** µs as a short human figure: 850 µs, 1.24 ms, 2.1 s. */
export function formatMicros(us: number): string {
  if (!Number.isFinite(us)) return "-";
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** A signed percentage: +12.3%, -4.0%. */
export function formatPercent(fraction: number): string {
  const pct = fraction * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`;
}

function stat(s: RoundStat): string {
  return `${formatMicros(s.median)} ±${((s.spread / 2) * 100).toFixed(0)}%`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** The table of scenario summaries (medians across rounds, ± half the range). */
export function renderSummaryTable(summaries: readonly LabScenarioSummary[]): string[] {
  return table([
    ["scenario", "proto", "rounds", "req/s", "p50", "p90", "p99", "p99.9", "errors"],
    ...summaries.map((s) => [
      s.scenario,
      s.protocol,
      String(s.rounds),
      s.achievedQps.median.toFixed(0),
      stat(s.p50),
      stat(s.p90),
      stat(s.p99),
      stat(s.p999),
      String(s.errors),
    ]),
  ]);
}

/** One comparison line per percentile: absolute and relative deltas of the medians. */
export function renderComparison(c: LabComparison): string[] {
  const gain = c.id === "ebpf-gain";
  return [
    `${c.title} (${c.scenario} vs ${c.baseline}):`,
    ...c.deltas.map((d) => {
      const sign = d.deltaUs >= 0 ? "+" : "-";
      const abs = `${sign}${formatMicros(Math.abs(d.deltaUs))}`;
      const extra = gain
        ? `  → ${d.deltaFraction <= 0 ? "gain" : "loss"} ${(Math.abs(d.deltaFraction) * 100).toFixed(1)}%`
        : "";
      const paired =
        d.pairedFraction === null || d.perRoundFractions.length < 2
          ? ""
          : `  [paired per round: ${formatPercent(d.pairedFraction)}]`;
      return `  ${d.percentile.padEnd(4)} ${formatMicros(d.baselineUs).padStart(9)} → ${formatMicros(d.valueUs).padStart(9)}  ${abs.padStart(10)} (${formatPercent(d.deltaFraction)})${extra}${paired}`;
    }),
  ];
}

/**
 * The plain-text lab report: setup line, per-scenario table (median ± half-range across rounds),
 * the headline comparisons, skipped scenarios and warnings.
 *
 * @example
 * process.stdout.write(renderLabText(await runLab()));
 */
export function renderLabText(result: LabResult): string {
  const o = result.options;
  const e = result.environment;
  const lines = [
    `meshctl bench lab — ${o.rounds} interleaved rounds × ${o.durationSeconds}s (+${o.warmupSeconds}s warm-up) per scenario, ${o.qps} req/s open loop, ${o.connections} connections, ${o.payloadBytes} B payload`,
    `Linux ${e.kernel} · ${e.cpus} CPUs (${e.cpuModel}) · Node ${e.node} · sidecar: ${e.sidecar}${e.sidecarVersion ? ` ${e.sidecarVersion}` : ""} · eBPF: ${e.ebpf}`,
    `CPU pinning: ${e.cpuPinning}`,
    "Latency is measured from each request's intended send time (coordinated-omission corrected); medians across rounds ± half their range.",
    "Comparisons: difference of the medians; [paired per round] = median of each round's relative difference (same machine conditions).",
    "",
    ...renderSummaryTable(result.summaries),
  ];
  for (const c of result.comparisons) lines.push("", ...renderComparison(c));
  const k = result.ebpfCounters;
  if (k) {
    lines.push(
      "",
      `eBPF (sidecar-ebpf): ${k.redirectedMessages} messages redirected socket-to-socket (${k.egressMessages} between the client app and its sidecar after the 15001 REDIRECT, ${k.ingressMessages} between the server sidecar and its app), ${k.passedMessages} sent through TCP, ${k.pairsCreated} REDIRECT pairs.`,
    );
  }
  if (result.skipped.length > 0) {
    lines.push("", "Skipped:");
    for (const s of result.skipped) lines.push(`  ${s.scenario}: ${s.reason}`);
  }
  if (result.warnings.length > 0) {
    lines.push("", "Warnings:");
    for (const w of result.warnings) lines.push(`  ! ${w}`);
  }
  lines.push(
    "",
    `Finished in ${result.durationSeconds.toFixed(1)}s; everything the lab created was removed.`,
  );
  return `${lines.join("\n")}\n`;
}
