/**
 * Builders of small xDS snapshots for the parity tests, in the shape `decodeAnyDeep` gives
 * (snake_case, Any unpacked with `@type`, int64 as strings, enums as names).
 */
import type { ConfigSnapshot, ParityCase, ParityProxy } from "./types.js";

type Obj = Record<string, unknown>;

const T = "type.googleapis.com/";
export const HCM_AT = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;

export function envoyProxy(id = "app-sidecar"): ParityProxy {
  return {
    id,
    kind: "envoy",
    nodeId: `sidecar~10.0.0.9~${id}.demo~demo.svc.cluster.local`,
    namespace: "demo",
    labels: { app: id },
  };
}

export function parityCase(opts: {
  name?: string;
  features?: string[];
  proxies?: ParityProxy[];
}): ParityCase {
  return {
    name: opts.name ?? "case",
    origin: "feature",
    description: "",
    features: opts.features ?? [],
    kubernetes: [],
    istio: [],
    proxies: opts.proxies ?? [envoyProxy()],
  };
}

function byName(items: readonly Obj[], key = "name"): Record<string, unknown> {
  return Object.fromEntries(items.map((i) => [String(i[key]), i]));
}

export function snapshot(parts: {
  listeners?: Obj[];
  routes?: Obj[];
  clusters?: Obj[];
  endpoints?: Obj[];
}): ConfigSnapshot {
  return {
    listeners: byName(parts.listeners ?? []),
    routes: byName(parts.routes ?? []),
    clusters: byName(parts.clusters ?? []),
    endpoints: byName(parts.endpoints ?? [], "cluster_name"),
  };
}

export function duration(seconds: number, nanos = 0): Obj {
  return { seconds: String(seconds), nanos };
}

export function edsCluster(name: string, extra: Obj = {}): Obj {
  return {
    "@type": `${T}envoy.config.cluster.v3.Cluster`,
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: name },
    connect_timeout: duration(10),
    ...extra,
  };
}

export interface EndpointSpec {
  ip: string;
  port: number;
  zone?: string;
  weight?: number;
  health?: "HEALTHY" | "UNHEALTHY";
}

export function loadAssignment(name: string, endpoints: readonly EndpointSpec[]): Obj {
  const zones = [...new Set(endpoints.map((e) => e.zone ?? ""))];
  return {
    "@type": `${T}envoy.config.endpoint.v3.ClusterLoadAssignment`,
    cluster_name: name,
    endpoints: zones.map((zone) => {
      const mine = endpoints.filter((e) => (e.zone ?? "") === zone);
      return {
        locality: { region: "", zone, sub_zone: "" },
        lb_endpoints: mine.map((e) => ({
          endpoint: { address: { socket_address: { address: e.ip, port_value: e.port } } },
          health_status: e.health ?? "HEALTHY",
          load_balancing_weight: { value: e.weight ?? 1 },
        })),
        load_balancing_weight: { value: mine.reduce((n, e) => n + (e.weight ?? 1), 0) },
        priority: 0,
      };
    }),
  };
}

export function route(cluster: string, extra: { match?: Obj; action?: Obj; name?: string } = {}): Obj {
  return {
    ...(extra.name ? { name: extra.name } : {}),
    match: extra.match ?? { prefix: "/" },
    route: { cluster, timeout: duration(0), ...extra.action },
  };
}

export function virtualHost(name: string, domains: string[], routes: Obj[]): Obj {
  return { name, domains, routes };
}

export function routeConfig(name: string, virtualHosts: Obj[], extra: Obj = {}): Obj {
  return {
    "@type": `${T}envoy.config.route.v3.RouteConfiguration`,
    name,
    virtual_hosts: virtualHosts,
    ...extra,
  };
}

export function httpFilter(name: string, typeName: string, config: Obj = {}): Obj {
  return { name, typed_config: { "@type": `${T}${typeName}`, ...config } };
}

export const FAULT = httpFilter(
  "envoy.filters.http.fault",
  "envoy.extensions.filters.http.fault.v3.HTTPFault",
);
export const ROUTER = httpFilter(
  "envoy.filters.http.router",
  "envoy.extensions.filters.http.router.v3.Router",
);
export const CORS = httpFilter("envoy.filters.http.cors", "envoy.extensions.filters.http.cors.v3.Cors");

export function httpListener(port: number, httpFilters: Obj[], extra: Obj = {}): Obj {
  const name = `0.0.0.0_${port}`;
  return {
    "@type": `${T}envoy.config.listener.v3.Listener`,
    name,
    address: { socket_address: { address: "0.0.0.0", port_value: port } },
    bind_to_port: { value: false },
    traffic_direction: "OUTBOUND",
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_AT,
              stat_prefix: `outbound_0.0.0.0_${port}`,
              rds: {
                route_config_name: String(port),
                config_source: { ads: {}, resource_api_version: "V3" },
              },
              http_filters: httpFilters,
            },
          },
        ],
      },
    ],
    ...extra,
  };
}
