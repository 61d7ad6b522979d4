/**
 * What changed between two mesh models, as the push pipeline needs it: the objects (ConfigKeys,
 * Istio's ConfigsUpdated), whether only endpoints changed (incremental EDS), and the dependency
 * keys that cached resources and proxies are indexed by (see generate/xds-cache.ts).
 */
import { fingerprintOf } from "./assemble.js";
import type { ConfigKey, MeshEndpoint, MeshModel, MeshService } from "./types.js";

/** Dependency keys: what a generated resource (or a proxy's view) was built from. */
export const dependency = {
  /** A service's definition (ports, exportTo) and the VirtualServices/DestinationRules for its host. */
  service: (host: string) => `svc:${host}`,
  /** A service's endpoints. */
  endpoints: (host: string) => `eps:${host}`,
  /** Which services exist in a namespace (adds and removals). */
  namespace: (ns: string) => `ns:${ns}`,
  /** The Sidecar resources of a namespace. */
  sidecar: (ns: string) => `sidecar:${ns}`,
  /** An endpoint address came, went or changed ports: that proxy's inbound listeners. */
  address: (ip: string) => `addr:${ip}`,
} as const;

export interface MeshChange {
  /** The objects that changed (added, removed or edited). */
  readonly keys: readonly ConfigKey[];
  /** False when only endpoints changed: clusters, listeners and routes stay as they are. */
  readonly full: boolean;
  /** Dependency keys touched (see `dependency`). */
  readonly dependencies: ReadonlySet<string>;
}

function sourceKey(s: { source: { kind: string; namespace: string; name: string } }): ConfigKey {
  return { kind: s.source.kind, namespace: s.source.namespace, name: s.source.name };
}

function sameValue(a: object | undefined, b: object | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return fingerprintOf(a) === fingerprintOf(b);
}

function addresses(eps: readonly MeshEndpoint[] | undefined, into: Set<string>): void {
  for (const e of eps ?? []) into.add(dependency.address(e.address));
}

/** Addresses whose presence or ports differ: only those proxies' inbound listeners can change. */
function changedAddresses(
  before: readonly MeshEndpoint[] | undefined,
  after: readonly MeshEndpoint[] | undefined,
  into: Set<string>,
): void {
  const sig = (e: MeshEndpoint) => `${e.address}|${JSON.stringify(e.ports)}`;
  const b = new Set((before ?? []).map(sig));
  const a = new Set((after ?? []).map(sig));
  for (const e of before ?? []) if (!a.has(sig(e))) into.add(dependency.address(e.address));
  for (const e of after ?? []) if (!b.has(sig(e))) into.add(dependency.address(e.address));
}

/**
 * Compares two models. Unchanged objects are usually the same instances (sources reuse them),
 * so this is a pointer walk with a fingerprint fallback.
 *
 * @example
 * const change = diffMeshModels(before, after);
 * if (!change.full) console.log("endpoints only:", change.keys);
 */
export function diffMeshModels(prev: MeshModel, next: MeshModel): MeshChange {
  const keys: ConfigKey[] = [];
  const deps = new Set<string>();
  let full = false;
  if (prev.rootNamespace !== next.rootNamespace) {
    return {
      keys: [{ kind: "MeshConfig", namespace: "", name: "rootNamespace" }],
      full: true,
      dependencies: new Set(["*"]),
    };
  }
  const prevSvc = new Map<string, MeshService>(prev.services.map((s) => [s.hostname, s]));
  const nextSvc = new Map<string, MeshService>(next.services.map((s) => [s.hostname, s]));
  for (const [host, n] of nextSvc) {
    const p = prevSvc.get(host);
    if (!p || !sameValue(p, n)) {
      full = true;
      keys.push(sourceKey(n));
      deps.add(dependency.service(host));
      deps.add(dependency.namespace(n.namespace));
      if (p && p.namespace !== n.namespace) deps.add(dependency.namespace(p.namespace));
      deps.add(dependency.endpoints(host));
      addresses(prev.endpoints.get(host), deps);
      addresses(next.endpoints.get(host), deps);
      continue;
    }
    const pe = prev.endpoints.get(host);
    const ne = next.endpoints.get(host);
    if (pe !== ne && !sameValue(pe, ne)) {
      keys.push({ kind: "Endpoints", namespace: n.namespace, name: host });
      deps.add(dependency.endpoints(host));
      changedAddresses(pe, ne, deps);
    }
  }
  for (const [host, p] of prevSvc) {
    if (nextSvc.has(host)) continue;
    full = true;
    keys.push(sourceKey(p));
    deps.add(dependency.service(host));
    deps.add(dependency.namespace(p.namespace));
    deps.add(dependency.endpoints(host));
    addresses(prev.endpoints.get(host), deps);
  }
  const routing = [
    [
      "VirtualService",
      prev.virtualServices,
      next.virtualServices,
      (v: { hosts: readonly string[] }) => v.hosts,
    ],
    ["DestinationRule", prev.destinationRules, next.destinationRules, (d: { host: string }) => [d.host]],
  ] as const;
  for (const [kind, before, after, hostsOf] of routing) {
    const index = (list: readonly { namespace: string; name: string }[]) =>
      new Map(list.map((o) => [`${o.namespace}/${o.name}`, o]));
    const b = index(before);
    const a = index(after);
    for (const id of new Set([...b.keys(), ...a.keys()])) {
      const p = b.get(id);
      const n = a.get(id);
      if (sameValue(p, n)) continue;
      full = true;
      const o = (n ?? p) as { namespace: string; name: string };
      keys.push({ kind, namespace: o.namespace, name: o.name });
      for (const h of [
        ...(p ? (hostsOf as (x: unknown) => readonly string[])(p) : []),
        ...(n ? (hostsOf as (x: unknown) => readonly string[])(n) : []),
        // A delegate VirtualService (no hosts) routes the hosts of the roots that name it.
        ...(kind === "VirtualService" ? delegatingHosts(prev, next, o) : []),
      ])
        deps.add(dependency.service(h));
    }
  }
  const sidecars = (list: MeshModel["sidecars"]) => new Map(list.map((s) => [`${s.namespace}/${s.name}`, s]));
  const bs = sidecars(prev.sidecars);
  const as = sidecars(next.sidecars);
  for (const id of new Set([...bs.keys(), ...as.keys()])) {
    const p = bs.get(id);
    const n = as.get(id);
    if (sameValue(p, n)) continue;
    full = true;
    const o = (n ?? p) as { namespace: string; name: string };
    keys.push({ kind: "Sidecar", namespace: o.namespace, name: o.name });
    deps.add(dependency.sidecar(o.namespace));
  }
  return { keys, full, dependencies: deps };
}

/** Hosts of the VirtualServices (before or after) with a route delegating to `child`. */
function delegatingHosts(
  prev: MeshModel,
  next: MeshModel,
  child: { namespace: string; name: string },
): string[] {
  return [...prev.virtualServices, ...next.virtualServices]
    .filter((vs) =>
      vs.http.some((r) => r.delegate?.name === child.name && r.delegate.namespace === child.namespace),
    )
    .flatMap((vs) => vs.hosts);
}
