/**
 * The xDS soak benchmark (issue 17): 30 minutes of mixed churn, bad edits and SIGKILL restarts
 * against meshctl's control plane with 2,000 simulated proxies. Progress lines go to stderr
 * every 30 s; the report goes to stdout as a table, or as JSON with --json. Exit code 0 when
 * the invariants held (no last-good violation, every restart survived, no change left behind,
 * no RSS growth), 1 when one did not, 2 on a usage error.
 *
 *   npm run bench:soak                                   # 30 min, 2,000 proxies
 *   npm run bench:soak -- --duration 2m --proxies 300 --restart-every 60s
 *
 * Run alone (2 cores: never overlap benchmarks).
 */
import { MeshctlError } from "@meshctl/core";
import {
  BAD_EDIT_KINDS,
  type BadEditKind,
  type ChurnKind,
  formatXdsSoakReport,
  parseServerOptions,
  runXdsSoak,
  type XdsSoakOptions,
  type XdsSoakProgress,
  type XdsSoakReport,
} from "../src/index.js";
import { type ScriptArgs, scriptArgs } from "./script-args.js";

const HELP = `Usage: npm run bench:soak -- [options]

  --duration D              soak length (30m, 90s, 1h; a bare number is seconds)   default 30m
  --proxies N               simulated proxies                                      default 2000
  --proxies-per-channel N   proxies sharing one HTTP/2 connection                  default 10
  --services N              services in the synthetic mesh                         default 1000
  --churn-rate N            churn changes per second                               default 20
  --churn-kinds LIST        endpoints,services,routes                              default all
  --bad-edit-every D        one bad edit every D (0: none)                         default 5s
  --bad-edit-kinds LIST     ${BAD_EDIT_KINDS.join(",")}
  --restart-every D         SIGKILL + restart every D (0: none)                    default 5m
  --sample-every D          RSS sample interval                                    default 5s
  --warmup D                RSS growth leaves out this much after each (re)start   default 60s
  --timeout D               bound on (re-)convergence                              default 120s
  --server-option K=V       serve-main knob (repeatable)
  --seed N                  default 1
  --json                    print the report as JSON
`;

const args: ScriptArgs = scriptArgs("soak", HELP, "30m, 90s or 1h");
const { fail, seconds, integer } = args;

const v = args.parse({
  duration: { type: "string", default: "30m" },
  proxies: { type: "string" },
  "proxies-per-channel": { type: "string" },
  services: { type: "string" },
  "churn-rate": { type: "string" },
  "churn-kinds": { type: "string" },
  "bad-edit-every": { type: "string" },
  "bad-edit-kinds": { type: "string" },
  "restart-every": { type: "string" },
  warmup: { type: "string" },
  "sample-every": { type: "string" },
  timeout: { type: "string" },
  "server-option": { type: "string", multiple: true, default: [] },
  seed: { type: "string" },
  json: { type: "boolean", default: false },
});
const str = (k: string) => v[k] as string | undefined;

const controller = new AbortController();
const options: XdsSoakOptions = Object.fromEntries(
  Object.entries({
    durationSeconds: seconds("duration", str("duration")),
    proxies: integer("proxies", str("proxies")),
    proxiesPerChannel: integer("proxies-per-channel", str("proxies-per-channel")),
    services: integer("services", str("services")),
    churnRate: integer("churn-rate", str("churn-rate")),
    churnKinds: str("churn-kinds")?.split(",") as ChurnKind[] | undefined,
    badEditEverySeconds: seconds("bad-edit-every", str("bad-edit-every")),
    badEditKinds: str("bad-edit-kinds")?.split(",") as BadEditKind[] | undefined,
    restartEverySeconds: seconds("restart-every", str("restart-every")),
    sampleEverySeconds: seconds("sample-every", str("sample-every")),
    warmupSeconds: seconds("warmup", str("warmup")),
    timeoutSeconds: seconds("timeout", str("timeout")),
    seed: integer("seed", str("seed")),
    serverOptions: parseServerOptions((v["server-option"] as string[] | undefined) ?? []),
    signal: controller.signal,
  }).filter(([, value]) => value !== undefined),
) as XdsSoakOptions;

// SIGINT/SIGTERM: the soak stops, cleans up (child process, temp directory) and reports what it
// has; a second signal exits at once (execa still kills the child on exit).
let signals = 0;
const onSignal = (name: NodeJS.Signals) => {
  signals++;
  if (signals > 1) process.exit(130);
  process.stderr.write(`soak: ${name}: stopping (again to exit at once)\n`);
  controller.abort(new Error(name));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

// Hard stop: the duration, plus the start-up's convergence bound, plus 2 minutes.
const durationS = options.durationSeconds ?? 1800;
const hardStopMs = (durationS + (options.timeoutSeconds ?? 120) + 60 + 120) * 1000;
const hardStop = setTimeout(() => {
  process.stderr.write("soak: hard stop reached, stopping\n");
  controller.abort(new Error("the hard stop (duration + 2 min)"));
  setTimeout(() => process.exit(1), 30_000).unref();
}, hardStopMs);
hardStop.unref();

// A line every 30 s, and at every phase change.
let lastLine = Number.NEGATIVE_INFINITY;
let lastPhase = "";
const onProgress = (p: XdsSoakProgress) => {
  if (p.elapsedMs - lastLine < 30_000 && p.phase === lastPhase) return;
  lastLine = p.elapsedMs;
  lastPhase = p.phase;
  const t = (ms: number) =>
    `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}`;
  process.stderr.write(
    `[${t(p.soakElapsedMs)}/${t(p.durationMs)}] ${p.phase.padEnd(12)} proxies ${p.converged}/${p.connected}/${p.proxies} (converged/connected/all)  ` +
      `changes ${p.changes}  bad edits ${p.badEdits}  restarts ${p.restarts}  violations ${p.violations}  RSS ${p.rssMiB ?? "–"} MiB\n`,
  );
};

function healthy(r: XdsSoakReport): boolean {
  return (
    r.stoppedEarly === null &&
    r.lastGood.violations === 0 &&
    r.crashes.length === 0 &&
    r.restarts.survived === r.restarts.attempted &&
    r.changeToAck.leftBehind === 0 &&
    r.memory.growth.verdict !== "growth" &&
    r.debugPort.failures === 0
  );
}

try {
  const report = await runXdsSoak(options, onProgress);
  process.stdout.write(
    options && v.json ? `${JSON.stringify(report, null, 2)}\n` : formatXdsSoakReport(report),
  );
  process.exitCode = healthy(report) ? 0 : 1;
} catch (error) {
  if (error instanceof MeshctlError && error.kind === "usage") fail(error.message);
  process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(hardStop);
}
