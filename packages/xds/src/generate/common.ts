/** Building blocks shared by the proxyless-gRPC and Envoy generators (plain proto-shaped objects). */
import { endpointPort, labelsMatch } from "../model/assemble.js";
import { isIpLiteral } from "../model/parse-documents.js";
import {
  DEFAULT_DOMAIN_SUFFIX,
  type Locality,
  type MeshEndpoint,
  type MeshService,
  type ServicePort,
  type SubsetModel,
} from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import { applyLocalityLb, type LocalityGroup, type LocalityLbPlan } from "./locality-lb.js";
import type { ProxyInfo } from "./proxy.js";

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

/** Where Istio's proxies live in DNS: `<namespace>.svc.<suffix>` (Istio's `Proxy.DNSDomain`). */
function proxyDnsDomain(proxy: ProxyInfo): string {
  return `${proxy.namespace}.svc.${DEFAULT_DOMAIN_SUFFIX}`;
}

/** `host:port`, with an IPv6 literal bracketed (Istio's `util.DomainName`). */
function domainWithPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function withPort(host: string, port: number | undefined): string[] {
  const bare = host.includes(":") ? `[${host}]` : host;
  return port === undefined ? [bare] : [bare, domainWithPort(host, port)];
}

/**
 * The VIPs a client may dial a service at: a Kubernetes Service's cluster IP, a ServiceEntry's
 * single-IP `addresses` (a CIDR is no Host header).
 *
 * @example
 * serviceVips({ ...svc, clusterIP: "10.96.0.20" }); // ["10.96.0.20"]
 */
export function serviceVips(service: MeshService): string[] {
  if (service.clusterIP) return [service.clusterIP];
  return (service.addresses ?? [])
    .map((a) => (a.endsWith("/32") || a.endsWith("/128") ? a.slice(0, a.lastIndexOf("/")) : a))
    .filter((a) => !a.includes("/"));
}

/** Istio's `GenerateAltVirtualHosts` for a DNS domain with `.svc.` (every Kubernetes proxy's). */
function altVirtualHosts(hostname: string, port: number | undefined, proxyDomain: string): string[] {
  const out = isIpLiteral(hostname) ? [] : [`${hostname}.`];
  if (port !== undefined) out.push(domainWithPort(`${hostname}.`, port));
  const id = proxyDomain.indexOf(".svc.");
  if (!hostname.endsWith(proxyDomain.slice(id))) return out;
  const ih = hostname.indexOf(".svc.");
  if (ih <= 0) return out;
  const ns = hostname.indexOf(".");
  if (ns + 1 >= hostname.length || ns + 1 > ih) return out;
  const nameNs = hostname.slice(0, ih);
  if (hostname.slice(ns + 1, ih) === proxyDomain.slice(0, id))
    return [
      ...out,
      ...withPort(hostname.slice(0, ns), port),
      ...withPort(`${nameNs}.svc`, port),
      ...withPort(nameNs, port),
    ];
  return [...out, ...withPort(nameNs, port), ...withPort(`${nameNs}.svc`, port)];
}

/**
 * The domains of a service's virtual host, as istiod's `generateVirtualHostDomains`: the host,
 * its absolute form (`host.`), the short Kubernetes forms the proxy's namespace allows, and the
 * VIPs. Envoy sidecars get them without ports (their route configs set
 * `ignore_port_in_host_matching`); proxyless gRPC, which has no such switch, gets each with
 * `:port` as well (`port` given).
 *
 * @example
 * // web.demo (VIP 10.96.0.20) seen from a sidecar in demo:
 * virtualHostDomains(web, sidecar, undefined);
 * // ["web.demo.svc.cluster.local", "web.demo.svc.cluster.local.", "web", "web.demo.svc", "web.demo", "10.96.0.20"]
 */
export function virtualHostDomains(
  service: MeshService,
  proxy: ProxyInfo,
  port: number | undefined,
): string[] {
  const domains = [
    ...withPort(service.hostname, port),
    ...altVirtualHosts(service.hostname, port, proxyDnsDomain(proxy)),
  ];
  for (const vip of serviceVips(service)) if (vip !== "0.0.0.0") domains.push(...withPort(vip, port));
  return domains;
}

/** The HTTP filter chain; `extra` filters (see filter-extensions.ts) go right before the router. */
export function httpFilters(extra: readonly object[] = []): Proto[] {
  return [
    { name: FAULT_FILTER, typed_config: packAny("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
    ...(extra as Proto[]),
    { name: ROUTER_FILTER, typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}) },
  ];
}

/** A locality's weight: its healthy endpoints' weights (gRPC drops a locality without one). */
function localityWeight(endpoints: readonly MeshEndpoint[]): number {
  let weight = 0;
  for (const ep of endpoints) if (ep.healthy) weight += ep.weight;
  return Math.max(1, weight);
}

/**
 * A ClusterLoadAssignment grouped by locality, with locality weights set (gRPC drops unweighted
 * localities). With a locality plan (generate/locality-lb.ts) the priorities and weights are
 * this `proxy`'s: the result then depends on what `localityLbKey` names.
 *
 * @example
 * buildLoadAssignment(spec.name, endpoints, spec.port, spec.subset).endpoints; // one entry per locality
 */
export function buildLoadAssignment(
  name: string,
  endpoints: readonly MeshEndpoint[],
  port: ServicePort,
  subset: SubsetModel | undefined,
  locality?: { readonly plan: LocalityLbPlan; readonly proxy: ProxyInfo },
): Proto {
  const byLocality = new Map<
    string,
    { locality: Locality; lbEndpoints: Proto[]; endpoints: MeshEndpoint[] }
  >();
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
      group = { locality: ep.locality, lbEndpoints: [], endpoints: [] };
      byLocality.set(locKey, group);
    }
    group.lbEndpoints.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: targetPort } } },
      // istiod leaves a ServiceEntry's own endpoints UNKNOWN (Envoy routes to them as healthy).
      ...(ep.source.kind === "ServiceEntry" && ep.healthy
        ? {}
        : { health_status: ep.healthy ? "HEALTHY" : "UNHEALTHY" }),
      load_balancing_weight: { value: ep.weight },
    });
    group.endpoints.push(ep);
  }
  let groups: LocalityGroup[] = [...byLocality.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({ ...g, weight: localityWeight(g.endpoints), priority: 0 }));
  if (locality) groups = applyLocalityLb(groups, locality.plan, locality.proxy, localityWeight);
  return {
    cluster_name: name,
    endpoints: groups.map((g) => ({
      locality: { region: g.locality.region, zone: g.locality.zone, sub_zone: g.locality.subzone },
      lb_endpoints: g.lbEndpoints,
      load_balancing_weight: { value: g.weight },
      priority: g.priority,
    })),
  };
}

/** Istio's `protocol.IsGRPC()`: GRPC or GRPC-Web, declared or from a `grpc` / `grpc-web` name prefix. */
export function isGrpc(port: ServicePort): boolean {
  const p = port.protocol.toUpperCase();
  return p === "GRPC" || p === "GRPC-WEB" || /^grpc(-|$)/.test(port.name);
}

export function isHttp2(port: ServicePort): boolean {
  const p = port.protocol.toUpperCase();
  return p === "GRPC" || p === "HTTP2" || p === "KUBERNETES.IO/H2C" || /^(grpc|http2)(-|$)/.test(port.name);
}

export function isHttp(port: ServicePort): boolean {
  const p = port.protocol.toUpperCase();
  return isHttp2(port) || p === "HTTP" || /^http(-|$)/.test(port.name);
}
