/**
 * The xDS stream-storm benchmark (issue 17): 10,000 ADS streams opened at once from one process
 * against meshctl's control plane, with the debug port probed every 25 ms before, during and
 * after. Progress goes to stderr; the report goes to stdout as text, or as JSON with --json.
 * Exit code 0 when admission behaved (every stream answered or refused with RESOURCE_EXHAUSTED,
 * the server's rejected count matches, the debug port never failed, every stream released),
 * 1 when not, 2 on a usage error.
 *
 *   npm run bench:storm                                  # 10,000 streams over 10 connections
 *   npm run bench:storm -- --streams 2000 --server-option maxStreamsPerSecond=2000
 *
 * Run alone (2 cores: never overlap benchmarks).
 */
import { MeshctlError } from "@meshctl/core";
import {
  formatXdsStormReport,
  parseServerOptions,
  runXdsStorm,
  type XdsStormOptions,
  type XdsStormProgress,
  type XdsStormReport,
} from "../src/index.js";
import { type ScriptArgs, scriptArgs } from "./script-args.js";

const HELP = `Usage: npm run bench:storm -- [options]

  --streams N               ADS streams opened at once                             default 10000
  --channels N              HTTP/2 connections they share (<= 1000 streams each)   default streams/1000
  --services N              services in the synthetic mesh                         default 50
  --idle D                  probing the idle server before the storm               default 5s
  --hold D                  admitted streams held open after the storm             default 5s
  --release D               probing after every stream was cancelled               default 10s
  --timeout D               bound on every stream's outcome                        default 120s
  --probe-every MS          debug-port probe interval, ms                          default 25
  --server-option K=V       serve-main knob (repeatable), e.g. maxStreamsPerSecond=1000,
                            maxStreamsPerClient=5000; default: the server's defaults
  --json                    print the report as JSON
`;

const args: ScriptArgs = scriptArgs("storm", HELP, "10s, 2m or 500ms");
const { fail, seconds, integer } = args;

const v = args.parse({
  streams: { type: "string" },
  channels: { type: "string" },
  services: { type: "string" },
  idle: { type: "string" },
  hold: { type: "string" },
  release: { type: "string" },
  timeout: { type: "string" },
  "probe-every": { type: "string" },
  "server-option": { type: "string", multiple: true, default: [] },
  json: { type: "boolean", default: false },
});
const str = (k: string) => v[k] as string | undefined;

const controller = new AbortController();
let serverOptions: XdsStormOptions["serverOptions"];
try {
  serverOptions = parseServerOptions((v["server-option"] as string[] | undefined) ?? []);
} catch (error) {
  fail(error instanceof MeshctlError ? [error.message, ...error.suggestions].join(" ") : String(error));
}
const options: XdsStormOptions = Object.fromEntries(
  Object.entries({
    streams: integer("streams", str("streams")),
    channels: integer("channels", str("channels")),
    services: integer("services", str("services")),
    idleSeconds: seconds("idle", str("idle")),
    holdSeconds: seconds("hold", str("hold")),
    releaseSeconds: seconds("release", str("release")),
    outcomeTimeoutSeconds: seconds("timeout", str("timeout")),
    probeEveryMs: integer("probe-every", str("probe-every")),
    serverOptions,
    signal: controller.signal,
  }).filter(([, value]) => value !== undefined),
) as XdsStormOptions;

// SIGINT/SIGTERM: the storm releases its streams, stops the server, removes its temp directory
// and reports what it has; a second signal exits at once (execa still kills the child on exit).
let signals = 0;
const onSignal = (name: NodeJS.Signals) => {
  signals++;
  if (signals > 1) process.exit(130);
  process.stderr.write(`storm: ${name}: stopping (again to exit at once)\n`);
  controller.abort(new Error(name));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

// Hard stop: every phase's bound, plus server start-up and clean-up.
const hardStopMs =
  ((options.idleSeconds ?? 5) +
    (options.outcomeTimeoutSeconds ?? 120) +
    (options.holdSeconds ?? 5) +
    (options.releaseSeconds ?? 10) +
    30 + // connections ready
    120 + // the server's ready line
    60) *
  1000;
const hardStop = setTimeout(() => {
  process.stderr.write("storm: hard stop reached, stopping\n");
  controller.abort(new Error("the hard stop"));
  setTimeout(() => process.exit(1), 30_000).unref();
}, hardStopMs);
hardStop.unref();

// A line at every phase change, every second during the storm, every 5 s otherwise.
let lastLine = Number.NEGATIVE_INFINITY;
let lastPhase = "";
const onProgress = (p: XdsStormProgress) => {
  const every = p.phase === "storm" ? 1000 : 5000;
  if (p.elapsedMs - lastLine < every && p.phase === lastPhase) return;
  lastLine = p.elapsedMs;
  lastPhase = p.phase;
  const ms = (x: number | null) => (x === null ? "–" : `${Math.round(x)} ms`);
  process.stderr.write(
    `[${(p.elapsedMs / 1000).toFixed(1).padStart(6)} s] ${p.phase.padEnd(12)} streams ${p.opened}/${p.streams}: ok ${p.ok}, RESOURCE_EXHAUSTED ${p.resourceExhausted}, other ${p.other}, pending ${p.pending}  ` +
      `debug port: ${p.probes} probes, ${p.probeFailures} failed, last ${ms(p.lastProbeMs)}, worst since storm ${ms(p.worstStormProbeMs)}  RSS ${p.rssMiB ?? "–"} MiB\n`,
  );
};

function healthy(r: XdsStormReport): boolean {
  const windows = [r.debugPort.idle, r.debugPort.storm, r.debugPort.hold, r.debugPort.release];
  return (
    r.stoppedEarly === null &&
    r.streams.other === 0 &&
    r.streams.noOutcome === 0 &&
    r.streams.droppedBeforeRelease === 0 &&
    r.server.rejectedStreams === r.streams.resourceExhausted &&
    r.server.openStreamsAfterRelease === 0 &&
    windows.every((w) => w.failures === 0)
  );
}

try {
  const report = await runXdsStorm(options, onProgress);
  process.stdout.write(v.json ? `${JSON.stringify(report, null, 2)}\n` : formatXdsStormReport(report));
  process.exitCode = healthy(report) ? 0 : 1;
} catch (error) {
  if (error instanceof MeshctlError && error.kind === "usage")
    fail([error.message, ...error.suggestions].join(" "));
  process.stderr.write(`storm: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(hardStop);
}
