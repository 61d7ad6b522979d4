/**
 * A Sidecar's egress listeners resolved against what a proxy may see (istiod's
 * `IstioEgressListenerWrapper`): each listener's services, and the union the proxy gets clusters
 * for. A listener with a port imports only the services that have that port, and of those only
 * that port (istiod's `serviceMatchingListenerPort`), so other ports get neither listeners nor
 * clusters from it.
 */
import type { MeshService, SidecarEgressListener, SidecarModel } from "../model/types.js";
import type { ProxyInfo } from "./proxy.js";

export interface EgressListenerScope {
  readonly listener: SidecarEgressListener;
  /** The services this listener carries (ports trimmed to the listener's port, if it has one). */
  readonly services: readonly MeshService[];
}

export interface EgressScope {
  /** In the Sidecar's order: port listeners first, the port-less catch-all (if any) last. */
  readonly listeners: readonly EgressListenerScope[];
  /** Every listener's services, one per hostname with the union of their ports: what gets clusters. */
  readonly services: readonly MeshService[];
}

/** The catch-all egress listener a proxy without a Sidecar has (istiod's default `*\/*`). */
const DEFAULT_EGRESS: SidecarEgressListener = { hosts: ["*/*"] };

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * Whether `namespace/host` patterns import a service for a proxy in `proxyNamespace`. The same
 * reading as PushContext's Sidecar scope (`~` entries import nothing).
 *
 * @example
 * egressHostsImport(["./*"], "demo", echoService); // true when echo is in demo
 */
export function egressHostsImport(
  hosts: readonly string[],
  proxyNamespace: string,
  service: MeshService,
): boolean {
  for (const entry of hosts) {
    const slash = entry.indexOf("/");
    const ns = entry.slice(0, slash);
    const host = entry.slice(slash + 1);
    if (ns === "~") continue;
    const nsOk = ns === "*" || (ns === "." ? service.namespace === proxyNamespace : service.namespace === ns);
    if (nsOk && hostMatches(host, service.hostname)) return true;
  }
  return false;
}

/** istiod's `needsPortMatch`: a listener with a port (other than an HTTP_PROXY one) trims services to it. */
function matchesPortOnly(listener: SidecarEgressListener): boolean {
  return (
    listener.port !== undefined &&
    listener.port.number !== 0 &&
    listener.port.protocol.toUpperCase() !== "HTTP_PROXY"
  );
}

function trimToPort(service: MeshService, port: number): MeshService | undefined {
  const p = service.ports.find((sp) => sp.port === port);
  if (!p) return undefined;
  return service.ports.length === 1 ? service : { ...service, ports: [p] };
}

/**
 * Resolves a proxy's egress listeners. `visible` is what it may see at all (exportTo and the
 * union of the Sidecar's hosts); without port listeners the services are `visible` itself.
 *
 * @example
 * const scope = sidecarEgressScope(ctx.sidecarFor(proxy), proxy, ctx.visibleServices(proxy));
 * scope.listeners[0].services; // the services of the first egress listener
 */
export function sidecarEgressScope(
  sidecar: SidecarModel | undefined,
  proxy: ProxyInfo,
  visible: readonly MeshService[],
): EgressScope {
  const egress = sidecar?.egress ?? [DEFAULT_EGRESS];
  const listeners = egress.map((listener) => {
    const services: MeshService[] = [];
    for (const s of visible) {
      if (!egressHostsImport(listener.hosts, proxy.namespace, s)) continue;
      const scoped = matchesPortOnly(listener) && listener.port ? trimToPort(s, listener.port.number) : s;
      if (scoped) services.push(scoped);
    }
    return { listener, services };
  });
  if (!egress.some(matchesPortOnly)) return { listeners, services: visible };
  // istiod's appendSidecarServices: a hostname imported by several listeners gets their ports together.
  const byHost = new Map<string, { service: MeshService; ports: Set<number> }>();
  for (const { services } of listeners)
    for (const s of services) {
      const seen = byHost.get(s.hostname);
      if (!seen) byHost.set(s.hostname, { service: s, ports: new Set(s.ports.map((p) => p.port)) });
      else for (const p of s.ports) seen.ports.add(p.port);
    }
  const services: MeshService[] = [];
  for (const s of visible) {
    const seen = byHost.get(s.hostname);
    if (!seen || seen.service.namespace !== s.namespace) continue;
    services.push(
      seen.ports.size === s.ports.length ? s : { ...s, ports: s.ports.filter((p) => seen.ports.has(p.port)) },
    );
  }
  return { listeners, services };
}

/**
 * istiod's `GetEgressListenerForRDS`: the route configuration of a port belongs to the first
 * egress listener with that port, else to the port-less catch-all (none: no virtual hosts).
 *
 * @example
 * egressListenerForPort(scope, 8080)?.services; // the services route config 8080 may hold
 */
export function egressListenerForPort(scope: EgressScope, port: number): EgressListenerScope | undefined {
  return (
    scope.listeners.find((l) => l.listener.port !== undefined && l.listener.port.number === port) ??
    scope.listeners.find((l) => l.listener.port === undefined)
  );
}
