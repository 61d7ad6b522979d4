import {
  escapeHtml as esc,
  formatUs,
  type IntervalRow,
  intervalChart,
  type LoadResult,
  lineChart,
  PALETTE,
  scatterChart,
  stackedBarChart,
  type XySeries,
} from "@meshctl/bench";
import {
  BREAKDOWN_COLUMNS,
  breakdownRows,
  CPU_COLUMNS,
  CPU_PART_LABELS,
  CURVE_COLUMNS,
  comparisonHeading,
  cpuRows,
  cpuTotal,
  curveRows,
  DELTA_COLUMNS,
  deltaCells,
  ebpfLine,
  environmentLine,
  finishedLine,
  formatLabRate,
  formatSignedFraction,
  METHOD_LINES,
  maxSustainableText,
  RATE_NOT_REACHED_MARK,
  rateCell,
  rateNotReachedLines,
  ratesOf,
  SEGMENT_LABELS,
  SUMMARY_COLUMNS,
  setupLine,
  summaryCells,
} from "./report-figures.js";
import { medianOf } from "./rounds.js";
import {
  LAB_CPU_PARTS,
  LAB_SCENARIOS,
  LAB_SEGMENTS,
  type LabMeasurement,
  type LabRate,
  type LabResult,
  type LabScenario,
  type LabScenarioSummary,
} from "./types.js";

/**
 * Section ids of the lab's HTML report. `summary`, `comparison`, `spectrum`, `histogram` and
 * `environment` are always present (the last three keep the ids of the engine's report,
 * HTML_CHART_IDS); `breakdown` and `timeline` when a meshed scenario has a per-hop breakdown,
 * `cpu` when CPU was measured, `curves` when more than one rate ran.
 */
export const LAB_HTML_SECTION_IDS = [
  "summary",
  "comparison",
  "breakdown",
  "timeline",
  "cpu",
  "curves",
  "spectrum",
  "histogram",
  "environment",
] as const;

/**
 * The round that stands for a scenario in charts: the one whose p50 is closest to the median p50
 * across rounds (a real measurement, not a blend of histograms). Pass the measurements of one
 * scenario at one rate.
 *
 * @example
 * representativeRound(result.measurements.filter((m) => m.scenario === "sidecar" && m.rate === 1000));
 */
export function representativeRound(measurements: readonly LabMeasurement[]): LabMeasurement | undefined {
  const median = medianOf(measurements.map((m) => m.latencyUs.p50));
  return [...measurements].sort(
    (a, b) => Math.abs(a.latencyUs.p50 - median) - Math.abs(b.latencyUs.p50 - median),
  )[0];
}

/**
 * Renders the lab result as one self-contained HTML page (inline CSS and SVG, no scripts or
 * network). Every table cell is formatted by the same functions as the text report from the
 * result's summaries, comparisons and curves, so both show the same figures; the charts draw
 * those too, plus each scenario's representative round (its latency histogram and, for meshed
 * scenarios, each sidecar's processing time over the run, where periodic stalls show).
 *
 * @example
 * await writeFile("lab.html", renderLabHtmlReport(await runLab()));
 */
export function renderLabHtmlReport(result: LabResult): string {
  const title = "meshctl bench: local mesh lab";
  const rates = ratesOf(result.summaries);
  const multiRate = rates.length > 1;
  const warnings = [...rateNotReachedLines(result.summaries), ...result.warnings];
  const data = JSON.stringify({
    schema: result.schema,
    startedAt: result.startedAt,
    options: result.options,
    environment: result.environment,
    summaries: result.summaries,
    comparisons: result.comparisons,
    curves: result.curves,
    skipped: result.skipped,
    warnings: result.warnings,
    ...(result.ebpfCounters ? { ebpfCounters: result.ebpfCounters } : {}),
  }).replace(/</g, "\\u003c");
  const sections = [
    summarySection(result),
    comparisonSection(result, rates),
    breakdownSection(result),
    timelineSection(result),
    cpuSection(result, rates),
    multiRate ? curvesSection(result) : "",
    spectrumSection(result, rates),
    histogramSection(result, rates),
    environmentSection(result),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body><main>
<header><h1>${esc(title)}</h1>
<p class="meta">Started ${esc(result.startedAt)}. ${esc(setupLine(result))}.</p>
<p class="meta">${esc(environmentLine(result))}</p>
${METHOD_LINES.map((l) => `<p class="note">${esc(l)}</p>`).join("\n")}
<p class="note">${esc(finishedLine(result))}</p></header>
${warnings.length > 0 ? `<section class="warnings"><h2>Warnings</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul></section>` : ""}
${sections.filter(Boolean).join("\n")}
<script type="application/json" id="meshctl-lab-data">${data}</script>
</main></body></html>
`;
}

const CSS = `
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:16px 0 6px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px 18px;margin:16px 0}
.meta,.hint,.note{color:#4b5563;font-size:13px;margin:4px 0}
table{border-collapse:collapse;font-size:13px;width:100%;margin:4px 0 8px}
th,td{padding:5px 8px;border-bottom:1px solid #f3f4f6;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{color:#374151;font-weight:600;background:#f9fafb}
td.label{font-weight:600}
.bad{color:#b91c1c;font-weight:600}.good{color:#15803d;font-weight:600}.muted{color:#6b7280}
.warnings{border-color:#fca5a5;background:#fef2f2}.warnings li{color:#991b1b;font-size:13px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.kv{width:auto}.kv td{text-align:left;padding-right:24px;white-space:normal}.kv td:first-child{color:#4b5563}
svg{max-width:920px;display:block;margin:6px 0 12px}svg text{font-family:inherit}
`;

/** A scenario keeps one colour in every chart and table. */
function scenarioColor(scenario: LabScenario): number {
  return LAB_SCENARIOS.indexOf(scenario);
}

function swatch(scenario: LabScenario): string {
  return `<span class="swatch" style="background:${PALETTE[scenarioColor(scenario) % PALETTE.length]}"></span>`;
}

interface Row {
  readonly cells: readonly string[];
  /** data-* attributes identifying the row (scenario, rate, comparison, metric). */
  readonly data?: Readonly<Record<string, string>>;
  /** CSS class per cell index. */
  readonly classes?: Readonly<Record<number, string>>;
  /** Draw this scenario's colour swatch in the first cell. */
  readonly scenario?: LabScenario;
}

function htmlTable(head: readonly string[], rows: readonly Row[], cls: string): string {
  const body = rows.map((row) => {
    const data = Object.entries(row.data ?? {})
      .map(([k, v]) => ` data-${k}="${esc(v)}"`)
      .join("");
    const cells = row.cells.map((c, i) => {
      const classes = [i === 0 && row.scenario ? "label" : "", row.classes?.[i] ?? ""]
        .filter(Boolean)
        .join(" ");
      return `<td${classes ? ` class="${classes}"` : ""}>${i === 0 && row.scenario ? swatch(row.scenario) : ""}${esc(c)}</td>`;
    });
    return `<tr${data}>${cells.join("")}</tr>`;
  });
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

function section(id: string, heading: string, hint: string, body: string): string {
  return `<section id="${id}"><h2>${esc(heading)}</h2>${hint ? `<p class="hint">${esc(hint)}</p>` : ""}${body}</section>`;
}

function summarySection(result: LabResult): string {
  const rows = result.summaries.map(
    (s): Row => ({
      cells: summaryCells(s),
      data: { scenario: s.scenario, rate: rateCell(s.rate) },
      scenario: s.scenario,
      classes: { 4: s.rateReached ? "" : "bad", 10: s.errors > 0 ? "bad" : "" },
    }),
  );
  const missed = result.summaries.some((s) => !s.rateReached);
  return section(
    "summary",
    "Scenarios",
    `Medians across rounds, ± half their range; errors summed over rounds.${missed ? ` ${RATE_NOT_REACHED_MARK} = target rate not reached (see warnings).` : ""}`,
    htmlTable(SUMMARY_COLUMNS, rows, "summary"),
  );
}

function comparisonSection(result: LabResult, rates: readonly LabRate[]): string {
  if (result.comparisons.length === 0)
    return section("comparison", "Comparisons", "No pair of scenarios to compare ran.", "");
  const verdictClass = { lower: "good", higher: "bad", "not resolved": "muted" } as const;
  const parts: string[] = [];
  for (const rate of rates) {
    const mine = result.comparisons.filter((c) => c.rate === rate);
    if (mine.length === 0) continue;
    for (const c of mine) {
      parts.push(
        `<h3>${esc(comparisonHeading(c))}</h3>`,
        htmlTable(
          DELTA_COLUMNS,
          c.deltas.map((d) => ({
            cells: deltaCells(d),
            data: { comparison: c.id, rate: rateCell(c.rate), metric: d.metric },
            classes: { 3: verdictClass[d.verdict] },
          })),
          "deltas",
        ),
      );
    }
    const rows: IntervalRow[] = mine.flatMap((c) =>
      c.deltas.flatMap((d): IntervalRow[] =>
        d.pairedFraction === null
          ? []
          : [
              {
                label: `${c.scenario} vs ${c.baseline} · ${deltaCells(d)[0]}`,
                estimate: d.pairedFraction,
                ...(d.interval ? { low: d.interval.low, high: d.interval.high } : {}),
                tone: d.verdict === "lower" ? "good" : d.verdict === "higher" ? "bad" : "neutral",
              },
            ],
      ),
    );
    if (rows.length > 0)
      parts.push(
        intervalChart(rows, {
          title: `Paired changes at ${formatLabRate(rate)}`,
          axisLabel: "paired change (dot) with its 95% interval, ratio scale; grey = not resolved",
          format: formatSignedFraction,
          scale: "ratio",
        }),
      );
  }
  return section(
    "comparison",
    "Comparisons",
    'Paired by round: the change with its 95% interval. "lower"/"higher" only when the interval excludes zero; otherwise "not resolved", whatever the medians say.',
    parts.join(""),
  );
}

function breakdownSection(result: LabResult): string {
  const broken = result.summaries.filter((s) => s.breakdown);
  if (broken.length === 0) return "";
  const parts: string[] = [];
  for (const rate of ratesOf(broken)) {
    const mine = broken.filter((s) => s.rate === rate);
    parts.push(
      `<h3>At ${esc(formatLabRate(rate))}</h3>`,
      stackedBarChart(
        mine.map((s) => ({
          label: s.scenario,
          values: LAB_SEGMENTS.map((seg) => s.breakdown![seg].p50.median),
        })),
        {
          title: `Where a meshed request's time goes at ${formatLabRate(rate)} (p50 of each segment)`,
          axisLabel: "p50 of each segment, median across rounds",
          segments: LAB_SEGMENTS.map((seg) => ({ label: SEGMENT_LABELS[seg] })),
          format: formatUs,
          totals: false,
        },
      ),
    );
    for (const s of mine) {
      parts.push(
        `<h3>${swatch(s.scenario)}${esc(`${s.scenario} at ${formatLabRate(s.rate)}`)}</h3>`,
        htmlTable(
          BREAKDOWN_COLUMNS,
          breakdownRows(s).map((cells, i) => ({
            cells,
            data: { scenario: s.scenario, rate: rateCell(s.rate), segment: LAB_SEGMENTS[i] ?? "" },
          })),
          "breakdown",
        ),
      );
    }
  }
  return section(
    "breakdown",
    "Per-hop latency",
    "From both sidecars' access logs joined by request id. Segment percentiles do not add up to the end-to-end percentiles; the bars show where a typical request spends its time.",
    parts.join(""),
  );
}

function timelineSection(result: LabResult): string {
  const charts: string[] = [];
  for (const s of result.summaries) {
    if (!s.breakdown) continue;
    const m = representativeOf(result, s.scenario, s.rate);
    const timeline = m?.breakdown?.timeline ?? [];
    if (!m || timeline.length === 0) continue;
    const series: XySeries[] = [
      {
        label: "client sidecar",
        color: 0,
        points: timeline.map(([ms, c]) => [ms / 1000, Math.max(c, 1)] as const),
      },
      {
        label: "server sidecar",
        color: 1,
        points: timeline.map(([ms, , v]) => [ms / 1000, Math.max(v, 1)] as const),
      },
    ];
    charts.push(
      `<h3>${swatch(s.scenario)}${esc(`${s.scenario} at ${formatLabRate(s.rate)}, round ${m.round}`)}</h3>`,
      scatterChart(series, {
        title: `Sidecar processing time over the run: ${s.scenario} at ${formatLabRate(s.rate)}, round ${m.round}`,
        x: { label: "seconds into the measured phase", min: 0 },
        y: { label: "processing time", scale: "log", format: formatUs },
      }),
    );
  }
  if (charts.length === 0) return "";
  return section(
    "timeline",
    "Sidecar processing over time",
    "Each sidecar's processing time per request through the representative round (the one whose p50 is nearest the median), sampled evenly. Periodic stalls show as recurring columns of high points.",
    charts.join(""),
  );
}

function cpuSection(result: LabResult, rates: readonly LabRate[]): string {
  const measured = result.summaries.filter((s) => s.cpu);
  if (measured.length === 0) return "";
  const parts: string[] = [];
  for (const rate of rates) {
    const mine = measured.filter((s) => s.rate === rate);
    if (mine.length === 0) continue;
    parts.push(
      `<h3>At ${esc(formatLabRate(rate))}</h3>`,
      stackedBarChart(
        mine.map((s) => ({
          label: s.scenario,
          values: LAB_CPU_PARTS.flatMap((p) => [
            s.cpu?.[p]?.userUsPerRequest.median ?? 0,
            s.cpu?.[p]?.systemUsPerRequest.median ?? 0,
          ]),
        })),
        {
          title: `CPU per request at ${formatLabRate(rate)}`,
          axisLabel: "CPU µs per request (user solid, system light), medians across rounds",
          segments: LAB_CPU_PARTS.flatMap((p, k) => [
            { label: `${CPU_PART_LABELS[p]} user`, color: k },
            { label: `${CPU_PART_LABELS[p]} system`, color: k, opacity: 0.45 },
          ]),
          format: (us) => `${Number(us.toPrecision(3))}µs`,
          totals: mine.map((s) => {
            const t = cpuTotal(s);
            return t ? `${t.total}/req` : "";
          }),
        },
      ),
    );
    parts.push(
      htmlTable(
        CPU_COLUMNS,
        mine.flatMap((s) =>
          cpuRows(s).map(
            (cells): Row => ({
              cells,
              data: { scenario: s.scenario, rate: rateCell(s.rate), part: cells[1] ?? "" },
              scenario: s.scenario,
            }),
          ),
        ),
        "cpu",
      ),
    );
  }
  return section(
    "cpu",
    "CPU per request",
    "CPU time (cgroup cpu.stat) of each pod's app and sidecar during the measured phase, divided by the requests completed then. µs per request is also CPU milliseconds per 1,000 requests.",
    parts.join(""),
  );
}

function curvesSection(result: LabResult): string {
  const series: XySeries[] = result.curves.flatMap((c) => [
    {
      label: c.scenario,
      color: scenarioColor(c.scenario),
      points: c.points.map((p) => [p.achievedQps, p.p50] as const),
    },
    {
      label: c.scenario,
      color: scenarioColor(c.scenario),
      dashed: true,
      points: c.points.map((p) => [p.achievedQps, p.p99] as const),
    },
  ]);
  const tables = result.curves.map(
    (c) =>
      `<h3>${swatch(c.scenario)}${esc(`${c.scenario}: ${maxSustainableText(c)}`)}</h3>${htmlTable(
        CURVE_COLUMNS,
        curveRows(c).map((cells, i) => ({
          cells,
          data: { scenario: c.scenario, rate: rateCell(c.points[i]?.rate ?? 0) },
          classes: { 4: cells[4] === "sustained" || cells[4] === "closed loop" ? "" : "bad" },
        })),
        "curve",
      )}`,
  );
  return section(
    "curves",
    "Latency against throughput",
    "Each target rate's median achieved rate and latency. The max sustainable rate is the best achieved rate of the levels that reached their target without errors (or of the closed-loop level).",
    `${lineChart(series, {
      title: "Latency against throughput",
      // A closed-loop level can run ten times faster than the rest: a log axis keeps both readable.
      x: {
        label: "achieved req/s (median across rounds)",
        ...(wideRange(series) ? { scale: "log" as const } : {}),
      },
      y: { label: "latency", scale: "log", format: formatUs },
      legendNote: "solid: p50 · dashed: p99",
    })}${tables.join("")}`,
  );
}

/** True when the series' x values span more than a factor of 20. */
function wideRange(series: readonly XySeries[]): boolean {
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => x > 0);
  return xs.length > 0 && Math.max(...xs) / Math.min(...xs) > 20;
}

function representativeOf(
  result: LabResult,
  scenario: LabScenario,
  rate: LabRate,
): LabMeasurement | undefined {
  return representativeRound(result.measurements.filter((m) => m.scenario === scenario && m.rate === rate));
}

/** The engine's result behind a measurement, when it carries a drawable histogram. */
function loadResultOf(m: LabMeasurement | undefined): LoadResult | undefined {
  const raw = m?.raw as Partial<LoadResult> | null | undefined;
  const h = raw?.histogram;
  return h && Array.isArray(h.spectrum) && Array.isArray(h.buckets) ? (raw as LoadResult) : undefined;
}

/** Representative rounds of the scenarios at one rate that carry a histogram. */
function drawable(
  result: LabResult,
  rate: LabRate,
): { s: LabScenarioSummary; raw: LoadResult; round: number }[] {
  return result.summaries
    .filter((s) => s.rate === rate)
    .flatMap((s) => {
      const m = representativeOf(result, s.scenario, rate);
      const raw = loadResultOf(m);
      return raw && m ? [{ s, raw, round: m.round }] : [];
    });
}

/** x position of percentile p on the stretched axis, in "nines" (90% → 1, 99% → 2 ...). */
function ninesOf(p: number): number {
  return Math.log10(100 / Math.max(100 - p, 1e-6));
}

function spectrumSection(result: LabResult, rates: readonly LabRate[]): string {
  const charts = rates.flatMap((rate) => {
    const entries = drawable(result, rate);
    if (entries.length === 0) return [];
    const maxNines = Math.max(
      2,
      ...entries.map((e) => Math.ceil(Math.log10(Math.max(e.raw.corrected.count, 1)))),
    );
    const ticks = Array.from({ length: maxNines + 1 }, (_, n) => ({
      value: n,
      label: n === 0 ? "0%" : `${(100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))}%`,
    }));
    const series: XySeries[] = entries.flatMap(({ s, raw }) =>
      (
        [
          [raw.histogram.spectrum, false],
          [raw.histogram.uncorrectedSpectrum ?? [], true],
        ] as const
      ).map(([points, dashed]) => ({
        label: s.scenario,
        color: scenarioColor(s.scenario),
        dashed,
        points: points
          .filter(([p]) => p < 100)
          .map(([p, v]) => [Math.min(ninesOf(p), maxNines), Math.max(v, 1)] as const),
      })),
    );
    return [
      `<h3>At ${esc(formatLabRate(rate))}</h3>`,
      lineChart(series, {
        title: `Percentile spectrum at ${formatLabRate(rate)}`,
        x: { label: "percentile", min: 0, max: maxNines, ticks },
        y: { label: "latency", scale: "log", format: formatUs },
        legendNote: "solid: corrected · dashed: uncorrected",
      }),
    ];
  });
  return section(
    "spectrum",
    "Percentile spectrum",
    "Latency by percentile of each scenario's representative round (the one whose p50 is nearest the median across rounds); the x axis stretches the tail.",
    charts.join("") || "<p>No histograms were recorded.</p>",
  );
}

function histogramSection(result: LabResult, rates: readonly LabRate[]): string {
  const charts = rates.flatMap((rate) => {
    const entries = drawable(result, rate);
    if (entries.length === 0) return [];
    const series: XySeries[] = entries.map(({ s, raw }) => {
      const total = raw.histogram.buckets.reduce((a, b) => a + b.count, 0) || 1;
      return {
        label: s.scenario,
        color: scenarioColor(s.scenario),
        points: raw.histogram.buckets.map(
          (b) => [Math.sqrt(Math.max(b.startUs, 1) * Math.max(b.endUs, 1)), (b.count / total) * 100] as const,
        ),
      };
    });
    return [
      `<h3>At ${esc(formatLabRate(rate))}</h3>`,
      lineChart(series, {
        title: `Latency histogram at ${formatLabRate(rate)}`,
        x: { label: "latency (corrected)", scale: "log", format: formatUs },
        y: { label: "share of requests", format: (v) => `${Number(v.toPrecision(3))}%` },
      }),
    ];
  });
  return section(
    "histogram",
    "Latency histogram",
    "Share of requests per latency bucket (10 buckets per decade) of each scenario's representative round.",
    charts.join("") || "<p>No histograms were recorded.</p>",
  );
}

function environmentSection(result: LabResult): string {
  const e = result.environment;
  const o = result.options;
  const rows: [string, string][] = [
    ["kernel", e.kernel],
    ["CPU", `${e.cpuModel} × ${e.cpus}`],
    ["Node.js", e.node],
    ["sidecar", `${e.sidecar} ${e.sidecarVersion}`.trim()],
    ["eBPF", e.ebpf],
    ["CPU pinning", e.cpuPinning],
    ["lab cgroup", e.cgroupRoot],
    ["scenarios", o.scenarios.join(", ")],
    ["setup", setupLine(result)],
    ...result.skipped.map((s): [string, string] => [`skipped ${s.scenario}`, s.reason]),
    ...(result.ebpfCounters ? [["eBPF counters", ebpfLine(result.ebpfCounters)] as [string, string]] : []),
  ];
  return section(
    "environment",
    "Environment and options",
    "",
    `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</tbody></table>`,
  );
}
