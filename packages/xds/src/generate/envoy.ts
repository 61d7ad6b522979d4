/**
 * Envoy sidecars, in the shape Istio's sidecars use: `virtualOutbound` (15001, original
 * destination) hands connections to per-port listeners (`0.0.0.0_<port>`, bind_to_port false)
 * whose RDS route config is named after the port; `virtualInbound` (15006) has one filter chain
 * per inbound port routing to `inbound|<port>||` clusters, plus a passthrough chain.
 */
import type { MeshService, ServicePort } from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import {
  ADS_SOURCE,
  buildRoutes,
  clusterName,
  duration,
  type GeneratedListeners,
  HCM_TYPE,
  hostAliases,
  httpFilters,
  isHttp,
  isHttp2,
  type Proto,
} from "./common.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";

export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;

const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

function tcpProxy(statPrefix: string, cluster: string, accessLog: Proto | undefined): Proto {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: packAny(TCP_PROXY, {
      stat_prefix: statPrefix,
      cluster,
      ...(accessLog ? { access_log: [accessLog] } : {}),
    }),
  };
}

/** The access log of an HTTP connection manager (Istio puts it on every one, and on tcp_proxy). */
function hcmAccessLog(accessLog: Proto | undefined): Proto {
  return accessLog ? { access_log: [accessLog] } : {};
}

function socketAddress(address: string, port: number): Proto {
  return { socket_address: { address, port_value: port } };
}

/** Ports of services whose endpoints include this proxy's IP. */
function inboundPorts(
  ctx: PushContext,
  proxy: ProxyInfo,
): { service: MeshService; port: ServicePort; targetPort: number }[] {
  const out: { service: MeshService; port: ServicePort; targetPort: number }[] = [];
  const seen = new Set<number>();
  if (proxy.ip === undefined) return out;
  for (const service of ctx.servicesAt(proxy.ip)) {
    const mine = ctx.model.endpoints.get(service.hostname)?.find((e) => e.address === proxy.ip);
    if (!mine) continue;
    for (const port of service.ports) {
      const targetPort = mine.ports[port.name] ?? port.targetPort;
      if (seen.has(targetPort)) continue;
      seen.add(targetPort);
      out.push({ service, port, targetPort });
    }
  }
  return out;
}

/** Clusters every Envoy sidecar has, whatever it sees. */
export function envoyFixedClusters(): Map<string, Proto> {
  const out = new Map<string, Proto>();
  out.set("PassthroughCluster", {
    name: "PassthroughCluster",
    type: "ORIGINAL_DST",
    lb_policy: "CLUSTER_PROVIDED",
    connect_timeout: duration(10_000),
    typed_extension_protocol_options: passthroughProtocolOptions(),
  });
  out.set("BlackHoleCluster", {
    name: "BlackHoleCluster",
    type: "STATIC",
    connect_timeout: duration(10_000),
  });
  out.set("InboundPassthroughCluster", {
    name: "InboundPassthroughCluster",
    type: "ORIGINAL_DST",
    lb_policy: "CLUSTER_PROVIDED",
    connect_timeout: duration(10_000),
    upstream_bind_config: { source_address: { address: "127.0.0.6", port_value: 0 } },
    typed_extension_protocol_options: passthroughProtocolOptions(),
  });
  return out;
}

/**
 * Passthrough clusters speak upstream what the client spoke downstream (Istio's passthrough
 * HttpProtocolOptions): HTTP routes reach them for hosts outside the registry, and an HTTP/2 or
 * gRPC request forwarded as HTTP/1.1 would fail.
 */
function passthroughProtocolOptions(): Record<string, unknown> {
  return {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } },
    ),
  };
}

/**
 * Outbound listeners and routes of an Envoy sidecar: depends only on what it sees (its view),
 * never on its IP, so every sidecar with the same view shares them.
 */
export function generateEnvoyOutbound(
  ctx: PushContext,
  proxy: ProxyInfo,
  visible: readonly MeshService[],
): GeneratedListeners {
  const out: GeneratedListeners = { lds: new Map(), rds: new Map() };
  const ext = ctx.envoyFiltersFor(proxy).filters;
  const accessLog = ctx.accessLog;
  const httpPorts = new Map<number, { service: MeshService; port: ServicePort }[]>();
  const tcpPorts = new Map<number, { service: MeshService; port: ServicePort }>();
  for (const service of visible) {
    for (const port of service.ports) {
      if (isHttp(port)) {
        const list = httpPorts.get(port.port) ?? [];
        list.push({ service, port });
        httpPorts.set(port.port, list);
      } else if (!tcpPorts.has(port.port) && !httpPorts.has(port.port)) {
        tcpPorts.set(port.port, { service, port });
      }
    }
  }
  // Outbound: one listener + route config per HTTP port; TCP ports proxy to the port's (first) service.
  for (const [portNumber, entries] of [...httpPorts.entries()].sort(([a], [b]) => a - b)) {
    const name = `0.0.0.0_${portNumber}`;
    out.lds.set(name, {
      name,
      address: socketAddress("0.0.0.0", portNumber),
      bind_to_port: { value: false },
      traffic_direction: "OUTBOUND",
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typed_config: packAny(HCM_TYPE, {
                stat_prefix: `outbound_0.0.0.0_${portNumber}`,
                rds: { route_config_name: String(portNumber), config_source: ADS_SOURCE },
                http_filters: httpFilters(ext.http?.outbound),
                ...hcmAccessLog(accessLog),
              }),
            },
          ],
        },
      ],
    });
    const usedDomains = new Set<string>();
    const virtualHosts = entries.map(({ service, port }) => {
      const domains = hostAliases(service, proxy)
        .flatMap((a) => [a, `${a}:${portNumber}`])
        .filter((d) => !usedDomains.has(d));
      for (const d of domains) usedDomains.add(d);
      return {
        name: `${service.hostname}:${portNumber}`,
        domains,
        routes: buildRoutes(ctx, proxy, service, port),
      };
    });
    virtualHosts.push({
      name: "allow_any",
      domains: ["*"],
      routes: [
        {
          name: "allow_any",
          match: { prefix: "/" },
          route: { cluster: "PassthroughCluster", timeout: duration(0) },
        },
      ],
    });
    out.rds.set(String(portNumber), {
      name: String(portNumber),
      virtual_hosts: virtualHosts,
      validate_clusters: { value: false },
    });
  }
  for (const [portNumber, { service, port }] of [...tcpPorts.entries()].sort(([a], [b]) => a - b)) {
    if (httpPorts.has(portNumber)) continue;
    const name = `0.0.0.0_${portNumber}`;
    const cluster = clusterName("outbound", port.port, "", service.hostname);
    out.lds.set(name, {
      name,
      address: socketAddress("0.0.0.0", portNumber),
      bind_to_port: { value: false },
      traffic_direction: "OUTBOUND",
      filter_chains: [{ filters: [...(ext.network?.outbound ?? []), tcpProxy(cluster, cluster, accessLog)] }],
    });
  }
  out.lds.set("virtualOutbound", {
    name: "virtualOutbound",
    address: socketAddress("0.0.0.0", VIRTUAL_OUTBOUND_PORT),
    use_original_dst: { value: true },
    traffic_direction: "OUTBOUND",
    filter_chains: [
      {
        name: "virtualOutbound-catchall-tcp",
        filters: [tcpProxy("PassthroughCluster", "PassthroughCluster", accessLog)],
      },
    ],
  });

  return out;
}

/** Inbound clusters and the virtualInbound listener of an Envoy sidecar: depend on its IP. */
export function generateEnvoyInbound(
  ctx: PushContext,
  proxy: ProxyInfo,
): {
  cds: Map<string, Proto>;
  lds: Map<string, Proto>;
} {
  const out = { cds: new Map<string, Proto>(), lds: new Map<string, Proto>() };
  const ext = ctx.envoyFiltersFor(proxy).filters;
  const accessLog = ctx.accessLog;
  // Inbound: one chain per served port, then a passthrough chain.
  const chains: Proto[] = [];
  for (const { port, targetPort } of inboundPorts(ctx, proxy)) {
    const cluster = clusterName("inbound", targetPort, "", "");
    out.cds.set(cluster, {
      name: cluster,
      type: "STATIC",
      connect_timeout: duration(10_000),
      load_assignment: {
        cluster_name: cluster,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress("127.0.0.1", targetPort) } }] }],
      },
      ...(isHttp2(port)
        ? {
            typed_extension_protocol_options: {
              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                {
                  explicit_http_config: { http2_protocol_options: {} },
                },
              ),
            },
          }
        : {}),
    });
    const filter = isHttp(port)
      ? {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: packAny(HCM_TYPE, {
            stat_prefix: `inbound_0.0.0.0_${targetPort}`,
            route_config: {
              name: cluster,
              virtual_hosts: [
                {
                  name: "inbound|http",
                  domains: ["*"],
                  routes: [
                    { name: "default", match: { prefix: "/" }, route: { cluster, timeout: duration(0) } },
                  ],
                },
              ],
            },
            http_filters: httpFilters(ext.http?.inbound),
            ...hcmAccessLog(accessLog),
          }),
        }
      : undefined;
    chains.push({
      name: cluster,
      filter_chain_match: { destination_port: { value: targetPort } },
      filters: filter ? [filter] : [...(ext.network?.inbound ?? []), tcpProxy(cluster, cluster, accessLog)],
    });
  }
  chains.push({
    name: "virtualInbound-catchall",
    filters: [tcpProxy("InboundPassthroughCluster", "InboundPassthroughCluster", accessLog)],
  });
  out.lds.set("virtualInbound", {
    name: "virtualInbound",
    address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
    traffic_direction: "INBOUND",
    listener_filters: [
      {
        name: "envoy.filters.listener.original_dst",
        typed_config: packAny("envoy.extensions.filters.listener.original_dst.v3.OriginalDst", {}),
      },
    ],
    filter_chains: chains,
  });
  return out;
}
