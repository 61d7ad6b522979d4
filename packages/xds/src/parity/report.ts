/**
 * The parity report: the verdict per case, a plain-text table for people, and the Markdown
 * support table docs/xds.md carries between generated-block markers (derived from the cases'
 * feature tags, never written by hand).
 */
import { describeDeviationScope, PARITY_DEVIATIONS, type ParityDeviation } from "./deviations.js";
import { describeNormalizationRules } from "./normalize.js";
import type {
  ParityCaseResult,
  ParityDefectClass,
  ParityDiff,
  ParityReport,
  ParityVerdict,
} from "./types.js";

export const PARITY_BLOCK_BEGIN = "<!-- parity:begin -->";
export const PARITY_BLOCK_END = "<!-- parity:end -->";

/** Cases without feature tags are counted under this name. */
const UNTAGGED = "(untagged)";

/**
 * Summary and defect classes of a set of case results.
 *
 * @example
 * const report = buildReport(results, "1.30.3");
 * report.summary.equalPercent; // 96.4
 */
export function buildReport(results: readonly ParityCaseResult[], istiodVersion: string): ParityReport {
  const count = (v: ParityVerdict) => results.filter((r) => r.verdict === v).length;
  const total = results.length;
  const equal = count("equal");
  const classes = new Map<string, { cases: number; diffs: number }>();
  for (const r of results) {
    for (const [cls, n] of Object.entries(r.diffCounts?.defectClasses ?? {})) {
      const entry = classes.get(cls) ?? { cases: 0, diffs: 0 };
      entry.cases++;
      entry.diffs += n;
      classes.set(cls, entry);
    }
  }
  const defectClasses: ParityDefectClass[] = [...classes.entries()]
    .map(([cls, v]) => ({ class: cls, ...v }))
    .sort((a, b) => b.cases - a.cases || b.diffs - a.diffs || (a.class < b.class ? -1 : 1));
  return {
    istiodVersion,
    cases: [...results],
    defectClasses,
    summary: {
      total,
      equal,
      deliberate: count("deliberate"),
      different: count("different"),
      error: count("error"),
      equalPercent: total === 0 ? 0 : Math.round((equal / total) * 1000) / 10,
      semanticPercent: total === 0 ? 0 : Math.round(((equal + count("deliberate")) / total) * 1000) / 10,
    },
  };
}

/** `45/47 cases semantically equal (95.7 %): 3 equal, 42 equal apart from documented deviations; 2 different, 0 not run`. */
function summaryText(s: ParityReport["summary"]): string {
  return (
    `${s.equal + s.deliberate}/${s.total} cases semantically equal (${s.semanticPercent.toFixed(1)} %): ` +
    `${s.equal} equal (${s.equalPercent.toFixed(1)} %), ${s.deliberate} equal apart from documented deviations (deliberately different); ` +
    `${s.different} different, ${s.error} not run`
  );
}

function shortValue(value: unknown): string {
  if (value === undefined) return "absent";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One diff on one line: `routes 9080 virtual_hosts[a].routes[0].route.timeout: istiod {...}, meshctl absent`. */
export function formatParityDiff(d: ParityDiff): string {
  const where = `${d.proxy} ${d.type} ${d.resource}${d.path ? ` ${d.path}` : ""}`;
  const tag = d.deviation ? ` [${d.deviation}]` : "";
  return `${where}: istiod ${shortValue(d.istiod)}, meshctl ${shortValue(d.meshctl)}${tag}`;
}

function diffCountText(r: ParityCaseResult): string {
  const c = r.diffCounts;
  if (!c) return r.verdict === "error" ? "-" : String(r.diffs.length);
  return c.deliberate > 0 ? `${c.total} (${c.deliberate} deliberate)` : String(c.total);
}

/**
 * A plain table (case, origin, verdict, diff count, first diffs), the summary and the most
 * widespread defect classes.
 *
 * @example
 * process.stdout.write(renderParityText(report)); // in a command, not a library
 */
export function renderParityText(
  report: ParityReport,
  options: { readonly firstDiffs?: number; readonly classes?: number } = {},
): string {
  const firstDiffs = options.firstDiffs ?? 2;
  const rows = report.cases.map((r) => [r.name, r.origin, r.verdict, diffCountText(r)] as const);
  const header = ["CASE", "ORIGIN", "VERDICT", "DIFFS"] as const;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const s = report.summary;
  const out = [`Parity with istiod ${report.istiodVersion}: ${summaryText(s)}`, "", line(header)];
  for (const [i, r] of report.cases.entries()) {
    out.push(line(rows[i] ?? []));
    if (r.error) out.push(`    error: ${r.error}`);
    for (const d of r.diffs.slice(0, firstDiffs)) out.push(`    ${formatParityDiff(d)}`);
  }
  const classes = report.defectClasses.slice(0, options.classes ?? 15);
  if (classes.length > 0) {
    out.push("", "Most widespread differences (cases, diffs, class):");
    for (const c of classes)
      out.push(`  ${String(c.cases).padStart(4)}  ${String(c.diffs).padStart(6)}  ${c.class}`);
  }
  return `${out.join("\n")}\n`;
}

/** What the support table says about a feature, from its cases' verdicts. */
function featureStatus(v: Record<ParityVerdict, number>): string {
  if (v.different > 0) return "differs";
  if (v.equal + v.deliberate === 0) return "not run";
  if (v.deliberate > 0) return "same (documented deviations)";
  return "same";
}

function markdownCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * The Markdown for docs/xds.md: a summary line, one row per feature tag (cases and their
 * verdicts), and the deliberate deviations with their reasons. Deterministic (no dates), so
 * regenerating it from the same results changes nothing.
 *
 * @example
 * const md = replaceGeneratedBlock(readFileSync("docs/xds.md", "utf8"), renderSupportTable(report));
 */
export function renderSupportTable(
  report: ParityReport,
  deviations: readonly ParityDeviation[] = PARITY_DEVIATIONS,
): string {
  const features = new Map<string, Record<ParityVerdict, number>>();
  // Per feature and proxy kind: proxies compared, and those the same as istiod (equal or deliberate).
  const byKind = new Map<string, Record<"envoy" | "grpc", { same: number; compared: number }>>();
  const deviationCases = new Map<string, number>();
  for (const r of report.cases) {
    const tags = r.features.length > 0 ? r.features : [UNTAGGED];
    for (const tag of tags) {
      const v = features.get(tag) ?? { equal: 0, deliberate: 0, different: 0, error: 0 };
      v[r.verdict]++;
      features.set(tag, v);
      const k = byKind.get(tag) ?? { envoy: { same: 0, compared: 0 }, grpc: { same: 0, compared: 0 } };
      for (const p of r.proxyVerdicts ?? []) {
        k[p.kind].compared++;
        if (p.verdict !== "different") k[p.kind].same++;
      }
      byKind.set(tag, k);
    }
    for (const id of Object.keys(r.diffCounts?.byDeviation ?? {}))
      deviationCases.set(id, (deviationCases.get(id) ?? 0) + 1);
  }
  const s = report.summary;
  const lines = [
    "<!-- Generated by the parity harness (packages/xds/src/parity/report.ts): do not edit by hand. -->",
    "",
    `Compared with istiod ${report.istiodVersion}: ${summaryText(s)}.`,
    "",
    "Envoy and gRPC columns: proxies of that kind whose whole config is the same as istiod's (equal or deliberately different) / proxies compared.",
    "",
    "| Feature | Cases | Equal | Deliberate | Different | Not run | Envoy | gRPC | Status |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const [tag, v] of [...features.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const cases = v.equal + v.deliberate + v.different + v.error;
    const k = byKind.get(tag);
    const ratio = (x: { same: number; compared: number } | undefined) =>
      x && x.compared > 0 ? `${x.same}/${x.compared}` : "-";
    lines.push(
      `| \`${markdownCell(tag)}\` | ${cases} | ${v.equal} | ${v.deliberate} | ${v.different} | ${v.error} | ${ratio(k?.envoy)} | ${ratio(k?.grpc)} | ${featureStatus(v)} |`,
    );
  }
  lines.push(
    "",
    "Deliberate deviations (differences the comparison accepts, each changing nothing the proxy does with traffic):",
    "",
    "| Id | Covers | Reason | Cases |",
    "|---|---|---|---:|",
  );
  for (const d of deviations)
    lines.push(
      `| \`${d.id}\` | ${markdownCell(describeDeviationScope(d))} | ${markdownCell(d.reason)} | ${deviationCases.get(d.id) ?? 0} |`,
    );
  const rules = describeNormalizationRules();
  const code = (xs: readonly string[]) => xs.map((x) => `\`${x}\``).join(", ");
  lines.push(
    "",
    "What the comparison treats as equal (differences of spelling, not behaviour):",
    "",
    "- a proto3 zero value and an absent field;",
    `- a field holding Envoy's documented default and the field left out: ${rules.envoyDefaults
      .map(([f, v]) => `\`${f}\` = \`${v}\``)
      .join(", ")};`,
    `- any order of ${code(rules.unordered)};`,
    `- comma lists read as sets: ${code(rules.commaSets)}.`,
    "",
    `${code(rules.keyedOrdered)} are matched by name and their order is compared; every other list is compared in order.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The outcome of replaceGeneratedBlock. */
export type GeneratedBlockResult =
  | { readonly ok: true; readonly markdown: string }
  | { readonly ok: false; readonly problem: string };

/**
 * Replaces the text between `<!-- parity:begin -->` and `<!-- parity:end -->` (markers kept)
 * with `block`. Markers missing, repeated or out of order are reported, never guessed at.
 *
 * @example
 * const r = replaceGeneratedBlock(doc, renderSupportTable(report));
 * if (r.ok) await writeFile("docs/xds.md", r.markdown);
 */
export function replaceGeneratedBlock(markdown: string, block: string): GeneratedBlockResult {
  const begin = markdown.indexOf(PARITY_BLOCK_BEGIN);
  const end = markdown.indexOf(PARITY_BLOCK_END);
  if (begin < 0 || end < 0)
    return { ok: false, problem: `missing marker ${begin < 0 ? PARITY_BLOCK_BEGIN : PARITY_BLOCK_END}` };
  if (
    markdown.indexOf(PARITY_BLOCK_BEGIN, begin + 1) >= 0 ||
    markdown.indexOf(PARITY_BLOCK_END, end + 1) >= 0
  )
    return { ok: false, problem: "the parity markers appear more than once" };
  if (end < begin) return { ok: false, problem: `${PARITY_BLOCK_END} comes before ${PARITY_BLOCK_BEGIN}` };
  const body = block.endsWith("\n") ? block : `${block}\n`;
  return {
    ok: true,
    markdown: `${markdown.slice(0, begin + PARITY_BLOCK_BEGIN.length)}\n${body}${markdown.slice(end)}`,
  };
}
