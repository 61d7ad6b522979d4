/**
 * xDS control-plane benchmark: the same `runXdsLoad` against several servers, interleaved
 * (round 1 runs each target once in order, round 2 again, ...) so machine noise hits all of
 * them alike. Prints a side-by-side table, ratios to meshctl (min..max across rounds), then
 * one JSON line. Peers that are not built are skipped with a line saying how to build them.
 * Every cell is the median across rounds with [min..max] when there are several.
 *
 * The kube targets (`meshctl-kube`, `istiod-kube`) read the mesh from a loopback kube-apiserver
 * that each run starts and fills first (setup, reported apart); `npm run bench:xds-kube` compares
 * them with the directory source.
 *
 * Run (2 cores: never overlap benchmarks):
 *   flock /tmp/meshctl-bench.lock node --conditions=@meshctl/source --import tsx \
 *     packages/xds/scripts/bench-xds.ts --targets meshctl,go-control-plane --rounds 3 --proxies 500
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
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
import { resolveServeProcessEntry } from "../src/load/target-meshctl.js";
import { type ScriptArgs, scriptArgs } from "./script-args.js";

const HELP = `Usage: npm run bench:xds -- [options]

  --targets LIST            meshctl, meshctl-nocache, meshctl-noscoping, go-control-plane, istiod,
                            meshctl-kube, istiod-kube         default meshctl,meshctl-nocache,meshctl-noscoping,go-control-plane,istiod
  --rounds N                rounds, each running every target once (interleaved)   default 1
  --baseline NAME           ratios are to this target's run of the same round     default meshctl
  --proxies N               simulated proxies                                      default 2000
  --services N / --endpoints N / --namespaces N                                   default 1000 / 10 / 50
  --routed F                fraction of services with a VirtualService             default 0.1
  --grpc-fraction F / --delta-fraction F                                           default 0.25 / 0.5
  --churn-rate N            changes per second                                     default 100
  --churn-seconds N         churn length                                           default 60
  --churn-kinds LIST        endpoints,services,routes                              default endpoints
  --connect-rate N          proxies connecting per second (default: all at once)
  --proxies-per-channel N   proxies sharing one HTTP/2 connection                  default 1
  --server-option K=V       serve-main knob (repeatable)
  --timeout N               bound on convergence, seconds                          default 120
  --drain-seconds N         wait after churn, seconds                              default 15
  --serve-entry E           bundle | source | a file                               default bundle
`;
const args: ScriptArgs = scriptArgs("bench:xds", HELP, "30s");
const values = args.parse({
  targets: {
    type: "string",
    default: "meshctl,meshctl-nocache,meshctl-noscoping,go-control-plane,istiod",
  },
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
  "drain-seconds": { type: "string", default: "15" },
  /** Ratios are to this target's run of the same round. */
  baseline: { type: "string", default: "meshctl" },
  /**
   * meshctl's serve-main: `bundle` (default: built from source once, to plain JS, so start-up
   * times do not include TypeScript compilation), `source` (through tsx), or a file.
   */
  "serve-entry": { type: "string", default: "bundle" },
}) as Record<string, string | undefined> & { "server-option"?: string[] };

const knobs = parseServerOptions(values["server-option"] ?? []);
let base: XdsLoadOptions = {
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
  drainSeconds: Number(values["drain-seconds"]),
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
  "meshctl-kube": { target: "meshctl-kube", options: { serverOptions: knobs } },
  "istiod-kube": { target: "istiod-kube", options: { serverOptions: knobs } },
};

interface PeerLauncher {
  istiodAvailable(): { ok: boolean; reason: string };
  kubeAvailable(): { ok: boolean; reason: string };
}

async function unavailable(name: string): Promise<string | undefined> {
  const target = VARIANTS[name]?.target;
  if (!target) return `unknown target (known: ${Object.keys(VARIANTS).join(", ")})`;
  if (target === "go-control-plane") {
    const bin = goControlPlanePeerPath();
    return bin && existsSync(bin) ? undefined : "not built: run bash scripts/peers/build-go-control-plane.sh";
  }
  if (target === "istiod" || target === "istiod-kube" || target === "meshctl-kube") {
    const launcher = istiodLauncherPath();
    if (!launcher || !existsSync(launcher)) return "bench/peers/istiod/launch.mjs is missing";
    const mod = (await import(pathToFileURL(launcher).href)) as PeerLauncher;
    const a = target === "meshctl-kube" ? mod.kubeAvailable() : mod.istiodAvailable();
    if (!a.ok) return a.reason;
  }
  if ((target === "meshctl" || target === "meshctl-kube") && !resolveServeProcessEntry())
    return "meshctl's serve-main entry is missing (npm run build)";
  return undefined;
}

/** Bundles serve-main (our packages from source, third-party ones external) to plain JS. */
async function bundleServeMain(): Promise<string> {
  const { build } = await import("tsup");
  const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
  // Under the repo's node_modules, so the bundle's third-party imports resolve as the source's do.
  const outDir = join(pkg, "../../node_modules/.cache/meshctl-xds-bench");
  await build({
    entry: { "serve-main": join(pkg, "src/serve-main.ts") },
    outDir,
    format: ["esm"],
    platform: "node",
    target: "node20",
    outExtension: () => ({ js: ".mjs" }),
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
    tsconfig: join(pkg, "tsconfig.json"),
    noExternal: [/^@meshctl\//],
    external: [/^(?!@meshctl\/|\.|\/)/],
    esbuildOptions: (options) => {
      options.conditions = ["@meshctl/source"];
    },
  });
  return join(outDir, "serve-main.mjs");
}

const out = (line = "") => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

interface Row {
  readonly notConverged: number;
  readonly serverStart: number | null;
  readonly initialAll: number | null;
  readonly sync: number | null;
  readonly initialP99: number | null;
  readonly achievedRate: number;
  readonly churnP50: number | null;
  readonly churnP99: number | null;
  readonly afterWriteP50: number | null;
  readonly afterWriteP99: number | null;
  readonly leftBehind: number;
  readonly cpuS: number | null;
  readonly cpuChurnS: number | null;
  readonly rssMiB: number | null;
  readonly apiCpuS: number | null;
  readonly apiRssMiB: number | null;
  readonly kubeLoadS: number | null;
  readonly bytesPerProxy: number;
  readonly churnClusters: number | null;
  readonly churnViews: number | null;
  readonly churnClas: number | null;
  /** 1-minute load average of the machine when the run started. */
  readonly load1?: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function rowOf(r: XdsLoadReport): Row {
  const kind = Object.values(r.churn.byKind)[0];
  // The control plane process alone; the API server and etcd (istiod, kube targets) apart.
  const cpu = r.server ? (r.server.cpuSeconds.total ?? 0) : null;
  const { apiserver, etcd } = r.serverComponents;
  const missed = (type: string) =>
    r.serverMetricsChurn[`meshctl_xds_cache_misses_total{type="${type}"}`] ?? null;
  const kubeLoad = r.target.details.kubeLoadMs;
  return {
    notConverged: r.initial.notConverged,
    serverStart: r.initial.serverStartMs,
    initialAll: r.initial.allConvergedMs,
    sync: r.initial.syncMs,
    initialP99: r.initial.convergenceMs.p99,
    achievedRate: r.churn.achievedRate,
    churnP50: kind?.latencyMs.p50 ?? null,
    churnP99: kind?.latencyMs.p99 ?? null,
    afterWriteP50: kind?.afterWriteMs.p50 ?? null,
    afterWriteP99: kind?.afterWriteMs.p99 ?? null,
    leftBehind: Object.values(r.churn.byKind).reduce((s, k) => s + k.leftBehind, 0),
    cpuS: cpu === null ? null : round2(cpu),
    cpuChurnS: r.server?.cpuSeconds.churn ?? null,
    rssMiB: r.server ? r.server.peakRssMiB : null,
    apiCpuS: apiserver ? round2((apiserver.cpuSeconds.total ?? 0) + (etcd?.cpuSeconds.total ?? 0)) : null,
    apiRssMiB: apiserver ? apiserver.peakRssMiB : null,
    kubeLoadS: kubeLoad === undefined ? null : round2(kubeLoad / 1000),
    bytesPerProxy: r.traffic.initial.bytesPerProxy.mean,
    churnClusters: missed("cds"),
    churnViews: missed("view"),
    churnClas: missed("eds"),
  };
}

const COLUMNS: { key: keyof Row; label: string; unit: string }[] = [
  { key: "kubeLoadS", label: "setup: mesh written to API server", unit: "s" },
  { key: "serverStart", label: "server start -> ready", unit: "ms" },
  { key: "initialAll", label: "connect -> all proxies ACKed", unit: "ms" },
  { key: "sync", label: "initial sync (start -> all ACKed)", unit: "ms" },
  { key: "initialP99", label: "initial per-proxy p99", unit: "ms" },
  { key: "notConverged", label: "unconverged", unit: "" },
  { key: "achievedRate", label: "changes applied", unit: "/s" },
  { key: "churnP50", label: "change -> ACK p50", unit: "ms" },
  { key: "churnP99", label: "change -> ACK p99", unit: "ms" },
  { key: "afterWriteP50", label: "write answered -> ACK p50", unit: "ms" },
  { key: "afterWriteP99", label: "write answered -> ACK p99", unit: "ms" },
  { key: "leftBehind", label: "receipts left behind", unit: "" },
  { key: "cpuS", label: "control-plane CPU, whole run", unit: "s" },
  { key: "cpuChurnS", label: "control-plane CPU, churn", unit: "s" },
  { key: "rssMiB", label: "control-plane peak RSS", unit: "MiB" },
  { key: "apiCpuS", label: "API server + etcd CPU", unit: "s" },
  { key: "apiRssMiB", label: "API server peak RSS", unit: "MiB" },
  { key: "bytesPerProxy", label: "initial config/proxy", unit: "B" },
  { key: "churnClusters", label: "churn: clusters built", unit: "" },
  { key: "churnViews", label: "churn: LDS+RDS views built", unit: "" },
  { key: "churnClas", label: "churn: CLAs built", unit: "" },
  { key: "load1", label: "machine load avg at run start", unit: "" },
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
  const serveEntry = values["serve-entry"] ?? "bundle";
  if (targets.some((t) => VARIANTS[t]?.target.startsWith("meshctl"))) {
    if (serveEntry === "bundle") base = { ...base, serveEntry: await bundleServeMain() };
    else if (serveEntry !== "source") base = { ...base, serveEntry };
    if (base.serveEntry) err(`meshctl serve-main: ${base.serveEntry}`);
  }
  const rounds = Number(values.rounds);
  const results = new Map<string, { round: number; row: Row; report: XdsLoadReport }[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const name of targets) {
      const v = VARIANTS[name] as (typeof VARIANTS)[string];
      err(`round ${round}/${rounds}: ${name} ...`);
      // Other work on the machine skews a run: its 1-minute load average is kept with it.
      const load1 = round2(loadavg()[0] ?? 0);
      try {
        const report = await runXdsLoad({ ...base, ...v.options, target: v.target });
        const row = { ...rowOf(report), load1 };
        const list = results.get(name) ?? [];
        list.push({ round, row, report });
        results.set(name, list);
        err(
          `  ${name}: initial sync ${row.sync} ms, churn p50 ${row.churnP50} / p99 ${row.churnP99} ms, RSS ${row.rssMiB} MiB, load ${load1}`,
        );
      } catch (error) {
        out(`${name} (round ${round}) failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  out();
  out(
    `xds bench: ${base.proxies} proxies, ${base.services} services, churn ${base.churnRate}/s x ${base.churnSeconds} s (${base.churnKinds?.join(",")}), ${rounds} round(s): median [min..max] per target`,
  );
  const names = [...results.keys()];
  const num = (n: number) => (Number.isInteger(n) ? String(n) : String(round2(n)));
  const rows: string[][] = [["", ...names]];
  const medians = new Map<string, Record<string, number | null>>(names.map((n) => [n, {}]));
  for (const c of COLUMNS) {
    const cells = names.map((name) => {
      const xs = (results.get(name) ?? []).flatMap((x) =>
        x.row[c.key] === null ? [] : [x.row[c.key] as number],
      );
      const m = median(xs);
      (medians.get(name) as Record<string, number | null>)[c.key] = m;
      if (m === null) return "-";
      return xs.length > 1 ? `${num(m)} [${num(Math.min(...xs))}..${num(Math.max(...xs))}]` : num(m);
    });
    if (cells.every((x) => x === "-")) continue;
    rows.push([`${c.label}${c.unit ? ` (${c.unit})` : ""}`, ...cells]);
  }
  out(pad(rows));
  const baselineName = values.baseline ?? "meshctl";
  const baseline = results.get(baselineName);
  if (baseline && results.size > 1) {
    out();
    out(`ratio to ${baselineName}, same round (median [min..max]; >1 means more than ${baselineName})`);
    const others = names.filter((n) => n !== baselineName);
    const ratioRows: string[][] = [["", ...others]];
    for (const c of COLUMNS) {
      const cells = others.map((name) => {
        const ratios: number[] = [];
        for (const x of results.get(name) ?? []) {
          const b = baseline.find((y) => y.round === x.round)?.row[c.key];
          const v = x.row[c.key];
          if (typeof b === "number" && typeof v === "number" && b > 0) ratios.push(v / b);
        }
        if (ratios.length === 0) return "-";
        const f = (n: number) => n.toFixed(2);
        const m = f(median(ratios) as number);
        return ratios.length > 1 ? `${m} [${f(Math.min(...ratios))}..${f(Math.max(...ratios))}]` : m;
      });
      if (cells.every((x) => x === "-")) continue;
      ratioRows.push([`${c.label}`, ...cells]);
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
      machineLoad: Object.fromEntries(
        [...results].map(([name, list]) => [name, list.map((x) => x.row.load1)]),
      ),
    }),
  );
}

main().catch((error: unknown) => {
  err(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
