/**
 * The differential parity harness (issue 18): every corpus case (Istio's own samples from the
 * pinned istio.io/istio module, plus packages/xds/parity/cases/) served by istiod and by
 * meshctl, what each sends the same proxies fetched over ADS and compared. Progress on stderr;
 * the result on stdout as a table, or as JSON with --json. Exit code 0 when every case ran,
 * 1 when one could not be run, 2 on a usage error, 3 when a peer (istiod, the API server, the
 * Istio module) is missing.
 *
 *   npm run parity
 *   npm run parity -- --cases bookinfo-virtual-service-reviews-v3,vs-match-kinds --dump /tmp/parity-dumps
 *
 * Run alone (2 cores: it starts kube-apiserver, etcd and istiod).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MeshctlError } from "@meshctl/core";
import { renderParityText, renderSupportTable, replaceGeneratedBlock } from "../src/parity/report.js";
import { PARITY_RESULTS_FILE, stableParityResults } from "../src/parity/results-file.js";
import { type ParityProgress, type ParityRunResult, runParity } from "../src/parity/run-parity.js";
import { PARITY_TYPES } from "../src/parity/types.js";

const HELP = `Usage: npm run parity -- [options]

  --cases a,b      run only these cases (default: all)
  --dump DIR       write every snapshot as DIR/<case>/<proxy>.<istiod|meshctl>.json
  --out FILE       write the report (ParityReport) as JSON to FILE
  --json           print the report as JSON on stdout
  --case-timeout S bound on one case in seconds (default 60)
  --write-docs     after a full run: write packages/xds/parity/results.json and regenerate
                   the support table in docs/xds.md from it
`;

function fail(message: string): never {
  process.stderr.write(`parity: ${message}\n\n${HELP}`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    options: {
      cases: { type: "string" },
      dump: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      "case-timeout": { type: "string" },
      "write-docs": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  }).values;
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const only = typeof values.cases === "string" ? values.cases.split(",").filter(Boolean) : undefined;
if (values["write-docs"] && only) fail("--write-docs needs the whole corpus: leave out --cases");
const caseTimeout = values["case-timeout"] === undefined ? undefined : Number(values["case-timeout"]);
if (caseTimeout !== undefined && !(caseTimeout > 0))
  fail("--case-timeout must be a positive number of seconds");

const controller = new AbortController();
let signals = 0;
const onSignal = (name: NodeJS.Signals) => {
  signals++;
  if (signals > 1) process.exit(130);
  process.stderr.write(`parity: ${name}: stopping after the current case (again to exit at once)\n`);
  controller.abort(new Error(name));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const started = Date.now();
const onProgress = (p: ParityProgress) => {
  const t = `${((Date.now() - started) / 1000).toFixed(1)}s`.padStart(7);
  if (p.type === "starting") process.stderr.write(`${t} starting ${p.what}\n`);
  else if (p.type === "case-done")
    process.stderr.write(
      `${t} [${p.index + 1}/${p.total}] ${p.name} ${p.error ? `ERROR ${p.error}` : "ok"} (${(p.durationMs / 1000).toFixed(1)} s)\n`,
    );
};

function count(snapshot: Record<string, Readonly<Record<string, unknown>>>): string {
  return PARITY_TYPES.map((t) => String(Object.keys(snapshot[t] ?? {}).length)).join("/");
}

/** The report, then per case what each server sent (resource counts) and the runner's notes. */
function formatText(run: ParityRunResult): string {
  const lines = [renderParityText(run.report), "Fetched (listeners/routes/clusters/endpoints):"];
  for (const c of run.cases) {
    lines.push(`  ${c.name}${c.error ? `: ERROR ${c.error}` : ""}`);
    for (const [proxy, both] of Object.entries(c.snapshots))
      lines.push(
        `    ${proxy.padEnd(28)} istiod ${count(both.istiod).padEnd(14)} meshctl ${count(both.meshctl)}`,
      );
    for (const n of c.notes) lines.push(`    note: ${n}`);
  }
  const ran = run.cases.filter((c) => !c.error).length;
  lines.push("", `${run.cases.length} cases, ${ran} fetched from both servers for every proxy`);
  return `${lines.join("\n")}\n`;
}

try {
  const run = await runParity(
    {
      ...(only ? { only } : {}),
      ...(typeof values.dump === "string" ? { dumpDir: resolve(values.dump) } : {}),
      ...(caseTimeout ? { caseTimeoutMs: caseTimeout * 1000 } : {}),
      signal: controller.signal,
    },
    onProgress,
  );
  if (typeof values.out === "string") {
    const out = resolve(values.out);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(run.report, null, 2)}\n`);
  }
  process.stdout.write(values.json ? `${JSON.stringify(run.report, null, 2)}\n` : formatText(run));
  if (values["write-docs"]) {
    const pkg = fileURLToPath(new URL("..", import.meta.url));
    const results = stableParityResults(run.report);
    await writeFile(join(pkg, PARITY_RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
    const docs = join(pkg, "../../docs/xds.md");
    const updated = replaceGeneratedBlock(await readFile(docs, "utf8"), renderSupportTable(results));
    if (!updated.ok) throw new Error(`docs/xds.md: ${updated.problem}`);
    await writeFile(docs, updated.markdown);
    process.stderr.write(`parity: wrote ${PARITY_RESULTS_FILE} and the support table in docs/xds.md\n`);
  }
  process.exitCode = run.cases.some((c) => c.error) ? 1 : 0;
} catch (error) {
  if (error instanceof MeshctlError && error.kind === "usage")
    fail([error.message, ...error.suggestions].join("\n"));
  if (error instanceof MeshctlError && error.kind === "environment") {
    process.stderr.write(`parity: ${error.message}\n${error.suggestions.map((s) => `  ${s}\n`).join("")}`);
    process.exitCode = 3;
  } else {
    process.stderr.write(
      `parity: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}
