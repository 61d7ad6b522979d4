/**
 * An immutable, indexed view of one MeshModel version: what every generator reads.
 * Rebuilt once per model change and shared by all proxies (Istio's PushContext).
 */
import { labelsMatch } from "../model/assemble.js";
import type {
  DestinationRuleModel,
  MeshModel,
  MeshService,
  SidecarModel,
  VirtualServiceModel,
} from "../model/types.js";
import { type EnvoyFilterExtensions, NO_FILTER_EXTENSIONS } from "./filter-extensions.js";
import type { ProxyInfo } from "./proxy.js";

export function isVisibleTo(
  exportTo: readonly string[],
  ownerNamespace: string,
  proxyNamespace: string,
): boolean {
  for (const e of exportTo) {
    if (e === "*") return true;
    if (e === "~") continue;
    if (e === "." && ownerNamespace === proxyNamespace) return true;
    if (e === proxyNamespace) return true;
  }
  return false;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

export class PushContext {
  readonly servicesByHost: ReadonlyMap<string, MeshService>;
  /** Generated configs shared by proxies with the same view of the mesh (see proxyViewKey). */
  private readonly shared = new Map<string, unknown>();

  constructor(
    readonly model: MeshModel,
    /** Monotonic model version, used as `version_info` (like Istio's PushVersion). */
    readonly version: string,
    /** Extra filters for Envoy sidecars (e.g. tstats); proxyless gRPC never gets them. */
    readonly envoyFilters: EnvoyFilterExtensions = NO_FILTER_EXTENSIONS,
  ) {
    this.servicesByHost = new Map(model.services.map((s) => [s.hostname, s]));
  }

  /** Builds once per key and model version; every proxy with the same view reuses the result. */
  memo<T>(key: string, build: () => T): T {
    if (this.shared.has(key)) return this.shared.get(key) as T;
    const value = build();
    this.shared.set(key, value);
    return value;
  }

  /**
   * Everything generation reads from a proxy: its type, namespace (visibility, short names),
   * the Sidecar that scopes it, and for Envoy its IP (inbound listeners).
   */
  proxyViewKey(proxy: ProxyInfo): string {
    const sidecar = this.sidecarFor(proxy);
    return [
      proxy.type,
      proxy.namespace,
      sidecar ? `${sidecar.namespace}/${sidecar.name}` : "",
      proxy.type === "sidecar" ? (proxy.ip ?? "") : "",
    ].join("|");
  }

  /** The Sidecar resource that scopes this proxy, if any (selector match > namespace default > root default). */
  sidecarFor(proxy: ProxyInfo): SidecarModel | undefined {
    const inNs = this.model.sidecars.filter((s) => s.namespace === proxy.namespace);
    return (
      inNs.find((s) => s.workloadSelector && labelsMatch(s.workloadSelector, proxy.labels)) ??
      inNs.find((s) => !s.workloadSelector) ??
      this.model.sidecars.find((s) => s.namespace === this.model.rootNamespace && !s.workloadSelector)
    );
  }

  private egressAllows(sidecar: SidecarModel | undefined, proxy: ProxyInfo, service: MeshService): boolean {
    if (!sidecar) return true;
    for (const entry of sidecar.egressHosts) {
      const slash = entry.indexOf("/");
      const ns = entry.slice(0, slash);
      const host = entry.slice(slash + 1);
      if (ns === "~") continue;
      const nsOk =
        ns === "*" || (ns === "." ? service.namespace === proxy.namespace : service.namespace === ns);
      if (nsOk && hostMatches(host, service.hostname)) return true;
    }
    return false;
  }

  /** Services this proxy may reach: exportTo, then its Sidecar egress scope. */
  visibleServices(proxy: ProxyInfo): MeshService[] {
    const sidecar = this.sidecarFor(proxy);
    return this.model.services.filter(
      (s) => isVisibleTo(s.exportTo, s.namespace, proxy.namespace) && this.egressAllows(sidecar, proxy, s),
    );
  }

  /** The VirtualService for a host as seen from a namespace (own namespace first, then the service's, then any). */
  virtualServiceFor(host: string, proxy: ProxyInfo): VirtualServiceModel | undefined {
    const candidates = this.model.virtualServices.filter(
      (vs) => vs.hosts.includes(host) && isVisibleTo(vs.exportTo, vs.namespace, proxy.namespace),
    );
    const svcNs = this.servicesByHost.get(host)?.namespace;
    return (
      candidates.find((vs) => vs.namespace === proxy.namespace) ??
      candidates.find((vs) => vs.namespace === svcNs) ??
      candidates[0]
    );
  }

  destinationRuleFor(host: string, proxy: ProxyInfo): DestinationRuleModel | undefined {
    const candidates = this.model.destinationRules.filter(
      (dr) => dr.host === host && isVisibleTo(dr.exportTo, dr.namespace, proxy.namespace),
    );
    const svcNs = this.servicesByHost.get(host)?.namespace;
    return (
      candidates.find((dr) => dr.namespace === proxy.namespace) ??
      candidates.find((dr) => dr.namespace === svcNs) ??
      candidates[0]
    );
  }
}
