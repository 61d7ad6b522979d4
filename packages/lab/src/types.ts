/**
 * Public types of the local mesh lab (`meshctl bench` with no target).
 */

/**
 * The scenarios the lab can compare. HTTP/1.1: `direct` (no sidecars), `sidecar` (istio-init
 * capture and a sidecar per pod), `sidecar-ebpf` (the same, accelerated by @meshctl/ebpf). gRPC,
 * all with the same grpc-js client: `direct-grpc` (dialing the server pod), `sidecar-grpc` (through
 * both sidecars), `grpc-proxyless` (routed by meshctl's xDS, no sidecar). Telemetry, HTTP/1.1 through
 * Envoy sidecars like `sidecar` (which has none): `sidecar-tstats` (the native tstats module) and
 * `sidecar-tstats-wasm` (the same logic as a proxy-wasm filter in Envoy's V8).
 */
export const LAB_SCENARIOS = [
  "direct",
  "sidecar",
  "sidecar-ebpf",
  "direct-grpc",
  "sidecar-grpc",
  "grpc-proxyless",
  "sidecar-tstats",
  "sidecar-tstats-wasm",
] as const;
export type LabScenario = (typeof LAB_SCENARIOS)[number];

/** A target rate: requests per second (open loop) or `max` (closed loop: as fast as it goes). */
export type LabRate = number | "max";

/** Which proxy plays the sidecar. */
export type SidecarKind = "envoy" | "haproxy";

/** What the lab is asked to do. Every field has a default (see `LAB_DEFAULTS`). */
export interface LabOptions {
  /** Scenarios in the order they run inside each round. */
  readonly scenarios?: readonly LabScenario[];
  /** Measured seconds per scenario per round (warm-up excluded). */
  readonly durationSeconds?: number;
  /** Seconds of load sent before each measurement and discarded. */
  readonly warmupSeconds?: number;
  /** Interleaved rounds (A B C A B C ...). */
  readonly rounds?: number;
  /**
   * Target rates, total across connections: one (default 1000 req/s, open loop) or a sweep such as
   * `[500, 2000, 5000, "max"]`, each level measured in its own interleaved rounds.
   */
  readonly rates?: readonly LabRate[];
  /** Client connections. */
  readonly connections?: number;
  /**
   * How the load generator times its sends (the engine's `pacing`). `precise` (default) polls
   * before each send: sends leave on time, but the generator keeps one CPU busy (at 1000 req/s
   * about 1 ms of CPU per request on a 2-CPU machine), which the pods then lack. `timer` sleeps
   * between sends: the generator uses only what its requests cost, and corrected latencies include
   * up to ~1 ms of send lateness (the same for every scenario). Use `timer` to compare CPU, or
   * near saturation on a small machine.
   */
  readonly pacing?: "precise" | "timer";
  /** Request and response body size in bytes. */
  readonly payloadBytes?: number;
  /** The sidecar proxy of meshed pods; default Envoy configured by meshctl's xDS control plane. */
  readonly sidecar?: SidecarKind;
  /** Sidecar mode: L7 (`http`, like Istio's HTTP routing) or L4 (`tcp`; Envoy sees the port as opaque TCP). */
  readonly sidecarMode?: "http" | "tcp";
  /**
   * Pin the load generator to the last CPU and the pods' servers and sidecars to the others
   * (Istio's method keeps the generator off the proxies' cores). Default off: on a small shared
   * machine confining the pods to one CPU made every scenario slower (ADR 0043).
   */
  readonly pinCpus?: boolean;
  /**
   * Before building, remove what crashed runs left behind (as `cleanupLabLeftovers()` does, after
   * the preflight so a non-root caller gets the lab's LAB_REQUIRES_ROOT); what was removed, or
   * could not be, is reported as `warning` progress events and in the result's warnings.
   */
  readonly removeLeftovers?: boolean;
  /** Cancels the run; the lab tears everything down, then rejects with LAB_ABORTED. */
  readonly signal?: AbortSignal;
  /** Called with progress events (phases, measurements). */
  readonly onProgress?: (event: LabProgressEvent) => void;
}

/** The options after defaults were applied. */
export interface ResolvedLabOptions {
  readonly scenarios: readonly LabScenario[];
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly rates: readonly LabRate[];
  readonly connections: number;
  readonly pacing: "precise" | "timer";
  readonly payloadBytes: number;
  readonly sidecar: SidecarKind;
  readonly sidecarMode: "http" | "tcp";
  readonly pinCpus: boolean;
}

/** Progress of a lab run, for a live view. */
export type LabProgressEvent =
  | {
      readonly type: "phase";
      readonly phase: "preflight" | "setup" | "measure" | "teardown";
      readonly message: string;
    }
  | {
      readonly type: "measurement-start";
      readonly scenario: LabScenario;
      readonly rate: LabRate;
      readonly round: number;
      /** 0-based position in the whole run. */
      readonly index: number;
      readonly total: number;
      /** Seconds this measurement takes including warm-up. */
      readonly seconds: number;
      /** Estimated seconds left in the run including this measurement. */
      readonly etaSeconds: number;
    }
  | {
      readonly type: "measurement-tick";
      readonly scenario: LabScenario;
      readonly rate: LabRate;
      readonly round: number;
      readonly index: number;
      readonly total: number;
      readonly elapsedSeconds: number;
      readonly etaSeconds: number;
      /** Live figures from the load engine, once it reports them. */
      readonly live?: LabLiveFigures;
    }
  | {
      readonly type: "measurement-done";
      readonly measurement: LabMeasurement;
      readonly index: number;
      readonly total: number;
    }
  | { readonly type: "warning"; readonly message: string };

/** Running figures of the measurement in progress. */
export interface LabLiveFigures {
  readonly phase: "warmup" | "measure";
  readonly requests: number;
  readonly errors: number;
  readonly currentQps: number;
  /** Corrected running p50/p99, µs. */
  readonly p50Us: number;
  readonly p99Us: number;
}

/** Latency percentiles of one measurement, in microseconds (coordinated-omission corrected). */
export interface LabPercentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** The parts of a meshed scenario whose CPU is measured: each pod's app and sidecar. */
export const LAB_CPU_PARTS = ["client-app", "client-sidecar", "server-app", "server-sidecar"] as const;
export type LabCpuPart = (typeof LAB_CPU_PARTS)[number];

/** CPU time used, µs (cgroup v2 `cpu.stat`). */
export interface LabCpuUse {
  readonly userUs: number;
  readonly systemUs: number;
}

/**
 * The segments one meshed request's latency splits into (they add up to the client's measured
 * latency from actual send): client app ⇄ client sidecar, client sidecar processing, sidecar ⇄
 * sidecar, server sidecar processing, server sidecar ⇄ app plus the app.
 */
export const LAB_SEGMENTS = [
  "client-app-to-sidecar",
  "client-sidecar",
  "sidecar-to-sidecar",
  "server-sidecar",
  "server-sidecar-to-app",
] as const;
export type LabSegment = (typeof LAB_SEGMENTS)[number];

/** Percentiles of one segment, µs. */
export interface LabSegmentStats {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

/** Where one measurement's latency went, from both sidecars' access logs joined by request id. */
export interface LabBreakdown {
  /** Requests found in the client's trace and in both sidecars' logs. */
  readonly joined: number;
  /** Traced requests missing from a sidecar log. */
  readonly unmatched: number;
  readonly segments: Readonly<Record<LabSegment, LabSegmentStats>>;
  /**
   * Each sidecar's processing time over the run, evenly sampled (at most 2,000 points):
   * [ms since the measured phase began, client sidecar µs, server sidecar µs].
   */
  readonly timeline: readonly (readonly [number, number, number])[];
}

/** One scenario measured once (one round at one rate). */
export interface LabMeasurement {
  readonly scenario: LabScenario;
  /** The target rate of this measurement's level. */
  readonly rate: LabRate;
  readonly round: number;
  readonly protocol: string;
  readonly requests: number;
  readonly errors: number;
  readonly achievedQps: number;
  /** True when the generator reached at least 99% of the target rate. */
  readonly rateReached: boolean;
  /** Latency from the intended send time (coordinated-omission corrected), µs. */
  readonly latencyUs: LabPercentiles;
  /** Latency from the actual send time, µs. */
  readonly uncorrectedLatencyUs: LabPercentiles;
  /**
   * CPU each part used during the measured phase (warm-up and process start excluded), and the
   * requests completed in that window; absent when cgroup `cpu.stat` could not be read.
   */
  readonly cpu?: {
    readonly requests: number;
    readonly parts: Readonly<Partial<Record<LabCpuPart, LabCpuUse>>>;
  };
  /** Per-hop latency of meshed Envoy scenarios. */
  readonly breakdown?: LabBreakdown;
  /** The load engine's full result (its own versioned shape) for reports. */
  readonly raw: unknown;
}

/** Median and spread of one statistic across rounds. */
export interface RoundStat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (max - min) / median, as a fraction: 0.05 = rounds within 5% of each other. */
  readonly spread: number;
  readonly values: readonly number[];
}

/** A scenario at one rate summarised across rounds: every view (text, HTML, TUI) reads these. */
export interface LabScenarioSummary {
  readonly scenario: LabScenario;
  readonly rate: LabRate;
  readonly protocol: string;
  readonly rounds: number;
  readonly requests: number;
  readonly errors: number;
  readonly achievedQps: RoundStat;
  readonly p50: RoundStat;
  readonly p90: RoundStat;
  readonly p99: RoundStat;
  readonly p999: RoundStat;
  readonly max: RoundStat;
  /** True when every round reached at least 99% of the target rate (always true for `max`). */
  readonly rateReached: boolean;
  /** CPU per request of each part, µs (user and system), across rounds. */
  readonly cpu?: Readonly<
    Partial<
      Record<LabCpuPart, { readonly userUsPerRequest: RoundStat; readonly systemUsPerRequest: RoundStat }>
    >
  >;
  /** Per-hop latency percentiles across rounds (meshed Envoy scenarios). */
  readonly breakdown?: Readonly<
    Record<LabSegment, { readonly p50: RoundStat; readonly p90: RoundStat; readonly p99: RoundStat }>
  >;
}

/** What a comparison measures: a latency percentile or CPU per request. */
export type LabMetric = "p50" | "p90" | "p99" | "sidecar-cpu" | "sidecar-system-cpu" | "total-cpu";

/**
 * A difference between two scenarios in one metric, paired by round: both ran back to back in the
 * same round, under the same machine conditions.
 */
export interface LabDelta {
  readonly metric: LabMetric;
  /** `us` for latency, `us/request` for CPU. */
  readonly unit: "us" | "us/request";
  /** Medians across rounds. */
  readonly baseline: number;
  readonly value: number;
  /** value - baseline (medians). */
  readonly delta: number;
  /** (value - baseline) / baseline of the medians, as a fraction. */
  readonly deltaFraction: number;
  /**
   * The paired estimate: the geometric mean over rounds of value_r / baseline_r, minus 1. Null
   * without paired rounds.
   */
  readonly pairedFraction: number | null;
  /** 95% confidence interval of `pairedFraction` (t over the per-round log ratios); null below 2 rounds. */
  readonly interval: { readonly low: number; readonly high: number } | null;
  /** `lower`/`higher` only when the interval excludes zero; otherwise `not resolved`. */
  readonly verdict: "lower" | "higher" | "not resolved";
  /** Per-round relative differences (value_r - baseline_r) / baseline_r, in round order. */
  readonly perRoundFractions: readonly number[];
}

/** The comparisons a lab report headlines (rounds.ts defines each one's baseline and scenario). */
export const LAB_COMPARISON_IDS = [
  "sidecar-overhead",
  "ebpf-gain",
  "ebpf-overhead",
  "sidecar-grpc-overhead",
  "grpc-proxyless-overhead",
  "grpc-proxyless-vs-sidecar",
  "tstats-native-vs-wasm",
  "tstats-native-cost",
  "tstats-wasm-cost",
] as const;

/** A named comparison, e.g. sidecar overhead over direct, at one rate. */
export interface LabComparison {
  readonly id: (typeof LAB_COMPARISON_IDS)[number];
  readonly title: string;
  readonly rate: LabRate;
  readonly baseline: LabScenario;
  readonly scenario: LabScenario;
  readonly deltas: readonly LabDelta[];
}

/** Latency against throughput of one scenario over the rate sweep. */
export interface LabCurve {
  readonly scenario: LabScenario;
  readonly points: readonly {
    readonly rate: LabRate;
    /** Medians across rounds. */
    readonly achievedQps: number;
    readonly p50: number;
    readonly p99: number;
    readonly rateReached: boolean;
    readonly errors: number;
  }[];
  /**
   * The highest rate this scenario sustained on this machine: the best median achieved rate of
   * the levels that reached their target without errors, or of the closed-loop (`max`) level.
   */
  readonly maxSustainableQps: number | null;
}

/** Where and how the lab ran. */
export interface LabEnvironment {
  readonly kernel: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly sidecar: string;
  readonly sidecarVersion: string;
  readonly cgroupRoot: string;
  readonly ebpf: string;
  /** Which CPUs the generator and the pods were pinned to. */
  readonly cpuPinning: string;
}

/** What the eBPF programs did during the run: proof the sidecar-ebpf scenario was accelerated. */
export interface LabEbpfCounters {
  /** sk_msg redirects between paired sockets (app ⇄ sidecar), both directions. */
  readonly redirectedMessages: number;
  readonly redirectedBytes: number;
  /** Of which between an app and its sidecar after the 15001 REDIRECT (both directions; paired by original destination). */
  readonly egressMessages: number;
  /** Of which mirror-tuple pairs (inbound sidecar ⇄ app over loopback, both directions). */
  readonly ingressMessages: number;
  /** Messages on watched sockets that went through TCP (no peer, e.g. sidecar ⇄ sidecar across pods). */
  readonly passedMessages: number;
  readonly pairsCreated: number;
  readonly misses: number;
}

/** The result of a lab run, the `--json` payload of `meshctl bench`. */
export interface LabResult {
  readonly schema: "meshctl.bench.lab/v2";
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly options: ResolvedLabOptions;
  readonly environment: LabEnvironment;
  /** Scenarios skipped and why (e.g. a component not installed). */
  readonly skipped: readonly { readonly scenario: LabScenario; readonly reason: string }[];
  readonly measurements: readonly LabMeasurement[];
  /** One per scenario and rate. */
  readonly summaries: readonly LabScenarioSummary[];
  /** One per comparison and rate. */
  readonly comparisons: readonly LabComparison[];
  /** One per scenario, over the rates. */
  readonly curves: readonly LabCurve[];
  /** eBPF counters after the run, when sidecar-ebpf ran. */
  readonly ebpfCounters?: LabEbpfCounters;
  readonly warnings: readonly string[];
}
