/** Options, progress events and the report of `runXdsLoad` (the report is `meshctl xds load --json`). */
import type { ChurnKind } from "./churn.js";
import type { ChurnKindResult } from "./churn-tracker.js";
import type { ProcessUsage } from "./process-sampler.js";
import type { XdsKind } from "./proxy-subscriptions.js";
import type { PercentileSummary } from "./stats.js";
import type { ServerOptionValue } from "./target.js";

export const XDS_LOAD_TARGETS = [
  "meshctl",
  "go-control-plane",
  "istiod",
  "external",
  "meshctl-kube",
  "istiod-kube",
] as const;
export type XdsLoadTarget = (typeof XDS_LOAD_TARGETS)[number];

export interface XdsLoadOptions {
  /**
   * Default `meshctl`; `external` needs `server`. `meshctl-kube` and `istiod-kube` read the mesh
   * from a loopback kube-apiserver the harness starts and fills (churn: API writes).
   */
  readonly target?: XdsLoadTarget;
  /** `host:port` of an already running server (target `external`). */
  readonly server?: string;
  readonly serverPid?: number;
  readonly metricsUrl?: string;
  /** The directory an external server watches (enables churn against it). */
  readonly configDir?: string;
  /** Simulated proxies, default 2000. */
  readonly proxies?: number;
  /** Fraction of proxyless gRPC clients, default 0.25. */
  readonly grpcFraction?: number;
  /** Fraction of Envoy proxies on Delta xDS, default 0.5. */
  readonly deltaFraction?: number;
  /** Listeners per proxyless gRPC client, default 3. */
  readonly grpcTargets?: number;
  /** Default 1000. */
  readonly services?: number;
  /** Endpoints per service, default 10. */
  readonly endpoints?: number;
  /** Namespaces including `shared`, default 50. */
  readonly namespaces?: number;
  /** Fraction of services with a VirtualService and DestinationRule, default 0.1. */
  readonly routedFraction?: number;
  /** Sidecar resources scoping each namespace, default true. */
  readonly scoping?: boolean;
  /** Changes per second, default 100. 0 skips the churn phase. */
  readonly churnRate?: number;
  /** Default 60. */
  readonly churnSeconds?: number;
  /** Default ["endpoints"]. */
  readonly churnKinds?: readonly ChurnKind[];
  /** New streams per second at start; default unlimited. */
  readonly connectRate?: number;
  /** Proxies sharing one HTTP/2 connection, default 1. */
  readonly proxiesPerChannel?: number;
  /**
   * The serve-main file the meshctl targets spawn (e.g. a bundle, so start-up times exclude
   * TypeScript compilation). Default: the built one next to @meshctl/xds, else the source via tsx.
   */
  readonly serveEntry?: string;
  /** Server knobs (meshctl: passed to serve-main; istiod: mapped to PILOT_* variables). */
  readonly serverOptions?: Readonly<Record<string, ServerOptionValue>>;
  /** Bound on the initial convergence, seconds; default 120. */
  readonly timeoutSeconds?: number;
  /** How long after the churn receipts may still arrive, seconds; default 15. */
  readonly drainSeconds?: number;
  /** PRNG seed (which services churn, which targets gRPC clients dial). Default 1. */
  readonly seed?: number;
}

export type XdsLoadPhase = "prepare" | "start-server" | "connect" | "churn" | "drain" | "report";

export interface XdsLoadProgress {
  readonly phase: XdsLoadPhase;
  readonly elapsedMs: number;
  readonly proxies: number;
  /** Proxies with an open stream. */
  readonly connected: number;
  readonly converged: number;
  readonly changesApplied: number;
  /** Expected churn receipts not seen yet. */
  readonly pendingReceipts: number;
}

export interface TrafficSummary {
  readonly bytesPerProxy: { readonly mean: number; readonly max: number };
  readonly responsesPerProxy: { readonly mean: number; readonly max: number };
  /** Resource bytes received by all proxies, per type. */
  readonly bytesByType: Readonly<Record<XdsKind, number>>;
}

export interface XdsLoadReport {
  readonly schemaVersion: 1;
  readonly target: {
    readonly name: string;
    readonly address: string;
    readonly pid: number | null;
    readonly metricsUrl: string | null;
    /** Driver figures: for the kube targets, setup (`kubeLoadMs`, `kubeObjects`) and churn write latency. */
    readonly details: Readonly<Record<string, number>>;
  };
  readonly mesh: {
    readonly services: number;
    readonly namespaces: number;
    readonly endpointsPerService: number;
    readonly routedServices: number;
    readonly scoping: boolean;
    readonly files: number;
  };
  readonly proxies: {
    readonly total: number;
    readonly envoySotw: number;
    readonly envoyDelta: number;
    readonly grpc: number;
    readonly channels: number;
  };
  readonly initial: {
    readonly timeoutSeconds: number;
    readonly converged: number;
    readonly notConverged: number;
    /** Per proxy, from the start of the phase to full convergence. */
    readonly convergenceMs: PercentileSummary;
    /** Until the last proxy converged; null when some never did. */
    readonly allConvergedMs: number | null;
    /** The server's spawn to its ready signal (its initial load), ms; null when not started by the harness. */
    readonly serverStartMs: number | null;
    /** Initial sync: server spawn to every proxy converged (serverStartMs + allConvergedMs). */
    readonly syncMs: number | null;
  };
  readonly churn: {
    readonly ran: boolean;
    readonly skippedReason: string | null;
    readonly kinds: readonly ChurnKind[];
    readonly targetRate: number;
    readonly achievedRate: number;
    readonly seconds: number;
    readonly applied: number;
    /** Time after the last change until every expected receipt arrived (or the drain bound). */
    readonly drainMs: number;
    readonly byKind: Readonly<Record<string, ChurnKindResult>>;
  };
  readonly traffic: { readonly initial: TrafficSummary; readonly churn: TrafficSummary };
  readonly streams: {
    /** Streams ended by RESOURCE_EXHAUSTED (a server's new-stream rate limit). */
    readonly rejected: number;
    readonly reconnects: number;
    readonly errors: number;
    readonly errorSamples: readonly string[];
  };
  /** The server process (when started by the harness or given by pid). */
  readonly server: ProcessUsage | null;
  /** Helper processes measured separately (istiod: apiserver, etcd). */
  readonly serverComponents: Readonly<Record<string, ProcessUsage>>;
  readonly harness: {
    readonly cpuSeconds: Readonly<Record<string, number>>;
    /** Resources the harness decoded (CDS/LDS/gRPC RDS), and decodes saved by its cache. */
    readonly decodedResources: number;
    readonly reusedDecodes: number;
  };
  /** The server's own metrics (`meshctl_xds_*`, `pilot_*`), `name{labels}` -> value, at the end. */
  readonly serverMetrics: Readonly<Record<string, number>>;
  /** The same samples' growth during the churn phase (end minus after initial convergence). */
  readonly serverMetricsChurn: Readonly<Record<string, number>>;
  readonly serverCacheHitRate: number | null;
  readonly notes: readonly string[];
  readonly durationSeconds: number;
}
