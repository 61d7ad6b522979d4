import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { MeshctlError } from "@meshctl/core";
import { describeEnvironment } from "./environment.js";
import { LatencyHistogram } from "./histogram.js";
import {
  checkLoadHeaders,
  checkOpenFileLimit,
  checkOptionRange,
  HEADER_TOKEN,
  LOAD_LIMITS,
  maxLoadWorkers,
} from "./limits.js";
import { LoadShard, type ShardOptions, type ShardProgress, type ShardResult } from "./shard.js";
import { parseLoadTarget } from "./target.js";
import { LOAD_TRACE_MAX_REQUESTS, mergeShardTraces, type ShardTrace } from "./trace.js";
import type {
  LoadOptions,
  LoadProgress,
  LoadProtocol,
  LoadResult,
  LoadTraceOptions,
  ResolvedLoadOptions,
} from "./types.js";

export const LOAD_RESULT_SCHEMA = "meshctl.bench.load/v1" as const;
export const DEFAULT_QPS = 1000;
export const DEFAULT_DURATION_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const PROGRESS_MS = 250;

/**
 * Fills defaults and validates. Pure, so the CLI can show what will run (and tests can check it).
 *
 * @example
 * resolveLoadOptions({ target: "http://127.0.0.1:8080/", connections: 4, payloadBytes: 0, warmupMs: 0 }).qps // 1000
 */
export function resolveLoadOptions(options: LoadOptions): ResolvedLoadOptions {
  const target = parseLoadTarget(options.target, options.protocol);
  const usage = (message: string): MeshctlError =>
    new MeshctlError("BENCH_OPTIONS_INVALID", message, { kind: "usage" });
  if (options.max && options.qps !== undefined)
    throw usage("--qps and --max exclude each other: --max runs closed loop at full speed");
  checkLoadBounds(options, target.protocol);
  if (options.durationMs !== undefined && options.requests !== undefined)
    throw usage("give a duration or a request count, not both");
  if (options.trace !== undefined)
    checkTraceOptions(options.trace, target.protocol, options.headers ?? {}, usage);
  const workers = Math.max(1, Math.min(options.workers ?? 1, options.connections));
  const closed = options.max === true;
  return {
    target: options.target,
    protocol: target.protocol,
    mode: closed ? "closed" : "open",
    qps: closed ? null : (options.qps ?? DEFAULT_QPS),
    connections: options.connections,
    durationMs: options.requests !== undefined ? null : (options.durationMs ?? DEFAULT_DURATION_MS),
    requests: options.requests ?? null,
    payloadBytes: options.payloadBytes,
    warmupMs: options.warmupMs,
    headers: { ...(options.headers ?? {}) },
    workers,
    pacing: options.pacing ?? "precise",
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.trace !== undefined
      ? { trace: { header: options.trace.header, idPrefix: options.trace.idPrefix } }
      : {}),
  };
}

/** Visible ASCII: ids need no escaping in headers, access logs or JSON, and bytes = characters. */
const ID_PREFIX = /^[\x21-\x7e]+$/;
/** Headers the engine writes itself or HTTP/2 forbids. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "proxy-connection",
]);

/** Every numeric option against LOAD_LIMITS, and the headers; throws a usage error naming the flag. */
function checkLoadBounds(options: LoadOptions, protocol: LoadProtocol): void {
  const L = LOAD_LIMITS;
  checkOptionRange(
    "connections",
    options.connections,
    { min: 1, max: L.maxConnections, integer: true },
    "Each connection holds a socket, a file descriptor and buffers; beyond this one process measures itself, not the target.",
  );
  if (options.workers !== undefined)
    checkOptionRange(
      "workers",
      options.workers,
      { min: 1, max: maxLoadWorkers(), integer: true },
      `This machine has ${availableParallelism()} CPUs; more than 4 threads per CPU (at most 64) only contend with each other and the target.`,
    );
  if (options.qps !== undefined)
    checkOptionRange(
      "qps",
      options.qps,
      { min: 0, max: L.maxQps, exclusiveMin: true, unit: "req/s" },
      "One process cannot send faster; use --max for as fast as the target answers.",
    );
  if (options.durationMs !== undefined)
    checkOptionRange(
      "duration",
      options.durationMs,
      { min: 0, max: L.maxDurationMs, exclusiveMin: true, unit: "ms" },
      "Runs are bounded to 7 days (Node timers overflow at 24.8 days); use --requests for a count instead.",
      `${humanMs(options.durationMs)}`,
    );
  if (options.requests !== undefined)
    checkOptionRange(
      "requests",
      options.requests,
      { min: 1, max: L.maxRequests, integer: true },
      "Split longer measurements into several runs.",
    );
  checkOptionRange(
    "warmup",
    options.warmupMs,
    { min: 0, max: L.maxWarmupMs, unit: "ms" },
    "Warm-up only settles connection pools and caches; it is not recorded.",
    `${humanMs(options.warmupMs)}`,
  );
  if (options.timeoutMs !== undefined)
    checkOptionRange(
      "timeout",
      options.timeoutMs,
      { min: L.minTimeoutMs, max: L.maxTimeoutMs, unit: "ms" },
      "The latency histogram records up to one hour.",
      `${humanMs(options.timeoutMs)}`,
    );
  checkOptionRange(
    "payload",
    options.payloadBytes,
    { min: 0, max: L.maxPayloadBytes, integer: true, unit: "bytes" },
    "Every connection may hold a request and a response of this size at once.",
  );
  const inFlight = options.payloadBytes * options.connections;
  if (inFlight > L.maxInFlightBytes)
    throw new MeshctlError(
      "BENCH_OPTIONS_INVALID",
      `--payload ${options.payloadBytes} bytes × --connections ${options.connections} = ${(inFlight / 2 ** 20).toFixed(0)} MiB in flight, over the ${L.maxInFlightBytes / 2 ** 30} GiB bound: every connection may hold a response of that size at once.`,
      {
        kind: "usage",
        suggestions: ["Lower --connections or --payload."],
        details: { flag: "payload", payloadBytes: options.payloadBytes, connections: options.connections },
      },
    );
  checkLoadHeaders(options.headers ?? {}, protocol);
}

/** "99999999999h" → "359999999996400000 ms", 1500 → "1500 ms": the parsed value as the engine sees it. */
function humanMs(ms: number): string {
  return `${Number.isFinite(ms) && Math.abs(ms) < 1e15 ? ms.toLocaleString("en-US") : String(ms)} ms`;
}

function checkTraceOptions(
  trace: LoadTraceOptions,
  protocol: LoadProtocol,
  headers: Readonly<Record<string, string>>,
  usage: (message: string) => MeshctlError,
): void {
  if (protocol === "tcp")
    throw usage("request tracing needs HTTP/1.1, h2c or gRPC: a tcp:// target has no headers to carry an id");
  if (!HEADER_TOKEN.test(trace.header))
    throw usage(`trace header "${trace.header}" is not a valid header name`);
  const name = trace.header.toLowerCase();
  if (RESERVED_HEADERS.has(name))
    throw usage(`trace header "${trace.header}" is set by the engine or not allowed`);
  if (Object.keys(headers).some((h) => h.toLowerCase() === name))
    throw usage(`trace header "${trace.header}" is also given in headers: ids would be sent twice`);
  if (!ID_PREFIX.test(trace.idPrefix))
    throw usage(`trace idPrefix "${trace.idPrefix}" must be visible ASCII without spaces, and not empty`);
}

/** Deterministic, printable payload bytes. */
export function makePayload(size: number): Buffer {
  const pattern = Buffer.from("meshctl-bench-payload/");
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += pattern.length) pattern.copy(out, i, 0, Math.min(pattern.length, size - i));
  return out;
}

/** Splits the resolved options into per-thread shards (connections, rate and requests divided). */
export function shardOptions(
  r: ResolvedLoadOptions,
  workers: number,
  pacing: "precise" | "timer",
): ShardOptions[] {
  const target = parseLoadTarget(r.target, r.protocol);
  const payload = makePayload(r.payloadBytes);
  const shards = Array.from({ length: workers }, (_, w) => {
    const share = (total: number): number => Math.floor(total / workers) + (w < total % workers ? 1 : 0);
    return {
      target,
      mode: r.mode,
      qps: r.qps === null ? null : r.qps / workers,
      scheduleOffset: w / workers,
      connections: share(r.connections),
      durationMs: r.durationMs,
      requests: r.requests === null ? null : share(r.requests),
      payload,
      headers: r.headers,
      warmupMs: r.warmupMs,
      timeoutMs: r.timeoutMs,
      pacing,
    };
  }).filter((s) => s.connections > 0 && (s.requests === null || s.requests > 0));
  // Numbered after filtering: shard i of n sends ids i, i + n, i + 2n, ...
  return shards.map((s, i) => ({
    ...s,
    trace: r.trace
      ? { header: r.trace.header, idPrefix: r.trace.idPrefix, shard: i, shards: shards.length }
      : null,
  }));
}

/**
 * Runs one load test against a target and returns coordinated-omission-corrected and uncorrected
 * latencies. Open loop (a fixed schedule, latency measured from each request's intended send
 * time) unless `max` asks for closed loop.
 *
 * @example
 * const result = await runLoad({ target: "http://127.0.0.1:8080/", qps: 1000, connections: 4,
 *   durationMs: 5000, payloadBytes: 1024, warmupMs: 1000 });
 * result.corrected.p99; // µs
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const resolved = resolveLoadOptions(options);
  await checkOpenFileLimit(resolved.connections);
  const warnings: string[] = [];
  let workers = resolved.workers;
  const workerScript = workers > 1 ? findWorkerScript() : null;
  if (workers > 1 && !workerScript) {
    warnings.push("worker threads need the built package (dist/load-worker.js); ran on one thread");
    workers = 1;
  }
  const shards = shardOptions(resolved, workers, resolved.pacing);
  const startedWall = Date.now();
  const progress = new ProgressTracker(resolved, shards.length, options.onProgress);
  const results =
    workerScript && shards.length > 1
      ? await runInWorkers(workerScript, shards, options.signal, progress)
      : [await runInline(shards[0] as ShardOptions, options.signal, progress)];
  progress.close();
  if (options.signal?.aborted) warnings.push("stopped early (interrupted): this is a partial result");
  return buildResult(resolved, results, warnings, startedWall);
}

async function runInline(
  shard: ShardOptions,
  signal: AbortSignal | undefined,
  progress: ProgressTracker,
): Promise<ShardResult> {
  const connecting = LoadShard.connect(shard);
  // Opening thousands of connections (or waiting out a connect timeout) must not delay a Ctrl-C:
  // an interrupted connect returns an empty result and closes whatever connects later.
  const s = await untilAborted(connecting, signal);
  if (s === ABORTED) {
    connecting.then((late) => late.close()).catch(() => {});
    return emptyShardResult();
  }
  if (signal?.aborted) s.stop();
  const onAbort = (): void => s.stop();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await s.run(performance.now(), (p) => progress.update(0, p), PROGRESS_MS);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

const ABORTED = Symbol("aborted");

/** `work`, or ABORTED as soon as `signal` aborts (the work goes on; the caller cleans it up). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (!signal) return work;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** What a shard interrupted before it started measured: nothing. */
function emptyShardResult(): ShardResult {
  return {
    corrected: new LatencyHistogram(),
    uncorrected: new LatencyHistogram(),
    errors: {},
    requests: 0,
    measureStartEpochMs: 0,
    durationMs: 0,
    unsent: 0,
  };
}

/** dist/load-worker.js next to the running bundle; from sources, the package's dist if built. */
export function findWorkerScript(): string | null {
  const candidates = [
    new URL("./load-worker.js", import.meta.url),
    new URL("../../dist/load-worker.js", import.meta.url),
  ];
  for (const c of candidates) {
    const path = fileURLToPath(c);
    if (path.endsWith(".js") && existsSync(path)) return path;
  }
  return null;
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "progress"; progress: ShardProgress }
  | { type: "error"; error: { code: string; message: string; kind: string; suggestions?: string[] } }
  | { type: "result"; result: SerializedShardResult };

export interface SerializedShardResult {
  corrected: string;
  uncorrected: string;
  errors: Record<string, number>;
  requests: number;
  measureStartEpochMs: number;
  durationMs: number;
  unsent: number;
  trace?: ShardTrace;
}

export function serializeShardResult(r: ShardResult): SerializedShardResult {
  return { ...r, corrected: r.corrected.encode(), uncorrected: r.uncorrected.encode() };
}

async function runInWorkers(
  script: string,
  shards: ShardOptions[],
  signal: AbortSignal | undefined,
  progress: ProgressTracker,
): Promise<ShardResult[]> {
  // execArgv: [] so a parent started with `--conditions @meshctl/source` (tests) still loads the
  // built dependencies in the worker.
  const workers = shards.map((shard) => new Worker(script, { workerData: { shard }, execArgv: [] }));
  const ready: Promise<void>[] = [];
  const results: Promise<ShardResult>[] = [];
  workers.forEach((worker, i) => {
    let onReady: () => void = () => {};
    let onResult: (r: ShardResult) => void = () => {};
    let fail: (e: Error) => void = () => {};
    ready.push(
      new Promise<void>((resolve, reject) => {
        onReady = resolve;
        fail = reject;
      }),
    );
    results.push(
      new Promise<ShardResult>((resolve, reject) => {
        onResult = resolve;
        const prevFail = fail;
        fail = (e) => {
          prevFail(e);
          reject(e);
        };
      }),
    );
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "ready") onReady();
      else if (m.type === "progress") progress.update(i, m.progress);
      else if (m.type === "result") {
        const r = m.result;
        onResult({
          ...r,
          corrected: LatencyHistogram.decode(r.corrected),
          uncorrected: LatencyHistogram.decode(r.uncorrected),
        });
      } else if (m.type === "error") {
        fail(
          new MeshctlError(m.error.code, m.error.message, {
            kind: m.error.kind as "environment",
            suggestions: m.error.suggestions ?? [],
          }),
        );
      }
    });
    worker.on("error", (e) => fail(e));
    worker.on("exit", (code) =>
      fail(new MeshctlError("BENCH_WORKER_FAILED", `load worker exited with code ${code}`, { kind: "bug" })),
    );
  });
  for (const r of results) r.catch(() => {});
  const stopAll = (): void => {
    for (const w of workers) w.postMessage({ type: "stop" });
  };
  try {
    if ((await untilAborted(Promise.all(ready), signal)) === ABORTED) return shards.map(emptyShardResult);
    // One shared start on the wall clock; each worker maps it to its own performance.now().
    // timeOrigin-based (sub-ms) rather than Date.now(): threads then agree to microseconds.
    const startEpochMs = performance.timeOrigin + performance.now() + 20;
    for (const w of workers) w.postMessage({ type: "start", startEpochMs });
    if (signal?.aborted) stopAll();
    signal?.addEventListener("abort", stopAll, { once: true });
    return await Promise.all(results);
  } finally {
    signal?.removeEventListener("abort", stopAll);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Folds per-shard snapshots into one LoadProgress every 250 ms. */
class ProgressTracker {
  private readonly latest: Array<ShardProgress | undefined>;
  private readonly timer: NodeJS.Timeout | null;
  private lastRequests = 0;
  private lastAt = performance.now();

  constructor(
    private readonly r: ResolvedLoadOptions,
    shards: number,
    private readonly onProgress: ((p: LoadProgress) => void) | undefined,
  ) {
    this.latest = new Array(shards).fill(undefined);
    this.timer = onProgress ? setInterval(() => this.emit(), PROGRESS_MS) : null;
  }

  update(i: number, p: ShardProgress): void {
    this.latest[i] = p;
  }

  private emit(): void {
    const snaps = this.latest.filter((p): p is ShardProgress => p !== undefined);
    if (snaps.length === 0 || !this.onProgress) return;
    const now = performance.now();
    const requests = snaps.reduce((a, p) => a + p.requests, 0);
    const errors = snaps.reduce((a, p) => a + p.errors, 0);
    const measuring = snaps.every((p) => p.phase === "measure");
    const elapsedMs = Math.max(...snaps.map((p) => p.elapsedMs));
    const dt = (now - this.lastAt) / 1000;
    const currentQps = dt > 0 ? Math.max(0, requests - this.lastRequests) / dt : 0;
    this.lastRequests = requests;
    this.lastAt = now;
    // With several workers these are approximations (count-weighted p50, worst p99).
    const weighted = requests > 0 ? snaps.reduce((a, p) => a + p.p50Us * p.requests, 0) / requests : 0;
    const totalMs = measuring ? (this.r.durationMs ?? undefined) : this.r.warmupMs;
    const fraction = measuring
      ? this.r.durationMs !== null
        ? elapsedMs / this.r.durationMs
        : requests / (this.r.requests ?? 1)
      : this.r.warmupMs > 0
        ? elapsedMs / this.r.warmupMs
        : 1;
    this.onProgress({
      phase: measuring ? "measure" : "warmup",
      elapsedMs,
      totalMs,
      fraction: Math.min(1, Math.max(0, fraction)),
      requests,
      errors,
      currentQps: Math.round(currentQps),
      p50Us: Math.round(weighted),
      p99Us: Math.max(...snaps.map((p) => p.p99Us)),
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Merges shard results into the public LoadResult. Exported for tests. */
export function buildResult(
  r: ResolvedLoadOptions,
  shards: readonly ShardResult[],
  warnings: string[],
  startedWall: number,
): LoadResult {
  const corrected = new LatencyHistogram();
  const uncorrected = new LatencyHistogram();
  const errors: Record<string, number> = {};
  let requests = 0;
  let unsent = 0;
  for (const s of shards) {
    corrected.add(s.corrected);
    uncorrected.add(s.uncorrected);
    requests += s.requests;
    unsent += s.unsent;
    for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  const durationMs = Math.max(0, ...shards.map((s) => s.durationMs));
  const achievedQps = durationMs > 0 ? (requests * 1000) / durationMs : 0;
  const achievedRatio = r.qps === null ? 1 : achievedQps / r.qps;
  const fellBehind = r.qps !== null && achievedRatio < 0.99;
  if (fellBehind) {
    warnings.push(
      `achieved ${achievedQps.toFixed(1)} req/s, ${(achievedRatio * 100).toFixed(1)}% of the ${r.qps} req/s target: the generator or the target could not keep up${unsent > 0 ? ` (${unsent} scheduled requests never sent)` : ""}; latencies include the queueing this caused`,
    );
  }
  const errorTotal = Object.values(errors).reduce((a, b) => a + b, 0);
  if (errorTotal > 0)
    warnings.push(
      `${errorTotal} of ${requests} requests failed (${Object.entries(errors)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ")})`,
    );
  if (requests === 0) warnings.push("no request completed in the measured phase");
  const startEpoch =
    shards.length > 0 ? Math.min(...shards.map((s) => s.measureStartEpochMs || startedWall)) : startedWall;
  const trace = r.trace ? mergeTrace(r.trace, shards, startEpoch, warnings) : undefined;
  return {
    schema: LOAD_RESULT_SCHEMA,
    target: r.target,
    protocol: r.protocol,
    options: r,
    startedAt: new Date(startEpoch).toISOString(),
    durationMs: Math.round(durationMs * 1000) / 1000,
    requests,
    targetQps: r.qps,
    achievedQps: Math.round(achievedQps * 100) / 100,
    achievedRatio: Math.round(achievedRatio * 10000) / 10000,
    fellBehind,
    errors,
    corrected: corrected.summary(),
    uncorrected: uncorrected.summary(),
    histogram: {
      correctedHdr: corrected.encode(),
      uncorrectedHdr: uncorrected.encode(),
      buckets: corrected.buckets(),
      spectrum: corrected.spectrum(),
      uncorrectedSpectrum: uncorrected.spectrum(),
    },
    warnings,
    environment: describeEnvironment(),
    ...(trace ? { trace } : {}),
  };
}

function mergeTrace(
  options: LoadTraceOptions,
  shards: readonly ShardResult[],
  startEpoch: number,
  warnings: string[],
): LoadResult["trace"] {
  const parts = shards.flatMap((s) =>
    s.trace
      ? [{ trace: s.trace, offsetMs: s.measureStartEpochMs ? s.measureStartEpochMs - startEpoch : 0 }]
      : [],
  );
  const { trace, total } = mergeShardTraces(options, parts);
  if (total > trace.requests.length)
    warnings.push(
      `the request trace holds the first ${trace.requests.length} of ${total} measured requests (at most ${LOAD_TRACE_MAX_REQUESTS})`,
    );
  return trace;
}
