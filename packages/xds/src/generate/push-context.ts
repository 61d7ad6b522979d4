/**
 * An immutable, indexed view of one MeshModel version: what every generator reads (Istio's
 * PushContext). Built once per push, cheaply: indexes are made on first use. Generated
 * resources do not live here but in the XdsCache, which outlives push contexts.
 */
import { labelsMatch } from "../model/assemble.js";
import { dependency } from "../model/diff.js";
import type {
  DestinationRuleModel,
  MeshModel,
  MeshService,
  SidecarModel,
  VirtualServiceModel,
} from "../model/types.js";
import { type AccessLogOptions, buildFileAccessLog } from "./access-log.js";
import type { Proto } from "./common.js";
import {
  assertSelectorFor,
  type EnvoyFilterExtensions,
  type EnvoyFilterSelection,
  EnvoyFilterSelector,
  NO_FILTER_EXTENSIONS,
} from "./filter-extensions.js";
import type { ProxyInfo } from "./proxy.js";
import { sourceLabelsViewKey } from "./routes.js";
import { egressHostsImport } from "./sidecar-scope.js";
import { ALL_NAMESPACES, XdsCache } from "./xds-cache.js";

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

export interface PushContextOptions {
  /**
   * Where generated resources are cached across versions. Default: a private cache. Contexts
   * that share a cache must share their filters and access log (cache keys do not hold them).
   */
  readonly cache?: XdsCache;
  /** Sidecar resources scope what proxies see (default). Off: every proxy sees every exported service. */
  readonly scoping?: boolean;
  /**
   * An access log on every Envoy sidecar HTTP connection manager and tcp_proxy (Istio's
   * meshConfig accessLogFile/Format/Encoding). Default: none. Proxyless gRPC never gets one.
   */
  readonly accessLog?: AccessLogOptions;
  /**
   * Remembers filter selections across contexts (the ADS server keeps one, so per-proxy filters
   * are built once per connection, not once per push). Must be made from this context's
   * `envoyFilters`. Default: a private one.
   */
  readonly filterSelector?: EnvoyFilterSelector;
}

function groupBy<T>(list: readonly T[], keys: (t: T) => readonly string[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of list)
    for (const k of keys(item)) {
      const l = out.get(k);
      if (l) l.push(item);
      else out.set(k, [item]);
    }
  return out;
}

export class PushContext {
  readonly cache: XdsCache;
  readonly scoping: boolean;
  /** The encoded `AccessLog` for sidecar HCMs and tcp_proxies, or undefined (off). */
  readonly accessLog: Proto | undefined;
  private readonly filterSelector: EnvoyFilterSelector;
  private servicesByHostIndex: Map<string, MeshService> | undefined;
  private byAddress: Map<string, MeshService[]> | undefined;
  private vsByHost: Map<string, VirtualServiceModel[]> | undefined;
  private drByHost: Map<string, DestinationRuleModel[]> | undefined;

  constructor(
    readonly model: MeshModel,
    /** Monotonic model version, used as `version_info` (like Istio's PushVersion). */
    readonly version: string,
    /** Extra filters for Envoy sidecars (e.g. tstats); proxyless gRPC never gets them. */
    readonly envoyFilters: EnvoyFilterExtensions = NO_FILTER_EXTENSIONS,
    options: PushContextOptions = {},
  ) {
    this.cache = options.cache ?? new XdsCache();
    this.scoping = options.scoping ?? true;
    this.accessLog = options.accessLog ? buildFileAccessLog(options.accessLog) : undefined;
    if (options.filterSelector) assertSelectorFor(options.filterSelector, envoyFilters);
    this.filterSelector = options.filterSelector ?? new EnvoyFilterSelector(envoyFilters);
  }

  /**
   * The extension filters this proxy gets: those its Node says it has, the first alternative it
   * has whole, and the per-proxy ones built from its Node (see filter-extensions.ts). Proxyless
   * gRPC gets none. Decided once per capability set (proxies of one build share one), or once per
   * proxy when filters are built per proxy.
   */
  envoyFiltersFor(proxy: ProxyInfo): EnvoyFilterSelection {
    return this.filterSelector.selectionFor(proxy);
  }

  get servicesByHost(): ReadonlyMap<string, MeshService> {
    this.servicesByHostIndex ??= new Map(this.model.services.map((s) => [s.hostname, s]));
    return this.servicesByHostIndex;
  }

  /** Services with an endpoint at `address` (what a sidecar at that IP serves inbound). */
  servicesAt(address: string): readonly MeshService[] {
    if (!this.byAddress) {
      this.byAddress = new Map();
      for (const s of this.model.services)
        for (const e of this.model.endpoints.get(s.hostname) ?? []) {
          const l = this.byAddress.get(e.address);
          if (!l) this.byAddress.set(e.address, [s]);
          else if (!l.includes(s)) l.push(s);
        }
    }
    return this.byAddress.get(address) ?? [];
  }

  /**
   * Everything outbound generation reads from a proxy: its type, its namespace (visibility,
   * short names), the Sidecar that scopes it and which extension filters it gets. Proxies with
   * the same view share their outbound listeners, routes and clusters; the IP only matters for
   * inbound.
   */
  proxyViewKey(proxy: ProxyInfo): string {
    const sidecar = this.sidecarFor(proxy);
    const filters = this.envoyFiltersFor(proxy).key;
    const sourceKey = sourceLabelsViewKey(this, proxy);
    return [
      proxy.type,
      proxy.namespace,
      sidecar ? `${sidecar.namespace}/${sidecar.name}` : "",
      ...(filters ? [`filters=${filters}`] : []),
      // Routes with sourceLabels matches differ by the proxy's labels.
      ...(sourceKey ? [`src=${sourceKey}`] : []),
    ].join("|");
  }

  /** The Sidecar resource that scopes this proxy, if any (selector match > namespace default > root default). */
  sidecarFor(proxy: ProxyInfo): SidecarModel | undefined {
    if (!this.scoping) return undefined;
    const inNs = this.model.sidecars.filter((s) => s.namespace === proxy.namespace);
    return (
      inNs.find((s) => s.workloadSelector && labelsMatch(s.workloadSelector, proxy.labels)) ??
      inNs.find((s) => !s.workloadSelector) ??
      this.model.sidecars.find((s) => s.namespace === this.model.rootNamespace && !s.workloadSelector)
    );
  }

  private egressAllows(sidecar: SidecarModel | undefined, proxy: ProxyInfo, service: MeshService): boolean {
    return !sidecar || egressHostsImport(sidecar.egressHosts, proxy.namespace, service);
  }

  /**
   * The namespaces whose service set this proxy's view depends on (`ns:*` for all), plus its
   * Sidecar scopes: the dependency keys of a view beyond its services.
   */
  viewDependencies(proxy: ProxyInfo): string[] {
    const deps = [dependency.sidecar(proxy.namespace), dependency.sidecar(this.model.rootNamespace)];
    const sidecar = this.sidecarFor(proxy);
    if (!sidecar) return [...deps, ALL_NAMESPACES];
    for (const entry of sidecar.egressHosts) {
      const ns = entry.slice(0, entry.indexOf("/"));
      if (ns === "*") return [...deps, ALL_NAMESPACES];
      if (ns !== "~") deps.push(dependency.namespace(ns === "." ? proxy.namespace : ns));
    }
    return deps;
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
    this.vsByHost ??= groupBy(this.model.virtualServices, (vs) => vs.hosts);
    const candidates = (this.vsByHost.get(host) ?? []).filter((vs) =>
      isVisibleTo(vs.exportTo, vs.namespace, proxy.namespace),
    );
    const svcNs = this.servicesByHost.get(host)?.namespace;
    return (
      candidates.find((vs) => vs.namespace === proxy.namespace) ??
      candidates.find((vs) => vs.namespace === svcNs) ??
      candidates[0]
    );
  }

  destinationRuleFor(host: string, proxy: ProxyInfo): DestinationRuleModel | undefined {
    this.drByHost ??= groupBy(this.model.destinationRules, (dr) => [dr.host]);
    const candidates = (this.drByHost.get(host) ?? []).filter((dr) =>
      isVisibleTo(dr.exportTo, dr.namespace, proxy.namespace),
    );
    const svcNs = this.servicesByHost.get(host)?.namespace;
    return (
      candidates.find((dr) => dr.namespace === proxy.namespace) ??
      candidates.find((dr) => dr.namespace === svcNs) ??
      candidates[0]
    );
  }
}
