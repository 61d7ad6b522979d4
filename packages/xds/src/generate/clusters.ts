/**
 * Outbound clusters, in istiod's shapes: which clusters a service gets (per port and subset, with
 * the DestinationRule policy merged as istiod merges it) and what each carries for an Envoy
 * sidecar (cluster_builder.go + cluster_traffic_policy.go) or a proxyless gRPC client
 * (grpcgen/cds.go, plus what gRPC supports beyond it: outlier detection, circuit breaking).
 */
import type {
  ClientTls,
  ConnectionPool,
  LoadBalancer,
  MeshService,
  OutboundTrafficMode,
  OutlierDetection,
  ServicePort,
  SubsetModel,
  TrafficPolicy,
  TrafficPolicyFields,
} from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import { ADS_SOURCE, clusterName, duration, type Proto } from "./common.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";

/** istiod's `circuit_breakers` defaults: effectively unlimited (Envoy's own are 1024 and 3 retries). */
export const UNLIMITED = 4_294_967_295;

/** MeshConfig `connectTimeout` default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Where Istio's agent looks first for the system CA bundle (`caCertificates` unset). */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const UPSTREAM_TLS = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

/** MeshConfig `dnsRefreshRate` default. */
const DNS_REFRESH_RATE_MS = 60_000;

/**
 * istiod's `typed_dns_resolver_config`: c-ares with `udp_max_queries: 100`. Envoy's proto set
 * here lacks CaresDnsResolverConfig, so its (tiny) encoding is written out: field 5
 * `udp_max_queries`, a UInt32Value holding 100.
 */
const CARES_RESOLVER: Proto = {
  name: "envoy.network.dns_resolver.cares",
  typed_config: {
    type_url: "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
    value: Uint8Array.from([0x2a, 0x02, 0x08, 0x64]),
  },
};

/** How a cluster finds its endpoints. */
export type ClusterDiscovery = "EDS" | "STRICT_DNS" | "LOGICAL_DNS" | "ORIGINAL_DST";

/** One outbound cluster of a service: what its Cluster and ClusterLoadAssignment are built from. */
export interface ClusterSpec {
  readonly name: string;
  readonly service: MeshService;
  readonly port: ServicePort;
  readonly subset: SubsetModel | undefined;
  /** The DestinationRule policy for this port and subset, merged as istiod merges it. */
  readonly policy: TrafficPolicyFields | undefined;
  /** `namespace/name` of the DestinationRule in effect, or "" (part of cache keys). */
  readonly destinationRule: string;
  /** EDS clusters get a ClusterLoadAssignment; the others carry their endpoints or have none. */
  readonly discovery: ClusterDiscovery;
}

/** The part of a policy one port gets (istiod's GetPortLevelTrafficPolicy). */
function portLevelPolicy(
  policy: TrafficPolicy | undefined,
  port: number,
): { policy: TrafficPolicyFields | undefined; portLevel: boolean } {
  if (!policy) return { policy: undefined, portLevel: false };
  const p = policy.portLevelSettings?.find((s) => s.port === port);
  // Port-level settings replace the policy: what they omit falls to defaults, not to the DR's.
  if (p) {
    const { port: _port, ...fields } = p;
    return { policy: fields, portLevel: true };
  }
  const { portLevelSettings: _pls, ...fields } = policy;
  return { policy: fields, portLevel: false };
}

/**
 * The policy a cluster gets, as istiod's MergeSubsetTrafficPolicy: the DestinationRule's (its
 * port-level settings for this port replacing it whole), then the subset's, field by field
 * (loadBalancer, connectionPool, outlierDetection, tls each whole); a subset's port-level
 * settings replace all four.
 *
 * @example
 * mergeTrafficPolicy(dr.trafficPolicy, subset.trafficPolicy, 8080)?.loadBalancer?.kind;
 */
export function mergeTrafficPolicy(
  destinationPolicy: TrafficPolicy | undefined,
  subsetPolicy: TrafficPolicy | undefined,
  port: number,
): TrafficPolicyFields | undefined {
  const base = portLevelPolicy(destinationPolicy, port).policy;
  if (!subsetPolicy) return base;
  const sub = portLevelPolicy(subsetPolicy, port);
  if (!base) return sub.policy;
  const merged: { -readonly [K in keyof TrafficPolicyFields]: TrafficPolicyFields[K] } = { ...base };
  for (const key of ["loadBalancer", "connectionPool", "outlierDetection", "tls"] as const) {
    const v = sub.policy?.[key];
    if (v !== undefined || sub.portLevel) {
      if (v === undefined) delete merged[key];
      else (merged as Record<string, unknown>)[key] = v;
    }
  }
  return merged;
}

function discoveryOf(service: MeshService): ClusterDiscovery {
  switch (service.resolution) {
    case "DNS":
      return "STRICT_DNS";
    case "DNS_ROUND_ROBIN":
      return "LOGICAL_DNS";
    case "NONE":
      return "ORIGINAL_DST";
    default:
      return "EDS";
  }
}

/**
 * The clusters of every port and subset of a service, as this proxy sees it.
 *
 * @example
 * serviceClusterSpecs(ctx, proxy, service).map((s) => s.name); // ["outbound|8080||echo.demo.svc.cluster.local", ...]
 */
export function serviceClusterSpecs(ctx: PushContext, proxy: ProxyInfo, service: MeshService): ClusterSpec[] {
  const dr = ctx.destinationRuleFor(service.hostname, proxy);
  const destinationRule = dr ? `${dr.namespace}/${dr.name}` : "";
  const discovery = discoveryOf(service);
  const out: ClusterSpec[] = [];
  for (const port of service.ports) {
    const policy = mergeTrafficPolicy(dr?.trafficPolicy, undefined, port.port);
    out.push({
      name: clusterName("outbound", port.port, "", service.hostname),
      service,
      port,
      subset: undefined,
      policy,
      destinationRule,
      discovery: policy?.loadBalancer?.kind === "PASSTHROUGH" ? "ORIGINAL_DST" : discovery,
    });
    for (const subset of dr?.subsets ?? []) {
      const merged = mergeTrafficPolicy(dr?.trafficPolicy, subset.trafficPolicy, port.port);
      out.push({
        name: clusterName("outbound", port.port, subset.name, service.hostname),
        service,
        port,
        subset,
        policy: merged,
        destinationRule,
        discovery: merged?.loadBalancer?.kind === "PASSTHROUGH" ? "ORIGINAL_DST" : discovery,
      });
    }
  }
  return out;
}

/**
 * Istio's protocol of a service port: Kubernetes `appProtocol`, else the port name's prefix
 * (`http-web`), else "UNSUPPORTED" (istiod sniffs it); ServiceEntry ports say it.
 */
export function istioProtocol(service: MeshService, port: ServicePort): string {
  const p = port.protocol.toUpperCase();
  // Kubernetes' standard appProtocols (KEP-3726), as istiod reads them.
  if (p === "KUBERNETES.IO/H2C") return "HTTP2";
  if (p === "KUBERNETES.IO/WS") return "HTTP";
  if (p === "KUBERNETES.IO/WSS") return "HTTPS";
  if (service.origin !== "kubernetes" || !["TCP", "UDP", "SCTP", ""].includes(p)) return p;
  if (p === "UDP" || p === "SCTP") return p;
  const prefix = port.name.toLowerCase().split("-")[0] ?? "";
  const known: Record<string, string> = {
    http: "HTTP",
    http2: "HTTP2",
    grpc: "GRPC",
    https: "HTTPS",
    tls: "TLS",
    tcp: "TCP",
    mongo: "MONGO",
    redis: "REDIS",
    mysql: "MYSQL",
  };
  if (port.name.toLowerCase().startsWith("grpc-web")) return "GRPC-WEB";
  return known[prefix] ?? "UNSUPPORTED";
}

function isHttp2Protocol(protocol: string): boolean {
  return protocol === "HTTP2" || protocol === "GRPC" || protocol === "GRPC-WEB";
}

/** istiod's circuit breaker thresholds: unlimited, lowered by the connection pool. */
function circuitBreakers(pool: ConnectionPool | undefined): Proto {
  const threshold: Proto = {
    max_connections: { value: pool?.tcp?.maxConnections || UNLIMITED },
    max_pending_requests: { value: pool?.http?.http1MaxPendingRequests || UNLIMITED },
    max_requests: { value: pool?.http?.http2MaxRequests || UNLIMITED },
    max_retries: { value: pool?.http?.maxRetries || UNLIMITED },
  };
  return { thresholds: [threshold] };
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function outlierDetection(od: OutlierDetection): Proto {
  const out: Proto = { enforcing_success_rate: { value: 0 } };
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = { value: od.consecutive5xxErrors };
    out.enforcing_consecutive_5xx = { value: od.consecutive5xxErrors > 0 ? 100 : 0 };
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = { value: od.consecutiveGatewayErrors };
    out.enforcing_consecutive_gateway_failure = { value: od.consecutiveGatewayErrors > 0 ? 100 : 0 };
  }
  if (od.intervalMs !== undefined) out.interval = duration(od.intervalMs);
  if (od.baseEjectionTimeMs !== undefined) out.base_ejection_time = duration(od.baseEjectionTimeMs);
  if (od.maxEjectionPercent) out.max_ejection_percent = { value: od.maxEjectionPercent };
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures) {
      out.consecutive_local_origin_failure = { value: od.consecutiveLocalOriginFailures };
      out.enforcing_consecutive_local_origin_failure = { value: 100 };
    }
    out.enforcing_local_origin_success_rate = { value: 0 };
  }
  return out;
}

function slowStart(lb: LoadBalancer): Proto | undefined {
  return lb.warmupDurationMs !== undefined
    ? { slow_start_config: { slow_start_window: duration(lb.warmupDurationMs) } }
    : undefined;
}

/** istiod's applyLoadBalancer for a non-ORIGINAL_DST Envoy cluster. */
function applyEnvoyLoadBalancer(c: Proto, lb: LoadBalancer | undefined): void {
  switch (lb?.kind) {
    case "ROUND_ROBIN": {
      c.lb_policy = "ROUND_ROBIN";
      const ss = slowStart(lb);
      if (ss) c.round_robin_lb_config = ss;
      return;
    }
    case "RANDOM":
      c.lb_policy = "RANDOM";
      return;
    case "RING_HASH":
      c.lb_policy = "RING_HASH";
      if (lb.minimumRingSize)
        c.ring_hash_lb_config = { minimum_ring_size: { value: String(lb.minimumRingSize) } };
      return;
    case "MAGLEV":
      c.lb_policy = "MAGLEV";
      if (lb.tableSize) c.maglev_lb_config = { table_size: { value: String(lb.tableSize) } };
      return;
    default: {
      // LEAST_REQUEST, and istiod's default for UNSPECIFIED or no loadBalancer at all.
      c.lb_policy = "LEAST_REQUEST";
      const ss = lb ? slowStart(lb) : undefined;
      if (ss) c.least_request_lb_config = ss;
    }
  }
}

/**
 * The UpstreamTlsContext for file certificates. istiod names the files as SDS secrets
 * (`file-cert:<cert>~<key>`, `file-root:<ca>`) that Istio's agent serves; a stock Envoy has no
 * agent, so the same files are named directly (certificate_chain / private_key / trusted_ca).
 * The rest is istiod's: TLS 1.2-1.3, h2 ALPN on HTTP/2 clusters, SNI, exact SAN matches.
 */
function upstreamTls(tls: ClientTls, http2: boolean): Proto | undefined {
  if (tls.mode !== "SIMPLE" && tls.mode !== "MUTUAL") return undefined;
  const common: Proto = {
    tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
  };
  if (http2) common.alpn_protocols = ["h2"];
  if (tls.clientCertificate && tls.privateKey)
    common.tls_certificates = [
      {
        certificate_chain: { filename: tls.clientCertificate },
        private_key: { filename: tls.privateKey },
      },
    ];
  if (!tls.insecureSkipVerify) {
    const validation: Proto = { trusted_ca: { filename: tls.caCertificates ?? SYSTEM_CA_BUNDLE } };
    // istiod's StringToExactMatch into the (deprecated, still honoured) untyped SAN matcher.
    if (tls.subjectAltNames.length > 0)
      validation.match_subject_alt_names = tls.subjectAltNames.map((san) => ({ exact: san }));
    if (tls.caCrl) validation.crl = { filename: tls.caCrl };
    common.validation_context = validation;
  }
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: packAny(UPSTREAM_TLS, { common_tls_context: common, ...(tls.sni ? { sni: tls.sni } : {}) }),
  };
}

/** HttpProtocolOptions as istiod's clusterWrapper builds them (setUpstreamProtocol, connection pool, h2 upgrade). */
function httpProtocolOptions(
  protocol: string,
  pool: ConnectionPool | undefined,
  tls: ClientTls | undefined,
): Proto | undefined {
  let options: Proto | undefined;
  const http2 = () => ({ explicit_http_config: { http2_protocol_options: {} } });
  const downstream = () => ({
    use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
  });
  if (isHttp2Protocol(protocol)) options = http2();
  else if (protocol === "UNSUPPORTED") options = downstream();
  const http = pool?.http;
  // istiod's applyH2Upgrade, before the connection pool's stream limit: UPGRADE forces HTTP/2
  // on any port; otherwise the mesh default (DO_NOT_UPGRADE) leaves HTTP/1.1 ports alone.
  if (http?.h2UpgradePolicy === "UPGRADE") {
    options = { ...(options ?? {}) };
    delete options.use_downstream_protocol_config;
    options.explicit_http_config = { http2_protocol_options: {} };
  }
  const tcp = pool?.tcp;
  const idle = http?.idleTimeoutMs ?? tcp?.idleTimeoutMs;
  const maxConnectionDuration = tcp?.maxConnectionDurationMs;
  const maxRequests = http?.maxRequestsPerConnection ?? 0;
  const maxStreams = http?.maxConcurrentStreams ?? 0;
  if (maxConnectionDuration !== undefined || idle !== undefined || maxRequests > 0 || maxStreams > 0) {
    options ??= {};
    const common: Proto = {};
    if (idle !== undefined) common.idle_timeout = duration(idle);
    if (maxRequests > 0) common.max_requests_per_connection = { value: maxRequests };
    if (maxConnectionDuration !== undefined) common.max_connection_duration = duration(maxConnectionDuration);
    options.common_http_protocol_options = common;
    const h2 = (options.explicit_http_config as Proto | undefined)?.http2_protocol_options as
      | Proto
      | undefined;
    if (h2 && maxStreams > 0) h2.max_concurrent_streams = { value: maxStreams };
  }
  if (http?.useClientProtocol && http.h2UpgradePolicy !== "UPGRADE") {
    options = { ...(options ?? {}) };
    delete options.explicit_http_config;
    Object.assign(options, downstream());
  }
  // istiod: without a configured SNI Envoy sets it from the request's host (auto_sni), and
  // without SANs checks the certificate against that host (auto_san_validation).
  if (
    tls &&
    (tls.mode === "SIMPLE" || tls.mode === "MUTUAL") &&
    (!tls.sni || tls.subjectAltNames.length === 0)
  ) {
    options ??= {};
    options.upstream_http_protocol_options = {
      ...(!tls.sni ? { auto_sni: true } : {}),
      ...(tls.subjectAltNames.length === 0 && !tls.insecureSkipVerify ? { auto_san_validation: true } : {}),
    };
  }
  if (!options) return undefined;
  if (!options.explicit_http_config && !options.use_downstream_protocol_config)
    options.explicit_http_config = { http_protocol_options: {} };
  return { [HTTP_PROTOCOL_OPTIONS]: packAny(HTTP_PROTOCOL_OPTIONS, options) };
}

/** A google.protobuf.Value in protobufjs's (camelCase) object form. */
function structValue(v: string | boolean | readonly Record<string, string>[]): Proto {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  return {
    listValue: {
      values: v.map((o) => ({
        structValue: {
          fields: Object.fromEntries(Object.entries(o).map(([k, x]) => [k, { stringValue: x }])),
        },
      })),
    },
  };
}

/**
 * istiod's `istio` filter metadata of an outbound cluster: the service it is for (telemetry reads
 * it), the DestinationRule that shaped it (`config`), the subset, and `external` for a
 * MESH_EXTERNAL ServiceEntry.
 */
function istioMetadata(spec: ClusterSpec): Proto {
  const fields: Record<string, Proto> = {};
  if (spec.destinationRule) {
    const [namespace, name] = spec.destinationRule.split("/");
    fields.config = structValue(
      `/apis/networking.istio.io/v1/namespaces/${namespace}/destination-rule/${name}`,
    );
  }
  if (spec.service.meshExternal) fields.external = structValue(true);
  const s = spec.service;
  fields.services = structValue([{ host: s.hostname, name: s.name, namespace: s.namespace }]);
  if (spec.subset) fields.subset = structValue(spec.subset.name);
  // istiod: user TLS keeps the upstream's own ALPN (Istio's proxy would otherwise override it).
  const tlsMode = spec.policy?.tls?.mode;
  if (tlsMode === "SIMPLE" || tlsMode === "MUTUAL") fields.alpn_override = structValue("false");
  return { fields };
}

function endpointAddress(address: string, port: number): Proto {
  return { socket_address: { address, port_value: port } };
}

/**
 * The inline load assignment of a DNS cluster: its endpoints' names (or IPs), resolved by Envoy.
 * Envoy's LOGICAL_DNS takes exactly one endpoint.
 */
function dnsLoadAssignment(spec: ClusterSpec, endpoints: readonly EndpointLike[]): Proto {
  const lbEndpoints = endpoints.map((e) => ({
    endpoint: { address: endpointAddress(e.address, e.ports[spec.port.name] ?? spec.port.targetPort) },
    load_balancing_weight: { value: e.weight },
  }));
  return {
    cluster_name: spec.name,
    endpoints: [
      {
        locality: {},
        lb_endpoints: spec.discovery === "LOGICAL_DNS" ? lbEndpoints.slice(0, 1) : lbEndpoints,
        load_balancing_weight: {
          value: lbEndpoints.reduce((s, e) => s + (e.load_balancing_weight.value ?? 1), 0),
        },
      },
    ],
  };
}

/**
 * The endpoints a DNS cluster carries: a subset's cluster has those its labels select. istiod
 * leaves out a DNS cluster without any (Envoy would reject an empty one).
 *
 * @example
 * dnsClusterEndpoints(spec, model.endpoints.get(spec.service.hostname) ?? []).length > 0;
 */
export function dnsClusterEndpoints<E extends EndpointLike>(spec: ClusterSpec, endpoints: readonly E[]): E[] {
  const labels = spec.subset?.labels ?? {};
  return endpoints.filter((e) => Object.entries(labels).every(([k, v]) => e.labels[k] === v));
}

/** What a DNS cluster reads of an endpoint. */
export interface EndpointLike {
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * An Envoy sidecar's outbound cluster, as istiod builds it for the same service, port, subset
 * and DestinationRule.
 *
 * @example
 * buildEnvoyCluster(spec, ctx.model.endpoints.get(spec.service.hostname) ?? []).lb_policy; // "LEAST_REQUEST"
 */
export function buildEnvoyCluster(spec: ClusterSpec, endpoints: readonly EndpointLike[]): Proto | undefined {
  const policy = spec.policy;
  const pool = policy?.connectionPool;
  const protocol = istioProtocol(spec.service, spec.port);
  const c: Proto = { name: spec.name, type: spec.discovery };
  if (spec.discovery === "STRICT_DNS" || spec.discovery === "LOGICAL_DNS") {
    endpoints = dnsClusterEndpoints(spec, endpoints);
    if (endpoints.length === 0) return undefined;
    // istiod for an IPv4 proxy: A records only, re-resolved every minute (MeshConfig
    // dnsRefreshRate) or at the TTL, by c-ares with 100 UDP queries per socket.
    c.dns_lookup_family = "V4_ONLY";
    c.dns_refresh_rate = duration(DNS_REFRESH_RATE_MS);
    c.respect_dns_ttl = true;
    c.typed_dns_resolver_config = CARES_RESOLVER;
    c.load_assignment = dnsLoadAssignment(spec, endpoints);
  }
  if (spec.discovery === "EDS")
    c.eds_cluster_config = {
      eds_config: { ...ADS_SOURCE, initial_fetch_timeout: duration(0) },
      service_name: spec.name,
    };
  c.connect_timeout = duration(pool?.tcp?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  c.circuit_breakers = circuitBreakers(pool);
  const keepalive = pool?.tcp?.tcpKeepalive;
  if (keepalive) {
    const k: Proto = {};
    if (keepalive.probes) k.keepalive_probes = { value: keepalive.probes };
    if (keepalive.timeMs !== undefined) k.keepalive_time = { value: seconds(keepalive.timeMs) };
    if (keepalive.intervalMs !== undefined) k.keepalive_interval = { value: seconds(keepalive.intervalMs) };
    c.upstream_connection_options = { tcp_keepalive: k };
  }
  // istiod turns Envoy's panic threshold (50%) off, or sets outlierDetection.minHealthPercent.
  const od = policy?.outlierDetection;
  const common: Proto = { healthy_panic_threshold: { value: od?.minHealthPercent ?? 0 } };
  if (od) c.outlier_detection = outlierDetection(od);
  const lb = policy?.loadBalancer;
  // istiod's LocalityLBSettings.ApplyToCluster: locality weights when `distribute` sets them or
  // failover rules apply (outlier detection on); `enabled: false` turns both off. The priorities
  // and weights themselves go on the ClusterLoadAssignment, per proxy (locality-lb.ts).
  const locality = lb?.localityLbSetting;
  if (
    locality?.enabled !== false &&
    (locality?.distribute || (od && (locality?.failover || locality?.failoverPriority)))
  )
    common.locality_weighted_lb_config = {};
  c.common_lb_config = common;
  if (spec.discovery === "ORIGINAL_DST") c.lb_policy = "CLUSTER_PROVIDED";
  else applyEnvoyLoadBalancer(c, lb);
  const tls = policy?.tls ? upstreamTls(policy.tls, isHttp2Protocol(protocol)) : undefined;
  if (tls) c.transport_socket = tls;
  const options = httpProtocolOptions(protocol, pool, policy?.tls);
  if (options) c.typed_extension_protocol_options = options;
  // istiod's default alt_stat_name: the name and its stats delimiter.
  c.alt_stat_name = `${spec.name};`;
  c.metadata = { filter_metadata: { istio: istioMetadata(spec) } };
  return c;
}

/**
 * A proxyless gRPC client's cluster: istiod's (EDS, ring hash when the DestinationRule hashes,
 * `http2MaxRequests` as the request limit of gRFC A32), with two deliberate differences: istiod
 * passes LEAST_REQUEST and MAGLEV through, which grpc-js rejects (it takes ROUND_ROBIN and
 * RING_HASH only), so they become ROUND_ROBIN and a ring (the parser warns); and the outlier
 * detection istiod leaves out is sent, since gRPC applies it (gRFC A50).
 *
 * @example
 * buildGrpcCluster(spec).lb_policy; // "RING_HASH"
 */
export function buildGrpcCluster(spec: ClusterSpec): Proto {
  const policy = spec.policy;
  const c: Proto = {
    name: spec.name,
    type: "EDS",
    // istiod's grpcgen: `ads: {}` without a resource_api_version.
    eds_cluster_config: { eds_config: { ads: {} }, service_name: spec.name },
  };
  const lb = policy?.loadBalancer;
  if (lb?.kind === "RING_HASH" || lb?.kind === "MAGLEV") {
    c.lb_policy = "RING_HASH";
    const size = lb.kind === "RING_HASH" ? lb.minimumRingSize : undefined;
    if (size) c.ring_hash_lb_config = { minimum_ring_size: { value: String(size) } };
  } else c.lb_policy = "ROUND_ROBIN";
  const od = policy?.outlierDetection;
  if (od) {
    const o = outlierDetection(od);
    // Only what gRPC reads (success-rate and local-origin fields are Envoy's).
    c.outlier_detection = {
      ...(o.consecutive_5xx ? { consecutive_5xx: o.consecutive_5xx } : {}),
      ...(o.enforcing_consecutive_5xx ? { enforcing_consecutive_5xx: o.enforcing_consecutive_5xx } : {}),
      ...(o.interval ? { interval: o.interval } : {}),
      ...(o.base_ejection_time ? { base_ejection_time: o.base_ejection_time } : {}),
      ...(o.max_ejection_percent ? { max_ejection_percent: o.max_ejection_percent } : {}),
      enforcing_success_rate: { value: 0 },
    };
  }
  const maxRequests = policy?.connectionPool?.http?.http2MaxRequests;
  if (maxRequests) c.circuit_breakers = { thresholds: [{ max_requests: { value: maxRequests } }] };
  c.alt_stat_name = `${spec.name};`;
  return c;
}

/**
 * Clusters every Envoy sidecar has, whatever it sees (istiod's PassthroughCluster,
 * BlackHoleCluster and InboundPassthroughCluster).
 *
 * @example
 * envoyFixedClusters().get("BlackHoleCluster")?.type; // "STATIC"
 */
export function envoyFixedClusters(): Map<string, Proto> {
  const out = new Map<string, Proto>();
  const passthrough = (name: string): Proto => ({
    name,
    type: "ORIGINAL_DST",
    connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
    lb_policy: "CLUSTER_PROVIDED",
    circuit_breakers: circuitBreakers(undefined),
    // Both passthrough clusters: istiod builds the inbound one from the outbound one.
    alt_stat_name: "PassthroughCluster;",
    typed_extension_protocol_options: {
      // Passthrough clusters speak upstream what the client spoke downstream: HTTP routes reach
      // them for hosts outside the registry, and HTTP/2 or gRPC forwarded as HTTP/1.1 would fail.
      [HTTP_PROTOCOL_OPTIONS]: packAny(HTTP_PROTOCOL_OPTIONS, {
        common_http_protocol_options: { idle_timeout: duration(300_000) },
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      }),
    },
  });
  out.set("PassthroughCluster", passthrough("PassthroughCluster"));
  out.set("BlackHoleCluster", {
    name: "BlackHoleCluster",
    type: "STATIC",
    connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
    lb_policy: "ROUND_ROBIN",
    alt_stat_name: "BlackHoleCluster;",
  });
  out.set("InboundPassthroughCluster", {
    ...passthrough("InboundPassthroughCluster"),
    upstream_bind_config: { source_address: { address: "127.0.0.6", port_value: 0 } },
  });
  return out;
}

/**
 * The cluster a sidecar's traffic to unknown destinations goes to (the 15001 catch-all and the
 * HTTP routes' catch-all virtual host).
 */
export function outboundCatchAllCluster(mode: OutboundTrafficMode): string {
  return mode === "REGISTRY_ONLY" ? "BlackHoleCluster" : "PassthroughCluster";
}
