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

// ---------------------------------------------------------------------------------------------
// Generic charts: x/y line and scatter charts, horizontal stacked bars and interval (forest)
// plots. Each returns one self-contained <svg> string; labels are escaped here, so callers pass
// plain text.

/** A labelled position on an axis. */
export interface AxisTick {
  readonly value: number;
  readonly label: string;
}

/** One axis of an x/y chart. */
export interface ChartAxis {
  readonly label: string;
  /** Linear (default) or log10; a log axis clamps values <= 0 to its lowest decade. */
  readonly scale?: "linear" | "log";
  /** Tick label format; default up to three significant digits. */
  readonly format?: (v: number) => string;
  /** Ticks to draw instead of computed ones (e.g. percentiles on a stretched axis). */
  readonly ticks?: readonly AxisTick[];
  /** Range bounds; from the data otherwise (linear axes then start at 0). */
  readonly min?: number;
  readonly max?: number;
}

/** One series of an x/y chart. */
export interface XySeries {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
  /** Palette index; default the series' position. */
  readonly color?: number;
  readonly dashed?: boolean;
}

export interface XyChartOptions {
  readonly title: string;
  readonly x: ChartAxis;
  readonly y: ChartAxis;
  readonly width?: number;
  readonly height?: number;
  /**
   * A note under the legend, e.g. "solid: p50 · dashed: p99". Series with the same label and
   * colour share one legend entry.
   */
  readonly legendNote?: string;
}

/** Default tick label: three significant digits, grouped thousands. */
function plainNumber(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Number(v.toPrecision(3)));
}

/**
 * Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `count` of them.
 *
 * @example
 * niceTicks(0, 870); // [0, 200, 400, 600, 800, 1000]
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag) as number;
  const start = Math.floor(lo / step) * step;
  const out: number[] = [];
  for (let v = start; v < hi + step - step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

interface Axis {
  readonly scale: (v: number) => number;
  readonly ticks: readonly AxisTick[];
}

function axisOf(axis: ChartAxis, values: readonly number[], a: number, b: number): Axis {
  const format = axis.format ?? plainNumber;
  const finite = values.filter((v) => Number.isFinite(v));
  if (axis.scale === "log") {
    const positive = finite.filter((v) => v > 0);
    const [lo, hi] = decadeRange(
      axis.min ?? (positive.length ? Math.min(...positive) : 1),
      axis.max ?? (positive.length ? Math.max(...positive) : 10),
    );
    const ticks: AxisTick[] = [];
    for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push({ value: v, label: format(v) });
    return { scale: log10Scale(lo, hi, a, b), ticks: axis.ticks ?? ticks };
  }
  const dataLo = finite.length ? Math.min(...finite) : 0;
  const dataHi = finite.length ? Math.max(...finite) : 1;
  const computed = niceTicks(axis.min ?? Math.min(0, dataLo), axis.max ?? dataHi);
  const lo = axis.min ?? computed[0] ?? 0;
  const hi = axis.max ?? computed.at(-1) ?? 1;
  const ticks =
    axis.ticks ?? computed.filter((v) => v >= lo && v <= hi).map((v) => ({ value: v, label: format(v) }));
  return { scale: linear(lo, hi, a, b), ticks };
}

interface LegendItem {
  readonly label: string;
  readonly color: number;
  readonly dashed?: boolean;
  readonly opacity?: number;
  readonly swatch?: boolean;
}

/** Approximate width of 11px text: enough to lay out labels without measuring fonts. */
function textWidth(s: string): number {
  return [...s].length * 6.3;
}

/**
 * A legend of coloured line (or swatch) entries laid out in rows from `startX`, wrapping before
 * `maxX`, with an optional note on the row after; `height` is the room it needs above the plot.
 */
function seriesLegend(
  items: readonly LegendItem[],
  startX: number,
  maxX: number,
  note?: string,
): { svg: string; height: number } {
  let x = startX;
  let row = 0;
  const out = items.map((it) => {
    const w = 24 + textWidth(it.label) + 20;
    if (x > startX && x + w > maxX) {
      row++;
      x = startX;
    }
    const y = 16 + row * 16;
    const mark = it.swatch
      ? `<rect x="${r(x)}" y="${y - 9}" width="14" height="10" rx="2" fill="${color(it.color)}" fill-opacity="${it.opacity ?? 1}"/>`
      : `<line x1="${r(x)}" y1="${y - 4}" x2="${r(x + 18)}" y2="${y - 4}" stroke="${color(it.color)}" stroke-width="3"${it.dashed ? ' stroke-dasharray="5 4"' : ""}/>`;
    const svg = `${mark}${text(x + 24, y, it.label, "start")}`;
    x += w;
    return svg;
  });
  const rows = items.length > 0 ? row + 1 : 0;
  if (note) out.push(text(startX, 16 + rows * 16, note, "start", 'font-style="italic"'));
  return {
    svg: `<g class="legend">${out.join("")}</g>`,
    height: 24 + (rows + (note ? 1 : 0)) * 16,
  };
}

function xyFrame(
  series: readonly XySeries[],
  o: XyChartOptions,
): { f: Frame; x: Axis; y: Axis; parts: string[] } {
  const width = o.width ?? DEFAULT_FRAME.width;
  const legend = seriesLegend(uniqueLegend(series), DEFAULT_FRAME.left + 10, width - 10, o.legendNote);
  const f: Frame = {
    ...DEFAULT_FRAME,
    width,
    height: o.height ?? DEFAULT_FRAME.height,
    // Room for the last x tick's label ("100,000") at the right edge.
    right: 36,
    top: legend.height,
  };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x = axisOf(o.x, xs, f.left, f.width - f.right);
  const y = axisOf(o.y, ys, f.height - f.bottom, f.top);
  const parts = [svgOpen(f, o.title)];
  for (const t of y.ticks) {
    const py = y.scale(t.value);
    parts.push(gridLine(f.left, py, f.width - f.right, py), text(f.left - 6, py + 4, t.label, "end"));
  }
  for (const t of x.ticks) {
    const px = x.scale(t.value);
    parts.push(gridLine(px, f.top, px, f.height - f.bottom), text(px, f.height - f.bottom + 16, t.label));
  }
  parts.push(
    text((f.left + f.width - f.right) / 2, f.height - 8, o.x.label),
    text(
      14,
      (f.top + f.height - f.bottom) / 2,
      o.y.label,
      "middle",
      `transform="rotate(-90 14 ${r((f.top + f.height - f.bottom) / 2)})"`,
    ),
    legend.svg,
  );
  return { f, x, y, parts };
}

function uniqueLegend(series: readonly XySeries[]): { label: string; color: number; dashed?: boolean }[] {
  const seen = new Set<string>();
  const out: { label: string; color: number; dashed?: boolean }[] = [];
  series.forEach((s, i) => {
    const c = s.color ?? i;
    const key = `${s.label}\u0000${c}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ label: s.label, color: c, ...(s.dashed ? { dashed: true } : {}) });
  });
  return out;
}

/**
 * A line chart: one polyline per series (points in the order given, markers when a series has
 * few points), linear or log axes.
 *
 * @example
 * lineChart([{ label: "sidecar p50", points: [[500, 310], [2000, 420]] }],
 *   { title: "Latency vs throughput", x: { label: "req/s" }, y: { label: "latency", scale: "log", format: formatUs } });
 */
export function lineChart(series: readonly XySeries[], o: XyChartOptions): string {
  const { x, y, parts } = xyFrame(series, o);
  series.forEach((s, i) => {
    const c = color(s.color ?? i);
    const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    const coords = pts.map(([a, b]) => `${r(x.scale(a))},${r(y.scale(b))}`);
    if (coords.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ""} points="${coords.join(" ")}"><title>${esc(s.label)}</title></polyline>`,
      );
    if (pts.length <= 30)
      for (const [a, b] of pts)
        parts.push(
          `<circle cx="${r(x.scale(a))}" cy="${r(y.scale(b))}" r="3" fill="${s.dashed ? "#fff" : c}" stroke="${c}" stroke-width="1.5"><title>${esc(`${s.label}: ${(o.x.format ?? plainNumber)(a)}, ${(o.y.format ?? plainNumber)(b)}`)}</title></circle>`,
        );
  });
  parts.push("</svg>");
  return parts.join("");
}

/**
 * A scatter chart for many points (thousands): each series is drawn as one path of round dots,
 * which keeps the page small.
 *
 * @example
 * scatterChart([{ label: "client sidecar", points: [[0.1, 45], [0.2, 2300]] }],
 *   { title: "Sidecar processing over the run", x: { label: "s" }, y: { label: "µs", scale: "log" } });
 */
export function scatterChart(
  series: readonly XySeries[],
  o: XyChartOptions & { readonly dotSize?: number },
): string {
  const { x, y, parts } = xyFrame(series, o);
  series.forEach((s, i) => {
    const d = s.points
      .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
      .map(([a, b]) => `M${r(x.scale(a))} ${r(y.scale(b))}h0`)
      .join("");
    if (d)
      parts.push(
        `<path d="${d}" fill="none" stroke="${color(s.color ?? i)}" stroke-opacity="0.7" stroke-width="${o.dotSize ?? 3}" stroke-linecap="round"><title>${esc(s.label)}</title></path>`,
      );
  });
  parts.push("</svg>");
  return parts.join("");
}

/** One segment kind of a stacked bar chart (same order as each row's values). */
export interface StackedBarSegment {
  readonly label: string;
  /** Palette index; default the segment's position. */
  readonly color?: number;
  /** Fill opacity 0..1 (e.g. a lighter shade for a sub-part); default 1. */
  readonly opacity?: number;
}

export interface StackedBarRow {
  readonly label: string;
  /** One value per segment kind; 0 or missing parts draw nothing. */
  readonly values: readonly number[];
}

export interface StackedBarOptions {
  readonly title: string;
  readonly segments: readonly StackedBarSegment[];
  readonly axisLabel: string;
  /** Value format for ticks, segment labels and totals; default three significant digits. */
  readonly format?: (v: number) => string;
  /**
   * The label at the end of each bar: the formatted sum of its segments by default, the given
   * text per row (e.g. a figure computed elsewhere), or none (`false`).
   */
  readonly totals?: readonly string[] | false;
  readonly width?: number;
}

/**
 * Horizontal stacked bars, one per row: segments left to right in the order given, each labelled
 * inside when wide enough, the row's total at the end.
 *
 * @example
 * stackedBarChart([{ label: "sidecar", values: [40, 120, 35, 110, 60] }],
 *   { title: "Where p50 goes", axisLabel: "µs", segments: [{ label: "app ⇄ sidecar" }, ...] });
 */
export function stackedBarChart(rows: readonly StackedBarRow[], o: StackedBarOptions): string {
  const format = o.format ?? plainNumber;
  const labelW = Math.min(220, Math.max(60, ...rows.map((row) => textWidth(row.label) + 16)));
  const rowH = 28;
  const right = o.totals === false ? 20 : 90;
  const width = o.width ?? DEFAULT_FRAME.width;
  const legend = seriesLegend(
    o.segments.map((seg, k) => ({
      label: seg.label,
      color: seg.color ?? k,
      swatch: true,
      ...(seg.opacity !== undefined ? { opacity: seg.opacity } : {}),
    })),
    10,
    width - 10,
  );
  const top = legend.height;
  const f: Frame = {
    width,
    height: top + rows.length * rowH + 46,
    left: labelW,
    right,
    top,
    bottom: 46,
  };
  const totals = rows.map((row) => row.values.reduce((a, v) => a + (Number.isFinite(v) && v > 0 ? v : 0), 0));
  const x = axisOf({ label: o.axisLabel, format }, [0, ...totals], f.left, f.width - f.right);
  const parts = [svgOpen(f, o.title)];
  for (const t of x.ticks) {
    const px = x.scale(t.value);
    parts.push(gridLine(px, f.top - 4, px, f.height - f.bottom), text(px, f.height - f.bottom + 16, t.label));
  }
  parts.push(text((f.left + f.width - f.right) / 2, f.height - 8, o.axisLabel));
  rows.forEach((row, i) => {
    const y = f.top + i * rowH + 4;
    const h = rowH - 10;
    parts.push(text(f.left - 8, y + h / 2 + 4, row.label, "end"));
    let acc = 0;
    row.values.forEach((v, k) => {
      if (!Number.isFinite(v) || v <= 0) return;
      const seg = o.segments[k];
      const x0 = x.scale(acc);
      const x1 = x.scale(acc + v);
      acc += v;
      parts.push(
        `<rect x="${r(x0)}" y="${r(y)}" width="${r(Math.max(0.5, x1 - x0 - 0.5))}" height="${h}" fill="${color(seg?.color ?? k)}" fill-opacity="${seg?.opacity ?? 1}"><title>${esc(`${row.label} · ${seg?.label ?? k}: ${format(v)}`)}</title></rect>`,
      );
      const label = format(v);
      if (x1 - x0 > label.length * 6.5 + 6)
        parts.push(
          `<text x="${r((x0 + x1) / 2)}" y="${r(y + h / 2 + 4)}" text-anchor="middle" font-size="11" fill="${(seg?.opacity ?? 1) < 0.6 ? "#111827" : "#fff"}">${esc(label)}</text>`,
        );
    });
    const total =
      o.totals === undefined ? format(totals[i] ?? 0) : o.totals === false ? "" : (o.totals[i] ?? "");
    if (total) parts.push(text(x.scale(acc) + 6, y + h / 2 + 4, total, "start", 'font-weight="600"'));
  });
  parts.push(legend.svg, "</svg>");
  return parts.join("");
}

/** One estimate with its interval, e.g. a relative difference and its 95% confidence interval. */
export interface IntervalRow {
  readonly label: string;
  readonly estimate: number;
  /** Interval bounds; omit both when there is no interval. */
  readonly low?: number;
  readonly high?: number;
  /** good = green, bad = red, neutral = grey (default). */
  readonly tone?: "good" | "bad" | "neutral";
}

const TONES = { good: "#15803d", bad: "#b91c1c", neutral: "#6b7280" } as const;

export interface IntervalChartOptions {
  readonly title: string;
  readonly axisLabel: string;
  readonly format?: (v: number) => string;
  /**
   * `linear` (default), or `ratio` for relative changes (−0.5 = half, +1 = double): drawn on a
   * log scale of 1 + v, so halving and doubling sit equally far from zero and a ratio interval
   * is symmetric around its estimate.
   */
  readonly scale?: "linear" | "ratio";
  /**
   * Axis bounds; parts beyond are drawn to the edge with an arrow. Default for `ratio`:
   * [−0.9, 9] (a tenth to ten times); none for `linear`.
   */
  readonly clip?: readonly [number, number];
  readonly width?: number;
}

/**
 * An interval (forest) plot: one row per estimate, a dot with its interval as whiskers, and a
 * reference line at zero, so whether an interval excludes zero can be seen at a glance.
 *
 * @example
 * intervalChart([{ label: "p50", estimate: 0.031, low: -0.012, high: 0.076 }],
 *   { title: "Paired differences", axisLabel: "change", scale: "ratio", format: (v) => `${(v * 100).toFixed(0)}%` });
 */
export function intervalChart(rows: readonly IntervalRow[], o: IntervalChartOptions): string {
  const format = o.format ?? plainNumber;
  const ratio = o.scale === "ratio";
  const [clipLo, clipHi] =
    o.clip ?? (ratio ? [-0.9, 9] : [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
  const rowH = 22;
  const f: Frame = {
    width: o.width ?? DEFAULT_FRAME.width,
    height: 20 + rows.length * rowH + 46,
    left: Math.min(380, Math.max(80, ...rows.map((row) => textWidth(row.label) + 16))),
    right: 30,
    top: 20,
    bottom: 46,
  };
  const values = rows
    .flatMap((row) => [row.estimate, row.low ?? row.estimate, row.high ?? row.estimate, 0])
    .filter((v) => Number.isFinite(v))
    .map((v) => Math.min(clipHi, Math.max(clipLo, v)));
  const dataLo = Math.min(...values);
  const dataHi = Math.max(...values);
  let ticks: number[];
  if (ratio && (1 + dataHi) / (1 + dataLo) > 4) {
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];
    const inside = steps.filter((m) => m - 1 >= dataLo - 1e-9 && m - 1 <= dataHi + 1e-9);
    const below = steps.filter((m) => m - 1 < dataLo).at(-1);
    const above = steps.find((m) => m - 1 > dataHi);
    ticks = [...(below !== undefined ? [below] : []), ...inside, ...(above !== undefined ? [above] : [])].map(
      (m) => m - 1,
    );
  } else {
    ticks = niceTicks(dataLo, dataHi);
  }
  ticks = ticks.filter((t) => !ratio || t > -1);
  const lo = Math.max(ticks[0] ?? dataLo, clipLo);
  const hi = Math.min(ticks.at(-1) ?? dataHi, clipHi);
  const pos = ratio ? (v: number) => Math.log1p(v) : (v: number) => v;
  const scale = linear(pos(lo), pos(hi), f.left, f.width - f.right);
  const x = (v: number) => scale(pos(Math.min(hi, Math.max(lo, v))));
  const parts = [svgOpen(f, o.title)];
  for (const t of ticks.filter((t) => t >= lo && t <= hi))
    parts.push(
      gridLine(x(t), f.top - 6, x(t), f.height - f.bottom),
      text(x(t), f.height - f.bottom + 16, format(t)),
    );
  parts.push(
    `<line x1="${r(x(0))}" y1="${f.top - 6}" x2="${r(x(0))}" y2="${r(f.height - f.bottom)}" stroke="#374151" stroke-width="1.5"/>`,
    text((f.left + f.width - f.right) / 2, f.height - 8, o.axisLabel),
  );
  /** A whisker end: a cap, or an arrow when the bound lies beyond the axis. */
  const end = (v: number, cy: number, c: string): string => {
    const px = x(v);
    if (v < lo || v > hi) {
      const d = v < lo ? 6 : -6;
      return `<path d="M${r(px)} ${r(cy)}l${d} -4v8z" fill="${c}"/>`;
    }
    return `<line x1="${r(px)}" y1="${r(cy - 5)}" x2="${r(px)}" y2="${r(cy + 5)}" stroke="${c}" stroke-width="2"/>`;
  };
  rows.forEach((row, i) => {
    const cy = f.top + i * rowH + rowH / 2;
    const c = TONES[row.tone ?? "neutral"];
    parts.push(text(f.left - 8, cy + 4, row.label, "end"));
    const { low, high } = row;
    if (low !== undefined && high !== undefined && Number.isFinite(low) && Number.isFinite(high)) {
      parts.push(
        `<line x1="${r(x(low))}" y1="${r(cy)}" x2="${r(x(high))}" y2="${r(cy)}" stroke="${c}" stroke-width="2"/>`,
        end(low, cy, c),
        end(high, cy, c),
      );
    }
    if (Number.isFinite(row.estimate))
      parts.push(
        `<circle cx="${r(x(row.estimate))}" cy="${r(cy)}" r="4" fill="${c}"><title>${esc(`${row.label}: ${format(row.estimate)}${low !== undefined && high !== undefined ? ` [${format(low)}, ${format(high)}]` : ""}`)}</title></circle>`,
      );
  });
  parts.push("</svg>");
  return parts.join("");
}
