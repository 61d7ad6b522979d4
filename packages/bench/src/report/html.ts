import type { LoadResult } from "../engine/types.js";
import {
  compareResults,
  orderReportEntry,
  type ReportEntry,
  type ReportInput,
  toReportEntries,
} from "./compare.js";
import { formatBytes, formatDelta, formatDuration, formatRate, formatUs } from "./format.js";
import {
  color,
  DEFAULT_FRAME,
  decadeRange,
  esc,
  type Frame,
  gridLine,
  legend,
  legendTop,
  linear,
  log10Scale,
  r,
  svgOpen,
  text,
  usTick,
} from "./svg.js";

export interface HtmlReportOptions {
  readonly title?: string;
  /** Label of the entry the others are compared with (default: the first). */
  readonly baseline?: string;
  /** Extra environment facts (e.g. the lab's sidecar versions), shown with the machine's. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Free-text notes shown under the title (method, caveats). */
  readonly notes?: readonly string[];
  readonly generatedAt?: Date;
}

/** Element ids of the charts; tests and readers can rely on them. */
export const HTML_CHART_IDS = ["spectrum", "histogram", "comparison"] as const;

/**
 * Renders one self-contained HTML page (inline CSS and SVG, no scripts or network): summary
 * table, deltas against a baseline, percentile spectrum on a log scale, latency histogram,
 * scenario comparison, environment, and the raw results as embedded JSON.
 *
 * @example
 * writeFileSync("report.html", renderHtmlReport([{ label: "direct", result: a }, { label: "sidecar", result: b }]));
 */
export function renderHtmlReport(
  inputs: ReportInput | readonly ReportInput[],
  options: HtmlReportOptions = {},
): string {
  const given = toReportEntries(Array.isArray(inputs) ? inputs : [inputs as ReportInput]);
  // Tables and charts show the ordered view (no percentile above the max, inconsistencies as
  // warnings); the embedded JSON keeps the results as measured.
  const entries = given.map(orderReportEntry);
  const title =
    options.title ??
    (entries.length === 1
      ? `meshctl bench: ${entries[0]?.result.target}`
      : "meshctl bench: scenario comparison");
  const generated = (options.generatedAt ?? new Date()).toISOString();
  const baseline = entries.find((e) => e.label === options.baseline) ?? entries[0];
  const warnings = entries.flatMap((e) => e.result.warnings.map((w) => `${e.label}: ${w}`));
  const data = JSON.stringify({
    schema: "meshctl.bench.report/v1",
    generatedAt: generated,
    entries: given,
  }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body><main>
<header><h1>${esc(title)}</h1><p class="meta">Generated ${esc(generated)} by meshctl bench ${esc(entries[0]?.result.environment.meshctlBench ?? "")}. Latencies are coordinated-omission-corrected (measured from each request's intended send time) unless marked uncorrected.</p>
${(options.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}</header>
${warnings.length > 0 ? `<section class="warnings"><h2>Warnings</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul></section>` : ""}
<section><h2>Summary</h2>${summaryTable(entries)}</section>
${entries.length > 1 && baseline ? `<section><h2>Change vs ${esc(baseline.label)}</h2>${deltaTable(baseline, entries)}</section>` : ""}
<section id="spectrum"><h2>Percentile spectrum</h2><p class="hint">Latency by percentile; the x axis stretches the tail (90%, 99%, 99.9% ... are equally spaced). Solid: corrected, dashed: uncorrected.</p>${spectrumChart(entries)}</section>
<section id="histogram"><h2>Latency histogram</h2><p class="hint">Share of requests per latency bucket (10 buckets per decade, log scale).</p>${histogramChart(entries)}</section>
<section id="comparison"><h2>Scenario comparison</h2><p class="hint">Corrected latency percentiles per ${entries.length > 1 ? "scenario" : "run"} (log scale).</p>${comparisonChart(entries)}</section>
<section id="environment"><h2>Environment and options</h2>${environmentTables(entries, options.environment)}</section>
<script type="application/json" id="meshctl-bench-data">${data}</script>
</main></body></html>
`;
}

const CSS = `
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:0 0 10px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px 18px;margin:16px 0}
.meta,.hint,.note{color:#4b5563;font-size:13px;margin:4px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #f3f4f6;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{color:#374151;font-weight:600;background:#f9fafb}
td.label{font-weight:600}
.bad{color:#b91c1c;font-weight:600}.good{color:#15803d}
.warnings{border-color:#fca5a5;background:#fef2f2}.warnings li{color:#991b1b;font-size:13px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.env h3{font-size:14px;margin:12px 0 6px}
.kv{width:auto}.kv td{text-align:left;padding-right:24px}.kv td:first-child{color:#4b5563}
svg{max-width:920px;display:block}svg text{font-family:inherit}
`;

function swatch(i: number): string {
  return `<span class="swatch" style="background:${color(i)}"></span>`;
}

function errorsOf(r: LoadResult): number {
  return Object.values(r.errors).reduce((a, b) => a + b, 0);
}

function summaryTable(entries: readonly ReportEntry[]): string {
  const head = [
    "",
    "mode",
    "target req/s",
    "achieved",
    "requests",
    "errors",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "p99 uncorr.",
  ];
  const rows = entries.map((e, i) => {
    const res = e.result;
    const ratio = res.targetQps === null ? "closed loop" : `${(res.achievedRatio * 100).toFixed(1)}%`;
    const c = res.corrected;
    return `<tr><td class="label">${swatch(i)}${esc(e.label)}</td><td>${esc(res.protocol)} · ${res.options.mode}</td><td>${res.targetQps === null ? "max" : formatRate(res.targetQps)}</td><td class="${res.fellBehind ? "bad" : ""}">${formatRate(res.achievedQps)} (${ratio})</td><td>${res.requests.toLocaleString("en-US")}</td><td class="${errorsOf(res) > 0 ? "bad" : ""}">${errorsOf(res)}</td><td>${formatUs(c.p50)}</td><td>${formatUs(c.p90)}</td><td>${formatUs(c.p99)}</td><td>${formatUs(c.p999)}</td><td>${formatUs(c.max)}</td><td>${formatUs(res.uncorrected.p99)}</td></tr>`;
  });
  return `<table class="summary"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function deltaTable(baseline: ReportEntry, entries: readonly ReportEntry[]): string {
  const metrics = ["p50", "p90", "p99", "p999", "max"] as const;
  const names = { p50: "p50", p90: "p90", p99: "p99", p999: "p99.9", max: "max" };
  const rows = compareResults(baseline, entries).map((c) => {
    const idx = entries.findIndex((e) => e.label === c.label);
    const cells = metrics.map((m) => {
      const d = c.corrected.find((x) => x.metric === m);
      if (!d) return "<td>-</td>";
      return `<td class="${d.deltaUs > 0 ? "bad" : d.deltaUs < 0 ? "good" : ""}">${esc(formatDelta(d.deltaUs, d.deltaPct))}</td>`;
    });
    const q = c.achievedQps.deltaPct;
    return `<tr><td class="label">${swatch(idx)}${esc(c.label)}</td><td>${q === null ? "-" : `${q > 0 ? "+" : ""}${q.toFixed(1)}%`}</td>${cells.join("")}</tr>`;
  });
  return `<table class="deltas"><thead><tr><th></th><th>req/s</th>${metrics.map((m) => `<th>${names[m]}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** x position of percentile p on the 1/(1-p) log axis, in "nines". */
export function ninesOf(p: number): number {
  return Math.log10(100 / Math.max(100 - p, 1e-6));
}

function latencyBounds(entries: readonly ReportEntry[], uncorrected: boolean): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const e of entries) {
    const lists = [e.result.corrected, ...(uncorrected ? [e.result.uncorrected] : [])];
    for (const s of lists) {
      if (s.count === 0) continue;
      min = Math.min(min, Math.max(s.min, 1));
      max = Math.max(max, s.max);
    }
  }
  if (!Number.isFinite(min)) return [1, 1000];
  return decadeRange(min, max);
}

function yAxisLog(f: Frame, lo: number, hi: number, y: (v: number) => number): string {
  const out: string[] = [];
  for (let v = lo; v <= hi; v *= 10) {
    out.push(gridLine(f.left, y(v), f.width - f.right, y(v)), text(f.left - 6, y(v) + 4, usTick(v), "end"));
    for (const m of [2, 5])
      if (v * m < hi)
        out.push(
          `<line x1="${f.left - 3}" y1="${r(y(v * m))}" x2="${f.left}" y2="${r(y(v * m))}" stroke="#9ca3af"/>`,
        );
  }
  return out.join("");
}

function spectrumChart(entries: readonly ReportEntry[]): string {
  const f: Frame = { ...DEFAULT_FRAME, height: 380, top: legendTop(entries.length, 1) };
  const [lo, hi] = latencyBounds(entries, true);
  const maxNines = Math.max(
    2,
    ...entries.map((e) => Math.ceil(Math.log10(Math.max(e.result.corrected.count, 1)))),
  );
  const x = linear(0, maxNines, f.left, f.width - f.right);
  const y = log10Scale(lo, hi, f.height - f.bottom, f.top);
  const parts = [svgOpen(f, "Percentile spectrum"), yAxisLog(f, lo, hi, y)];
  for (let n = 0; n <= maxNines; n++) {
    const label = n === 0 ? "0%" : `${(100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))}%`;
    parts.push(gridLine(x(n), f.top, x(n), f.height - f.bottom), text(x(n), f.height - f.bottom + 16, label));
  }
  parts.push(text((f.left + f.width - f.right) / 2, f.height - 8, "percentile"));
  entries.forEach((e, i) => {
    const series = [
      { points: e.result.histogram.spectrum, dash: "" },
      {
        points: e.result.histogram.uncorrectedSpectrum,
        dash: ' stroke-dasharray="5 4" stroke-opacity="0.7"',
      },
    ];
    for (const s of series) {
      const pts = s.points
        .filter(([p]) => p < 100)
        .map(([p, v]) => `${r(x(Math.min(ninesOf(p), maxNines)))},${r(y(Math.max(v, lo)))}`);
      if (pts.length > 1)
        parts.push(
          `<polyline fill="none" stroke="${color(i)}" stroke-width="2"${s.dash} points="${pts.join(" ")}"/>`,
        );
    }
  });
  parts.push(
    legend(
      entries.map((e) => e.label),
      f,
      true,
    ),
    "</svg>",
  );
  return parts.join("");
}

function histogramChart(entries: readonly ReportEntry[]): string {
  const f: Frame = { ...DEFAULT_FRAME, top: legendTop(entries.length) };
  const all = entries.flatMap((e) => e.result.histogram.buckets);
  if (all.length === 0) return "<p>No samples.</p>";
  const [lo, hi] = decadeRange(
    Math.max(1, Math.min(...all.map((b) => Math.max(b.startUs, 1)))),
    Math.max(...all.map((b) => b.endUs)),
  );
  const x = log10Scale(lo, hi, f.left, f.width - f.right);
  const shares = entries.map((e) => {
    const total = e.result.histogram.buckets.reduce((a, b) => a + b.count, 0) || 1;
    return e.result.histogram.buckets.map((b) => ({ b, share: (b.count / total) * 100 }));
  });
  const maxShare = Math.max(1, ...shares.flat().map((s) => s.share));
  const top = Math.ceil(maxShare / 10) * 10;
  const y = linear(0, top, f.height - f.bottom, f.top);
  const parts = [svgOpen(f, "Latency histogram")];
  for (let v = 0; v <= top; v += top <= 20 ? 5 : 10)
    parts.push(gridLine(f.left, y(v), f.width - f.right, y(v)), text(f.left - 6, y(v) + 4, `${v}%`, "end"));
  for (let v = lo; v <= hi; v *= 10)
    parts.push(
      gridLine(x(v), f.top, x(v), f.height - f.bottom),
      text(x(v), f.height - f.bottom + 16, usTick(v)),
    );
  parts.push(text((f.left + f.width - f.right) / 2, f.height - 8, "latency (corrected)"));
  shares.forEach((list, i) => {
    for (const { b, share } of list) {
      if (share <= 0) continue;
      const x0 = x(Math.max(b.startUs, lo));
      const x1 = x(Math.max(b.endUs, lo));
      parts.push(
        `<rect x="${r(x0)}" y="${r(y(share))}" width="${r(Math.max(1, x1 - x0 - 1))}" height="${r(y(0) - y(share))}" fill="${color(i)}" fill-opacity="${entries.length > 1 ? 0.45 : 0.8}"><title>${esc(`${entries[i]?.label}: ${formatUs(b.startUs)}–${formatUs(b.endUs)}: ${b.count} (${share.toFixed(2)}%)`)}</title></rect>`,
      );
    }
  });
  parts.push(
    legend(
      entries.map((e) => e.label),
      f,
    ),
    "</svg>",
  );
  return parts.join("");
}

function comparisonChart(entries: readonly ReportEntry[]): string {
  const metrics = [
    ["p50", "p50"],
    ["p90", "p90"],
    ["p99", "p99"],
    ["p999", "p99.9"],
    ["max", "max"],
  ] as const;
  const f: Frame = { ...DEFAULT_FRAME, top: legendTop(entries.length) + 8 };
  const [lo, hi] = latencyBounds(entries, false);
  const y = log10Scale(lo, hi, f.height - f.bottom, f.top);
  const groupW = (f.width - f.left - f.right) / metrics.length;
  const barW = Math.min(40, (groupW - 20) / entries.length);
  const parts = [svgOpen(f, "Scenario comparison"), yAxisLog(f, lo, hi, y)];
  metrics.forEach(([key, label], g) => {
    const gx = f.left + g * groupW + (groupW - barW * entries.length) / 2;
    parts.push(text(f.left + g * groupW + groupW / 2, f.height - f.bottom + 16, label));
    entries.forEach((e, i) => {
      const v = e.result.corrected[key];
      const top = y(Math.max(v, lo));
      parts.push(
        `<rect x="${r(gx + i * barW)}" y="${r(top)}" width="${r(barW - 2)}" height="${r(f.height - f.bottom - top)}" fill="${color(i)}"><title>${esc(`${e.label} ${label}: ${formatUs(v)}`)}</title></rect>`,
      );
      if (barW >= 22)
        parts.push(text(gx + i * barW + barW / 2 - 1, top - 4, formatUs(v), "middle", 'font-size="9"'));
    });
  });
  parts.push(
    legend(
      entries.map((e) => e.label),
      f,
    ),
    "</svg>",
  );
  return parts.join("");
}

function kv(rows: ReadonlyArray<readonly [string, string]>): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</tbody></table>`;
}

function environmentTables(
  entries: readonly ReportEntry[],
  extra: Readonly<Record<string, string>> | undefined,
): string {
  const env = entries[0]?.result.environment;
  const machine: Array<[string, string]> = env
    ? [
        ["host", env.hostname],
        ["kernel", `${env.platform} ${env.kernel} (${env.arch})`],
        ["CPU", `${env.cpuModel} × ${env.cpus}`],
        ["load average", env.loadavg.join(" / ")],
        ["Node.js", env.node],
        ["meshctl bench", env.meshctlBench],
        ...Object.entries(extra ?? {}),
      ]
    : [];
  const head = [
    "",
    "target",
    "protocol",
    "mode",
    "connections",
    "length",
    "payload",
    "warm-up",
    "workers",
    "started",
  ];
  const rows = entries.map((e, i) => {
    const o = e.result.options;
    const cells = [
      e.result.target,
      o.protocol,
      o.mode === "open" ? `open, ${formatRate(o.qps ?? 0)} req/s` : "closed (max)",
      String(o.connections),
      o.durationMs !== null ? formatDuration(o.durationMs) : `${o.requests} req`,
      formatBytes(o.payloadBytes),
      formatDuration(o.warmupMs),
      String(o.workers),
      e.result.startedAt.replace("T", " ").slice(0, 19),
    ];
    return `<tr><td class="label">${swatch(i)}${esc(e.label)}</td>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;
  });
  return `<div class="env"><div><h3>Machine</h3>${kv(machine)}</div><div><h3>Runs</h3><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table></div></div>`;
}
