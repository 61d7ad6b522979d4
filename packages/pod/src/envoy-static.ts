/**
 * A static Envoy bootstrap for a sidecar that needs no control plane: the two listeners Istio's
 * sidecar gets over xDS (virtualOutbound on 15001, virtualInbound on 15006), L4 only (tcp_proxy),
 * so any byte stream passes. Meant for tests and benchmarks of what sits under the proxy (capture
 * rules, eBPF acceleration); meshctl's control plane renders the L7 version (`@meshctl/xds`).
 */
import { ENVOY_ADMIN_PORT } from "./sidecar.js";

/** Settings of a static sidecar bootstrap. */
export interface StaticSidecarBootstrapOptions {
  /**
   * Ports the pod's app listens on. An inbound connection to one of them (its original destination
   * port) goes to 127.0.0.1:<port>; inbound connections to any other port go to their original
   * destination. Both from source 127.0.0.6.
   */
  readonly appPorts: readonly number[];
  /** Port of the outbound listener, the capture rules' outbound target (Istio: 15001). */
  readonly outboundPort?: number;
  /** Port of the inbound listener, the capture rules' inbound target (Istio: 15006). */
  readonly inboundPort?: number;
  /** Admin port, on 127.0.0.1 only (Istio: 15000). */
  readonly adminPort?: number;
  /** Envoy node id (only shows in the admin interface and logs). */
  readonly nodeId?: string;
}

const TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const ORIGINAL_DST_FILTER_TYPE =
  "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst";
/** Istio's inbound passthrough source: the capture rules let it reach the app without capturing it again. */
const INBOUND_SOURCE = "127.0.0.6";
const MAX = 4_294_967_295;

function socketAddress(address: string, port: number) {
  return { socket_address: { address, port_value: port } };
}

function tcpProxy(cluster: string) {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": TCP_PROXY_TYPE, stat_prefix: cluster, cluster },
  };
}

/**
 * A connection whose original destination is the listener's own port would be forwarded to that
 * port, captured again and come back, forever: such connections are closed (Istio's
 * `virtualInbound-blackhole`).
 */
function blackhole(name: string, port: number) {
  return { name, filter_chain_match: { destination_port: port }, filters: [tcpProxy("BlackHoleCluster")] };
}

// Envoy's default cluster limits (1024 connections) would make a sidecar under load refuse
// connections; Istio lifts them to the maximum on every cluster, and so do we.
const circuitBreakers = {
  thresholds: [{ max_connections: MAX, max_pending_requests: MAX, max_requests: MAX, max_retries: MAX }],
};

/**
 * Renders a static Envoy sidecar bootstrap shaped like Istio's sidecar in TCP mode:
 * - `virtualOutbound` on `outboundPort` with `use_original_dst`, a tcp_proxy chain to
 *   `PassthroughCluster` (type ORIGINAL_DST): the app's redirected connections go to the address
 *   they dialled;
 * - `virtualInbound` on `inboundPort` with the original_dst listener filter, one chain per app port
 *   (`inbound|<port>||`, a STATIC cluster at 127.0.0.1:<port>) and a catch-all to
 *   `InboundPassthroughCluster` (ORIGINAL_DST); inbound clusters bind source 127.0.0.6 (Istio's
 *   `upstream_bind_config`), which the capture rules exempt;
 * - on both listeners, connections to the listener's own port are closed (`BlackHoleCluster`)
 *   instead of looping through the capture rules;
 * - the admin interface on 127.0.0.1:`adminPort`.
 * Worker threads are Envoy's `--concurrency`, not part of a bootstrap: `startEnvoySidecar`'s `threads`.
 *
 * @example
 * const bootstrap = renderStaticSidecarBootstrap({ appPorts: [8080] });
 * await startEnvoySidecar(pod, { name: "app", workDir, bootstrap, threads: 2, ports: [15000, 15001, 15006] });
 */
export function renderStaticSidecarBootstrap(
  options: StaticSidecarBootstrapOptions,
): Record<string, unknown> {
  const outboundPort = options.outboundPort ?? 15001;
  const inboundPort = options.inboundPort ?? 15006;
  const adminPort = options.adminPort ?? ENVOY_ADMIN_PORT;
  const appPorts = [...new Set(options.appPorts)].sort((a, b) => a - b);
  const inboundCluster = (port: number) => `inbound|${port}||`;
  const upstreamBind = { source_address: { address: INBOUND_SOURCE, port_value: 0 } };
  return {
    node: { id: options.nodeId ?? "static-sidecar", cluster: "static-sidecar" },
    admin: { address: socketAddress("127.0.0.1", adminPort) },
    static_resources: {
      listeners: [
        {
          name: "virtualOutbound",
          address: socketAddress("0.0.0.0", outboundPort),
          use_original_dst: true,
          traffic_direction: "OUTBOUND",
          filter_chains: [
            blackhole("virtualOutbound-blackhole", outboundPort),
            { name: "virtualOutbound-catchall-tcp", filters: [tcpProxy("PassthroughCluster")] },
          ],
        },
        {
          name: "virtualInbound",
          address: socketAddress("0.0.0.0", inboundPort),
          traffic_direction: "INBOUND",
          listener_filters: [
            {
              name: "envoy.filters.listener.original_dst",
              typed_config: { "@type": ORIGINAL_DST_FILTER_TYPE },
            },
          ],
          filter_chains: [
            blackhole("virtualInbound-blackhole", inboundPort),
            ...appPorts.map((port) => ({
              name: inboundCluster(port),
              filter_chain_match: { destination_port: port },
              filters: [tcpProxy(inboundCluster(port))],
            })),
            { name: "virtualInbound-catchall", filters: [tcpProxy("InboundPassthroughCluster")] },
          ],
        },
      ],
      clusters: [
        { name: "BlackHoleCluster", type: "STATIC", connect_timeout: "10s" },
        {
          name: "PassthroughCluster",
          type: "ORIGINAL_DST",
          lb_policy: "CLUSTER_PROVIDED",
          connect_timeout: "10s",
          circuit_breakers: circuitBreakers,
        },
        {
          name: "InboundPassthroughCluster",
          type: "ORIGINAL_DST",
          lb_policy: "CLUSTER_PROVIDED",
          connect_timeout: "10s",
          circuit_breakers: circuitBreakers,
          upstream_bind_config: upstreamBind,
        },
        ...appPorts.map((port) => ({
          name: inboundCluster(port),
          type: "STATIC",
          connect_timeout: "10s",
          circuit_breakers: circuitBreakers,
          upstream_bind_config: upstreamBind,
          load_assignment: {
            cluster_name: inboundCluster(port),
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress("127.0.0.1", port) } }] }],
          },
        })),
      ],
    },
  };
}
