/**
 * xDS control-plane benchmark: the same `runXdsLoad` against several servers, interleaved
 * (round 1 runs each target once in order, round 2 again, ...) so machine noise hits all of
 * them alike. Prints a side-by-side table, ratios to meshctl (min..max across rounds), then
 * one JSON line. Peers that are not built are skipped with a line saying how to build them.
 *
 * Run (2 cores: never overlap benchmarks):
 *   flock /tmp/meshctl-bench.lock node --conditions=@meshctl/source --import tsx \
 *     packages/xds/scripts/bench-xds.ts --targets meshctl,go-control-plane --rounds 3 --proxies 500
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  type ChurnKind,
  goControlPlanePeerPath,
  istiodLauncherPath,
  parseServerOptions,
  runXdsLoad,
  type XdsLoadOptions,
  type XdsLoadReport,
  type XdsLoadTarget,
} from "../src/index.js";

const { values } = parseArgs({
  options: {
    targets: { type: "string", default: "meshctl,meshctl-nocache,meshctl-noscoping,go-control-plane,istiod" },
    rounds: { type: "string", default: "1" },
    proxies: { type: "string", default: "2000" },
    services: { type: "string", default: "1000" },
    endpoints: { type: "string", default: "10" },
    namespaces: { type: "string", default: "50" },
    routed: { type: "string", default: "0.1" },
    "grpc-fraction": { type: "string", default: "0.25" },
    "delta-fraction": { type: "string", default: "0.5" },
    "churn-rate": { type: "string", default: "100" },
    "churn-seconds": { type: "string", default: "60" },
    "churn-kinds": { type: "string", default: "endpoints" },
    "connect-rate": { type: "string" },
    "proxies-per-channel": { type: "string", default: "1" },
    "server-option": { type: "string", multiple: true, default: [] },
    timeout: { type: "string", default: "120" },
  },
});

const knobs = parseServerOptions(values["server-option"] ?? []);
const base: XdsLoadOptions = {
  proxies: Number(values.proxies),
  services: Number(values.services),
  endpoints: Number(values.endpoints),
  namespaces: Number(values.namespaces),
  routedFraction: Number(values.routed),
  grpcFraction: Number(values["grpc-fraction"]),
  deltaFraction: Number(values["delta-fraction"]),
  churnRate: Number(values["churn-rate"]),
  churnSeconds: Number(values["churn-seconds"]),
  churnKinds: (values["churn-kinds"] ?? "endpoints").split(",") as ChurnKind[],
  proxiesPerChannel: Number(values["proxies-per-channel"]),
  timeoutSeconds: Number(values.timeout),
  ...(values["connect-rate"] ? { connectRate: Number(values["connect-rate"].replace(/\/s$/, "")) } : {}),
};

/** A benchmark variant: a target plus the options that make it that variant. */
const VARIANTS: Record<string, { target: XdsLoadTarget; options: Partial<XdsLoadOptions> }> = {
  meshctl: { target: "meshctl", options: { serverOptions: knobs } },
  "meshctl-nocache": { target: "meshctl", options: { serverOptions: { ...knobs, cache: false } } },
  "meshctl-noscoping": {
    target: "meshctl",
    options: { scoping: false, serverOptions: { ...knobs, scoping: false } },
  },
  "go-control-plane": { target: "go-control-plane", options: {} },
  istiod: { target: "istiod", options: { serverOptions: knobs } },
};

async function unavailable(name: string): Promise<string | undefined> {
  const target = VARIANTS[name]?.target;
  if (!target) return `unknown target (known: ${Object.keys(VARIANTS).join(", ")})`;
  if (target === "go-control-plane") {
    const bin = goControlPlanePeerPath();
    return bin && existsSync(bin) ? undefined : "not built: run bash scripts/peers/build-go-control-plane.sh";
  }
  if (target === "istiod") {
    const launcher = istiodLauncherPath();
    if (!launcher || !existsSync(launcher)) return "bench/peers/istiod/launch.mjs is missing";
    const mod = (await import(pathToFileURL(launcher).href)) as {
      istiodAvailable(): { ok: boolean; reason: string };
    };
    const a = mod.istiodAvailable();
    return a.ok ? undefined : a.reason;
  }
  return undefined;
}

const out = (line = "") => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

interface Row {
  readonly notConverged: number;
  readonly initialP99: number | null;
  readonly initialAll: number | null;
  readonly churnP50: number | null;
  readonly churnP99: number | null;
  readonly leftBehind: number;
  readonly cpuS: number | null;
  readonly rssMiB: number | null;
  readonly bytesPerProxy: number;
  readonly churnClusters: number | null;
  readonly churnViews: number | null;
  readonly churnClas: number | null;
}

function rowOf(r: XdsLoadReport): Row {
  const kind = Object.values(r.churn.byKind)[0];
  // The control plane process alone (istiod's API server and etcd are reported in its JSON).
  const cpu = r.server ? (r.server.cpuSeconds.total ?? 0) : null;
  const missed = (type: string) =>
    r.serverMetricsChurn[`meshctl_xds_cache_misses_total{type="${type}"}`] ?? null;
  return {
    notConverged: r.initial.notConverged,
    initialP99: r.initial.convergenceMs.p99,
    initialAll: r.initial.allConvergedMs,
    churnP50: kind?.latencyMs.p50 ?? null,
    churnP99: kind?.latencyMs.p99 ?? null,
    leftBehind: Object.values(r.churn.byKind).reduce((s, k) => s + k.leftBehind, 0),
    cpuS: cpu === null ? null : Math.round(cpu * 100) / 100,
    rssMiB: r.server ? r.server.peakRssMiB : null,
    bytesPerProxy: r.traffic.initial.bytesPerProxy.mean,
    churnClusters: missed("cds"),
    churnViews: missed("view"),
    churnClas: missed("eds"),
  };
}

const COLUMNS: { key: keyof Row; label: string; unit: string }[] = [
  { key: "notConverged", label: "unconverged", unit: "" },
  { key: "initialP99", label: "init p99", unit: "ms" },
  { key: "initialAll", label: "init all", unit: "ms" },
  { key: "churnP50", label: "churn p50", unit: "ms" },
  { key: "churnP99", label: "churn p99", unit: "ms" },
  { key: "leftBehind", label: "left", unit: "" },
  { key: "cpuS", label: "CPU", unit: "s" },
  { key: "rssMiB", label: "peak RSS", unit: "MiB" },
  { key: "bytesPerProxy", label: "config/proxy", unit: "B" },
  { key: "churnClusters", label: "churn: clusters built", unit: "" },
  { key: "churnViews", label: "LDS+RDS views built", unit: "" },
  { key: "churnClas", label: "CLAs built", unit: "" },
];

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  // An even count averages the two middle values (with 2 rounds, the lower one would flatter).
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function pad(rows: string[][]): string {
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join("  "))
    .join("\n");
}

async function main(): Promise<void> {
  const wanted = (values.targets ?? "").split(",").filter(Boolean);
  const targets: string[] = [];
  for (const t of wanted) {
    const why = await unavailable(t);
    if (why) out(`skipping ${t}: ${why}`);
    else targets.push(t);
  }
  const rounds = Number(values.rounds);
  const results = new Map<string, { round: number; row: Row; report: XdsLoadReport }[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const name of targets) {
      const v = VARIANTS[name] as (typeof VARIANTS)[string];
      err(`round ${round}/${rounds}: ${name} ...`);
      try {
        const report = await runXdsLoad({ ...base, ...v.options, target: v.target });
        const list = results.get(name) ?? [];
        list.push({ round, row: rowOf(report), report });
        results.set(name, list);
        err(
          `  ${name}: init p99 ${report.initial.convergenceMs.p99} ms, churn p99 ${rowOf(report).churnP99} ms`,
        );
      } catch (error) {
        out(`${name} (round ${round}) failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  out();
  out(
    `xds bench: ${base.proxies} proxies, ${base.services} services, churn ${base.churnRate}/s x ${base.churnSeconds} s (${base.churnKinds?.join(",")}), ${rounds} round(s), median per target`,
  );
  const header = ["target", ...COLUMNS.map((c) => `${c.label}${c.unit ? ` (${c.unit})` : ""}`)];
  const rows: string[][] = [header];
  const medians = new Map<string, Record<string, number | null>>();
  for (const [name, list] of results) {
    const m: Record<string, number | null> = {};
    for (const c of COLUMNS)
      m[c.key] = median(list.flatMap((x) => (x.row[c.key] === null ? [] : [x.row[c.key] as number])));
    medians.set(name, m);
    rows.push([name, ...COLUMNS.map((c) => (m[c.key] === null ? "-" : String(m[c.key])))]);
  }
  out(pad(rows));
  const baseline = results.get("meshctl");
  if (baseline && results.size > 1) {
    out();
    out("ratio to meshctl (median, min..max across rounds; >1 means more than meshctl)");
    const ratioRows: string[][] = [header];
    for (const [name, list] of results) {
      if (name === "meshctl") continue;
      const cells = COLUMNS.map((c) => {
        const ratios: number[] = [];
        for (const x of list) {
          const b = baseline.find((y) => y.round === x.round)?.row[c.key];
          const v = x.row[c.key];
          if (typeof b === "number" && typeof v === "number" && b > 0) ratios.push(v / b);
        }
        if (ratios.length === 0) return "-";
        const f = (n: number) => n.toFixed(2);
        return `${f(median(ratios) as number)} (${f(Math.min(...ratios))}..${f(Math.max(...ratios))})`;
      });
      ratioRows.push([name, ...cells]);
    }
    out(pad(ratioRows));
  }
  out(
    JSON.stringify({
      schema: "meshctl.bench.xds/v1",
      options: base,
      rounds,
      skipped: wanted.filter((t) => !targets.includes(t)),
      medians: Object.fromEntries(medians),
      runs: Object.fromEntries([...results].map(([name, list]) => [name, list.map((x) => x.report)])),
    }),
  );
}

main().catch((error: unknown) => {
  err(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
