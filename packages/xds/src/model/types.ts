/**
 * The mesh model: a typed, source-independent description of services, endpoints and routing.
 * Every MeshSource (a YAML directory, a static model, Kubernetes informers) produces this shape,
 * and generation reads nothing else.
 */

/** Identity of one input object (Istio's ConfigKey): `Service/demo/echo`, `Endpoints/demo/<host>`. */
export interface ConfigKey {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function configKeyString(key: ConfigKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

/** Where a config object came from, for error messages and `config-dump` provenance. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** `metadata.creationTimestamp` when the object has one: the oldest object wins a conflict. */
  readonly createdAt?: string;
}

export type Labels = Readonly<Record<string, string>>;

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** Port on the workload; defaults to `port`. */
  readonly targetPort: number;
  readonly protocol: string;
}

export interface MeshEndpoint {
  readonly address: string;
  /** Workload port per service port name (and `#<port>` for unnamed ports). */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  readonly locality: Locality;
  readonly weight: number;
  readonly healthy: boolean;
  readonly source: SourceRef;
}

export interface MeshService {
  /** Fully qualified host, e.g. `echo.default.svc.cluster.local`, or the ServiceEntry host. */
  readonly hostname: string;
  readonly name: string;
  readonly namespace: string;
  readonly origin: "kubernetes" | "serviceentry";
  readonly ports: readonly ServicePort[];
  /** Namespaces this service is visible to: `*` (all), `.` (own), `~` (none) or names. */
  readonly exportTo: readonly string[];
  readonly source: SourceRef;
}

export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly regex: string };

export interface HttpMatch {
  readonly uri?: StringMatch;
  readonly headers: Readonly<Record<string, StringMatch>>;
}

export interface RouteDestination {
  /** Fully qualified destination host. */
  readonly host: string;
  readonly subset?: string;
  readonly port?: number;
  readonly weight: number;
}

export interface HttpRetry {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  readonly retryOn: readonly string[];
}

export interface HttpFault {
  readonly abort?: { readonly percent: number; readonly httpStatus?: number; readonly grpcStatus?: number };
  readonly delay?: { readonly percent: number; readonly fixedDelayMs: number };
}

export interface HttpRoute {
  readonly name: string;
  readonly matches: readonly HttpMatch[];
  readonly destinations: readonly RouteDestination[];
  readonly timeoutMs?: number;
  readonly retries?: HttpRetry;
  readonly fault?: HttpFault;
}

export interface VirtualServiceModel {
  readonly name: string;
  readonly namespace: string;
  /** Fully qualified hosts this routing applies to. */
  readonly hosts: readonly string[];
  readonly http: readonly HttpRoute[];
  readonly exportTo: readonly string[];
  readonly source: SourceRef;
}

export type LoadBalancer =
  | { readonly kind: "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" }
  | { readonly kind: "RING_HASH"; readonly httpHeaderName?: string; readonly minimumRingSize?: number };

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
}

export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancer;
  readonly outlierDetection?: OutlierDetection;
  readonly maxRequests?: number;
}

export interface SubsetModel {
  readonly name: string;
  readonly labels: Labels;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleModel {
  readonly name: string;
  readonly namespace: string;
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly SubsetModel[];
  readonly exportTo: readonly string[];
  readonly source: SourceRef;
}

export interface SidecarModel {
  readonly name: string;
  readonly namespace: string;
  readonly workloadSelector?: Labels;
  /** `namespace/host` patterns: `./*`, `*\/*`, `ns/*`, `ns/host`, `~/*`. */
  readonly egressHosts: readonly string[];
  readonly source: SourceRef;
}

/** A problem in the input, with enough context to fix it. */
export interface ConfigDiagnostic {
  readonly severity: "error" | "warning";
  /** A file path, or `Kind/namespace/name` for objects that came from an API (line 0). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path inside the document, e.g. `spec.http[0].route[1].weight`. */
  readonly path: string;
  readonly reason: string;
}

/** The whole mesh at one point in time. Immutable: a change produces a new model. */
export interface MeshModel {
  /** Service definitions, sorted by hostname. Endpoints live apart, in `endpoints`. */
  readonly services: readonly MeshService[];
  /**
   * Endpoints by service hostname (Istio's EndpointIndex): kept out of MeshService so an
   * endpoint change leaves every service definition, and what is generated from it, untouched.
   */
  readonly endpoints: ReadonlyMap<string, readonly MeshEndpoint[]>;
  readonly virtualServices: readonly VirtualServiceModel[];
  readonly destinationRules: readonly DestinationRuleModel[];
  readonly sidecars: readonly SidecarModel[];
  /** Root namespace for mesh-wide Sidecar defaults (Istio: istio-system). */
  readonly rootNamespace: string;
}

export const DEFAULT_DOMAIN_SUFFIX = "cluster.local";
export const DEFAULT_ROOT_NAMESPACE = "istio-system";

export function emptyMeshModel(): MeshModel {
  return {
    services: [],
    endpoints: new Map(),
    virtualServices: [],
    destinationRules: [],
    sidecars: [],
    rootNamespace: DEFAULT_ROOT_NAMESPACE,
  };
}
