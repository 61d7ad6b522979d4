/*
 * CONTRACT between the load engine (src/engine, src/report) and the lab (src/lab).
 * Keep these shapes stable; add optional fields only.
 *
 * - `runLoad(options: LoadOptions): Promise<LoadResult>` is exported from src/index.ts.
 * - `dist/loadgen-main.js` (built from src/loadgen-main.ts) is the same engine as a process: it
 *   reads LoadOptions as JSON from argv[2] (or stdin when argv[2] is absent or "-"), runs it and
 *   prints exactly one LoadResult JSON document on stdout (exit 0), or
 *   `{"error":{"code","message"}}` on stdout with exit 1. The lab runs it inside network
 *   namespaces: `ip netns exec <ns> node .../dist/loadgen-main.js '<json>'`. `signal` and
 *   `onProgress` cannot cross a process boundary; SIGINT/SIGTERM stop the run early and still
 *   print the partial result.
 * - `startEchoServer({ protocol, port, host })` -> `{ port, close() }` serves http1 / h2c / grpc
 *   (unary `/meshctl.bench.v1.Echo/Echo`, bytes field 1 echoed) / tcp (echo every byte).
 * - All latencies are integers in microseconds. `histogram` carries HdrHistogram V2 compressed
 *   base64 ("HISTF..."), decodable by any HdrHistogram port, plus ready-made buckets so a report can
 *   be drawn without decoding.
 */

/** Transport spoken to the target. Inferred from the URL scheme when omitted. */
export type LoadProtocol = "http1" | "http2" | "grpc" | "tcp";

/** Live figures, emitted about every 250 ms while the load runs (never during warm-up). */
export interface LoadProgress {
  readonly phase: "warmup" | "measure";
  /** Milliseconds since the measured phase started (or since warm-up started in phase "warmup"). */
  readonly elapsedMs: number;
  /** Planned measured duration; undefined for `requests`-bounded runs. */
  readonly totalMs: number | undefined;
  /** Fraction 0..1 of the run (by time or by request count). */
  readonly fraction: number;
  readonly requests: number;
  readonly errors: number;
  /** Completed requests per second over the last interval. */
  readonly currentQps: number;
  /** Corrected running percentiles in microseconds. */
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface LoadOptions {
  /** `http://host:port/path`, `h2c://host:port/path`, `grpc://host:port`, `tcp://host:port`. */
  readonly target: string;
  readonly protocol?: LoadProtocol;
  /** Open-loop target rate over all connections. Default 1000 when neither qps nor max is given. */
  readonly qps?: number;
  /** Closed loop: each connection sends its next request when the previous one completes. */
  readonly max?: boolean;
  readonly connections: number;
  /** Measured duration (after warm-up). Default 10 000 when neither durationMs nor requests is set. */
  readonly durationMs?: number;
  /** Stop after this many measured requests instead of a duration. */
  readonly requests?: number;
  /** Request body size in bytes (HTTP/gRPC body, TCP message). */
  readonly payloadBytes: number;
  /** Load is sent but not recorded for this long first. */
  readonly warmupMs: number;
  readonly headers?: Record<string, string>;
  /** Worker threads generating load (default: 1; "auto" is decided by the CLI, not here). */
  readonly workers?: number;
  /**
   * How open-loop sends are timed: `precise` (default) polls the last 1.5 ms before each send, so
   * sends leave on time but the generator keeps a CPU busy; `timer` sleeps until each send
   * (Node timers: sends may leave up to ~1 ms late, which the corrected latency includes) and
   * uses only the CPU the requests need. On a small machine shared with its target, `timer` keeps
   * the generator from taking a CPU away from what it measures.
   */
  readonly pacing?: "precise" | "timer";
  /** Per-request timeout, default 30 000 ms; a timeout counts as error kind "timeout". */
  readonly timeoutMs?: number;
  /**
   * Give every request (warm-up included) a unique id header and return the measured requests'
   * timings in `LoadResult.trace`, so they can be joined with proxy access logs. HTTP/1.1, h2c
   * and gRPC only.
   */
  readonly trace?: LoadTraceOptions;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LoadProgress) => void;
}

/**
 * Per-request ids: each request carries `<header>: <idPrefix>-<n>`, n unique within the run across
 * worker threads (n = k × shards + shard for a shard's k-th request, warm-up included).
 *
 * @example
 * { header: "x-request-id", idPrefix: "mcl-1a2b-sidecar-r3" } // x-request-id: mcl-1a2b-sidecar-r3-0, -1, ...
 */
export interface LoadTraceOptions {
  /** Header name, an HTTP token, e.g. `x-request-id` (sent lower-case over HTTP/2). */
  readonly header: string;
  /** Visible ASCII without spaces, e.g. `mcl-1a2b-sidecar-r3`. */
  readonly idPrefix: string;
}

/**
 * One measured request: its id, actual send time in ms since the measured phase began (µs
 * precision), uncorrected latency in µs (actual send to response complete, also for a failed
 * request: until it failed) and 1 if it failed.
 */
export type LoadTraceRequest = readonly [id: string, sentMs: number, latencyUs: number, error: 0 | 1];

/** The measured requests of a traced run (warm-up excluded), ordered by send time. */
export interface LoadTrace {
  readonly header: string;
  readonly idPrefix: string;
  /** At most LOAD_TRACE_MAX_REQUESTS (200,000) entries: the earliest sent; a warning says so. */
  readonly requests: readonly LoadTraceRequest[];
}

/** Percentiles in integer microseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly stdev: number;
  readonly max: number;
  readonly p50: number;
  readonly p75: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly p9999: number;
}

/** One bar of a latency histogram (µs, [startUs, endUs)). */
export interface HistogramBucket {
  readonly startUs: number;
  readonly endUs: number;
  readonly count: number;
}

/** Serializable histogram: lossless HdrHistogram plus a drawable form. */
export interface EncodedHistogram {
  /** HdrHistogram V2 compressed, base64 ("HISTF..."), corrected latencies in µs. */
  readonly correctedHdr: string;
  /** Same for uncorrected (service-time) latencies. */
  readonly uncorrectedHdr: string;
  /** Log-spaced buckets of the corrected latencies (fortio and HTML use these). */
  readonly buckets: readonly HistogramBucket[];
  /** Percentile spectrum of the corrected latencies: [percentile, valueUs]. */
  readonly spectrum: readonly (readonly [number, number])[];
  /** Same for the uncorrected latencies. */
  readonly uncorrectedSpectrum: readonly (readonly [number, number])[];
}

export interface LoadResult {
  /** Version of this JSON shape; bumped on breaking changes. */
  readonly schema: "meshctl.bench.load/v1";
  readonly target: string;
  readonly protocol: LoadProtocol;
  /** Options as run (signal/onProgress removed, defaults filled in). */
  readonly options: ResolvedLoadOptions;
  /** ISO-8601 start of the measured phase. */
  readonly startedAt: string;
  /**
   * Measured phase: the planned duration, or longer when the run could not keep up (open loop:
   * until the last completion, less the fastest response time; closed loop: until the last completion).
   */
  readonly durationMs: number;
  /** Completed measured requests (successes + errors). */
  readonly requests: number;
  /** Target rate; null in closed loop. */
  readonly targetQps: number | null;
  readonly achievedQps: number;
  /** achievedQps / targetQps (1 in closed loop). Below 0.99 the run is flagged. */
  readonly achievedRatio: number;
  /** True when an open-loop run achieved less than 99% of the target rate. */
  readonly fellBehind: boolean;
  /** Error kind -> count, e.g. { "http_503": 2, "timeout": 1, "ECONNRESET": 1 }. */
  readonly errors: Record<string, number>;
  /** From the intended send time (coordinated-omission-correct). Equal to uncorrected in closed loop. */
  readonly corrected: LatencySummary;
  /** From the actual send time (service time). */
  readonly uncorrected: LatencySummary;
  readonly histogram: EncodedHistogram;
  /** Human-readable warnings (fell behind, errors, short run). */
  readonly warnings: readonly string[];
  readonly environment: BenchEnvironment;
  /** Present when the run was traced (`LoadOptions.trace`). */
  readonly trace?: LoadTrace;
}

export interface ResolvedLoadOptions {
  readonly target: string;
  readonly protocol: LoadProtocol;
  readonly mode: "open" | "closed";
  readonly qps: number | null;
  readonly connections: number;
  readonly durationMs: number | null;
  readonly requests: number | null;
  readonly payloadBytes: number;
  readonly warmupMs: number;
  readonly headers: Record<string, string>;
  readonly workers: number;
  readonly pacing: "precise" | "timer";
  readonly timeoutMs: number;
  /** Present when requests carry ids. */
  readonly trace?: LoadTraceOptions;
}

/** Where a run happened; shown in reports. */
export interface BenchEnvironment {
  readonly hostname: string;
  readonly kernel: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly node: string;
  readonly meshctlBench: string;
  readonly loadavg: readonly number[];
}

export interface EchoServerOptions {
  readonly protocol: LoadProtocol;
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Test hook: called per request; may return a delay in ms before answering. */
  readonly delayMs?: () => number;
  /**
   * Keep the event loop polling (one busy core) while a client is connected, so answering does
   * not wait for the thread to wake up: for round-trip floor measurements (tcp ping-pong).
   */
  readonly busyPoll?: boolean;
}

export interface EchoServer {
  readonly protocol: LoadProtocol;
  readonly host: string;
  readonly port: number;
  /** URL a load run can target, e.g. `h2c://127.0.0.1:8080/`. */
  readonly url: string;
  close(): Promise<void>;
}
