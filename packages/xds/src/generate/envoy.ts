/**
 * Envoy sidecars, in the shape istiod sends a stock Envoy without mTLS: `virtualOutbound`
 * (15001, original destination) hands connections to per-port listeners (bind_to_port false):
 * `0.0.0.0_<port>` for HTTP ports (plaintext HTTP to an HCM whose RDS route config is named after
 * the port, anything else to the outbound catch-all), `<vip>_<port>` for a TCP port of a service
 * with a VIP, `0.0.0.0_<port>` for one without; a Sidecar's egress listeners with a port come
 * first (sidecar-scope.ts). `virtualInbound` (15006) has a plaintext chain per served port (the
 * Sidecar's `ingress` ports if it has any, else the ports of the services selecting the workload)
 * to its `inbound|<port>||` cluster, then the passthrough chains.
 * istiod's mTLS chains (TLS transport sockets with Istio's SDS certificates) are left out.
 */
import { isIP } from "node:net";
import { sidecarPortKind } from "../model/sidecar.js";
import type {
  MeshService,
  OutboundTrafficMode,
  ServicePort,
  SidecarIngressListener,
  SidecarModel,
} from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import { outboundCatchAllCluster } from "./clusters.js";
import {
  ADS_SOURCE,
  clusterName,
  duration,
  type GeneratedListeners,
  HCM_TYPE,
  httpFilters,
  isGrpc,
  isHttp,
  isHttp2,
  type Proto,
  serviceVips,
  virtualHostDomains,
} from "./common.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";
import { buildRoutes, tcpRouteClusters, tlsRouteChains, withCorsFilter } from "./routes.js";
import { addServiceEntryTcpListeners, isPlacedServiceEntryPort } from "./service-entry-listeners.js";
import { type EgressListenerScope, sidecarEgressScope } from "./sidecar-scope.js";

export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;

/** MeshConfig `outboundTrafficPolicy.mode` default. */
export const DEFAULT_OUTBOUND_TRAFFIC_MODE: OutboundTrafficMode = "ALLOW_ANY";

/** istiod's `DefaultMaxDirectResponseBodySizeBytes` (1 MiB) on every outbound route config. */
const MAX_DIRECT_RESPONSE_BODY_BYTES = 1_048_576;

const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** `cluster` is a cluster name, or `{cluster}` / `{weighted_clusters}` from a VirtualService tcp/tls route. */
function tcpProxy(statPrefix: string, cluster: string | Proto, accessLog: Proto | undefined): Proto {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: packAny(TCP_PROXY, {
      stat_prefix: statPrefix,
      ...(typeof cluster === "string" ? { cluster } : cluster),
      ...(accessLog ? { access_log: [accessLog] } : {}),
    }),
  };
}

/** A MongoDB port (Istio's protocol `Mongo`: the port's protocol, or a `mongo` / `mongo-*` name). */
function isMongo(port: ServicePort): boolean {
  return port.protocol.toUpperCase() === "MONGO" || /^mongo(-|$)/.test(port.name);
}

/**
 * istiod's Mongo sniffing filter before tcp_proxy (PILOT_ENABLE_MONGO_FILTER, on by default):
 * statistics and protocol logs only, the bytes pass unchanged.
 */
function mongoProxy(statPrefix: string): Proto {
  return {
    name: "envoy.filters.network.mongo_proxy",
    typed_config: packAny("envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy", {
      stat_prefix: statPrefix,
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

/** The source address of inbound upstream connections (Istio's `InboundPassthroughBindIpv4`). */
const INBOUND_PASSTHROUGH_BIND_IP = "127.0.0.6";

/** istiod's inbound `cleanup_interval`: Go's largest Duration in seconds, i.e. never. */
const INBOUND_CLEANUP_INTERVAL_S = 9_223_372_035;

const MAX_UINT32 = 4_294_967_295;

/** istiod's inbound circuit breaker: every threshold at its maximum. */
const UNLIMITED_CIRCUIT_BREAKER: Proto = {
  max_connections: { value: MAX_UINT32 },
  max_pending_requests: { value: MAX_UINT32 },
  max_requests: { value: MAX_UINT32 },
  max_retries: { value: MAX_UINT32 },
};

/** istiod's connect timeout for a chain's transport socket (TLS handshake), on every sidecar chain. */
const TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS = 15_000;

/**
 * Listener-level fields istiod sets on every outbound port listener: listener filters never wait
 * (timeout 0) and a connection they could not classify still goes on to the filter chains.
 */
const LISTENER_FILTER_DEFAULTS: Proto = {
  listener_filters_timeout: duration(0),
  continue_on_listener_filters_timeout: true,
};

function listenerFilter(name: string, type: string): Proto {
  return { name: `envoy.filters.listener.${name}`, typed_config: packAny(type, {}) };
}

const HTTP_INSPECTOR = listenerFilter(
  "http_inspector",
  "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
);

/** Plaintext HTTP, as the http_inspector listener filter classifies it. */
const PLAINTEXT_HTTP_MATCH: Proto = {
  transport_protocol: "raw_buffer",
  application_protocols: ["http/1.1", "h2c"],
};

/** The RDS source of a sidecar HCM: ADS, and no initial fetch timeout (istiod's). */
const SIDECAR_RDS_SOURCE: Proto = { ...ADS_SOURCE, initial_fetch_timeout: duration(0) };

/** A tag read from the RBAC filter's dry-run (shadow) metadata, as istiod's `optionalPolicyTags`. */
function dryRunTag(tag: string, key: string): Proto {
  return {
    tag,
    metadata: {
      kind: { request: {} },
      metadata_key: { key: "envoy.filters.http.rbac", path: [{ key }] },
    },
  };
}

/**
 * istiod's HCM `tracing` with no tracing provider configured: 100 % client and overall
 * sampling, 1 % random sampling (PILOT_TRACE_SAMPLING), and Istio's custom tags
 * (`buildServiceTags` reads the canonical labels and the node's MESH_ID / CLUSTER_ID).
 */
function sidecarTracing(proxy: ProxyInfo): Proto {
  const meta = proxy.node.metadata;
  const str = (v: unknown, fallback: string) => (typeof v === "string" && v !== "" ? v : fallback);
  const literal = (tag: string, value: string) => ({ tag, literal: { value } });
  return {
    client_sampling: { value: 100 },
    random_sampling: { value: 1 },
    overall_sampling: { value: 100 },
    custom_tags: [
      dryRunTag(
        "istio.authorization.dry_run.allow_policy.name",
        "istio_dry_run_allow_shadow_effective_policy_id",
      ),
      dryRunTag(
        "istio.authorization.dry_run.allow_policy.result",
        "istio_dry_run_allow_shadow_engine_result",
      ),
      dryRunTag(
        "istio.authorization.dry_run.deny_policy.name",
        "istio_dry_run_deny_shadow_effective_policy_id",
      ),
      dryRunTag("istio.authorization.dry_run.deny_policy.result", "istio_dry_run_deny_shadow_engine_result"),
      literal("istio.canonical_revision", str(proxy.labels["service.istio.io/canonical-revision"], "latest")),
      literal("istio.canonical_service", str(proxy.labels["service.istio.io/canonical-name"], "unknown")),
      literal("istio.cluster_id", str(meta.CLUSTER_ID, "unknown")),
      literal("istio.mesh_id", str(meta.MESH_ID, "unknown")),
      literal("istio.namespace", str(proxy.namespace, "default")),
    ],
  };
}

/**
 * An inbound HCM as istiod builds it: one catch-all route to `cluster` (no timeout, retried
 * only before the request went out), and the headers of a server-side sidecar.
 */
function inboundHcm(
  proxy: ProxyInfo,
  statPrefix: string,
  routeConfigName: string,
  virtualHostName: string,
  opts: {
    cluster: string;
    operation: string;
    filters: Proto[];
    accessLog: Proto | undefined;
    /** An HTTP2/GRPC port: istiod sets (default) HTTP/2 options on its HCM. */
    http2?: boolean;
    /** A GRPC / GRPC-Web port: no retry policy. */
    grpc?: boolean;
  },
): Proto {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: packAny(HCM_TYPE, {
      stat_prefix: statPrefix,
      route_config: {
        name: routeConfigName,
        virtual_hosts: [
          {
            name: virtualHostName,
            domains: ["*"],
            routes: [
              {
                name: "default",
                match: { prefix: "/" },
                route: {
                  cluster: opts.cluster,
                  timeout: duration(0),
                  // istiod: "reset-before-request" does not suit gRPC streams, so not for gRPC ports.
                  ...(opts.grpc
                    ? {}
                    : { retry_policy: { retry_on: "reset-before-request", num_retries: { value: 2 } } }),
                  max_stream_duration: {
                    max_stream_duration: duration(0),
                    grpc_timeout_header_max: duration(0),
                  },
                },
                decorator: { operation: opts.operation },
              },
            ],
          },
        ],
        validate_clusters: { value: false },
      },
      http_filters: opts.filters,
      ...(opts.http2 ? { http2_protocol_options: {} } : {}),
      server_name: "istio-envoy",
      forward_client_cert_details: "APPEND_FORWARD",
      set_current_client_cert_details: { subject: { value: true }, dns: true, uri: true },
      ...sidecarHcmDefaults(proxy),
      ...hcmAccessLog(opts.accessLog),
    }),
  };
}

/**
 * HCM settings istiod gives every sidecar HCM: no stream idle timeout, 100-continue proxied,
 * websocket upgrades, normalized paths, the client address not trusted, and tracing.
 */
function sidecarHcmDefaults(proxy: ProxyInfo): Proto {
  return {
    tracing: sidecarTracing(proxy),
    use_remote_address: { value: false },
    proxy_100_continue: true,
    upgrade_configs: [{ upgrade_type: "websocket" }],
    stream_idle_timeout: duration(0),
    normalize_path: { value: true },
  };
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

/** One inbound port: its chain on virtualInbound and its `inbound|<targetPort>||` cluster. */
interface InboundServedPort {
  readonly port: ServicePort;
  readonly targetPort: number;
  readonly chainName: string;
  /** The host in the route's trace operation (`<host>:<port>/*`). */
  readonly host: string;
  /** A Sidecar ingress defaultEndpoint (absent: the original destination). */
  readonly endpoint?: { readonly address: Proto; readonly loopback: boolean };
  /** captureMode NONE: its own listener bound to this address instead of a virtualInbound chain. */
  readonly bound?: { readonly address: string };
}

/** istiod's `GlobalUnicastIP`: an address that is not loopback, link-local, multicast or unspecified. */
function isGlobalUnicastIpv4(ip: string | undefined): ip is string {
  if (ip === undefined || isIP(ip) !== 4) return false;
  const [a = 0, b = 0] = ip.split(".").map(Number);
  return !(a === 0 || a === 127 || a >= 224 || (a === 169 && b === 254));
}

/**
 * istiod's Sidecar ingress defaultEndpoint (buildInboundClustersFromSidecar) for an IPv4
 * proxy: 127.0.0.1 / [::1] send to 127.0.0.1 (iptables does not capture loopback), 0.0.0.0 /
 * [::] to the pod IP, unix:// to the socket.
 */
function ingressEndpoint(
  defaultEndpoint: string,
  proxy: ProxyInfo,
): { address: Proto; loopback: boolean } | undefined {
  if (defaultEndpoint.startsWith("unix://"))
    return { address: { pipe: { path: defaultEndpoint.slice("unix://".length) } }, loopback: false };
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(defaultEndpoint);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  const podIp = proxy.ip !== undefined && isIP(proxy.ip) === 4 ? proxy.ip : undefined;
  // istiod: 0.0.0.0 is the first IPv4 of the proxy, else 127.0.0.1; [::] its first IPv6, else ::1.
  const address =
    host === "0.0.0.0"
      ? (podIp ?? "127.0.0.1")
      : host === "::"
        ? "::1"
        : host === ""
          ? undefined
          : "127.0.0.1";
  if (address === undefined) return undefined;
  return {
    address: socketAddress(address, port),
    loopback: address === "127.0.0.1" || address === "::1",
  };
}

/**
 * The ports this sidecar serves inbound: its Sidecar's `ingress` listeners when it has any
 * (istiod then ignores the ports of the services selecting it:
 * PILOT_ALLOW_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE is off by default), else the ports of the
 * services whose endpoints include its IP.
 */
function inboundServedPorts(ctx: PushContext, proxy: ProxyInfo): InboundServedPort[] {
  const sidecar = ctx.sidecarFor(proxy);
  if (sidecar && sidecar.ingress.length > 0) return ingressServedPorts(sidecar, proxy);
  return inboundPorts(ctx, proxy).map(({ service, port, targetPort }) => ({
    port,
    targetPort,
    chainName: `0.0.0.0_${targetPort}`,
    host: service.hostname,
  }));
}

/** istiod's buildInboundChainConfigs for `Sidecar.ingress`, sorted by port as istiod sorts them. */
function ingressServedPorts(sidecar: SidecarModel, proxy: ProxyInfo): InboundServedPort[] {
  // Without a bind, istiod names the chain after the proxy's global unicast IP (getSidecarInboundBindIPs).
  const defaultBind = isGlobalUnicastIpv4(proxy.ip) ? proxy.ip : "0.0.0.0";
  const out: InboundServedPort[] = [];
  for (const ingress of [...sidecar.ingress].sort((a, b) => a.port.number - b.port.number)) {
    // `:PORT` (no host) leaves the original destination, as in istiod.
    const endpoint = ingress.defaultEndpoint ? ingressEndpoint(ingress.defaultEndpoint, proxy) : undefined;
    out.push({
      port: ingressServicePort(ingress),
      targetPort: ingress.port.number,
      chainName: `${ingress.bind ?? defaultBind}_${ingress.port.number}`,
      ...(ingress.captureMode === "NONE" ? { bound: { address: ingress.bind ?? defaultBind } } : {}),
      // istiod's synthetic host for a Sidecar's own ports: `<sidecar>.<namespace>`.
      host: `${sidecar.name}.${sidecar.namespace}`,
      ...(endpoint ? { endpoint } : {}),
    });
  }
  return out;
}

/** An ingress port as a service port; its name does not pick the protocol (istiod reads only `protocol`). */
function ingressServicePort(ingress: SidecarIngressListener): ServicePort {
  const kind = sidecarPortKind(ingress.port.protocol);
  return {
    // Not its name: a `grpc-…` or `mongo` name would pick a protocol here, not in istiod.
    name: "",
    port: ingress.port.number,
    targetPort: ingress.port.number,
    protocol: kind === "http" ? ingress.port.protocol : "TCP",
  };
}

/**
 * Where this sidecar's traffic to destinations outside the registry goes: its Sidecar's
 * `outboundTrafficPolicy`, else the mesh default (Istio's MeshConfig default, ALLOW_ANY).
 * The Sidecar is part of the view key, so proxies sharing a view share the mode.
 */
export function outboundTrafficMode(ctx: PushContext, proxy: ProxyInfo): OutboundTrafficMode {
  return ctx.sidecarFor(proxy)?.outboundTrafficPolicy ?? DEFAULT_OUTBOUND_TRAFFIC_MODE;
}

/**
 * istiod's catch-all virtual host of every outbound HTTP route config: `allow_any` to the
 * PassthroughCluster, or with REGISTRY_ONLY `block_all`, answering 502 itself.
 */
function catchAllVirtualHost(mode: OutboundTrafficMode): {
  name: string;
  domains: string[];
  routes: Proto[];
  include_request_attempt_count: boolean;
} {
  if (mode === "REGISTRY_ONLY")
    return {
      name: "block_all",
      domains: ["*"],
      routes: [{ name: "block_all", match: { prefix: "/" }, direct_response: { status: 502 } }],
      include_request_attempt_count: true,
    };
  return {
    name: "allow_any",
    domains: ["*"],
    routes: [
      {
        name: "allow_any",
        match: { prefix: "/" },
        route: { cluster: "PassthroughCluster", timeout: duration(0), max_grpc_timeout: duration(0) },
      },
    ],
    include_request_attempt_count: true,
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
  const outboundMode = outboundTrafficMode(ctx, proxy);
  const catchAll = outboundCatchAllCluster(outboundMode);
  const scope = sidecarEgressScope(ctx.sidecarFor(proxy), proxy, visible);
  const httpPorts = new Map<number, { service: MeshService; port: ServicePort }[]>();
  const tcpPorts = new Map<number, { service: MeshService; port: ServicePort }>();
  const vipTcp: { service: MeshService; port: ServicePort; vip: string }[] = [];
  // ServiceEntry TCP ports placed by address or SNI (service-entry-listeners.ts).
  const serviceEntryTcp: { service: MeshService; port: ServicePort }[] = [];
  // As istiod: the Sidecar's egress listeners with a port come first and take their
  // `<address>_<port>`; the port-less catch-all then adds no service to those ("locked").
  const locked = new Set<string>();
  const portListeners: EgressListenerScope[] = [];
  let catchAllServices: readonly MeshService[] = [];
  for (const l of scope.listeners) {
    if (l.listener.port === undefined) catchAllServices = l.services;
    else portListeners.push(l);
  }
  const httpRoutes = (
    portNumber: number,
    entries: readonly { service: MeshService; port: ServicePort }[],
  ) => {
    // As istiod: port-less domains (a domain is used once per route config, first service wins)
    // and `ignore_port_in_host_matching`, so `Host: svc:9080` and `Host: svc` match alike.
    const usedDomains = new Set<string>();
    const virtualHosts = entries
      .map(({ service, port }) => {
        const domains = virtualHostDomains(service, proxy, undefined).filter(
          (d) => !usedDomains.has(d.toLowerCase()),
        );
        for (const d of domains) usedDomains.add(d.toLowerCase());
        return {
          name: `${service.hostname}:${portNumber}`,
          domains,
          routes: buildRoutes(ctx, proxy, service, port),
          include_request_attempt_count: true,
        };
      })
      .filter((vh) => vh.domains.length > 0);
    virtualHosts.push(catchAllVirtualHost(outboundMode));
    return {
      name: String(portNumber),
      virtual_hosts: virtualHosts,
      validate_clusters: { value: false },
      max_direct_response_body_size_bytes: { value: MAX_DIRECT_RESPONSE_BODY_BYTES },
      ignore_port_in_host_matching: true,
    };
  };
  const outboundHcm = (statName: string, portNumber: number): Proto => ({
    name: "envoy.filters.network.http_connection_manager",
    typed_config: packAny(HCM_TYPE, {
      stat_prefix: `outbound_${statName}`,
      rds: { route_config_name: String(portNumber), config_source: SIDECAR_RDS_SOURCE },
      http_filters: httpFilters(withCorsFilter(ext.http?.outbound ?? [])),
      ...sidecarHcmDefaults(proxy),
      ...hcmAccessLog(accessLog),
    }),
  });
  for (const service of catchAllServices) {
    for (const port of service.ports) {
      if (isHttp(port)) {
        const list = httpPorts.get(port.port) ?? [];
        list.push({ service, port });
        httpPorts.set(port.port, list);
      } else if (isPlacedServiceEntryPort(service, port)) {
        serviceEntryTcp.push({ service, port });
      } else if (serviceVips(service).length > 0) {
        // As istiod: a TCP port of a service with a VIP gets its own `<vip>_<port>` listener.
        for (const vip of serviceVips(service)) vipTcp.push({ service, port, vip });
      } else if (!tcpPorts.has(port.port) && !httpPorts.has(port.port)) {
        tcpPorts.set(port.port, { service, port });
      }
    }
  }
  /** istiod's wildcard HTTP listener: the http_inspector sends plaintext HTTP to the HCM, the rest to the catch-all. */
  const sniffedHttpListener = (portNumber: number): Proto => ({
    name: `0.0.0.0_${portNumber}`,
    address: socketAddress("0.0.0.0", portNumber),
    bind_to_port: { value: false },
    traffic_direction: "OUTBOUND",
    listener_filters: [HTTP_INSPECTOR],
    ...LISTENER_FILTER_DEFAULTS,
    filter_chains: [
      {
        filter_chain_match: PLAINTEXT_HTTP_MATCH,
        filters: [outboundHcm(`0.0.0.0_${portNumber}`, portNumber)],
        transport_socket_connect_timeout: duration(TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS),
      },
    ],
    default_filter_chain: {
      name: "PassthroughFilterChain",
      filter_chain_match: {},
      filters: [tcpProxy(catchAll, catchAll, accessLog)],
    },
  });
  const addTcpListener = (
    address: string,
    service: MeshService,
    port: ServicePort,
    bound?: { readonly bindToPort: boolean },
  ) => {
    const portNumber = port.port;
    const name = `${address}_${portNumber}`;
    if (locked.has(name)) return;
    const cluster = clusterName("outbound", port.port, "", service.hostname);
    // VirtualService tcp routes (weighted clusters) and tls routes (a filter chain per SNI set).
    const vs = ctx.virtualServiceFor(service.hostname, proxy);
    const connectTimeout = {
      transport_socket_connect_timeout: duration(TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS),
    };
    const tlsChains = tlsRouteChains(ctx, proxy, vs, portNumber).map((t) => ({
      filter_chain_match: { server_names: t.serverNames },
      filters: [...(ext.network?.outbound ?? []), tcpProxy(cluster, t.clusters, accessLog)],
      ...connectTimeout,
    }));
    const target = tcpRouteClusters(ctx, proxy, vs, portNumber) ?? cluster;
    out.lds.set(name, {
      name,
      address: socketAddress(address, portNumber),
      ...(bound?.bindToPort
        ? { max_connections_to_accept_per_socket_event: { value: 1 } }
        : { bind_to_port: { value: false } }),
      traffic_direction: "OUTBOUND",
      ...LISTENER_FILTER_DEFAULTS,
      ...(tlsChains.length > 0
        ? {
            listener_filters: [
              {
                name: "envoy.filters.listener.tls_inspector",
                typed_config: packAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}),
              },
            ],
          }
        : {}),
      // As istiod: with tls routes only the SNI chains (other SNIs are not routed).
      filter_chains:
        tlsChains.length > 0
          ? tlsChains
          : [
              {
                filters: [
                  ...(ext.network?.outbound ?? []),
                  ...(isMongo(port) ? [mongoProxy(cluster)] : []),
                  tcpProxy(cluster, target, accessLog),
                ],
                ...connectTimeout,
              },
            ],
    });
  };
  /**
   * A Sidecar egress listener with a port (istiod's buildSidecarOutboundListeners with
   * `IstioListener.Port`): the listener's protocol, not the services', decides its kind; `bind`
   * is its address; captureMode NONE binds it to the port (at 127.0.0.1 without a bind). A
   * listener whose hosts import no service with that port gets nothing, as in istiod.
   */
  const addEgressPortListener = ({ listener, services }: EgressListenerScope) => {
    const lp = listener.port;
    if (!lp || lp.number === 0 || services.length === 0) return;
    const bindToPort = listener.captureMode === "NONE";
    const bind = listener.bind ?? (bindToPort ? "127.0.0.1" : undefined);
    const kind = sidecarPortKind(lp.protocol);
    if (kind === "http") {
      const address = bind ?? "0.0.0.0";
      const name = `${address}_${lp.number}`;
      // With its own address, nothing else arrives there: the HCM is the only chain, no sniffing.
      out.lds.set(
        name,
        address === "0.0.0.0"
          ? sniffedHttpListener(lp.number)
          : {
              name,
              address: socketAddress(address, lp.number),
              ...(bindToPort
                ? { max_connections_to_accept_per_socket_event: { value: 1 } }
                : { bind_to_port: { value: false } }),
              traffic_direction: "OUTBOUND",
              ...LISTENER_FILTER_DEFAULTS,
              filter_chains: [
                {
                  filters: [outboundHcm(name, lp.number)],
                  transport_socket_connect_timeout: duration(TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS),
                },
              ],
            },
      );
      const entries = services.flatMap((service) => service.ports.map((port) => ({ service, port })));
      out.rds.set(String(lp.number), httpRoutes(lp.number, entries));
      return;
    }
    if (kind !== "tcp") return;
    for (const service of services)
      for (const port of service.ports) {
        const vips = serviceVips(service);
        const addresses = bind ? [bind] : vips.length > 0 ? vips : ["0.0.0.0"];
        // As istiod: the first service on an address keeps it.
        for (const a of addresses)
          if (!out.lds.has(`${a}_${lp.number}`))
            addTcpListener(a, service, { ...port, name: lp.name, protocol: lp.protocol }, { bindToPort });
      }
  };
  for (const l of portListeners) addEgressPortListener(l);
  for (const name of out.lds.keys()) locked.add(name);
  // The catch-all egress listener: every port of its services not taken above, one listener +
  // route config per HTTP port; TCP ports proxy to the port's (first) service.
  for (const [portNumber, entries] of [...httpPorts.entries()].sort(([a], [b]) => a - b)) {
    const listener = sniffedHttpListener(portNumber);
    if (locked.has(listener.name as string)) continue;
    out.lds.set(listener.name as string, listener);
    // As istiod (GetEgressListenerForRDS): route config `<port>` belongs to the egress listener
    // with that port, if there is one.
    if (!out.rds.has(String(portNumber))) out.rds.set(String(portNumber), httpRoutes(portNumber, entries));
  }
  for (const { service, port, vip } of vipTcp) addTcpListener(vip, service, port);
  for (const [portNumber, { service, port }] of [...tcpPorts.entries()].sort(([a], [b]) => a - b)) {
    if (!httpPorts.has(portNumber)) addTcpListener("0.0.0.0", service, port);
  }
  addServiceEntryTcpListeners(
    out.lds,
    serviceEntryTcp.filter(({ port }) => !httpPorts.has(port.port) && !locked.has(`0.0.0.0_${port.port}`)),
    catchAll,
    accessLog,
    ext.network?.outbound ?? [],
  );
  out.lds.set("virtualOutbound", {
    name: "virtualOutbound",
    address: socketAddress("0.0.0.0", VIRTUAL_OUTBOUND_PORT),
    use_original_dst: { value: true },
    traffic_direction: "OUTBOUND",
    // istiod: one connection per accept event, and connections to 15001 itself (a loop) dropped.
    max_connections_to_accept_per_socket_event: { value: 1 },
    filter_chains: [
      {
        name: "virtualOutbound-blackhole",
        filter_chain_match: { destination_port: { value: VIRTUAL_OUTBOUND_PORT } },
        filters: [tcpProxy("BlackHoleCluster", "BlackHoleCluster", accessLog)],
      },
      {
        name: "virtualOutbound-catchall-tcp",
        filters: [tcpProxy(catchAll, catchAll, accessLog)],
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
  // Inbound: one chain per served port, then the passthrough chains.
  const chains: Proto[] = [];
  const knownPorts: number[] = [];
  for (const served of inboundServedPorts(ctx, proxy)) {
    const { port, targetPort, chainName } = served;
    const cluster = clusterName("inbound", targetPort, "", "");
    const endpoint = served.endpoint;
    out.cds.set(cluster, {
      name: cluster,
      connect_timeout: duration(10_000),
      circuit_breakers: { thresholds: [UNLIMITED_CIRCUIT_BREAKER] },
      ...(endpoint === undefined
        ? {
            // As istiod: to the connection's original destination (the pod IP and port, so the
            // app must listen on it, not on 127.0.0.1); original-destination hosts never cleaned up.
            type: "ORIGINAL_DST",
            lb_policy: "CLUSTER_PROVIDED",
            cleanup_interval: { seconds: String(INBOUND_CLEANUP_INTERVAL_S), nanos: 0 },
          }
        : {
            // A Sidecar ingress defaultEndpoint: that one address.
            type: "STATIC",
            load_assignment: {
              cluster_name: cluster,
              endpoints: [{ lb_endpoints: [{ endpoint: { address: endpoint.address } }] }],
            },
          }),
      // From 127.0.0.6, so Istio's iptables rules let it through uncaptured; not needed (and
      // not set by istiod) towards loopback, which iptables does not capture.
      ...(endpoint?.loopback
        ? {}
        : {
            upstream_bind_config: {
              source_address: { address: INBOUND_PASSTHROUGH_BIND_IP, port_value: 0 },
            },
          }),
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
    // As istiod without mTLS: the plaintext chain of the port (its TLS chains carry Istio's
    // mTLS certificates, which only Istio's agent serves).
    const chain: Proto = {
      name: chainName,
      filter_chain_match: { destination_port: { value: targetPort }, transport_protocol: "raw_buffer" },
      filters: isHttp(port)
        ? [
            inboundHcm(proxy, `inbound_${chainName}`, cluster, `inbound|http|${port.port}`, {
              cluster,
              operation: `${served.host}:${port.port}/*`,
              filters: httpFilters(withCorsFilter(ext.http?.inbound ?? [])),
              accessLog,
              http2: isHttp2(port),
              grpc: isGrpc(port),
            }),
          ]
        : [
            ...(ext.network?.inbound ?? []),
            ...(isMongo(port) ? [mongoProxy(cluster)] : []),
            tcpProxy(cluster, cluster, accessLog),
          ],
    };
    if (served.bound) {
      // captureMode NONE: istiod's inboundCustomListener, a listener of its own bound to
      // `<bind>:<port>` (no original_dst); its TLS inspector looks only at that port, where
      // istiod's mTLS chains would be.
      out.lds.set(chainName, {
        name: chainName,
        address: socketAddress(served.bound.address, targetPort),
        traffic_direction: "INBOUND",
        listener_filters: [
          {
            name: "envoy.filters.listener.tls_inspector",
            typed_config: packAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {
              initial_read_buffer_size: { value: 512 },
            }),
            filter_disabled: {
              not_match: { destination_port_range: { start: targetPort, end: targetPort + 1 } },
            },
          },
        ],
        ...LISTENER_FILTER_DEFAULTS,
        max_connections_to_accept_per_socket_event: { value: 1 },
        filter_chains: [chain],
      });
      continue;
    }
    chains.push(chain);
    knownPorts.push(targetPort);
  }
  // Anything else (no served port) goes on to its original destination: HTTP through an HCM,
  // other TCP as is; connections to 15006 itself would loop and are dropped.
  const passthrough = "InboundPassthroughCluster";
  chains.unshift({
    name: "virtualInbound-blackhole",
    filter_chain_match: { destination_port: { value: VIRTUAL_INBOUND_PORT } },
    filters: [tcpProxy("BlackHoleCluster", "BlackHoleCluster", accessLog)],
  });
  chains.push(
    {
      name: "virtualInbound-catchall-http",
      filter_chain_match: PLAINTEXT_HTTP_MATCH,
      filters: [
        inboundHcm(proxy, passthrough, passthrough, "inbound|http|0", {
          cluster: passthrough,
          operation: ":0/*",
          filters: httpFilters(withCorsFilter(ext.http?.inbound ?? [])),
          accessLog,
        }),
      ],
    },
    {
      name: "virtualInbound",
      filter_chain_match: { transport_protocol: "raw_buffer" },
      filters: [tcpProxy(passthrough, passthrough, accessLog)],
    },
    // The app's own TLS (no chain above matches it) passes through as is, as in istiod.
    {
      name: "virtualInbound",
      filter_chain_match: { transport_protocol: "tls" },
      filters: [tcpProxy(passthrough, passthrough, accessLog)],
    },
  );
  // The http_inspector only sniffs ports whose protocol is not declared (nor 15006 itself).
  const portRange = (p: number) => ({ destination_port_range: { start: p, end: p + 1 } });
  const skipSniffing = [...new Set([...knownPorts, VIRTUAL_INBOUND_PORT])]
    .sort((a, b) => a - b)
    .map(portRange);
  out.lds.set("virtualInbound", {
    name: "virtualInbound",
    address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
    traffic_direction: "INBOUND",
    listener_filters: [
      listenerFilter("original_dst", "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"),
      {
        name: "envoy.filters.listener.tls_inspector",
        typed_config: packAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {
          initial_read_buffer_size: { value: 512 },
        }),
        filter_disabled: portRange(VIRTUAL_INBOUND_PORT),
      },
      {
        ...HTTP_INSPECTOR,
        filter_disabled: skipSniffing.length === 1 ? skipSniffing[0] : { or_match: { rules: skipSniffing } },
      },
    ],
    ...LISTENER_FILTER_DEFAULTS,
    max_connections_to_accept_per_socket_event: { value: 1 },
    filter_chains: chains,
  });
  return out;
}
