/** Formatting shared by the text, HTML and CLI renderers. */

/**
 * Microseconds in the unit a reader expects: 850µs, 1.23ms, 110ms, 2.05s. Three significant
 * digits at most; a value that rounds up to 1000 of one unit is shown in the next (999.9ms is 1s).
 *
 * @example
 * formatUs(1234) // "1.23ms"
 * formatUs(110_000) // "110ms"
 */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return String(us);
  if (Math.abs(Math.round(us)) < 1000) return `${Math.round(us) || 0}µs`;
  const ms = significant(us / 1000);
  if (Math.abs(Number(ms)) < 1000) return `${ms}ms`;
  return `${significant(us / 1_000_000)}s`;
}

/**
 * Up to three significant digits (0 decimals from 100, 1 from 10, 2 below), without trailing
 * zeros after the decimal point. Zeros of the integer part are kept: 110 stays "110".
 */
function significant(n: number): string {
  const abs = Math.abs(n);
  const fixed = abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2);
  return stripFractionZeros(fixed);
}

/** "1.50" -> "1.5", "10.0" -> "10", "110" -> "110" (only zeros after a decimal point go). */
function stripFractionZeros(s: string): string {
  if (!s.includes(".")) return s === "-0" ? "0" : s;
  const out = s.replace(/\.0+$|(\.\d*?[1-9])0+$/, "$1");
  return out === "-0" ? "0" : out;
}

/** Signed delta with its relative change: "+120µs (+45.0%)". */
export function formatDelta(deltaUs: number, pct: number | null): string {
  const sign = deltaUs > 0 ? "+" : deltaUs < 0 ? "-" : "±";
  const rel = pct === null ? "" : ` (${pct > 0 ? "+" : ""}${stripNegativeZero(pct.toFixed(1))}%)`;
  return `${sign}${formatUs(Math.abs(deltaUs))}${rel}`;
}

/** Requests per second: one decimal below 1 000 ("999.9"), grouped integers from there ("3,938"). */
export function formatRate(qps: number): string {
  const oneDecimal = qps.toFixed(1);
  return Math.abs(Number(oneDecimal)) >= 1000
    ? Math.round(qps).toLocaleString("en-US")
    : stripNegativeZero(oneDecimal);
}

/** Whole KiB/MiB when exact ("1 KiB", "10 MiB"), bytes otherwise ("1000 B", "1536 B"). */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

/**
 * Milliseconds as "850ms", "1.5s", "110s" (below two minutes), then Go-style "2m30s", "1h0m0s".
 *
 * @example
 * formatDuration(110_000) // "110s"
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.round(ms) < 1000) return `${Math.round(ms) || 0}ms`;
  const s = significant(ms / 1000);
  if (Number(s) < 120) return `${s}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${h > 0 ? `${h}h` : ""}${m}m${total % 60}s`;
}

function stripNegativeZero(s: string): string {
  return /^-0(\.0+)?$/.test(s) ? s.slice(1) : s;
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
