/**
 * `runXdsStorm`: a stream storm against meshctl's control plane (issue 17). It starts serve-main
 * as a child process on a small synthetic mesh, then:
 *  - idle: probes the debug port's /metrics every 25 ms for a few seconds (the baseline);
 *  - storm: opens N SotW ADS streams at once from this one process over C HTTP/2 connections,
 *    each asking for CDS with its own node id, and records each stream's outcome (a response,
 *    RESOURCE_EXHAUSTED, or another error) while the probes go on;
 *  - hold: keeps the admitted streams open for a few seconds;
 *  - release: cancels every stream, closes the connections, and keeps probing.
 * The server's RSS is sampled every 250 ms throughout (before, peak, after release), and its own
 * counters (rejected streams, open streams) are read from /metrics.
 *
 * The probes run in a worker thread: opening 10,000 streams keeps this thread busy for a while,
 * and a probe timed on it would charge the harness's stall to the server's debug port.
 * It never prints; progress goes to `onProgress`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import { TYPE_URLS } from "../protocol/protos.js";
import { DEFAULT_MAX_STREAMS_PER_SECOND } from "../server/ads-server.js";
import { MEMORY_METRICS as SERVER_MEMORY } from "../server/metrics.js";
import { DEFAULT_MAX_STREAMS_PER_CLIENT, DEFAULT_MAX_STREAMS_PER_CONNECTION } from "../server/start.js";
import { checkLoadNumber as checkNumber, emitProgress, sleep, loadUsage as usage } from "./fleet.js";
import { readProcessMemory } from "./process-sampler.js";
import { scrapeServerMetrics } from "./server-metrics.js";
import { type AdsClient, createAdsChannel } from "./simulated-proxy.js";
import { type PercentileSummary, percentileOfSorted, summarizePercentiles } from "./stats.js";
import { generateSyntheticMesh } from "./synthetic-mesh.js";
import { type ServerOptionValue, writeMeshFiles } from "./target.js";
import { MeshctlTarget } from "./target-meshctl.js";

// ---------------------------------------------------------------------------------------- types

export interface XdsStormOptions {
  /** ADS streams opened at once, default 10,000. */
  readonly streams?: number;
  /** HTTP/2 connections they share, default ceil(streams / 1000) (each carries at most the server's per-connection limit). */
  readonly channels?: number;
  /** Services in the synthetic mesh, default 50. */
  readonly services?: number;
  /** Endpoints per service, default 3. */
  readonly endpoints?: number;
  /** Namespaces (the streams' node ids are spread over them), default 5. */
  readonly namespaces?: number;
  /** Probing an idle server before the storm, seconds; default 5. */
  readonly idleSeconds?: number;
  /** Bound on waiting for every stream's outcome, seconds; default 120. */
  readonly outcomeTimeoutSeconds?: number;
  /** Admitted streams held open after the storm, seconds; default 5. */
  readonly holdSeconds?: number;
  /** Probing after every stream was cancelled, seconds; RSS "after release" is read at its end. Default 10. */
  readonly releaseSeconds?: number;
  /** A debug-port probe starts this long after the previous one started (or when it ends, if later), ms; default 25. */
  readonly probeEveryMs?: number;
  /** A probe without a full answer within this long is a failure, ms; default 5000. */
  readonly probeTimeoutMs?: number;
  /** Server RSS sample interval, ms; default 250. */
  readonly rssEveryMs?: number;
  /** Knobs for serve-main (`maxStreamsPerSecond`, `maxStreamsPerClient`, ...); default: the server's defaults. */
  readonly serverOptions?: Readonly<Record<string, ServerOptionValue>>;
  /** The serve-main file to spawn (see XdsLoadOptions.serveEntry). */
  readonly serveEntry?: string;
  /** Ends the run early (SIGINT): streams are released, the server stopped, and the report has `stoppedEarly`. */
  readonly signal?: AbortSignal;
}

export type XdsStormPhase =
  | "prepare"
  | "start-server"
  | "idle"
  | "connect"
  | "storm"
  | "hold"
  | "release"
  | "report";

/** The probe windows of the report. */
export type XdsStormWindow = "idle" | "storm" | "hold" | "release";

export interface XdsStormProgress {
  readonly phase: XdsStormPhase;
  /** Since the run started, ms. */
  readonly elapsedMs: number;
  readonly streams: number;
  readonly opened: number;
  readonly ok: number;
  readonly resourceExhausted: number;
  readonly other: number;
  readonly pending: number;
  readonly probes: number;
  readonly probeFailures: number;
  /** The last probe's latency, ms. */
  readonly lastProbeMs: number | null;
  /** The slowest probe since the storm began, ms. */
  readonly worstStormProbeMs: number | null;
  readonly rssMiB: number | null;
}

/** Debug-port probes of one window: latencies (ms) of the answered ones, and failures. */
export interface XdsStormProbeSummary {
  /** Probes started in the window. */
  readonly count: number;
  /** No full answer within the probe timeout, or an error status. */
  readonly failures: number;
  readonly p50: number | null;
  readonly p99: number | null;
  /** The slowest probe, failures included (a timed-out probe counts as its time to fail). */
  readonly max: number | null;
  readonly failureSamples: readonly string[];
}

export interface XdsStormReport {
  readonly schemaVersion: 1;
  readonly config: {
    readonly streams: number;
    readonly channels: number;
    readonly services: number;
    readonly namespaces: number;
    readonly idleSeconds: number;
    readonly holdSeconds: number;
    readonly releaseSeconds: number;
    readonly outcomeTimeoutSeconds: number;
    readonly probeEveryMs: number;
    readonly probeTimeoutMs: number;
    readonly serverOptions: Readonly<Record<string, ServerOptionValue>>;
    /** The admission limits in effect (the server's defaults unless overridden). */
    readonly limits: {
      readonly maxStreamsPerSecond: number;
      readonly maxStreamsPerClient: number;
      readonly maxStreamsPerConnection: number;
    };
  };
  /** Why the run ended early (a signal), or null. */
  readonly stoppedEarly: string | null;
  readonly streams: {
    readonly opened: number;
    /** Got a DiscoveryResponse. */
    readonly ok: number;
    readonly resourceExhausted: number;
    /** Ended with another status (by name: `UNAVAILABLE`, ...). */
    readonly other: number;
    readonly otherByCode: Readonly<Record<string, number>>;
    readonly otherSamples: readonly string[];
    /** No outcome within the bound. */
    readonly noOutcome: number;
    /** Admitted streams that ended before the harness released them. */
    readonly droppedBeforeRelease: number;
    /** The HTTP/2 connections becoming ready, before the storm, ms. */
    readonly connectMs: number | null;
    /** Issuing every stream (this thread's loop), ms. */
    readonly openMs: number | null;
    /** From the first stream opened to the last outcome, ms (null when some had none). */
    readonly allOutcomesMs: number | null;
    /** Time to the first response of each admitted stream, ms. */
    readonly okMs: PercentileSummary;
    /** Time to RESOURCE_EXHAUSTED of each refused stream, ms. */
    readonly resourceExhaustedMs: PercentileSummary;
  };
  /** The server's own view, from its /metrics. */
  readonly server: {
    /** `meshctl_xds_rejected_streams_total` gained over the storm (read after release). */
    readonly rejectedStreams: number | null;
    /** Highest `meshctl_xds_connected_clients` (open ADS streams) any probe saw. */
    readonly peakOpenStreams: number | null;
    /** Open ADS streams at the end of the release window (0: all released). */
    readonly openStreamsAfterRelease: number | null;
    /** Open ADS connections at the end of the release window. */
    readonly connectionsAfterRelease: number | null;
    /** From the release to the first probe that saw 0 open streams, ms. */
    readonly releasedWithinMs: number | null;
  };
  readonly debugPort: Readonly<Record<XdsStormWindow, XdsStormProbeSummary>> & {
    /** The slowest probe started during the storm, ms. */
    readonly worstStormMs: number | null;
  };
  /** Server RSS, MiB. */
  readonly memory: {
    /** At the end of the idle window. */
    readonly beforeMiB: number | null;
    /** Highest sample from the storm to the end of the release window. */
    readonly peakMiB: number | null;
    /** The kernel's high-water mark (VmHWM) after the release: a peak between samples shows here. */
    readonly hwmMiB: number | null;
    /** At the end of the release window. */
    readonly afterReleaseMiB: number | null;
    /** When `afterReleaseMiB` was read, ms after the release (the release window, unless stopped early). */
    readonly afterReleaseReadMs: number | null;
    /** (peak − before) / peak open streams, KiB. */
    readonly perOpenStreamKiB: number | null;
    /**
     * Where the RSS sits, from the server's /metrics (MiB): V8 heap in use, V8 heap committed,
     * and memory outside the heap (Buffers, grpc-js and HTTP/2 state). Heap in use back near
     * "before" while RSS stays up is retention by V8 and the allocator, not a leak.
     */
    readonly heapUsed: XdsStormMemoryFigure;
    readonly heapTotal: XdsStormMemoryFigure;
    readonly external: XdsStormMemoryFigure;
  };
  readonly notes: readonly string[];
}

/** One of the server's memory figures (MiB): end of idle, highest probe from the storm on, end of release. */
export interface XdsStormMemoryFigure {
  readonly beforeMiB: number | null;
  readonly peakMiB: number | null;
  readonly afterReleaseMiB: number | null;
}

// ---------------------------------------------------------------------------------------- options

/** Server metrics the probes read. */
const OPEN_STREAMS = "meshctl_xds_connected_clients";
const REJECTED = "meshctl_xds_rejected_streams_total";
const CONNECTIONS = "meshctl_xds_connections";
const HEAP_USED = SERVER_MEMORY.heapUsed;
const HEAP_TOTAL = SERVER_MEMORY.heapTotal;
const EXTERNAL = SERVER_MEMORY.external;
const MEMORY_METRICS = [HEAP_USED, HEAP_TOTAL, EXTERNAL] as const;
const MAX_SAMPLES = 5;
const STREAMS_PER_CHANNEL = 1000;

function limitOption(
  serverOptions: Readonly<Record<string, ServerOptionValue>>,
  name: string,
  fallback: number,
): number {
  const v = serverOptions[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  checkNumber(`server-option ${name}`, n, 1, Number.MAX_SAFE_INTEGER);
  return n;
}

/**
 * The options with their defaults, checked (usage errors name the script's flags).
 *
 * @example
 * resolveXdsStormOptions({ streams: 3000 }).channels; // 3
 * resolveXdsStormOptions({ streams: 3000, channels: 2 }); // throws: at most 1000 streams per connection
 */
export function resolveXdsStormOptions(o: XdsStormOptions = {}) {
  const serverOptions = o.serverOptions ?? {};
  const limits = {
    maxStreamsPerSecond: limitOption(serverOptions, "maxStreamsPerSecond", DEFAULT_MAX_STREAMS_PER_SECOND),
    maxStreamsPerClient: limitOption(serverOptions, "maxStreamsPerClient", DEFAULT_MAX_STREAMS_PER_CLIENT),
    maxStreamsPerConnection: limitOption(
      serverOptions,
      "maxStreamsPerConnection",
      DEFAULT_MAX_STREAMS_PER_CONNECTION,
    ),
  };
  const streams = o.streams ?? 10_000;
  checkNumber("streams", streams, 1, 100_000, true);
  const perChannel = Math.min(STREAMS_PER_CHANNEL, limits.maxStreamsPerConnection);
  const r = {
    streams,
    channels: o.channels ?? Math.ceil(streams / perChannel),
    services: o.services ?? 50,
    endpoints: o.endpoints ?? 3,
    namespaces: o.namespaces ?? 5,
    idleSeconds: o.idleSeconds ?? 5,
    outcomeTimeoutSeconds: o.outcomeTimeoutSeconds ?? 120,
    holdSeconds: o.holdSeconds ?? 5,
    releaseSeconds: o.releaseSeconds ?? 10,
    probeEveryMs: o.probeEveryMs ?? 25,
    probeTimeoutMs: o.probeTimeoutMs ?? 5000,
    rssEveryMs: o.rssEveryMs ?? 250,
    serverOptions,
    limits,
  };
  checkNumber("channels", r.channels, 1, Math.min(streams, 10_000), true);
  // More streams on a connection than its SETTINGS_MAX_CONCURRENT_STREAMS would wait in the
  // client, not storm the server: a usage error rather than a quietly different benchmark.
  const carried = Math.ceil(streams / r.channels);
  if (carried > limits.maxStreamsPerConnection)
    throw usage(
      `${streams} streams over ${r.channels} connections is ${carried} per connection, beyond the server's ${limits.maxStreamsPerConnection} (maxStreamsPerConnection).`,
      `Use --channels ${Math.ceil(streams / limits.maxStreamsPerConnection)} or more.`,
    );
  checkNumber("services", r.services, 1, 100_000, true);
  checkNumber("endpoints", r.endpoints, 1, 1000, true);
  checkNumber("namespaces", r.namespaces, 1, Math.max(1, r.services), true);
  checkNumber("idle", r.idleSeconds, 0, 3600);
  checkNumber("timeout", r.outcomeTimeoutSeconds, 1, 3600);
  checkNumber("hold", r.holdSeconds, 0, 3600);
  checkNumber("release", r.releaseSeconds, 0, 3600);
  checkNumber("probe-every", r.probeEveryMs, 1, 60_000);
  checkNumber("probe-timeout", r.probeTimeoutMs, 10, 120_000);
  checkNumber("rss-every", r.rssEveryMs, 10, 60_000);
  return r;
}

// ---------------------------------------------------------------------------------------- probes

/** One debug-port probe: when it started (epoch ms), how long it took, and what it read. */
export interface StormProbe {
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly error?: string;
  /** The probed metrics (a counter never moved is absent from /metrics: 0). */
  readonly values?: Readonly<Record<string, number>>;
}

/**
 * p50/p99/max and failures of a window's probes. Percentiles are of the answered probes; the max
 * includes failures, so a probe that timed out shows as the worst.
 *
 * @example
 * summarizeStormProbes([{ at: 0, ms: 2, ok: true }, { at: 25, ms: 5000, ok: false, error: "timeout" }]);
 * // { count: 2, failures: 1, p50: 2, p99: 2, max: 5000, failureSamples: ["timeout"] }
 */
export function summarizeStormProbes(probes: readonly StormProbe[]): XdsStormProbeSummary {
  const answered = Float64Array.from(probes.filter((p) => p.ok).map((p) => p.ms)).sort();
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  const failed = probes.filter((p) => !p.ok);
  return {
    count: probes.length,
    failures: failed.length,
    p50: round(percentileOfSorted(answered, 50)),
    p99: round(percentileOfSorted(answered, 99)),
    max: round(probes.length > 0 ? Math.max(...probes.map((p) => p.ms)) : null),
    failureSamples: failed.slice(0, MAX_SAMPLES).map((p) => p.error ?? "failed"),
  };
}

/**
 * The prober, as worker source (plain JavaScript: it runs with `eval`, so it needs no file of its
 * own and no TypeScript loader). One probe at a time; each posts `{kind:"probe", ...}`.
 */
const PROBE_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { url, everyMs, timeoutMs, names } = workerData;
let stopped = false;
parentPort.on("message", (m) => { if (m === "stop") stopped = true; });
const now = () => performance.timeOrigin + performance.now();
const read = (text) => {
  const values = {};
  for (const name of names) {
    const m = new RegExp("^" + name + " (\\\\S+)$", "m").exec(text);
    values[name] = m ? Number(m[1]) : 0;
  }
  return values;
};
(async () => {
  while (!stopped) {
    const at = now();
    const probe = { kind: "probe", at, ok: false };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      if (res.ok) { probe.ok = true; probe.values = read(text); }
      else probe.error = "HTTP " + res.status;
    } catch (e) {
      probe.error = String((e && (e.cause && e.cause.message || e.message)) || e);
    }
    probe.ms = now() - at;
    parentPort.postMessage(probe);
    const wait = at + everyMs - now();
    if (wait > 0 && !stopped) await new Promise((r) => setTimeout(r, wait));
  }
  parentPort.postMessage({ kind: "done" });
})();
`;

class DebugPortProber {
  readonly probes: StormProbe[] = [];
  private readonly worker: Worker;
  private readonly done: Promise<void>;
  private workerError: string | undefined;

  constructor(url: string, everyMs: number, timeoutMs: number) {
    this.worker = new Worker(PROBE_WORKER, {
      eval: true,
      workerData: {
        url,
        everyMs,
        timeoutMs,
        names: [OPEN_STREAMS, REJECTED, CONNECTIONS, ...MEMORY_METRICS],
      },
    });
    this.done = new Promise<void>((resolve) => {
      this.worker.on("message", (m: { kind: string } & StormProbe) => {
        if (m.kind === "done") resolve();
        else {
          const { kind: _kind, ...probe } = m;
          this.probes.push(probe);
        }
      });
      this.worker.on("error", (e) => {
        this.workerError = e.message;
        resolve();
      });
      this.worker.on("exit", () => resolve());
    });
  }

  get error(): string | undefined {
    return this.workerError;
  }

  /** Asks the loop to end after its probe in flight; terminates it if that takes too long. */
  async stop(graceMs: number): Promise<void> {
    this.worker.postMessage("stop");
    const timer = setTimeout(() => void this.worker.terminate(), graceMs);
    await this.done;
    clearTimeout(timer);
    await this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------- streams

const PENDING = 0;
const OK = 1;
const EXHAUSTED = 2;
const OTHER = 3;

type AdsCall = grpc.ClientDuplexStream<Record<string, unknown>, unknown>;

/** A node id per stream: a sidecar in one of the mesh's namespaces, at an address of 198.18.0.0/15 (never an endpoint's). */
export function stormNodeId(index: number, namespace: string): string {
  const ip = `198.${18 + (index >> 16)}.${(index >> 8) & 255}.${index & 255}`;
  return `sidecar~${ip}~storm-${index}.${namespace}~${namespace}.svc.cluster.local`;
}

// ---------------------------------------------------------------------------------------- run

/**
 * Runs one stream storm and returns its report.
 *
 * @example
 * const report = await runXdsStorm({ streams: 300, serverOptions: { maxStreamsPerClient: 200 } });
 * report.streams.resourceExhausted; // 100
 * report.debugPort.storm.failures; // 0
 * process.stdout.write(formatXdsStormReport(report));
 */
export async function runXdsStorm(
  options: XdsStormOptions = {},
  onProgress?: (event: XdsStormProgress) => void,
): Promise<XdsStormReport> {
  const o = resolveXdsStormOptions(options);
  const runStart = performance.now();
  const now = () => performance.now() - runStart;
  const epoch = () => performance.timeOrigin + performance.now();
  const signal = options.signal;
  const notes: string[] = [];
  let stoppedEarly: string | null = null;
  const stopRequested = () => {
    if (stoppedEarly === null && signal?.aborted)
      stoppedEarly = `stopped by ${String(signal.reason instanceof Error ? signal.reason.message : (signal.reason ?? "a signal"))}`;
    return stoppedEarly !== null;
  };
  /** Sleeps up to `ms`, waking early when the run is stopped. */
  const pause = async (ms: number) => {
    const until = now() + ms;
    while (!stopRequested() && now() < until) await sleep(Math.min(50, until - now()));
  };

  const n = o.streams;
  const state = new Uint8Array(n);
  const outcomeAt = new Float64Array(n);
  const calls: AdsCall[] = [];
  const channels: AdsClient[] = [];
  const counts = { ok: 0, exhausted: 0, other: 0, dropped: 0 };
  const otherByCode: Record<string, number> = {};
  const otherSamples: string[] = [];
  let releasing = false;
  let stormStart = Number.NaN;
  let lastOutcomeAt = Number.NaN;
  let phase: XdsStormPhase = "prepare";
  /** Window boundaries (epoch ms): a probe belongs to the window it started in. */
  const windows: { name: XdsStormWindow; from: number }[] = [];
  let prober: DebugPortProber | undefined;
  let serverPid: number | undefined;
  const rss: { at: number; kib: number }[] = [];
  let rssTimer: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;

  const lastRssMiB = () => {
    const last = rss.at(-1);
    return last ? Math.round((last.kib / 1024) * 10) / 10 : null;
  };
  const progress = () =>
    emitProgress(onProgress, () => {
      const probes = prober?.probes ?? [];
      const stormFrom = windows.find((w) => w.name === "storm")?.from;
      let worst: number | null = null;
      if (stormFrom !== undefined)
        for (const p of probes) if (p.at >= stormFrom) worst = Math.max(worst ?? 0, p.ms);
      return {
        phase,
        elapsedMs: Math.round(now()),
        streams: n,
        opened: calls.length,
        ok: counts.ok,
        resourceExhausted: counts.exhausted,
        other: counts.other,
        pending: calls.length - counts.ok - counts.exhausted - counts.other,
        probes: probes.length,
        probeFailures: probes.filter((p) => !p.ok).length,
        lastProbeMs: probes.length > 0 ? Math.round((probes.at(-1) as StormProbe).ms * 10) / 10 : null,
        worstStormProbeMs: worst === null ? null : Math.round(worst * 10) / 10,
        rssMiB: lastRssMiB(),
      };
    });
  const setPhase = (p: XdsStormPhase, window?: XdsStormWindow) => {
    phase = p;
    if (window) windows.push({ name: window, from: epoch() });
    progress();
  };
  setPhase("prepare");

  const mesh = generateSyntheticMesh({
    services: o.services,
    endpoints: o.endpoints,
    namespaces: o.namespaces,
  });
  const namespaces = mesh.description.namespaces;
  const driver = new MeshctlTarget({
    serverOptions: o.serverOptions,
    ...(options.serveEntry !== undefined ? { entry: options.serveEntry } : {}),
  });
  const meshDir = await mkdtemp(join(tmpdir(), "meshctl-xds-storm-"));

  const settle = (i: number, outcome: number, status?: grpc.StatusObject) => {
    if (state[i] !== PENDING) return;
    state[i] = outcome;
    const t = now() - stormStart;
    outcomeAt[i] = t;
    lastOutcomeAt = Number.isNaN(lastOutcomeAt) ? t : Math.max(lastOutcomeAt, t);
    if (outcome === OK) counts.ok++;
    else if (outcome === EXHAUSTED) counts.exhausted++;
    else {
      counts.other++;
      const code = status ? (grpc.status[status.code] ?? String(status.code)) : "UNKNOWN";
      otherByCode[code] = (otherByCode[code] ?? 0) + 1;
      if (otherSamples.length < MAX_SAMPLES)
        otherSamples.push(`stream ${i}: ${code}${status?.details ? `: ${status.details}` : ""}`);
    }
  };

  const openStream = (i: number) => {
    const channel = channels[i % channels.length] as AdsClient;
    const call = (channel.StreamAggregatedResources as () => AdsCall)();
    calls.push(call);
    call.on("data", () => settle(i, OK));
    // Classified on "status", which grpc-js emits for every ending; "error" needs a listener anyway.
    call.on("error", () => {});
    call.on("status", (status: grpc.StatusObject) => {
      if (state[i] === PENDING)
        settle(
          i,
          status.code === grpc.status.RESOURCE_EXHAUSTED ? EXHAUSTED : OTHER,
          status.code === grpc.status.OK ? { ...status, details: "ended without a response" } : status,
        );
      else if (state[i] === OK && !releasing) counts.dropped++;
    });
    const namespace = namespaces[i % namespaces.length] as string;
    call.write({
      node: { id: stormNodeId(i, namespace), locality: {}, user_agent_name: "meshctl-storm" },
      type_url: TYPE_URLS.cds,
    });
  };

  const releaseStreams = () => {
    releasing = true;
    for (const c of calls) c.cancel();
    for (const c of channels) c.close();
  };

  let metricsUrl = "";
  let rejectedBefore: number | undefined;
  let rejectedAfter: number | undefined;
  let openAfter: number | undefined;
  let connectionsAfter: number | undefined;
  let beforeKiB: number | undefined;
  let afterKiB: number | undefined;
  let memoryBefore: Record<string, number> | undefined;
  let memoryAfter: Record<string, number> | undefined;
  let hwmKiB: number | undefined;
  let afterReadMs: number | null = null;
  let releaseAt = Number.NaN;
  let connectMs: number | null = null;
  let openMs: number | null = null;
  let endAt = Number.NaN;
  try {
    await writeMeshFiles(meshDir, mesh.files);
    setPhase("start-server");
    const endpoint = await driver.start(meshDir);
    serverPid = endpoint.pid;
    metricsUrl = endpoint.metricsUrl ?? "";
    const pid = serverPid;
    rssTimer = setInterval(() => {
      const mem = pid === undefined ? undefined : readProcessMemory(pid);
      if (mem && mem.rssKiB > 0) rss.push({ at: epoch(), kib: mem.rssKiB });
    }, o.rssEveryMs);
    ticker = setInterval(progress, 1000);
    ticker.unref();

    // ---------------------------------------------------------------- idle
    prober = new DebugPortProber(metricsUrl, o.probeEveryMs, o.probeTimeoutMs);
    setPhase("idle", "idle");
    await pause(o.idleSeconds * 1000);
    const before = await scrapeServerMetrics(metricsUrl, [REJECTED, ...MEMORY_METRICS], o.probeTimeoutMs);
    rejectedBefore = before.error ? undefined : (before.samples[REJECTED] ?? 0);
    if (!before.error) memoryBefore = before.samples;
    if (pid !== undefined) beforeKiB = readProcessMemory(pid)?.rssKiB;

    // ---------------------------------------------------------------- connect, then the storm
    if (!stopRequested()) {
      setPhase("connect");
      const c0 = now();
      for (let c = 0; c < o.channels; c++) channels.push(createAdsChannel(endpoint.address));
      // Ready connections first, so the storm is of streams rather than of TCP and HTTP/2 set-up.
      const ready = await Promise.all(
        channels.map(
          (ch) => new Promise<boolean>((resolve) => ch.waitForReady(Date.now() + 30_000, (e) => resolve(!e))),
        ),
      );
      connectMs = Math.round(now() - c0);
      const notReady = ready.filter((r) => !r).length;
      if (notReady > 0) notes.push(`${notReady} of ${o.channels} connections were not ready within 30 s.`);
    }
    if (!stopRequested()) {
      setPhase("storm", "storm");
      stormStart = now();
      for (let i = 0; i < n; i++) openStream(i);
      openMs = Math.round(now() - stormStart);
      const deadline = stormStart + o.outcomeTimeoutSeconds * 1000;
      while (!stopRequested() && now() < deadline && counts.ok + counts.exhausted + counts.other < n)
        await sleep(20);
    }

    // ---------------------------------------------------------------- hold
    if (!stopRequested() && calls.length > 0) {
      setPhase("hold", "hold");
      await pause(o.holdSeconds * 1000);
    }

    // ---------------------------------------------------------------- release
    setPhase("release", "release");
    releaseAt = epoch();
    releaseStreams();
    await pause(o.releaseSeconds * 1000);
    const after = await scrapeServerMetrics(
      metricsUrl,
      [REJECTED, OPEN_STREAMS, CONNECTIONS, ...MEMORY_METRICS],
      o.probeTimeoutMs,
    );
    if (!after.error) {
      memoryAfter = after.samples;
      rejectedAfter = after.samples[REJECTED] ?? 0;
      openAfter = after.samples[OPEN_STREAMS] ?? 0;
      connectionsAfter = after.samples[CONNECTIONS] ?? 0;
    } else notes.push(`The last /metrics read failed: ${after.error}`);
    if (pid !== undefined) {
      const mem = readProcessMemory(pid);
      afterKiB = mem?.rssKiB;
      hwmKiB = mem?.hwmKiB;
      afterReadMs = Math.round(epoch() - releaseAt);
    }
    if (!driver.running)
      notes.push(
        `The control plane exited during the run: ${driver.lastStderr().split("\n").filter(Boolean).slice(-3).join(" | ").slice(0, 500)}`,
      );
    endAt = epoch();
  } finally {
    if (ticker) clearInterval(ticker);
    if (rssTimer) clearInterval(rssTimer);
    if (!releasing) releaseStreams();
    await prober?.stop(o.probeTimeoutMs + 1000);
    await driver.stop();
    await rm(meshDir, { recursive: true, force: true });
  }
  if (prober?.error) notes.push(`The probe worker failed: ${prober.error}`);

  // ---------------------------------------------------------------- report
  setPhase("report");
  stopRequested();
  const probes = prober?.probes ?? [];
  const inWindow = (name: XdsStormWindow) => {
    const i = windows.findIndex((w) => w.name === name);
    if (i < 0) return [];
    const from = (windows[i] as { from: number }).from;
    const to = windows[i + 1]?.from ?? endAt;
    return probes.filter((p) => p.at >= from && (Number.isNaN(to) || p.at < to));
  };
  const stormFrom = windows.find((w) => w.name === "storm")?.from;
  let peakOpen: number | null = null;
  let releasedWithinMs: number | null = null;
  for (const p of probes) {
    const open = p.values?.[OPEN_STREAMS];
    if (open === undefined) continue;
    if (stormFrom !== undefined && p.at >= stormFrom) peakOpen = Math.max(peakOpen ?? 0, open);
    // The first probe started after the release that saw none open.
    if (releasedWithinMs === null && p.at >= releaseAt && open === 0)
      releasedWithinMs = Math.round(p.at + p.ms - releaseAt);
  }
  const bytesMiB = (b: number | undefined) =>
    b === undefined ? null : Math.round((b / 1024 / 1024) * 10) / 10;
  const memoryFigure = (name: string): XdsStormMemoryFigure => {
    let peak: number | undefined;
    if (stormFrom !== undefined)
      for (const p of probes) {
        const v = p.values?.[name];
        if (p.at >= stormFrom && v !== undefined && v > 0) peak = Math.max(peak ?? 0, v);
      }
    return {
      beforeMiB: bytesMiB(memoryBefore?.[name]),
      peakMiB: bytesMiB(peak),
      afterReleaseMiB: bytesMiB(memoryAfter?.[name]),
    };
  };
  const peakSamples = stormFrom === undefined ? [] : rss.filter((s) => s.at >= stormFrom);
  const peakKiB = peakSamples.length > 0 ? Math.max(...peakSamples.map((s) => s.kib)) : undefined;
  const mib = (kib: number | undefined) => (kib === undefined ? null : Math.round((kib / 1024) * 10) / 10);
  const ms = (kind: number) => {
    const out: number[] = [];
    for (let i = 0; i < calls.length; i++) if (state[i] === kind) out.push(outcomeAt[i] as number);
    return summarizePercentiles(out, 1);
  };
  const settled = counts.ok + counts.exhausted + counts.other;
  const noOutcome = calls.length - settled;
  if (noOutcome > 0)
    notes.push(
      `${noOutcome} streams had no outcome within ${o.outcomeTimeoutSeconds} s (or before the stop).`,
    );
  if (calls.length < n) notes.push(`${n - calls.length} of ${n} streams were never opened (stopped early).`);
  const storm = summarizeStormProbes(inWindow("storm"));
  return {
    schemaVersion: 1,
    config: {
      streams: n,
      channels: o.channels,
      services: o.services,
      namespaces: o.namespaces,
      idleSeconds: o.idleSeconds,
      holdSeconds: o.holdSeconds,
      releaseSeconds: o.releaseSeconds,
      outcomeTimeoutSeconds: o.outcomeTimeoutSeconds,
      probeEveryMs: o.probeEveryMs,
      probeTimeoutMs: o.probeTimeoutMs,
      serverOptions: o.serverOptions,
      limits: o.limits,
    },
    stoppedEarly,
    streams: {
      opened: calls.length,
      ok: counts.ok,
      resourceExhausted: counts.exhausted,
      other: counts.other,
      otherByCode,
      otherSamples,
      noOutcome,
      droppedBeforeRelease: counts.dropped,
      connectMs,
      openMs,
      allOutcomesMs:
        calls.length > 0 && noOutcome === 0 && !Number.isNaN(lastOutcomeAt)
          ? Math.round(lastOutcomeAt)
          : null,
      okMs: ms(OK),
      resourceExhaustedMs: ms(EXHAUSTED),
    },
    server: {
      rejectedStreams:
        rejectedBefore !== undefined && rejectedAfter !== undefined ? rejectedAfter - rejectedBefore : null,
      peakOpenStreams: peakOpen,
      openStreamsAfterRelease: openAfter ?? null,
      connectionsAfterRelease: connectionsAfter ?? null,
      releasedWithinMs,
    },
    debugPort: {
      idle: summarizeStormProbes(inWindow("idle")),
      storm,
      hold: summarizeStormProbes(inWindow("hold")),
      release: summarizeStormProbes(inWindow("release")),
      worstStormMs: storm.max,
    },
    memory: {
      beforeMiB: mib(beforeKiB),
      peakMiB: mib(peakKiB),
      hwmMiB: mib(hwmKiB),
      afterReleaseMiB: mib(afterKiB),
      afterReleaseReadMs: afterReadMs,
      perOpenStreamKiB:
        peakKiB !== undefined && beforeKiB !== undefined && peakOpen !== null && peakOpen > 0
          ? Math.round(((peakKiB - beforeKiB) / peakOpen) * 10) / 10
          : null,
      heapUsed: memoryFigure(HEAP_USED),
      heapTotal: memoryFigure(HEAP_TOTAL),
      external: memoryFigure(EXTERNAL),
    },
    notes,
  };
}

// ---------------------------------------------------------------------------------------- text

const fmt = (v: number | null | undefined, unit = "") =>
  v === null || v === undefined ? "–" : `${v.toLocaleString("en-US")}${unit}`;

/**
 * The storm report as text (the script prints it; `--json` prints the report itself).
 *
 * @example
 * process.stdout.write(formatXdsStormReport(await runXdsStorm({ streams: 2000 })));
 */
export function formatXdsStormReport(r: XdsStormReport): string {
  const s = r.streams;
  const l = r.config.limits;
  const lines: string[] = [];
  const overrides = Object.entries(r.config.serverOptions);
  lines.push(
    `xDS stream storm: ${fmt(r.config.streams)} ADS streams at once from one process over ${fmt(r.config.channels)} HTTP/2 connection${r.config.channels === 1 ? "" : "s"}` +
      (r.stoppedEarly ? ` (stopped early: ${r.stoppedEarly})` : ""),
  );
  lines.push(
    `server limits: ${fmt(l.maxStreamsPerSecond)} new streams/s, ${fmt(l.maxStreamsPerClient)} streams per client, ${fmt(l.maxStreamsPerConnection)} per connection` +
      (overrides.length > 0
        ? ` (options: ${overrides.map(([k, v]) => `${k}=${v}`).join(", ")})`
        : " (defaults)"),
  );
  lines.push("");
  const rows: [string, string][] = [
    [
      "streams answered (ok)",
      `${fmt(s.ok)}  (first response p50 ${fmt(s.okMs.p50, " ms")}, p99 ${fmt(s.okMs.p99, " ms")})`,
    ],
    [
      "RESOURCE_EXHAUSTED",
      `${fmt(s.resourceExhausted)}  (p50 ${fmt(s.resourceExhaustedMs.p50, " ms")}, p99 ${fmt(s.resourceExhaustedMs.p99, " ms")})`,
    ],
    [
      "other errors",
      `${fmt(s.other)}${
        s.other > 0
          ? `  (${Object.entries(s.otherByCode)
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(", ")})`
          : ""
      }`,
    ],
    ["no outcome", `${fmt(s.noOutcome)} (bound ${fmt(r.config.outcomeTimeoutSeconds, " s")})`],
    [
      "time until all outcomes",
      s.allOutcomesMs === null ? "– (not every stream had one)" : fmt(s.allOutcomesMs, " ms"),
    ],
    ["connections ready / streams issued", `${fmt(s.connectMs, " ms")} / ${fmt(s.openMs, " ms")}`],
    ["admitted streams dropped", `${fmt(s.droppedBeforeRelease)} before the release`],
    [
      "server: rejected streams",
      `${fmt(r.server.rejectedStreams)} (meshctl_xds_rejected_streams_total gained; the harness saw ${fmt(s.resourceExhausted)})`,
    ],
    [
      "server: open streams",
      `peak ${fmt(r.server.peakOpenStreams)}; after release ${fmt(r.server.openStreamsAfterRelease)} (0 within ${fmt(r.server.releasedWithinMs, " ms")}), connections ${fmt(r.server.connectionsAfterRelease)}`,
    ],
    [
      "server RSS",
      `before ${fmt(r.memory.beforeMiB, " MiB")}, peak ${fmt(r.memory.peakMiB, " MiB")} (VmHWM ${fmt(r.memory.hwmMiB, " MiB")}), ${r.memory.afterReleaseReadMs === null ? "–" : fmt(Math.round(r.memory.afterReleaseReadMs / 100) / 10, " s")} after release ${fmt(r.memory.afterReleaseMiB, " MiB")}`,
    ],
    ["  per open stream", fmt(r.memory.perOpenStreamKiB, " KiB")],
    ...(
      [
        ["  V8 heap in use", r.memory.heapUsed],
        ["  V8 heap committed", r.memory.heapTotal],
        ["  outside the heap", r.memory.external],
      ] as const
    ).map(([label, f]): [string, string] => [
      label,
      `before ${fmt(f.beforeMiB, " MiB")}, peak ${fmt(f.peakMiB, " MiB")}, after release ${fmt(f.afterReleaseMiB, " MiB")}`,
    ]),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  lines.push(...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`));
  lines.push(
    "",
    `  debug port /metrics (a probe every ${r.config.probeEveryMs} ms, ${r.config.probeTimeoutMs} ms timeout)`,
    "  window          probes  failures   p50 (ms)   p99 (ms)   max (ms)",
  );
  const windows: [string, XdsStormProbeSummary][] = [
    ["idle", r.debugPort.idle],
    ["storm", r.debugPort.storm],
    ["hold", r.debugPort.hold],
    ["after release", r.debugPort.release],
  ];
  for (const [name, w] of windows)
    lines.push(
      `  ${name.padEnd(14)}  ${fmt(w.count).padStart(6)}  ${fmt(w.failures).padStart(8)}  ${fmt(w.p50).padStart(9)}  ${fmt(w.p99).padStart(9)}  ${fmt(w.max).padStart(9)}`,
    );
  lines.push("", `debug port worst latency during the storm: ${fmt(r.debugPort.worstStormMs, " ms")}`);
  const samples = [
    ...s.otherSamples,
    ...windows.flatMap(([name, w]) => w.failureSamples.map((f) => `debug port (${name}): ${f}`)),
  ];
  if (samples.length > 0) lines.push("", "Samples:", ...samples.map((x) => `  ${x}`));
  if (r.notes.length > 0) lines.push("", "Notes:", ...r.notes.map((x) => `  ${x}`));
  return `${lines.join("\n")}\n`;
}
