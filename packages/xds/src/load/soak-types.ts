/** Options, progress events and the report of `runXdsSoak` (the report is `npm run bench:soak -- --json`). */
import type { ChurnKind } from "./churn.js";
import type { ChurnKindResult } from "./churn-tracker.js";
import type { BadEditKind } from "./soak-bad-edits.js";
import type { RssGrowth, RssSample } from "./soak-growth.js";
import type { PercentileSummary } from "./stats.js";
import type { ServerOptionValue } from "./target.js";

export interface XdsSoakOptions {
  /** Simulated proxies, default 2000 (mixed like `xds load`: Envoy SotW, Envoy Delta, proxyless gRPC). */
  readonly proxies?: number;
  /** Fraction of proxyless gRPC clients, default 0.25. */
  readonly grpcFraction?: number;
  /** Fraction of Envoy proxies on Delta xDS, default 0.5. */
  readonly deltaFraction?: number;
  /** Proxies sharing one HTTP/2 connection, default 10. */
  readonly proxiesPerChannel?: number;
  /** Default 1000. */
  readonly services?: number;
  /** Endpoints per service, default 10. */
  readonly endpoints?: number;
  /** Default 50. */
  readonly namespaces?: number;
  /** Soak length, seconds; default 1800. */
  readonly durationSeconds?: number;
  /** Churn changes per second, default 20. 0: bad edits and restarts only. */
  readonly churnRate?: number;
  /** Default all of CHURN_KINDS (endpoints, services, routes). */
  readonly churnKinds?: readonly ChurnKind[];
  /** Services added by churn that live at once; the oldest is deleted beyond it, so the mesh stays the same size. Default 100. */
  readonly maxAddedServices?: number;
  /** One bad edit every this many seconds, default 5. 0 disables them. */
  readonly badEditEverySeconds?: number;
  /** Default all of BAD_EDIT_KINDS, round robin. */
  readonly badEditKinds?: readonly BadEditKind[];
  /** A bad edit is reverted this long after it was made, seconds; default 10. */
  readonly badEditRevertSeconds?: number;
  /** Services held back from churn as bad-edit victims, default 10. */
  readonly victims?: number;
  /** The check that the last good config still serves runs this long after an edit (and after its revert), ms; default 2000. */
  readonly checkDelayMs?: number;
  /** SIGKILL and restart of the control plane every this many seconds, default 300. 0 disables. */
  readonly restartEverySeconds?: number;
  /** Server RSS (and its debug port) sampled every this many seconds, default 5. */
  readonly sampleEverySeconds?: number;
  /** Bound on the initial convergence and on each re-convergence after a restart, seconds; default 120. */
  readonly timeoutSeconds?: number;
  /** Dropped from each process lifetime before fitting RSS growth (caches and heap filling after a start), seconds; default 60. */
  readonly warmupSeconds?: number;
  /** RSS growth above this (the interval's upper bound), MiB/h, is "growth"; default 20. */
  readonly growthThresholdMiBPerHour?: number;
  /** Size of the oversize bad edit, bytes; default 6 MiB. */
  readonly oversizeBytes?: number;
  /** The serve-main file to spawn (see XdsLoadOptions.serveEntry). */
  readonly serveEntry?: string;
  readonly serverOptions?: Readonly<Record<string, ServerOptionValue>>;
  readonly seed?: number;
  /** Ends the soak early (SIGINT): the report is still assembled, with `stoppedEarly` set. */
  readonly signal?: AbortSignal;
}

export type XdsSoakPhase = "prepare" | "start-server" | "connect" | "soak" | "restart" | "drain" | "report";

export interface XdsSoakProgress {
  readonly phase: XdsSoakPhase;
  /** Since the run started (set-up included), ms. */
  readonly elapsedMs: number;
  /** Since the soak proper started, ms (0 before). */
  readonly soakElapsedMs: number;
  readonly durationMs: number;
  readonly proxies: number;
  readonly connected: number;
  /** Proxies whose current stream has converged. */
  readonly converged: number;
  readonly changes: number;
  readonly badEdits: number;
  readonly restarts: number;
  readonly violations: number;
  /** The control plane's latest RSS sample, MiB. */
  readonly rssMiB: number | null;
}

export interface BadEditKindResult {
  readonly edits: number;
  /** Checks run after the edit and after its revert. */
  readonly checks: number;
  /** (proxy, resource) pairs whose last good cluster or endpoints were missing or changed, plus removals pushed. */
  readonly violations: number;
}

export interface RestartResult {
  /** When the kill happened, seconds into the soak. */
  readonly atSeconds: number;
  /** SIGKILL to the new process's ready line, ms. */
  readonly downMs: number;
  /** SIGKILL to every proxy converged again on a new stream, ms; null when some never did. */
  readonly reconvergeMs: number | null;
  readonly notReconverged: number;
  /** Proxies whose config after differs from what they had before the kill. */
  readonly mismatchedProxies: number;
  readonly survived: boolean;
}

export interface XdsSoakReport {
  readonly schemaVersion: 1;
  readonly config: {
    readonly proxies: number;
    readonly services: number;
    readonly namespaces: number;
    readonly durationSeconds: number;
    readonly churnRate: number;
    readonly churnKinds: readonly ChurnKind[];
    readonly badEditEverySeconds: number;
    readonly badEditKinds: readonly BadEditKind[];
    readonly restartEverySeconds: number;
    readonly proxiesPerChannel: number;
    readonly seed: number;
  };
  /** Seconds the soak ran (set-up and initial convergence not included). */
  readonly soakSeconds: number;
  /** Why the soak ended before its duration (a signal, a failed restart), or null. */
  readonly stoppedEarly: string | null;
  readonly proxies: {
    readonly total: number;
    readonly envoySotw: number;
    readonly envoyDelta: number;
    readonly grpc: number;
    readonly channels: number;
  };
  readonly initial: { readonly allConvergedMs: number | null; readonly notConverged: number };
  readonly inputs: {
    readonly total: number;
    readonly churn: Readonly<Record<string, number>>;
    /** Churn-added services deleted again (to keep the mesh's size). */
    readonly serviceDeletions: number;
    readonly badEdits: Readonly<Record<string, number>>;
    readonly badEditsTotal: number;
  };
  readonly configVersions: {
    /** Distinct versions (per process lifetime) in the responses the proxies ACKed. */
    readonly acked: number;
    /** The server's accepted model changes (`meshctl_xds_model_updates_total`, summed over lifetimes). */
    readonly modelUpdates: number;
  };
  readonly pushes: {
    /** Debounced pushes, full / endpoints only (`meshctl_xds_push_triggers_total`). */
    readonly triggers: { readonly full: number; readonly eds: number };
    /** Per-proxy pushes, full / endpoints only. */
    readonly proxyPushes: { readonly full: number; readonly eds: number };
    /** xDS responses sent, by type. */
    readonly responses: Readonly<Record<string, number>>;
  };
  readonly changeToAck: {
    /** Over every churn change and every proxy that should receive it, ms. */
    readonly overall: PercentileSummary;
    readonly byKind: Readonly<Record<string, ChurnKindResult>>;
    readonly expectedReceipts: number;
    readonly received: number;
    readonly leftBehind: number;
    /** Which proxy missed which change (at most 10). */
    readonly leftBehindSamples: readonly string[];
  };
  readonly lastGood: {
    readonly checks: number;
    /** Must be 0. */
    readonly violations: number;
    /** (proxy, resource) pairs a check skipped because the proxy was reconnecting at the time. */
    readonly unchecked: number;
    /**
     * Removals after a delete-restore whose restore landed later than the server's 100 ms
     * debounce (a loaded harness): the file really was gone that long, so they are not violations.
     */
    readonly lateRestores: number;
    readonly byKind: Readonly<Record<string, BadEditKindResult>>;
    readonly samples: readonly string[];
  };
  readonly restarts: {
    readonly attempted: number;
    readonly survived: number;
    readonly maxReconvergeMs: number | null;
    readonly details: readonly RestartResult[];
    readonly mismatchSamples: readonly string[];
  };
  /** The control plane died on its own (must be none): when, after which bad edit, its last stderr lines. It was started again. */
  readonly crashes: readonly {
    readonly atSeconds: number;
    readonly lastBadEdit: BadEditKind | null;
    readonly stderr: string;
  }[];
  readonly memory: {
    /** The control plane's RSS, at most 120 points (each the highest of the samples it stands for). */
    readonly series: readonly RssSample[];
    readonly peakRssMiB: number | null;
    readonly growth: RssGrowth;
    /**
     * The V8 heap in use (MiB, in `rssMiB`), sampled with RSS, fitted the same way: without the
     * allocator's and V8's retained-but-free pages, a leak shows here first.
     */
    readonly heapUsed: { readonly series: readonly RssSample[]; readonly growth: RssGrowth };
    /**
     * Where RSS goes (MiB, in `rssMiB`), each fitted like RSS: `heapTotal` the main isolate's
     * committed V8 heap, `parseWorkerHeap` the YAML parse worker's, `external` Buffers and C++
     * objects, `native` RSS minus those three (allocator pages, HTTP/2 sessions, code, stacks).
     */
    readonly parts: Readonly<
      Record<
        "heapTotal" | "parseWorkerHeap" | "external" | "native",
        { readonly series: readonly RssSample[]; readonly growth: RssGrowth }
      >
    >;
  };
  readonly cpuSeconds: { readonly server: number; readonly harness: number };
  /** The debug port (`/metrics`) probed with each RSS sample: failures must be 0. */
  readonly debugPort: { readonly probes: number; readonly failures: number };
  readonly streams: {
    /** Stream errors outside restart windows (inside them, every stream ends by design). */
    readonly errorsOutsideRestarts: number;
    readonly errorsDuringRestarts: number;
    readonly rejected: number;
    readonly reconnects: number;
    readonly errorSamples: readonly string[];
  };
  readonly notes: readonly string[];
}
