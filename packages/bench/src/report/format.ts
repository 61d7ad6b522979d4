/** Formatting shared by the text, HTML and CLI renderers. */

/**
 * Microseconds in the unit a reader expects: 850µs, 1.23ms, 2.05s.
 *
 * @example
 * formatUs(1234) // "1.23ms"
 */
export function formatUs(us: number): string {
  const abs = Math.abs(us);
  if (abs < 1000) return `${Math.round(us)}µs`;
  if (abs < 1_000_000) return `${trim(us / 1000)}ms`;
  return `${trim(us / 1_000_000)}s`;
}

function trim(n: number): string {
  const abs = Math.abs(n);
  return (abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2)).replace(/\.?0+$/, "") || "0";
}

/** Signed delta with its relative change: "+120µs (+45.0%)". */
export function formatDelta(deltaUs: number, pct: number | null): string {
  const sign = deltaUs > 0 ? "+" : deltaUs < 0 ? "-" : "±";
  const rel = pct === null ? "" : ` (${pct > 0 ? "+" : ""}${pct.toFixed(1)}%)`;
  return `${sign}${formatUs(Math.abs(deltaUs))}${rel}`;
}

export function formatRate(qps: number): string {
  return qps >= 10_000 ? `${Math.round(qps).toLocaleString("en-US")}` : qps.toFixed(1);
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 120) return `${trim(s)}s`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

/** Pads cells into aligned columns (first column left, others right). */
export function table(rows: readonly (readonly string[])[], indent = "  "): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...c].length);
    });
  }
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
          .join("  ")
          .trimEnd(),
    )
    .join("\n");
}
