/**
 * Load for the lab's gRPC scenarios, all with one client library (grpc-js) so they compare like
 * with like: `grpc-proxyless` resolves an `xds:///` target through meshctl's xDS control plane
 * (listener → route → cluster → endpoints) with no proxy on the path; `direct-grpc` and
 * `sidecar-grpc` dial the server pod's address (through both sidecars for the latter). Only the
 * transport is grpc-js; the schedule, the coordinated-omission-correct histograms and the result
 * are the load engine's.
 */
import type * as GrpcJs from "@grpc/grpc-js";
import {
  buildLoadResult,
  encodeEchoMessage,
  GRPC_ECHO_METHOD,
  LatencyHistogram,
  type LoadProgress,
  type LoadResult,
  OpenLoopSchedule,
  resolveLoadOptions,
} from "@meshctl/bench";

/** What the lab asks of one gRPC measurement. */
export interface GrpcLoadOptions {
  /** `xds:///<host>:<port>` (proxyless, needs `bootstrap`) or `<ip>:<port>` (grpc-js's default resolver). */
  readonly target: string;
  /** Requests per second (open loop), or null for closed loop (one call in flight per connection). */
  readonly qps: number | null;
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly payloadBytes: number;
  readonly timeoutMs?: number;
  /** grpc-js-xds bootstrap (node identity and the control plane's address), for `xds:///` targets. */
  readonly bootstrap?: Record<string, unknown>;
  /** Open-loop send timing, as the engine's `pacing` (default `precise`). */
  readonly pacing?: "precise" | "timer";
  /** Send `<header>: <idPrefix>-<n>` with every call and return the measured calls' trace. */
  readonly trace?: { readonly header: string; readonly idPrefix: string };
}

/**
 * Runs unary echo calls over `connections` grpc-js channels, open loop at `qps` or closed loop,
 * and returns the engine's LoadResult (target = the dialed URI). The measured phase lasts until
 * the last measured call completes: when the server saturates, calls scheduled in the window
 * complete late, the achieved rate drops below the target and `fellBehind` says so.
 *
 * @example
 * const result = await runGrpcLoad({ target: "xds:///echo.mcl.svc.cluster.local:8080", qps: 1000,
 *   connections: 4, durationMs: 4000, warmupMs: 1000, payloadBytes: 1024, bootstrap });
 */
export async function runGrpcLoad(
  options: GrpcLoadOptions,
  hooks: { signal?: AbortSignal; onProgress?: (p: LoadProgress) => void } = {},
): Promise<LoadResult> {
  // Loaded on use: the other pod-agent modes must not depend on grpc-js or @meshctl/xds's build.
  const grpc = await import("@grpc/grpc-js");
  const xds = options.target.startsWith("xds:///");
  if (xds) {
    const { registerXdsResolver } = await import("@meshctl/xds/testing");
    await registerXdsResolver();
  }
  const authority = options.target.replace(/^xds:\/\/\//, "");
  const resolved = resolveLoadOptions({
    target: `grpc://${authority}${GRPC_ECHO_METHOD}`,
    ...(options.qps === null ? { max: true } : { qps: options.qps }),
    ...(options.pacing ? { pacing: options.pacing } : {}),
    connections: options.connections,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    payloadBytes: options.payloadBytes,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  const request = encodeEchoMessage(Buffer.alloc(options.payloadBytes, 0x61));
  const channelOptions: GrpcJs.ChannelOptions = {
    ...(xds
      ? { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(options.bootstrap ?? {}) }
      : {}),
    // One connection per client, as the other scenarios have.
    "grpc.use_local_subchannel_pool": 1,
  };
  const clients = Array.from(
    { length: options.connections },
    () => new grpc.Client(options.target, grpc.credentials.createInsecure(), channelOptions),
  );
  const timeoutMs = resolved.timeoutMs;
  const trace = options.trace;
  let seq = 0;
  const call = (client: GrpcJs.Client, done: (err: string | null, id: string) => void) => {
    const metadata = new grpc.Metadata();
    const id = trace ? `${trace.idPrefix}-${seq++}` : "";
    if (trace) metadata.set(trace.header, id);
    client.makeUnaryRequest(
      GRPC_ECHO_METHOD,
      (b: Buffer) => b,
      (b: Buffer) => b.length,
      request,
      metadata,
      { deadline: Date.now() + timeoutMs },
      (err) => done(err ? `grpc_${grpc.status[err.code] ?? err.code}` : null, id),
    );
  };
  try {
    // Resolution (through xDS when proxyless) and the first connection happen before the clock starts.
    await Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve, reject) => {
            call(c, (err) =>
              err ? reject(new Error(`first call through ${options.target} failed: ${err}`)) : resolve(),
            );
          }),
      ),
    );
    const corrected = new LatencyHistogram();
    const uncorrected = new LatencyHistogram();
    const errors: Record<string, number> = {};
    const traced: [string, number, number, 0 | 1][] = [];
    let requests = 0;
    let inFlight = 0;
    let recentDone = 0;
    let lastEnd = 0;
    const startedWall = Date.now();
    const start = performance.now() + 5;
    const measureStart = start + options.warmupMs;
    const measureEnd = measureStart + options.durationMs;
    const schedule = options.qps === null ? undefined : new OpenLoopSchedule(start, options.qps);
    let next = 0;
    let stopped = false;
    let unsent = 0;
    const onAbort = () => {
      stopped = true;
    };
    hooks.signal?.addEventListener("abort", onAbort, { once: true });
    const progressTimer = hooks.onProgress
      ? setInterval(() => {
          const now = performance.now();
          const measuring = now >= measureStart;
          hooks.onProgress?.({
            phase: measuring ? "measure" : "warmup",
            elapsedMs: measuring ? now - measureStart : now - start,
            totalMs: options.durationMs,
            fraction: Math.min(1, Math.max(0, (now - measureStart) / options.durationMs)),
            requests,
            errors: Object.values(errors).reduce((a, b) => a + b, 0),
            currentQps: recentDone * 4,
            p50Us: corrected.percentile(50),
            p99Us: corrected.percentile(99),
          });
          recentDone = 0;
        }, 250)
      : undefined;
    await new Promise<void>((resolve) => {
      let sendingDone = false;
      const finish = () => {
        if (sendingDone && inFlight === 0) resolve();
      };
      const send = (client: GrpcJs.Client, intended: number, onDone?: () => void) => {
        const measured = intended >= measureStart;
        inFlight++;
        const sent = performance.now();
        call(client, (err, id) => {
          const end = performance.now();
          inFlight--;
          recentDone++;
          if (measured) {
            requests++;
            lastEnd = end;
            if (err) errors[err] = (errors[err] ?? 0) + 1;
            else {
              corrected.record((end - intended) * 1000);
              uncorrected.record((end - sent) * 1000);
            }
            if (trace) traced.push([id, sent - measureStart, Math.round((end - sent) * 1000), err ? 1 : 0]);
          }
          onDone?.();
          finish();
        });
      };
      if (!schedule) {
        // Closed loop: each connection sends its next call when the previous one completes.
        const loop = (client: GrpcJs.Client) => {
          const now = performance.now();
          if (stopped || now >= measureEnd) {
            sendingDone = true;
            finish();
            return;
          }
          send(client, now, () => setImmediate(() => loop(client)));
        };
        setTimeout(
          () => {
            for (const c of clients) loop(c);
          },
          Math.max(0, start - performance.now()),
        );
        return;
      }
      const tick = () => {
        const now = performance.now();
        while (!stopped && schedule.intendedAt(next) <= now && schedule.intendedAt(next) < measureEnd) {
          const intended = schedule.intendedAt(next);
          send(clients[next % clients.length]!, intended);
          next++;
        }
        if (stopped || schedule.intendedAt(next) >= measureEnd) {
          sendingDone = true;
          finish();
          return;
        }
        const wait = schedule.intendedAt(next) - performance.now();
        if (options.pacing === "timer" && wait > 0) setTimeout(tick, Math.max(1, wait));
        else if (wait > 1.5) setTimeout(tick, wait - 1);
        else setImmediate(tick);
      };
      tick();
    });
    if (progressTimer) clearInterval(progressTimer);
    hooks.signal?.removeEventListener("abort", onAbort);
    if (stopped && schedule) unsent = Math.max(0, schedule.firstAtOrAfter(measureEnd) - next);
    const result = buildLoadResult(
      resolved,
      [
        {
          corrected,
          uncorrected,
          errors,
          requests,
          measureStartEpochMs: startedWall + (measureStart - start),
          // Until the last measured call completed: a saturated server stretches it.
          durationMs: Math.max(options.durationMs, lastEnd - measureStart),
          unsent,
        },
      ],
      [],
      startedWall,
    );
    traced.sort((a, b) => a[1] - b[1]);
    return {
      ...result,
      target: options.target,
      ...(trace ? { trace: { header: trace.header, idPrefix: trace.idPrefix, requests: traced } } : {}),
    };
  } finally {
    for (const c of clients) c.close();
  }
}
