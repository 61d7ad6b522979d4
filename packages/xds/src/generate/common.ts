/** Building blocks shared by the proxyless-gRPC and Envoy generators (plain proto-shaped objects). */
import { endpointPort, labelsMatch } from "../model/assemble.js";
import type {
  HttpMatch,
  HttpRoute,
  MeshEndpoint,
  MeshService,
  ServicePort,
  StringMatch,
  SubsetModel,
  TrafficPolicy,
} from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";

export type Proto = Record<string, unknown>;

/** Listeners and routes (plain protos) generated for a view or a proxy, keyed by name. */
export interface GeneratedListeners {
  readonly lds: Map<string, Proto>;
  readonly rds: Map<string, Proto>;
}

export const FAULT_FILTER = "envoy.filters.http.fault";
export const ROUTER_FILTER = "envoy.filters.http.router";
export const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const ADS_SOURCE = { ads: {}, resource_api_version: "V3" };

/** Istio's cluster naming: `outbound|<port>|<subset>|<fqdn>`. */
export function clusterName(
  direction: "outbound" | "inbound",
  port: number,
  subset: string,
  host: string,
): string {
  return `${direction}|${port}|${subset}|${host}`;
}

export function duration(ms: number): Proto {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function fractionalPercent(percent: number): Proto {
  return { numerator: Math.round(percent * 10_000), denominator: "MILLION" };
}

/** Host names a client may use for a service, most specific first. */
export function hostAliases(service: MeshService, proxy: ProxyInfo): string[] {
  if (service.origin !== "kubernetes") return [service.hostname];
  const { name, namespace } = service;
  const aliases = [service.hostname, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  if (namespace === proxy.namespace) aliases.push(name);
  return aliases;
}

/** The HTTP filter chain; `extra` filters (see filter-extensions.ts) go right before the router. */
export function httpFilters(extra: readonly object[] = []): Proto[] {
  return [
    { name: FAULT_FILTER, typed_config: packAny("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
    ...(extra as Proto[]),
    { name: ROUTER_FILTER, typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}) },
  ];
}

function subsetTrafficPolicy(
  base: TrafficPolicy | undefined,
  subset: SubsetModel | undefined,
): TrafficPolicy | undefined {
  if (!subset?.trafficPolicy) return base;
  return { ...base, ...subset.trafficPolicy };
}

/** An EDS cluster for one service port (and optional subset). */
export function buildEdsCluster(
  name: string,
  policy: TrafficPolicy | undefined,
  proxy: ProxyInfo,
  http2: boolean,
): Proto {
  const cluster: Proto = {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name },
    connect_timeout: duration(10_000),
  };
  const lb = policy?.loadBalancer;
  if (lb?.kind === "RING_HASH") {
    cluster.lb_policy = "RING_HASH";
    cluster.ring_hash_lb_config = {
      hash_function: "XX_HASH",
      ...(lb.minimumRingSize ? { minimum_ring_size: { value: String(lb.minimumRingSize) } } : {}),
    };
  } else if (proxy.type === "sidecar" && (lb?.kind === "LEAST_REQUEST" || lb?.kind === "RANDOM")) {
    cluster.lb_policy = lb.kind;
  } else {
    // gRPC clients accept only ROUND_ROBIN / RING_HASH via lb_policy; LEAST_REQUEST would be NACKed.
    cluster.lb_policy = "ROUND_ROBIN";
  }
  const od = policy?.outlierDetection;
  if (od) {
    cluster.outlier_detection = {
      ...(od.consecutive5xxErrors !== undefined
        ? { consecutive_5xx: { value: od.consecutive5xxErrors } }
        : {}),
      ...(od.consecutiveGatewayErrors !== undefined
        ? { consecutive_gateway_failure: { value: od.consecutiveGatewayErrors } }
        : {}),
      ...(od.intervalMs !== undefined ? { interval: duration(od.intervalMs) } : {}),
      ...(od.baseEjectionTimeMs !== undefined ? { base_ejection_time: duration(od.baseEjectionTimeMs) } : {}),
      ...(od.maxEjectionPercent !== undefined
        ? { max_ejection_percent: { value: od.maxEjectionPercent } }
        : {}),
    };
  }
  if (policy?.maxRequests)
    cluster.circuit_breakers = {
      thresholds: [{ priority: "DEFAULT", max_requests: { value: policy.maxRequests } }],
    };
  if (proxy.type === "sidecar" && http2) {
    cluster.typed_extension_protocol_options = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        {
          explicit_http_config: { http2_protocol_options: {} },
        },
      ),
    };
  }
  return cluster;
}

/** A ClusterLoadAssignment grouped by locality, with locality weights set (gRPC drops unweighted localities). */
export function buildLoadAssignment(
  name: string,
  endpoints: readonly MeshEndpoint[],
  port: ServicePort,
  subset: SubsetModel | undefined,
): Proto {
  const byLocality = new Map<string, { locality: Proto; lbEndpoints: Proto[]; weight: number }>();
  const seen = new Set<string>();
  for (const ep of endpoints) {
    if (subset && !labelsMatch(subset.labels, ep.labels)) continue;
    const targetPort = endpointPort(ep, port);
    const key = `${ep.address}:${targetPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const locKey = `${ep.locality.region}/${ep.locality.zone}/${ep.locality.subzone}`;
    let group = byLocality.get(locKey);
    if (!group) {
      group = {
        locality: { region: ep.locality.region, zone: ep.locality.zone, sub_zone: ep.locality.subzone },
        lbEndpoints: [],
        weight: 0,
      };
      byLocality.set(locKey, group);
    }
    group.lbEndpoints.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: targetPort } } },
      health_status: ep.healthy ? "HEALTHY" : "UNHEALTHY",
      load_balancing_weight: { value: ep.weight },
    });
    if (ep.healthy) group.weight += ep.weight;
  }
  const localities = [...byLocality.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({
      locality: g.locality,
      lb_endpoints: g.lbEndpoints,
      load_balancing_weight: { value: Math.max(1, g.weight) },
      priority: 0,
    }));
  return { cluster_name: name, endpoints: localities };
}

/** One outbound cluster of a service: what its Cluster and ClusterLoadAssignment are built from. */
export interface ClusterSpec {
  readonly name: string;
  readonly service: MeshService;
  readonly port: ServicePort;
  readonly subset: SubsetModel | undefined;
  readonly policy: TrafficPolicy | undefined;
  /** `namespace/name` of the DestinationRule in effect, or "" (part of cache keys). */
  readonly destinationRule: string;
}

/** The clusters of every port and subset of a service, as this proxy sees it. */
export function serviceClusterSpecs(ctx: PushContext, proxy: ProxyInfo, service: MeshService): ClusterSpec[] {
  const dr = ctx.destinationRuleFor(service.hostname, proxy);
  const destinationRule = dr ? `${dr.namespace}/${dr.name}` : "";
  const out: ClusterSpec[] = [];
  for (const port of service.ports) {
    const base = clusterName("outbound", port.port, "", service.hostname);
    out.push({ name: base, service, port, subset: undefined, policy: dr?.trafficPolicy, destinationRule });
    for (const subset of dr?.subsets ?? []) {
      out.push({
        name: clusterName("outbound", port.port, subset.name, service.hostname),
        service,
        port,
        subset,
        policy: subsetTrafficPolicy(dr?.trafficPolicy, subset),
        destinationRule,
      });
    }
  }
  return out;
}

export function isHttp2(port: ServicePort): boolean {
  const p = port.protocol.toUpperCase();
  return p === "GRPC" || p === "HTTP2" || p === "KUBERNETES.IO/H2C" || /^(grpc|http2)(-|$)/.test(port.name);
}

export function isHttp(port: ServicePort): boolean {
  const p = port.protocol.toUpperCase();
  return isHttp2(port) || p === "HTTP" || /^http(-|$)/.test(port.name);
}

function stringMatcher(m: StringMatch): Proto {
  if ("exact" in m) return { exact: m.exact };
  if ("prefix" in m) return { prefix: m.prefix };
  return { safe_regex: { regex: m.regex } };
}

function routeMatch(m: HttpMatch | undefined): Proto {
  const match: Proto = {};
  const uri = m?.uri;
  if (!uri) match.prefix = "/";
  else if ("exact" in uri) match.path = uri.exact;
  else if ("prefix" in uri) match.prefix = uri.prefix;
  else match.safe_regex = { regex: uri.regex };
  const headers = Object.entries(m?.headers ?? {}).map(([name, sm]) => ({
    name,
    string_match: stringMatcher(sm),
  }));
  if (headers.length > 0) match.headers = headers;
  return match;
}

const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

function destinationCluster(
  ctx: PushContext,
  host: string,
  subset: string | undefined,
  port: number | undefined,
  fallbackPort: number,
): string {
  const svc = ctx.servicesByHost.get(host);
  let p = port;
  if (p === undefined)
    p = svc?.ports.some((sp) => sp.port === fallbackPort)
      ? fallbackPort
      : svc?.ports.length === 1
        ? svc.ports[0]?.port
        : fallbackPort;
  return clusterName("outbound", p ?? fallbackPort, subset ?? "", host);
}

/** Routes for one service port: the VirtualService's http routes, or a single default route. */
export function buildRoutes(
  ctx: PushContext,
  proxy: ProxyInfo,
  service: MeshService,
  port: ServicePort,
): Proto[] {
  const vs = ctx.virtualServiceFor(service.hostname, proxy);
  const defaultCluster = clusterName("outbound", port.port, "", service.hostname);
  if (!vs) {
    return [
      {
        name: "default",
        match: { prefix: "/" },
        route: { cluster: defaultCluster, ...routeTimeout(proxy, 0) },
      },
    ];
  }
  const routes: Proto[] = [];
  for (const r of vs.http) {
    const action = routeAction(ctx, proxy, r, port.port);
    const matches: (HttpMatch | undefined)[] = r.matches.length > 0 ? [...r.matches] : [undefined];
    for (const m of matches) {
      const route: Proto = { name: r.name, match: routeMatch(m), route: action };
      if (r.fault) route.typed_per_filter_config = { [FAULT_FILTER]: faultConfig(r) };
      routes.push(route);
    }
  }
  return routes;
}

function routeTimeout(proxy: ProxyInfo, ms: number): Proto {
  // Envoy's default route timeout is 15 s; Istio disables it (0) unless the VirtualService sets one.
  if (proxy.type === "grpc")
    return ms > 0 ? { max_stream_duration: { max_stream_duration: duration(ms) } } : {};
  return { timeout: duration(ms) };
}

function routeAction(ctx: PushContext, proxy: ProxyInfo, r: HttpRoute, port: number): Proto {
  const action: Proto = {};
  const dests = r.destinations.filter((d) => d.weight > 0 || r.destinations.length === 1);
  if (dests.length === 1 && dests[0]) {
    action.cluster = destinationCluster(ctx, dests[0].host, dests[0].subset, dests[0].port, port);
  } else {
    action.weighted_clusters = {
      clusters: dests.map((d) => ({
        name: destinationCluster(ctx, d.host, d.subset, d.port, port),
        weight: { value: d.weight },
      })),
    };
  }
  Object.assign(action, routeTimeout(proxy, r.timeoutMs ?? 0));
  if (r.retries && r.retries.attempts > 0) {
    action.retry_policy = {
      retry_on: r.retries.retryOn.length > 0 ? r.retries.retryOn.join(",") : DEFAULT_RETRY_ON,
      num_retries: { value: r.retries.attempts },
      ...(r.retries.perTryTimeoutMs ? { per_try_timeout: duration(r.retries.perTryTimeoutMs) } : {}),
    };
  }
  return action;
}

function faultConfig(r: HttpRoute) {
  const fault: Proto = {};
  const f = r.fault ?? {};
  if (f.delay)
    fault.delay = {
      fixed_delay: duration(f.delay.fixedDelayMs),
      percentage: fractionalPercent(f.delay.percent),
    };
  if (f.abort) {
    fault.abort = {
      percentage: fractionalPercent(f.abort.percent),
      ...(f.abort.grpcStatus !== undefined
        ? { grpc_status: f.abort.grpcStatus }
        : { http_status: f.abort.httpStatus ?? 503 }),
    };
  }
  return packAny("envoy.extensions.filters.http.fault.v3.HTTPFault", fault);
}
