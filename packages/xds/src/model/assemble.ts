import { createHash } from "node:crypto";
/** Joins per-file items into one MeshModel: services with their endpoints, routing, scopes. */
import type { EndpointSliceItem, MeshItem, ServiceEntryItem, WorkloadEntryItem } from "./parse-documents.js";
import type { ConfigDiagnostic, Labels, MeshEndpoint, MeshModel, MeshService } from "./types.js";
import { DEFAULT_DOMAIN_SUFFIX, DEFAULT_ROOT_NAMESPACE } from "./types.js";

export function labelsMatch(selector: Labels, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function warn(source: { file: string; line: number }, reason: string): ConfigDiagnostic {
  return { severity: "warning", file: source.file, line: source.line, column: 1, path: "", reason };
}

export interface AssembledMesh {
  readonly model: MeshModel;
  readonly diagnostics: ConfigDiagnostic[];
  /** Per hostname, a fingerprint of the inputs its endpoints came from. */
  readonly endpointVersions: ReadonlyMap<string, string>;
}

/** Stable fingerprints of immutable inputs, computed once per object. */
const fingerprints = new WeakMap<object, string>();

/** A content fingerprint of an immutable value, ignoring `source` (where it came from). */
export function fingerprintOf(value: object): string {
  let fp = fingerprints.get(value);
  if (fp === undefined) {
    fp = JSON.stringify(value, (k, v) => (k === "source" ? undefined : v));
    fingerprints.set(value, fp);
  }
  return fp;
}

const digests = new WeakMap<object, string>();

/** A short content digest of an immutable value (its fingerprint, hashed once per object). */
export function digestOf(value: object): string {
  let d = digests.get(value);
  if (d === undefined) {
    d = createHash("sha256").update(fingerprintOf(value)).digest("base64url").slice(0, 22);
    digests.set(value, d);
  }
  return d;
}

/** One MeshService per item (and host), reused while the item is unchanged. */
const servicesOfItem = new WeakMap<object, MeshService[]>();

/**
 * Builds the mesh model from parsed items. Cross-object problems (duplicate hosts, slices
 * without a Service) are warnings: they never make an object invalid. Service objects are
 * reused for unchanged items, so the model diff (model/diff.ts) stays cheap.
 *
 * @example
 * const { model } = assembleMeshModel(parseMeshFile("a.yaml", text).items);
 */
export function assembleMeshModel(
  items: readonly MeshItem[],
  opts: {
    domainSuffix?: string;
    rootNamespace?: string;
    /** The previous result: endpoint lists whose inputs did not change are reused as is. */
    previous?: AssembledMesh;
  } = {},
): AssembledMesh {
  const suffix = opts.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
  const diagnostics: ConfigDiagnostic[] = [];
  const byKind = <K extends MeshItem["kind"]>(kind: K) =>
    items.filter((i): i is Extract<MeshItem, { kind: K }> => i.kind === kind);
  const slicesByService = new Map<string, EndpointSliceItem[]>();
  for (const s of byKind("EndpointSlice")) {
    const k = `${s.namespace}/${s.serviceName}`;
    const list = slicesByService.get(k);
    if (list) list.push(s);
    else slicesByService.set(k, [s]);
  }
  const workloadsByNs = new Map<string, WorkloadEntryItem[]>();
  for (const w of byKind("WorkloadEntry")) {
    const list = workloadsByNs.get(w.namespace);
    if (list) list.push(w);
    else workloadsByNs.set(w.namespace, [w]);
  }
  const services = new Map<string, MeshService>();
  const endpoints = new Map<string, readonly MeshEndpoint[]>();
  const endpointVersions = new Map<string, string>();

  const prevVersions = opts.previous?.endpointVersions;
  const add = (svc: MeshService, fresh: () => MeshEndpoint[], version: string) => {
    const existing = services.get(svc.hostname);
    if (existing) {
      diagnostics.push(
        warn(
          svc.source,
          `host ${svc.hostname} is already defined by ${existing.source.kind} ${existing.source.namespace}/${existing.source.name} (${existing.source.file}); ignored`,
        ),
      );
      return;
    }
    services.set(svc.hostname, svc);
    const reused =
      prevVersions?.get(svc.hostname) === version
        ? opts.previous?.model.endpoints.get(svc.hostname)
        : undefined;
    endpoints.set(svc.hostname, reused ?? fresh());
    endpointVersions.set(svc.hostname, version);
  };

  const usedSlices = new Set<string>();
  for (const svc of byKind("Service")) {
    const sliceKey = `${svc.namespace}/${svc.name}`;
    const own = slicesByService.get(sliceKey) ?? [];
    usedSlices.add(sliceKey);
    const selected = selectWorkloads(workloadsByNs.get(svc.namespace) ?? [], svc.selector);
    const [service] = memoServices(svc, () => [
      {
        hostname: `${svc.name}.${svc.namespace}.svc.${suffix}`,
        name: svc.name,
        namespace: svc.namespace,
        origin: "kubernetes",
        ports: svc.ports,
        exportTo: svc.exportTo,
        source: svc.source,
      },
    ]);
    if (!service) continue;
    add(
      service,
      () => [...own.flatMap(sliceEndpoints), ...selected.flatMap(workloadEndpoint)],
      [...own, ...selected].map((i) => fingerprintOf(i)).join("\n"),
    );
  }
  for (const [k, list] of slicesByService) {
    if (usedSlices.has(k)) continue;
    for (const s of list)
      diagnostics.push(
        warn(
          s.source,
          `EndpointSlice ${s.namespace}/${s.source.name} refers to Service ${s.serviceName}, which does not exist`,
        ),
      );
  }
  for (const se of byKind("ServiceEntry")) {
    const selected = selectWorkloads(workloadsByNs.get(se.namespace) ?? [], se.workloadSelector);
    let eps: MeshEndpoint[] | undefined;
    const endpointsOf = () => {
      eps ??= [...se.endpoints.map((e) => ({ ...e, healthy: true })), ...selected.flatMap(workloadEndpoint)];
      return eps;
    };
    const version = [fingerprintOf(se.endpoints), ...selected.map((i) => fingerprintOf(i))].join("\n");
    const defs = memoServices(se, () => se.hosts.map((host) => serviceEntryService(se, host)));
    for (const def of defs) add(def, endpointsOf, version);
  }
  const model: MeshModel = {
    services: [...services.values()].sort((a, b) =>
      a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0,
    ),
    endpoints,
    virtualServices: byKind("VirtualService").map((i) => i.value),
    destinationRules: byKind("DestinationRule").map((i) => i.value),
    sidecars: byKind("Sidecar").map((i) => i.value),
    rootNamespace: opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE,
  };
  for (const vs of model.virtualServices) {
    for (const route of vs.http) {
      for (const d of route.destinations) {
        if (!services.has(d.host))
          diagnostics.push(
            warn(vs.source, `VirtualService ${vs.namespace}/${vs.name} routes to unknown host ${d.host}`),
          );
      }
    }
  }
  return { model, diagnostics, endpointVersions };
}

function memoServices(item: object, build: () => MeshService[]): MeshService[] {
  let out = servicesOfItem.get(item);
  if (!out) {
    out = build();
    servicesOfItem.set(item, out);
  }
  return out;
}

function sliceEndpoints(slice: EndpointSliceItem): MeshEndpoint[] {
  const ports: Record<string, number> = {};
  for (const p of slice.ports) ports[p.name] = p.port;
  return slice.endpoints.flatMap((e) =>
    e.addresses.map((address) => ({
      address,
      ports,
      labels: slice.labels,
      locality: e.locality,
      weight: 1,
      healthy: e.ready,
      source: slice.source,
    })),
  );
}

function selectWorkloads(
  workloads: readonly WorkloadEntryItem[],
  selector: Labels | undefined,
): WorkloadEntryItem[] {
  if (!selector || Object.keys(selector).length === 0) return [];
  return workloads.filter((w) => labelsMatch(selector, w.labels));
}

function workloadEndpoint(w: WorkloadEntryItem): MeshEndpoint {
  return {
    address: w.address,
    ports: w.ports,
    labels: w.labels,
    locality: w.locality,
    weight: w.weight,
    healthy: true,
    source: w.source,
  };
}

function serviceEntryService(se: ServiceEntryItem, host: string): MeshService {
  return {
    hostname: host,
    name: host,
    namespace: se.namespace,
    origin: "serviceentry",
    ports: se.ports,
    exportTo: se.exportTo,
    source: se.source,
  };
}

/** The workload port an endpoint serves for a service port. */
export function endpointPort(
  endpoint: MeshEndpoint,
  port: { name: string; port: number; targetPort: number },
): number {
  return (
    endpoint.ports[port.name] ??
    (Object.keys(endpoint.ports).length === 1 && port.name === ""
      ? Object.values(endpoint.ports)[0]
      : undefined) ??
    port.targetPort
  );
}
