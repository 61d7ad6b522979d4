/** Tiny inline-SVG chart helpers for the HTML report (no runtime JS, no external assets). */

import { formatUs } from "./format.js";

export const PALETTE = [
  "#2563eb",
  "#dc2626",
  "#16a34a",
  "#d97706",
  "#7c3aed",
  "#0891b2",
  "#db2777",
  "#4b5563",
] as const;

export function color(i: number): string {
  return PALETTE[i % PALETTE.length] as string;
}

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

export const DEFAULT_FRAME: Frame = { width: 760, height: 340, left: 70, right: 20, top: 20, bottom: 50 };

/** Maps [lo, hi] to pixel range [a, b]. */
export function linear(lo: number, hi: number, a: number, b: number): (v: number) => number {
  const span = hi - lo || 1;
  return (v) => a + ((v - lo) / span) * (b - a);
}

/** Log10 scale; values <= 0 are clamped to `lo`. */
export function log10Scale(lo: number, hi: number, a: number, b: number): (v: number) => number {
  const l = Math.log10(lo);
  const h = Math.log10(hi);
  const f = linear(l, h, a, b);
  return (v) => f(Math.log10(Math.max(v, lo)));
}

/** Decade bounds covering [min, max] (µs), at least one decade wide. */
export function decadeRange(min: number, max: number): [number, number] {
  const lo = 10 ** Math.floor(Math.log10(Math.max(min, 1)));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(max, 1)));
  if (hi <= lo) hi = lo * 10;
  return [lo, hi];
}

/** Axis label for a tick at `us` microseconds (decades: 1µs, 10µs ... 100ms, 1s). */
export function usTick(us: number): string {
  // One formatter for axes, bars and tables, so a tick never reads differently from a cell.
  return formatUs(us);
}

export function svgOpen(f: Frame, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" width="100%" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
}

export function gridLine(x1: number, y1: number, x2: number, y2: number): string {
  return `<line x1="${r(x1)}" y1="${r(y1)}" x2="${r(x2)}" y2="${r(y2)}" stroke="#e5e7eb" stroke-width="1"/>`;
}

export function text(
  x: number,
  y: number,
  s: string,
  anchor: "start" | "middle" | "end" = "middle",
  extra = "",
): string {
  return `<text x="${r(x)}" y="${r(y)}" text-anchor="${anchor}" font-size="11" fill="#374151" ${extra}>${esc(s)}</text>`;
}

export function r(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** Top margin that leaves room for a legend of `n` entries (4 per row) above the plot. */
export function legendTop(n: number, extraRows = 0): number {
  return 24 + (Math.ceil(n / 4) + extraRows) * 16;
}

/** Legend drawn above the plot area (see legendTop). */
export function legend(labels: readonly string[], f: Frame, dashed = false): string {
  const items = labels.map((l, i) => {
    const x = f.left + 10 + (i % 4) * 170;
    const y = 16 + Math.floor(i / 4) * 16;
    return `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${color(i)}" stroke-width="3"/>${text(x + 24, y, l.length > 24 ? `${l.slice(0, 23)}…` : l, "start")}`;
  });
  if (dashed) {
    const y = 16 + Math.ceil(labels.length / 4) * 16;
    items.push(
      `<line x1="${f.left + 10}" y1="${y - 4}" x2="${f.left + 28}" y2="${y - 4}" stroke="#6b7280" stroke-width="2" stroke-dasharray="4 3"/>${text(f.left + 34, y, "uncorrected (dashed)", "start")}`,
    );
  }
  return `<g class="legend">${items.join("")}</g>`;
}
