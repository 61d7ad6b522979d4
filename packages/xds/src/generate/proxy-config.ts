/**
 * Per-proxy generation through the resource cache: model -> plain protos -> encoded Any +
 * content version. A proxy's config is assembled from cached pieces:
 *   - its view (type, namespace, Sidecar scope): outbound listeners, routes, the cluster list;
 *   - one entry per Cluster and per ClusterLoadAssignment, shared by every view that has it;
 *   - for Envoy, its inbound part (keyed by its IP).
 * Every piece lists the dependency keys it was built from, so a change clears only what depends
 * on it, and the union of a proxy's pieces says whether a change concerns that proxy at all.
 */
import { createHash } from "node:crypto";
import { dependency } from "../model/diff.js";
import { isIpLiteral } from "../model/parse-documents.js";
import type { MeshService } from "../model/types.js";
import { type EncodedAny, packAny, type ResourceKind, TYPE_URLS } from "../protocol/protos.js";
import {
  buildEnvoyCluster,
  buildGrpcCluster,
  type ClusterSpec,
  dnsClusterEndpoints,
  envoyFixedClusters,
  serviceClusterSpecs,
} from "./clusters.js";
import { buildLoadAssignment, type Proto } from "./common.js";
import { generateEnvoyInbound, generateEnvoyOutbound } from "./envoy.js";
import type { SkippedFilter } from "./filter-extensions.js";
import { generateGrpcOutbound } from "./grpc.js";
import { localityLbKey, localityLbPlanOf } from "./locality-lb.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";
import { expandDelegates } from "./routes.js";
import { sidecarEgressScope } from "./sidecar-scope.js";

export interface EncodedResource {
  readonly name: string;
  readonly kind: ResourceKind;
  readonly any: EncodedAny;
  /** Content hash of the encoded bytes. */
  readonly version: string;
  readonly value: Proto;
}

export type ProxyConfig = Readonly<Record<ResourceKind, ReadonlyMap<string, EncodedResource>>>;

/** A proxy's generated config, with what it depends on. */
export interface GeneratedProxy {
  readonly config: ProxyConfig;
  /**
   * Dependency keys (model/diff.ts) of everything this proxy got, in two parts: the view's
   * (one Set object shared by every proxy of the view, so "does this change concern the view?"
   * is asked once per view) and the proxy's own (its address and the services it serves).
   * A change touching none of them does not concern this proxy.
   */
  readonly viewDependencies: ReadonlySet<string>;
  readonly ownDependencies: readonly string[];
  /** ClusterLoadAssignments per service host, for endpoint-only pushes. */
  readonly clustersByHost: ReadonlyMap<string, readonly ClusterSpec[]>;
  /** The view this proxy shares with others. */
  readonly viewKey: string;
  /** Extension filters configured for sidecars that this proxy does not get (it lacks them). */
  readonly skippedFilters: readonly SkippedFilter[];
}

/**
 * Test-only hook to alter a generated resource before it is encoded (for example to provoke a
 * NACK). Return the value unchanged to keep it. A transform bypasses the cache.
 */
export type ResourceTransform = (kind: ResourceKind, name: string, value: Proto, proxy: ProxyInfo) => Proto;

const MESSAGE_TYPES: Record<ResourceKind, string> = {
  cds: TYPE_URLS.cds.slice(TYPE_URLS.cds.indexOf("/") + 1),
  eds: TYPE_URLS.eds.slice(TYPE_URLS.eds.indexOf("/") + 1),
  lds: TYPE_URLS.lds.slice(TYPE_URLS.lds.indexOf("/") + 1),
  rds: TYPE_URLS.rds.slice(TYPE_URLS.rds.indexOf("/") + 1),
};

/** Encodes one resource: the only place resource bytes are produced. */
export function encodeResource(kind: ResourceKind, name: string, value: Proto): EncodedResource {
  const any = packAny(MESSAGE_TYPES[kind], value);
  const version = createHash("sha256").update(any.value).digest("base64url").slice(0, 16);
  return { name, kind, any, version, value };
}

const bytesOf = (r: EncodedResource) => r.any.value.length;

interface ClaSpec {
  readonly spec: ClusterSpec;
  readonly host: string;
}

/** What every proxy with the same view shares. */
interface OutboundView {
  readonly clusters: ReadonlyMap<string, EncodedResource>;
  readonly clas: readonly ClaSpec[];
  readonly listeners: ReadonlyMap<string, EncodedResource>;
  readonly routes: ReadonlyMap<string, EncodedResource>;
  /** What the view's cache entry is built from (no endpoints: they are cached per CLA). */
  readonly dependencies: readonly string[];
  /** The view's dependencies plus its services' endpoints: what its proxies must be pushed for. */
  readonly pushDependencies: ReadonlySet<string>;
  readonly clustersByHost: ReadonlyMap<string, readonly ClusterSpec[]>;
}

function sortedEncoded(
  kind: ResourceKind,
  protos: Map<string, Proto>,
  transform?: (n: string, v: Proto) => Proto,
) {
  const out = new Map<string, EncodedResource>();
  for (const name of [...protos.keys()].sort()) {
    const value = protos.get(name) as Proto;
    out.set(name, encodeResource(kind, name, transform ? transform(name, value) : value));
  }
  return out;
}

function clusterFor(ctx: PushContext, proxy: ProxyInfo, spec: ClusterSpec, transform?: ResourceTransform) {
  const selection = ctx.envoyFiltersFor(proxy);
  const build = () => {
    let cluster =
      proxy.type === "grpc"
        ? buildGrpcCluster(spec)
        : (buildEnvoyCluster(spec, ctx.model.endpoints.get(spec.service.hostname) ?? []) as Proto);
    const filters = selection.filters.cluster?.outbound ?? [];
    if (filters.length > 0) cluster = { ...cluster, filters: [...filters] };
    return encodeResource(
      "cds",
      spec.name,
      transform ? transform("cds", spec.name, cluster, proxy) : cluster,
    );
  };
  if (transform) return build();
  return ctx.cache.memo(
    "cds",
    // Only the cluster filters matter here: proxies whose HTTP filters differ (per-proxy ones)
    // still share their clusters.
    `${proxy.type}|${spec.name}|${spec.destinationRule}|${selection.clusterKey}`,
    [dependency.service(spec.service.hostname)],
    build,
    bytesOf,
  );
}

function claFor(ctx: PushContext, proxy: ProxyInfo, spec: ClusterSpec, transform?: ResourceTransform) {
  const host = spec.service.hostname;
  const plan = localityLbPlanOf(spec.policy);
  const build = () => {
    // gRPC reads only IP endpoints: a DNS-resolved ServiceEntry's names are for Envoy to resolve.
    const endpoints = (ctx.model.endpoints.get(host) ?? []).filter(
      (e) =>
        (spec.service.resolution !== "DNS" && spec.service.resolution !== "DNS_ROUND_ROBIN") ||
        isIpLiteral(e.address),
    );
    const cla = buildLoadAssignment(spec.name, endpoints, spec.port, spec.subset, plan && { plan, proxy });
    return encodeResource("eds", spec.name, transform ? transform("eds", spec.name, cla, proxy) : cla);
  };
  if (transform) return build();
  // Proxy-independent unless a locality policy applies: then proxies share one encoding per
  // what the policy reads of them (their locality, or their failover-priority labels), so a
  // cluster without one stays shared by every proxy, Envoy or gRPC.
  const localityKey = plan ? `|${localityLbKey(plan, proxy)}` : "";
  return ctx.cache.memo(
    "eds",
    `${spec.name}|${spec.destinationRule}${localityKey}`,
    [dependency.endpoints(host), dependency.service(host)],
    build,
    bytesOf,
  );
}

function routeDependencies(ctx: PushContext, proxy: ProxyInfo, service: MeshService, into: Set<string>) {
  into.add(dependency.service(service.hostname));
  const vs = ctx.virtualServiceFor(service.hostname, proxy);
  // Routes name the clusters (and carry the hash policies) of their destinations and mirrors,
  // delegates' included; tcp/tls routes too.
  for (const r of vs ? expandDelegates(ctx, vs) : []) {
    for (const d of r.destinations) into.add(dependency.service(d.host));
    for (const m of r.mirrors ?? []) into.add(dependency.service(m.host));
  }
  for (const r of [...(vs?.tcp ?? []), ...(vs?.tls ?? [])])
    for (const d of r.destinations) into.add(dependency.service(d.host));
}

/** The clusters route configurations send to (a route's cluster or weighted clusters). */
function routedClusters(routeConfigs: Iterable<Proto>): Set<string> {
  const out = new Set<string>();
  for (const rc of routeConfigs)
    for (const vh of (rc.virtual_hosts as Proto[] | undefined) ?? [])
      for (const route of (vh.routes as Proto[] | undefined) ?? []) {
        const action = route.route as
          | { cluster?: unknown; weighted_clusters?: { clusters?: Proto[] } }
          | undefined;
        if (typeof action?.cluster === "string") out.add(action.cluster);
        for (const c of action?.weighted_clusters?.clusters ?? [])
          if (typeof c.name === "string") out.add(c.name);
      }
  return out;
}

function buildView(ctx: PushContext, proxy: ProxyInfo, transform?: ResourceTransform): OutboundView {
  // Egress listeners with a port import only that port of their services: no cluster for the others.
  const visible = sidecarEgressScope(ctx.sidecarFor(proxy), proxy, ctx.visibleServices(proxy)).services;
  const deps = new Set<string>(ctx.viewDependencies(proxy));
  const clusters = new Map<string, EncodedResource>();
  const clas: ClaSpec[] = [];
  const clustersByHost = new Map<string, ClusterSpec[]>();
  // Proxyless gRPC subscribes to the clusters its routes name, and istiod sends just those (none
  // for a TCP port, whose route configuration is empty).
  const grpcGenerated = proxy.type === "grpc" ? generateGrpcOutbound(ctx, proxy, visible) : undefined;
  const grpcClusters = grpcGenerated ? routedClusters(grpcGenerated.rds.values()) : undefined;
  for (const service of visible) {
    routeDependencies(ctx, proxy, service, deps);
    // Envoy: only EDS clusters have a ClusterLoadAssignment, and a DNS cluster without endpoints
    // is left out (istiod drops it; Envoy would reject it). Proxyless gRPC: every cluster is EDS.
    const specs = serviceClusterSpecs(ctx, proxy, service).filter((spec) =>
      grpcClusters
        ? grpcClusters.has(spec.name)
        : spec.discovery === "EDS" ||
          spec.discovery === "ORIGINAL_DST" ||
          dnsClusterEndpoints(spec, ctx.model.endpoints.get(service.hostname) ?? []).length > 0,
    );
    for (const spec of specs) {
      clusters.set(spec.name, clusterFor(ctx, proxy, spec, transform));
      if (proxy.type === "grpc" || spec.discovery === "EDS") clas.push({ spec, host: service.hostname });
    }
    clustersByHost.set(
      service.hostname,
      specs.filter((spec) => proxy.type === "grpc" || spec.discovery === "EDS"),
    );
  }
  const t = transform
    ? (kind: ResourceKind) => (n: string, v: Proto) => transform(kind, n, v, proxy)
    : undefined;
  let generated: { lds: Map<string, Proto>; rds: Map<string, Proto> };
  if (grpcGenerated) generated = grpcGenerated;
  else {
    generated = generateEnvoyOutbound(ctx, proxy, visible);
    for (const [name, cluster] of sortedEncoded("cds", envoyFixedClusters(), t?.("cds")))
      clusters.set(name, cluster);
  }
  return {
    clusters,
    clas,
    listeners: sortedEncoded("lds", generated.lds, t?.("lds")),
    routes: sortedEncoded("rds", generated.rds, t?.("rds")),
    dependencies: [...deps],
    pushDependencies: new Set([...deps, ...[...clustersByHost.keys()].map((h) => dependency.endpoints(h))]),
    clustersByHost,
  };
}

function inboundFor(ctx: PushContext, proxy: ProxyInfo, transform?: ResourceTransform) {
  const build = () => {
    const generated = generateEnvoyInbound(ctx, proxy);
    const t = transform
      ? (kind: ResourceKind) => (n: string, v: Proto) => transform(kind, n, v, proxy)
      : undefined;
    return {
      cds: sortedEncoded("cds", generated.cds, t?.("cds")),
      lds: sortedEncoded("lds", generated.lds, t?.("lds")),
    };
  };
  if (transform) return build();
  const ip = proxy.ip ?? "";
  // A Sidecar's ingress replaces the served ports: its Sidecar is part of the key, and a Sidecar
  // change in its namespace or the root namespace clears it.
  const sidecar = ctx.sidecarFor(proxy);
  const deps = [
    dependency.address(ip),
    ...ctx.servicesAt(ip).map((s) => dependency.service(s.hostname)),
    dependency.sidecar(proxy.namespace),
    dependency.sidecar(ctx.model.rootNamespace),
  ];
  const sidecarKey = sidecar ? `${sidecar.namespace}/${sidecar.name}` : "";
  // The filters it carries are part of the key: two proxies at one IP (a restart onto another
  // build while the old stream lingers) may get different ones.
  return ctx.cache.memo("inbound", `${ip}|${ctx.envoyFiltersFor(proxy).key}|${sidecarKey}`, deps, build);
}

/**
 * Generates one proxy's config through the cache, with its dependencies.
 *
 * @example
 * const { config, viewDependencies } = generateProxy(ctx, proxyFromNode({ id: "sidecar~10.0.0.7~web.demo~demo.svc.cluster.local" }));
 */
export function generateProxy(
  ctx: PushContext,
  proxy: ProxyInfo,
  transform?: ResourceTransform,
): GeneratedProxy {
  const viewKey = ctx.proxyViewKey(proxy);
  const view = transform
    ? buildView(ctx, proxy, transform)
    : ctx.cache.memo(
        "view",
        viewKey,
        (v) => v.dependencies,
        () => buildView(ctx, proxy),
      );
  const cds = new Map(view.clusters);
  const eds = new Map<string, EncodedResource>();
  for (const { spec } of view.clas) eds.set(spec.name, claFor(ctx, proxy, spec, transform));
  const lds = new Map(view.listeners);
  const own: string[] = [];
  if (proxy.type === "sidecar") {
    const inbound = inboundFor(ctx, proxy, transform);
    for (const [n, r] of inbound.cds) cds.set(n, r);
    for (const [n, r] of inbound.lds) lds.set(n, r);
    if (proxy.ip) own.push(dependency.address(proxy.ip));
    for (const s of ctx.servicesAt(proxy.ip ?? "")) own.push(dependency.service(s.hostname));
  }
  return {
    config: { cds, eds, lds, rds: view.routes },
    viewDependencies: view.pushDependencies,
    ownDependencies: own,
    clustersByHost: view.clustersByHost,
    viewKey,
    skippedFilters: ctx.envoyFiltersFor(proxy).skipped,
  };
}

/**
 * After an endpoints-only change: the proxy's config with the ClusterLoadAssignments of `hosts`
 * regenerated (through the cache: each changed CLA is serialized once for all proxies), and the
 * names that changed. Clusters, listeners and routes are untouched.
 *
 * @example
 * const { config, changed } = refreshEndpoints(ctx, proxy, generated, ["a.demo.svc.cluster.local"]);
 */
export function refreshEndpoints(
  ctx: PushContext,
  proxy: ProxyInfo,
  generated: GeneratedProxy,
  hosts: Iterable<string>,
  transform?: ResourceTransform,
): { generated: GeneratedProxy; changed: string[] } {
  // The proxy's eds map is its own (generateProxy builds one per proxy): update it in place.
  const eds = generated.config.eds as Map<string, EncodedResource>;
  const changed: string[] = [];
  for (const host of hosts) {
    // Endpoint-only: the service and its DestinationRule are unchanged, so are its clusters.
    for (const spec of generated.clustersByHost.get(host) ?? []) {
      const next = claFor(ctx, proxy, spec, transform);
      if (eds.get(spec.name)?.version !== next.version) changed.push(spec.name);
      eds.set(spec.name, next);
    }
  }
  return { generated, changed };
}

/**
 * Everything one proxy should receive for a model version.
 *
 * @example
 * const config = generateProxyConfig(ctx, proxyFromNode({ id: "grpc~127.0.0.1~app.default~default.svc.cluster.local" }));
 * config.lds.get("echo.default.svc.cluster.local:7070");
 */
export function generateProxyConfig(
  ctx: PushContext,
  proxy: ProxyInfo,
  transform?: ResourceTransform,
): ProxyConfig {
  return generateProxy(ctx, proxy, transform).config;
}
