/**
 * Outbound TCP listeners of ServiceEntry ports, where istiod does not simply take the whole port
 * (`0.0.0.0_<port>` with one tcp_proxy):
 * - a ServiceEntry with IP `addresses` gets a listener per address (`192.168.20.5_7000`), so
 *   other traffic on the port is untouched;
 * - each CIDR of `addresses` becomes a filter chain matching the destination prefix on
 *   `0.0.0.0_<port>` (a `/32` or `/128` is a single address);
 * - a TLS or HTTPS port without addresses is matched by SNI (its hosts), with the tls_inspector,
 *   so HTTPS to any other host still passes through. Taking the whole port instead would send
 *   every connection to port 443 to this one host.
 * On `0.0.0.0_<port>` listeners, what no chain matches goes where the sidecar's
 * outboundTrafficPolicy says (istiod's `PassthroughFilterChain` as the default filter chain).
 */
import type { MeshService, ServicePort } from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import { clusterName, duration, type Proto } from "./common.js";

const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const TLS_INSPECTOR = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

/** The ServiceEntry ports this module places (the others keep the plain `0.0.0.0_<port>`). */
export function isPlacedServiceEntryPort(service: MeshService, port: ServicePort): boolean {
  if (service.origin !== "serviceentry") return false;
  if ((service.addresses?.length ?? 0) > 0) return true;
  return isTlsProtocol(port.protocol);
}

function isTlsProtocol(protocol: string): boolean {
  const p = protocol.toUpperCase();
  return p === "TLS" || p === "HTTPS";
}

function tcpProxy(cluster: string, accessLog: Proto | undefined): Proto {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: packAny(TCP_PROXY, {
      stat_prefix: cluster,
      cluster,
      ...(accessLog ? { access_log: [accessLog] } : {}),
    }),
  };
}

/** A CIDR range, or undefined for a single address (`10.0.0.1`, and as istiod reads them `10.0.0.1/32`, `fd00::1/128`). */
function cidr(address: string): { address_prefix: string; prefix_len: { value: number } } | undefined {
  const slash = address.indexOf("/");
  if (slash < 0) return undefined;
  const prefix = address.slice(0, slash);
  const len = Number(address.slice(slash + 1));
  if (len === (prefix.includes(":") ? 128 : 32)) return undefined;
  return { address_prefix: prefix, prefix_len: { value: len } };
}

/** The address itself, without a full-length prefix (`10.0.0.1/32` -> `10.0.0.1`). */
function hostAddress(address: string): string {
  const slash = address.indexOf("/");
  return slash < 0 ? address : address.slice(0, slash);
}

interface Placed {
  listener: Proto;
  chains: Proto[];
  tlsInspector: boolean;
}

/**
 * Adds the listeners (or filter chains of existing `0.0.0.0_<port>` listeners) of ServiceEntry
 * TCP ports that istiod places by address or SNI.
 *
 * @example
 * addServiceEntryTcpListeners(out.lds, entries, "PassthroughCluster", accessLog, []);
 */
export function addServiceEntryTcpListeners(
  lds: Map<string, Proto>,
  entries: readonly { readonly service: MeshService; readonly port: ServicePort }[],
  catchAllCluster: string,
  accessLog: Proto | undefined,
  networkFilters: readonly object[],
): void {
  const placed = new Map<string, Placed>();
  const listenerAt = (address: string, port: number): Placed => {
    const name = `${address}_${port}`;
    let p = placed.get(name);
    if (!p) {
      p = {
        listener: {
          name,
          address: { socket_address: { address, port_value: port } },
          bind_to_port: { value: false },
          traffic_direction: "OUTBOUND",
          listener_filters_timeout: duration(0),
          continue_on_listener_filters_timeout: true,
        },
        chains: [],
        tlsInspector: false,
      };
      placed.set(name, p);
    }
    return p;
  };
  for (const { service, port } of entries) {
    const cluster = clusterName("outbound", port.port, "", service.hostname);
    const filters = [...(networkFilters as Proto[]), tcpProxy(cluster, accessLog)];
    const chain = (match?: Proto): Proto => ({
      ...(match ? { filter_chain_match: match } : {}),
      filters,
      transport_socket_connect_timeout: duration(15_000),
    });
    const addresses = service.addresses ?? [];
    if (addresses.length === 0) {
      const p = listenerAt("0.0.0.0", port.port);
      p.chains.push(chain({ server_names: [service.hostname] }));
      p.tlsInspector = true;
      continue;
    }
    // As istiod: a filter chain per CIDR on `0.0.0.0_<port>`, a listener per single address.
    for (const address of addresses) {
      const range = cidr(address);
      if (range) listenerAt("0.0.0.0", port.port).chains.push(chain({ prefix_ranges: [range] }));
    }
    for (const address of addresses) {
      if (cidr(address)) continue;
      const p = listenerAt(hostAddress(address), port.port);
      // Two ServiceEntries on one address and port: the first keeps it, as in istiod.
      if (p.chains.length === 0) p.chains.push(chain());
    }
  }
  for (const [name, p] of placed) {
    const wildcard = name.startsWith("0.0.0.0_");
    const existing = lds.get(name);
    const listener: Proto = existing ? { ...existing } : p.listener;
    // A Kubernetes TCP service on the same port keeps its chain, after the more specific ones.
    listener.filter_chains = [...p.chains, ...((existing?.filter_chains as Proto[] | undefined) ?? [])];
    if (p.tlsInspector && !existing?.listener_filters)
      listener.listener_filters = [
        {
          name: "envoy.filters.listener.tls_inspector",
          typed_config: packAny(TLS_INSPECTOR, { initial_read_buffer_size: { value: 512 } }),
        },
      ];
    if (wildcard && !existing)
      listener.default_filter_chain = {
        name: "PassthroughFilterChain",
        filter_chain_match: {},
        filters: [tcpProxy(catchAllCluster, accessLog)],
      };
    lds.set(name, listener);
  }
}
