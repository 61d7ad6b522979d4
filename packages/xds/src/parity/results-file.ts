/**
 * The committed parity results (packages/xds/parity/results.json): the report of the last full
 * run without what changes from run to run (durations, diff details), so the support table in
 * docs/xds.md is generated from it and a test can check the two agree.
 */
import type { ParityReport } from "./types.js";

/** Relative to the package root. */
export const PARITY_RESULTS_FILE = "parity/results.json";

/**
 * The stable part of a report: per case its verdict, feature tags, per-proxy verdicts and diff
 * counts; no durations and no diff bodies.
 *
 * @example
 * await writeFile("parity/results.json", `${JSON.stringify(stableParityResults(run.report), null, 2)}\n`);
 */
export function stableParityResults(report: ParityReport): ParityReport {
  return {
    ...report,
    cases: report.cases.map((c) => ({
      name: c.name,
      origin: c.origin,
      features: c.features,
      verdict: c.verdict,
      diffs: [],
      ...(c.error !== undefined ? { error: c.error } : {}),
      durationMs: 0,
      ...(c.diffCounts ? { diffCounts: c.diffCounts } : {}),
      ...(c.proxyVerdicts ? { proxyVerdicts: c.proxyVerdicts } : {}),
    })),
  };
}

const RANK = { equal: 0, deliberate: 1, different: 2, error: 3 } as const;

/**
 * Cases whose verdict got worse than in `baseline` (equal → anything else, deliberate →
 * different or error), and baseline cases that no longer ran at all.
 *
 * @example
 * parityRegressions(run.report, committed); // ["vs-fault: equal → different"]
 */
export function parityRegressions(report: ParityReport, baseline: ParityReport): string[] {
  const now = new Map(report.cases.map((c) => [c.name, c.verdict] as const));
  const out: string[] = [];
  for (const b of baseline.cases) {
    const v = now.get(b.name);
    if (v === undefined) out.push(`${b.name}: missing from this run`);
    else if (RANK[v] > RANK[b.verdict]) out.push(`${b.name}: ${b.verdict} → ${v}`);
  }
  return out;
}
