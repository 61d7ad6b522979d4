/**
 * Public types of the local mesh lab (`meshctl bench` with no target).
 */

/** The scenarios the lab can compare. */
export const LAB_SCENARIOS = ["direct", "sidecar", "sidecar-ebpf", "grpc-proxyless"] as const;
export type LabScenario = (typeof LAB_SCENARIOS)[number];

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
  /** Fixed request rate (open loop), total across connections. */
  readonly qps?: number;
  /** Client connections. */
  readonly connections?: number;
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
  readonly qps: number;
  readonly connections: number;
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

/** One scenario measured once (one round). */
export interface LabMeasurement {
  readonly scenario: LabScenario;
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

/** A scenario summarised across rounds. */
export interface LabScenarioSummary {
  readonly scenario: LabScenario;
  readonly protocol: string;
  readonly rounds: number;
  readonly requests: number;
  readonly errors: number;
  readonly achievedQps: RoundStat;
  readonly p50: RoundStat;
  readonly p90: RoundStat;
  readonly p99: RoundStat;
  readonly p999: RoundStat;
}

/** A difference between two scenarios at one percentile (medians across rounds). */
export interface LabDelta {
  readonly percentile: "p50" | "p90" | "p99";
  readonly baselineUs: number;
  readonly valueUs: number;
  /** value - baseline, µs. */
  readonly deltaUs: number;
  /** (value - baseline) / baseline, as a fraction. */
  readonly deltaFraction: number;
  /**
   * Median over rounds of the per-round relative difference (value_r - baseline_r) / baseline_r.
   * Both scenarios of a round ran back to back under the same machine conditions, so this paired
   * figure is less sensitive to drift than the difference of medians. Null without paired rounds.
   */
  readonly pairedFraction: number | null;
  /** Per-round relative differences behind `pairedFraction`, in round order. */
  readonly perRoundFractions: readonly number[];
}

/** A named comparison, e.g. sidecar overhead over direct. */
export interface LabComparison {
  readonly id: "sidecar-overhead" | "ebpf-gain" | "ebpf-overhead" | "grpc-proxyless-overhead";
  readonly title: string;
  readonly baseline: LabScenario;
  readonly scenario: LabScenario;
  readonly deltas: readonly LabDelta[];
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
  readonly schema: "meshctl.bench.lab/v1";
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly options: ResolvedLabOptions;
  readonly environment: LabEnvironment;
  /** Scenarios skipped and why (e.g. a component not installed). */
  readonly skipped: readonly { readonly scenario: LabScenario; readonly reason: string }[];
  readonly measurements: readonly LabMeasurement[];
  readonly summaries: readonly LabScenarioSummary[];
  readonly comparisons: readonly LabComparison[];
  /** eBPF counters after the run, when sidecar-ebpf ran. */
  readonly ebpfCounters?: LabEbpfCounters;
  readonly warnings: readonly string[];
}
