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
  /**
   * ServiceEntry `resolution` (absent for Kubernetes Services, which are EDS): DNS becomes a
   * STRICT_DNS cluster, DNS_ROUND_ROBIN a LOGICAL_DNS one, NONE an ORIGINAL_DST one.
   */
  readonly resolution?: ServiceResolution;
  /** ServiceEntry `addresses` (IPs or CIDRs): where outbound TCP listeners match. */
  readonly addresses?: readonly string[];
  /** A Kubernetes Service's `spec.clusterIP` (absent for headless Services): its VIP. */
  readonly clusterIP?: string;
  /** ServiceEntry `location: MESH_EXTERNAL`. */
  readonly meshExternal?: boolean;
  /**
   * A digest of a DNS-resolved ServiceEntry's endpoints: its clusters embed them, so they belong
   * to the service's definition (a change is a full push, not an endpoints-only one).
   */
  readonly dnsEndpoints?: string;
}

export type ServiceResolution = "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "NONE";

export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly regex: string };

/** A header or query-parameter match: a string match, or presence only (Istio's empty `{}`). */
export type ValueMatch = StringMatch | { readonly present: true };

export interface HttpMatch {
  /** `match[].name`: appended to the route name as Istio does (`<route>.<match>`). */
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, ValueMatch>>;
  readonly withoutHeaders?: Readonly<Record<string, ValueMatch>>;
  readonly queryParams?: Readonly<Record<string, ValueMatch>>;
  readonly ignoreUriCase?: boolean;
  /** Only on this service port (the route is left out of other ports' route configs). */
  readonly port?: number;
  /** Only for proxies whose labels include these. */
  readonly sourceLabels?: Labels;
  /** Only for proxies in this namespace. */
  readonly sourceNamespace?: string;
  /** Per-match gateways: when set, the match applies to sidecars only if it lists `mesh`. */
  readonly gateways?: readonly string[];
}

/** Header edits (VirtualService `headers.request` / `headers.response`). */
export interface HeaderOperations {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

export interface HeadersPolicy {
  readonly request?: HeaderOperations;
  readonly response?: HeaderOperations;
}

export interface RouteDestination {
  /** Fully qualified destination host. */
  readonly host: string;
  readonly subset?: string;
  readonly port?: number;
  readonly weight: number;
  /** Per-destination header edits (`route[].headers`). */
  readonly headers?: HeadersPolicy;
}

/**
 * `retries`. Absent on the route means Istio's default policy; `attempts: 0` disables retries;
 * `retryOn` absent keeps Istio's default conditions.
 */
export interface HttpRetry {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  readonly retryOn?: readonly string[];
  readonly retryRemoteLocalities?: boolean;
}

export interface HttpFault {
  readonly abort?: { readonly percent: number; readonly httpStatus?: number; readonly grpcStatus?: number };
  readonly delay?: { readonly percent: number; readonly fixedDelayMs: number };
}

export interface HttpRewrite {
  readonly uri?: string;
  readonly authority?: string;
  readonly uriRegexRewrite?: { readonly match: string; readonly rewrite: string };
}

export interface HttpRedirect {
  readonly uri?: string;
  readonly authority?: string;
  readonly port?: number;
  readonly derivePort?: "FROM_PROTOCOL_DEFAULT" | "FROM_REQUEST_PORT";
  readonly scheme?: string;
  /** 301 (default), 302, 303, 307 or 308. */
  readonly redirectCode: number;
}

export interface HttpDirectResponse {
  readonly status: number;
  readonly body?: { readonly string: string } | { readonly bytes: string };
}

export interface HttpMirror {
  readonly host: string;
  readonly subset?: string;
  readonly port?: number;
  /** Percent of requests mirrored; absent = all. */
  readonly percent?: number;
}

export interface CorsPolicy {
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAgeMs?: number;
  readonly allowCredentials?: boolean;
  readonly unmatchedPreflights?: "FORWARD" | "IGNORE";
}

export interface HttpRoute {
  readonly name: string;
  readonly matches: readonly HttpMatch[];
  /** Empty for a redirect, a direct response or a delegate. */
  readonly destinations: readonly RouteDestination[];
  readonly timeoutMs?: number;
  readonly retries?: HttpRetry;
  readonly fault?: HttpFault;
  readonly rewrite?: HttpRewrite;
  readonly redirect?: HttpRedirect;
  readonly directResponse?: HttpDirectResponse;
  readonly mirrors?: readonly HttpMirror[];
  readonly corsPolicy?: CorsPolicy;
  readonly headers?: HeadersPolicy;
  /** A root VirtualService's route whose routes come from another VirtualService. */
  readonly delegate?: { readonly name: string; readonly namespace: string };
}

/** An L4 match of `tcp[]` / `tls[]` routes. */
export interface L4Match {
  readonly port?: number;
  readonly destinationSubnets?: readonly string[];
  /** `tls[].match[].sniHosts` (required for tls routes). */
  readonly sniHosts?: readonly string[];
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
  readonly gateways?: readonly string[];
}

export interface L4Route {
  readonly matches: readonly L4Match[];
  readonly destinations: readonly RouteDestination[];
}

export interface VirtualServiceModel {
  readonly name: string;
  readonly namespace: string;
  /** Fully qualified hosts this routing applies to (empty for a delegate). */
  readonly hosts: readonly string[];
  readonly http: readonly HttpRoute[];
  readonly tcp?: readonly L4Route[];
  readonly tls?: readonly L4Route[];
  readonly exportTo: readonly string[];
  readonly source: SourceRef;
}

/**
 * What a consistent-hash load balancer hashes on (DestinationRule `consistentHash`). The cluster
 * gets the ring (or Maglev table); the routes to it carry the key as a hash policy.
 */
export type HashKey =
  | { readonly header: string }
  | { readonly cookie: { readonly name: string; readonly path?: string; readonly ttlMs?: number } }
  | { readonly sourceIp: true }
  | { readonly queryParameter: string };

/**
 * DestinationRule `localityLbSetting` (Istio's LocalityLoadBalancerSetting). Localities are
 * `region/zone/subzone` strings, `*` allowed as the last part of `distribute` ones.
 */
export interface LocalityLbSetting {
  readonly distribute?: readonly { readonly from: string; readonly to: Readonly<Record<string, number>> }[];
  readonly failover?: readonly { readonly from: string; readonly to: string }[];
  /** Label keys (`topology.kubernetes.io/region`, `app`, `key=value` overrides) in priority order. */
  readonly failoverPriority?: readonly string[];
  /** `enabled: false` turns locality load balancing off for this destination. */
  readonly enabled?: boolean;
}

/** What every `loadBalancer` has besides its algorithm (they merge as one unit, as in Istio). */
export interface LoadBalancerCommon {
  /** `warmupDurationSecs`: Envoy's slow start window (ROUND_ROBIN and LEAST_REQUEST only). */
  readonly warmupDurationMs?: number;
  readonly localityLbSetting?: LocalityLbSetting;
}

/**
 * DestinationRule `loadBalancer`. `UNSPECIFIED` (no `simple`, no `consistentHash`: only locality
 * or warmup settings) gets the default algorithm, LEAST_REQUEST for Envoy as in istiod.
 * For RING_HASH, `minimumRingSize` is absent when `ringHash: {}` set none (Envoy's default);
 * the legacy `consistentHash.minimumRingSize` defaults to 1024 as istiod writes it.
 */
export type LoadBalancer = LoadBalancerCommon &
  (
    | { readonly kind: "UNSPECIFIED" | "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "PASSTHROUGH" }
    | {
        readonly kind: "RING_HASH" | "MAGLEV";
        readonly hashKey?: HashKey;
        readonly minimumRingSize?: number;
        readonly tableSize?: number;
      }
  );

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveLocalOriginFailures?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
}

/** DestinationRule `connectionPool` (durations in milliseconds). */
export interface ConnectionPool {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeoutMs?: number;
    readonly tcpKeepalive?: {
      readonly probes?: number;
      readonly timeMs?: number;
      readonly intervalMs?: number;
    };
    readonly maxConnectionDurationMs?: number;
    readonly idleTimeoutMs?: number;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeoutMs?: number;
    readonly h2UpgradePolicy?: "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE";
    readonly useClientProtocol?: boolean;
    readonly maxConcurrentStreams?: number;
  };
}

/** DestinationRule `tls` (ClientTLSSettings); certificates are file paths on the proxy. */
export interface ClientTls {
  readonly mode: "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly caCrl?: string;
  readonly sni?: string;
  readonly subjectAltNames: readonly string[];
  readonly insecureSkipVerify?: boolean;
}

/** The parts of a traffic policy that merge field by field (subset over DR, port over both). */
export interface TrafficPolicyFields {
  readonly loadBalancer?: LoadBalancer;
  readonly connectionPool?: ConnectionPool;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTls;
}

/** `portLevelSettings[]`: replaces the policy for one port (fields it omits fall to defaults). */
export interface PortTrafficPolicy extends TrafficPolicyFields {
  readonly port: number;
}

export interface TrafficPolicy extends TrafficPolicyFields {
  readonly portLevelSettings?: readonly PortTrafficPolicy[];
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

/** Sidecar / MeshConfig `outboundTrafficPolicy.mode`: where traffic to unknown destinations goes. */
export type OutboundTrafficMode = "ALLOW_ANY" | "REGISTRY_ONLY";

/** A Sidecar `port` (ingress or egress): a port number with Istio's protocol and name. */
export interface SidecarPort {
  readonly number: number;
  /** Istio protocol name as written (HTTP, HTTP2, GRPC, TCP, ...); "" when unset. */
  readonly protocol: string;
  readonly name: string;
}

/** `spec.egress[]`: the hosts one outbound listener carries. */
export interface SidecarEgressListener {
  /** `namespace/host` patterns: `./*`, `*\/*`, `ns/*`, `ns/host`, `~/*`. */
  readonly hosts: readonly string[];
  /** Only this port (and only the services that have it); absent: every port of the hosts. */
  readonly port?: SidecarPort;
  /** The listener's address (an IP) instead of the service VIPs / 0.0.0.0. */
  readonly bind?: string;
  /** NONE: a listener bound to the port (no iptables capture). */
  readonly captureMode?: "DEFAULT" | "IPTABLES" | "NONE";
}

/** `spec.ingress[]`: an inbound port served in place of the ports of the workload's services. */
export interface SidecarIngressListener {
  readonly port: SidecarPort;
  /** Where the inbound cluster sends traffic: `127.0.0.1:PORT`, `0.0.0.0:PORT` (the pod IP), `unix://...`; absent: the original destination. */
  readonly defaultEndpoint?: string;
  readonly bind?: string;
  readonly captureMode?: "DEFAULT" | "IPTABLES" | "NONE";
}

export interface SidecarModel {
  readonly name: string;
  readonly namespace: string;
  readonly workloadSelector?: Labels;
  /**
   * Every egress listener's hosts together (`namespace/host` patterns: `./*`, `*\/*`, `ns/*`,
   * `ns/host`, `~/*`): what the proxy may see at all.
   */
  readonly egressHosts: readonly string[];
  /** `spec.egress` in order (a port-less catch-all last); a Sidecar without egress has one `*\/*` listener. */
  readonly egress: readonly SidecarEgressListener[];
  /** `spec.ingress`; empty: the ports of the services that select the workload. */
  readonly ingress: readonly SidecarIngressListener[];
  /** Absent: the mesh-wide default (ALLOW_ANY). */
  readonly outboundTrafficPolicy?: OutboundTrafficMode;
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
