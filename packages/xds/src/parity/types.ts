/**
 * The differential parity harness (issue 18): the same Istio YAML served by istiod and by
 * meshctl, the config each sends the same proxy identity fetched over xDS, normalised and
 * compared semantically. These types are the seam between the runner (corpus, servers,
 * fetching) and the comparison (normalise, compare, report).
 */

/** The four resource types compared, keyed as in Envoy's config dump. */
export const PARITY_TYPES = ["listeners", "routes", "clusters", "endpoints"] as const;
export type ParityType = (typeof PARITY_TYPES)[number];

/**
 * What one server sent one proxy: every resource by type and name, decoded to proto JSON as
 * `decodeAnyDeep` gives it (snake_case fields, `Any` unpacked with its `@type`).
 */
export type ConfigSnapshot = { readonly [T in ParityType]: Readonly<Record<string, unknown>> };

/** A proxy identity both servers are asked for. */
export interface ParityProxy {
  /** Short id used in reports, e.g. `productpage-sidecar`. */
  readonly id: string;
  readonly kind: "envoy" | "grpc";
  /** The xDS node id, e.g. `sidecar~10.1.0.5~productpage-v1-0.default~default.svc.cluster.local`. */
  readonly nodeId: string;
  readonly namespace: string;
  /** The workload's labels (node metadata LABELS). */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Proxyless gRPC only: the `host:port` listener names it asks for (its `xds:///` targets).
   * Envoy proxies ask for everything (wildcard LDS/CDS).
   */
  readonly targets?: readonly string[];
  /** The workload's service account (node metadata SERVICE_ACCOUNT), e.g. `bookinfo-productpage`. */
  readonly serviceAccount?: string;
  /** The owning workload (node metadata WORKLOAD_NAME), e.g. the Deployment `productpage-v1`. */
  readonly workloadName?: string;
  /** Its pod's Node's locality (topology labels), sent as the xDS Node's `locality`. */
  readonly locality?: { readonly region: string; readonly zone: string; readonly subzone: string };
}

/** Where a corpus case comes from. */
export type ParityCaseOrigin = "istio-sample" | "feature";

/** One corpus case: a mesh (Kubernetes objects + Istio config) and the proxies to compare. */
export interface ParityCase {
  readonly name: string;
  readonly origin: ParityCaseOrigin;
  readonly description: string;
  /** Feature tags for the support table, e.g. `VirtualService.http.rewrite`. */
  readonly features: readonly string[];
  /** Service, EndpointSlice, Pod, Namespace objects (to the API server for istiod, files for meshctl). */
  readonly kubernetes: readonly Record<string, unknown>[];
  /** Istio config objects (istiod's fs config source, meshctl's directory). */
  readonly istio: readonly Record<string, unknown>[];
  readonly proxies: readonly ParityProxy[];
}

/** One difference left after normalisation. */
export interface ParityDiff {
  readonly proxy: string;
  readonly type: ParityType;
  /** The resource name after normalisation. */
  readonly resource: string;
  /** JSON path inside the resource (`""` for a resource only one side has). */
  readonly path: string;
  readonly istiod: unknown;
  readonly meshctl: unknown;
  /** Set when a documented deliberate deviation explains it (its id in deviations.ts). */
  readonly deviation?: string;
}

/**
 * equal: no difference left; deliberate: only documented deviations; different: a defect;
 * error: the case could not be run (a server refused it, a fetch timed out).
 */
export type ParityVerdict = "equal" | "deliberate" | "different" | "error";

/** How many diffs a case had: its `diffs` list is capped, these counts are not. */
export interface ParityDiffCounts {
  readonly total: number;
  /** Diffs no deviation explains. */
  readonly defects: number;
  readonly deliberate: number;
  /** Diffs per deviation id. */
  readonly byDeviation: Readonly<Record<string, number>>;
  /** Defect diffs per type. */
  readonly defectsByType: Readonly<Record<ParityType, number>>;
  /**
   * Defect diffs per class: type and path with names, addresses and numbers generalised
   * (`routes virtual_hosts[<host>:<n>].routes[0].route.retry_policy`), so one missing feature
   * counts once per case however many resources it touches.
   */
  readonly defectClasses: Readonly<Record<string, number>>;
}

export interface ParityProxyVerdict {
  readonly proxy: string;
  readonly kind: ParityProxy["kind"];
  /** equal, deliberate or different (the case's error verdict covers every proxy). */
  readonly verdict: Exclude<ParityVerdict, "error">;
  readonly defects: number;
}

export interface ParityCaseResult {
  readonly name: string;
  readonly origin: ParityCaseOrigin;
  readonly features: readonly string[];
  readonly verdict: ParityVerdict;
  /** Defects first, capped (compare.ts MAX_DIFFS_PER_CASE); `diffCounts` has the totals. */
  readonly diffs: readonly ParityDiff[];
  /** Set by compareCase; absent on error results. */
  readonly diffCounts?: ParityDiffCounts;
  /** The verdict per proxy (set by compareCase): Envoy and gRPC often differ in parity. */
  readonly proxyVerdicts?: readonly ParityProxyVerdict[];
  readonly error?: string;
  readonly durationMs: number;
}

/** One class of defect diffs across the report (see ParityDiffCounts.defectClasses). */
export interface ParityDefectClass {
  readonly class: string;
  /** Cases with at least one diff of this class. */
  readonly cases: number;
  readonly diffs: number;
}

export interface ParityReport {
  readonly istiodVersion: string;
  readonly cases: readonly ParityCaseResult[];
  /** Defect classes, the most widespread first: what to fix next. */
  readonly defectClasses: readonly ParityDefectClass[];
  readonly summary: {
    readonly total: number;
    readonly equal: number;
    readonly deliberate: number;
    readonly different: number;
    readonly error: number;
    /** equal / total × 100, one decimal. */
    readonly equalPercent: number;
    /**
     * Semantically equal: (equal + deliberate) / total × 100, one decimal. A deliberate case
     * differs from istiod only in fields normalised away by a documented deviation.
     */
    readonly semanticPercent: number;
  };
}
