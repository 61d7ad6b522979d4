import { createHash } from "node:crypto";
/** Joins per-file items into one MeshModel: services with their endpoints, routing, scopes. */
import {
  type EndpointSliceItem,
  type MeshItem,
  type NodeItem,
  type PodItem,
  type ServiceEntryItem,
  topologyLocality,
  type WorkloadEntryItem,
} from "./parse-documents.js";
import type {
  ConfigDiagnostic,
  Labels,
  Locality,
  MeshEndpoint,
  MeshModel,
  MeshService,
  SourceRef,
  VirtualServiceModel,
} from "./types.js";
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
  /**
   * Per `namespace|host`, the VirtualService (`namespace/name`) that routes it: the one already
   * serving keeps the host when a newcomer claims it too (see resolveVirtualServiceHosts).
   */
  readonly virtualServiceOwners?: ReadonlyMap<string, string>;
}

/** Stable fingerprints of immutable inputs, computed once per object. */
const fingerprints = new WeakMap<object, string>();

/**
 * `"source":{…}` in JSON text. It can only be the key `source` with an object value (a quote
 * inside a JSON string is always escaped), and a SourceRef is flat: strings, skipped whole, and
 * numbers.
 */
const SOURCE_FIELD = /"source":\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}/g;

/**
 * A content fingerprint of an immutable value, ignoring `source` (where it came from). The
 * `source` fields are cut from the text rather than skipped by a replacer function, which would
 * take V8 off its fast serializer: 0.6 s instead of 0.1 s for a 72,000-endpoint slice.
 */
export function fingerprintOf(value: object): string {
  let fp = fingerprints.get(value);
  if (fp === undefined) {
    fp = JSON.stringify(value).replace(SOURCE_FIELD, "");
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
 * Builds the mesh model from parsed items. Cross-object problems never make an object invalid
 * (the object still applies, as Istio applies it): duplicate hosts and slices without a Service
 * are warnings; a route to a host that does not exist is an error (its traffic all fails). Service objects are
 * reused for unchanged items, so the model diff (model/diff.ts) stays cheap.
 *
 * @example
 * const { model } = assembleMeshModel(parseMeshFile("a.yaml", text).items);
 */
export interface AssembleOptions {
  readonly domainSuffix?: string;
  readonly rootNamespace?: string;
  /** The previous result: endpoint lists whose inputs did not change are reused as is. */
  readonly previous?: AssembledMesh;
  /**
   * Where EndpointSlice endpoints get their labels (subsets) and locality from.
   * - `"pods"` (a Kubernetes API, istiod's rule): from the Pod behind each endpoint (its
   *   `targetRef`, else its IP) and that Pod's Node; an endpoint whose targetRef Pod is not
   *   known yet is left out until the Pod arrives; an endpoint without a Pod has no labels.
   * - `"slice"` (default; YAML directories, which rarely hold Pods): from the Pod when the input
   *   has it, else from the slice's own labels.
   */
  readonly endpointLabels?: "pods" | "slice";
}

export function assembleMeshModel(items: readonly MeshItem[], opts: AssembleOptions = {}): AssembledMesh {
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
  const workloads = new WorkloadIndex(byKind("Pod"), byKind("Node"), opts.endpointLabels ?? "slice");
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
        ...(svc.clusterIP ? { clusterIP: svc.clusterIP } : {}),
      },
    ]);
    if (!service) continue;
    add(
      service,
      () => [...own.flatMap((s) => workloads.sliceEndpoints(s)), ...selected.flatMap(workloadEndpoint)],
      [
        ...own.map((i) => fingerprintOf(i)),
        ...workloads.inputsOf(own).map((i) => digestOf(i)),
        ...selected.map((i) => fingerprintOf(i)),
      ].join("\n"),
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
    // istiod's ServiceEntry controller selects Pods too (same namespace, by labels).
    const pods = se.workloadSelector ? workloads.podsSelected(se.namespace, se.workloadSelector) : [];
    let eps: MeshEndpoint[] | undefined;
    const endpointsOf = () => {
      eps ??= [
        ...se.endpoints.map((e) => ({ ...e, healthy: true })),
        ...selected.flatMap(workloadEndpoint),
        ...pods.flatMap((pod) => workloads.podEndpoints(pod)),
      ];
      return eps;
    };
    const version = [
      se.resolution,
      fingerprintOf(se.endpoints),
      ...selected.map((i) => fingerprintOf(i)),
      ...pods.map((i) => digestOf(i)),
      ...workloads.nodesOf(pods).map((i) => digestOf(i)),
    ].join("\n");
    const defs = memoServices(se, () => se.hosts.map((host) => serviceEntryService(se, host)));
    const resolvesHost =
      (se.resolution === "DNS" || se.resolution === "DNS_ROUND_ROBIN") &&
      se.endpoints.length === 0 &&
      !se.workloadSelector;
    for (const def of defs)
      add(def, resolvesHost ? () => [serviceEntryHostEndpoint(se, def.hostname)] : endpointsOf, version);
  }
  const resolved = resolveVirtualServiceHosts(
    byKind("VirtualService").map((i) => i.value),
    opts.previous?.virtualServiceOwners,
  );
  diagnostics.push(...resolved.diagnostics);
  const model: MeshModel = {
    services: [...services.values()].sort((a, b) =>
      a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0,
    ),
    endpoints,
    virtualServices: resolved.virtualServices,
    destinationRules: byKind("DestinationRule").map((i) => i.value),
    sidecars: byKind("Sidecar").map((i) => i.value),
    rootNamespace: opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE,
  };
  for (const vs of model.virtualServices) {
    // A VirtualService that routes no host (every host taken by an older one) sends no traffic.
    if (vs.hosts.length === 0) continue;
    vs.http.forEach((route, i) => {
      route.destinations.forEach((d, j) => {
        if (services.has(d.host)) return;
        diagnostics.push({
          severity: "error",
          file: vs.source.file,
          line: vs.source.line,
          column: 1,
          path: `spec.http[${i}].route[${j}].destination.host`,
          reason: `VirtualService ${vs.namespace}/${vs.name} routes to ${d.host}, which no Service or ServiceEntry defines: ${
            d.weight >= 100 || route.destinations.length === 1 ? "all" : `${d.weight}% of`
          } the traffic of route ${route.name} fails (503/UNAVAILABLE)`,
        });
      });
    });
  }
  return { model, diagnostics, endpointVersions, virtualServiceOwners: resolved.owners };
}

function sourceText(s: SourceRef): string {
  return `${s.kind} ${s.namespace}/${s.name} (${s.file}${s.line > 0 ? `:${s.line}` : ""})`;
}

/**
 * Istio's rule for sidecars when several VirtualServices of one namespace claim a host: the
 * oldest one routes it and the others are ignored for that host. Oldest means, in order: by
 * `metadata.creationTimestamp` when both have one; else the one that was already routing the
 * host (`previous`), so a newly added file never takes over live traffic; else by name (Istio's
 * tie-break). The others lose that host only (they still route their other hosts); a
 * VirtualService left without hosts is kept in the model (with none), so nothing is lost when
 * the winner goes away. VirtualServices of different namespaces for one host are not a conflict:
 * each proxy prefers its own namespace's, then the service's (see PushContext).
 */
export function resolveVirtualServiceHosts(
  virtualServices: readonly VirtualServiceModel[],
  previous: ReadonlyMap<string, string> | undefined,
): {
  virtualServices: VirtualServiceModel[];
  owners: Map<string, string>;
  diagnostics: ConfigDiagnostic[];
} {
  const byHost = new Map<string, VirtualServiceModel[]>();
  for (const vs of virtualServices)
    for (const host of new Set(vs.hosts)) {
      const k = `${vs.namespace}|${host}`;
      const list = byHost.get(k);
      if (list) list.push(vs);
      else byHost.set(k, [vs]);
    }
  const owners = new Map<string, string>();
  const lost = new Map<VirtualServiceModel, Set<string>>();
  const diagnostics: ConfigDiagnostic[] = [];
  for (const [k, claimants] of byHost) {
    const host = k.slice(k.indexOf("|") + 1);
    const prevOwner = previous?.get(k);
    const id = (vs: VirtualServiceModel) => `${vs.namespace}/${vs.name}`;
    const [winner, ...losers] = [...claimants].sort((a, b) => {
      const ta = a.source.createdAt;
      const tb = b.source.createdAt;
      if (ta && tb && ta !== tb) return Date.parse(ta) - Date.parse(tb) || (ta < tb ? -1 : 1);
      if (prevOwner === id(a)) return -1;
      if (prevOwner === id(b)) return 1;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
    if (!winner) continue;
    owners.set(k, id(winner));
    for (const loser of losers) {
      const set = lost.get(loser) ?? new Set<string>();
      lost.set(loser, set);
      set.add(host);
      const index = loser.hosts.indexOf(host);
      diagnostics.push({
        severity: "warning",
        file: loser.source.file,
        line: loser.source.line,
        column: 1,
        path: index >= 0 ? `spec.hosts[${index}]` : "spec.hosts",
        reason: `${sourceText(loser.source)} also routes host ${host}, which ${sourceText(winner.source)} already routes; ignored for this host (the oldest VirtualService for a host wins: by creationTimestamp, else the one already serving, else by name)`,
      });
    }
  }
  return {
    virtualServices: virtualServices.map((vs) => {
      const gone = lost.get(vs);
      return gone ? { ...vs, hosts: vs.hosts.filter((h) => !gone.has(h)) } : vs;
    }),
    owners,
    diagnostics,
  };
}

function memoServices(item: object, build: () => MeshService[]): MeshService[] {
  let out = servicesOfItem.get(item);
  if (!out) {
    out = build();
    servicesOfItem.set(item, out);
  }
  return out;
}

type SliceEndpoint = EndpointSliceItem["endpoints"][number];

function hasLocality(l: Locality): boolean {
  return l.region !== "" || l.zone !== "" || l.subzone !== "";
}

/**
 * The Pods and Nodes behind EndpointSlice endpoints (istiod's EndpointBuilder inputs): subset
 * labels are the Pod's labels; the locality is the Pod's `istio-locality` label, else its Node's
 * topology labels, else the Pod's own topology labels, else what the slice says (`zone`).
 */
class WorkloadIndex {
  private readonly pods = new Map<string, PodItem>();
  private readonly podsByIp = new Map<string, PodItem>();
  private readonly nodes: Map<string, NodeItem>;

  constructor(
    pods: readonly PodItem[],
    nodes: readonly NodeItem[],
    private readonly mode: "pods" | "slice",
  ) {
    for (const p of pods) {
      this.pods.set(`${p.namespace}/${p.name}`, p);
      for (const ip of p.ips) this.podsByIp.set(ip, p);
    }
    this.nodes = new Map(nodes.map((n) => [n.name, n]));
  }

  /** Pods of a namespace whose labels match a (non-empty) selector. */
  podsSelected(namespace: string, selector: Labels): PodItem[] {
    if (Object.keys(selector).length === 0) return [];
    return [...this.pods.values()].filter(
      (p) => p.namespace === namespace && labelsMatch(selector, p.labels),
    );
  }

  /** The Nodes of these Pods (their locality is part of the endpoints' version). */
  nodesOf(pods: readonly PodItem[]): NodeItem[] {
    return pods.flatMap((p) => {
      const node = this.nodes.get(p.nodeName ?? "");
      return node ? [node] : [];
    });
  }

  /** A selected Pod as endpoints: one per IP, on the service ports' target ports. */
  podEndpoints(pod: PodItem): MeshEndpoint[] {
    const node = this.nodes.get(pod.nodeName ?? "");
    const own = topologyLocality(pod.labels);
    const locality = node && hasLocality(node.locality) ? node.locality : own;
    return pod.ips.map((address) => ({
      address,
      ports: {},
      labels: pod.labels,
      locality,
      weight: 1,
      healthy: true,
      source: pod.source,
    }));
  }

  private podOf(e: SliceEndpoint, address: string): PodItem | undefined {
    if (e.pod) return this.pods.get(`${e.pod.namespace}/${e.pod.name}`);
    return this.podsByIp.get(address);
  }

  /** The Pods and Nodes these slices' endpoints read: part of their endpoints' version. */
  inputsOf(slices: readonly EndpointSliceItem[]): object[] {
    if (this.pods.size === 0 && this.nodes.size === 0) return [];
    const seen = new Set<object>();
    for (const s of slices)
      for (const e of s.endpoints)
        for (const address of e.addresses) {
          const pod = this.podOf(e, address);
          if (pod) seen.add(pod);
          const node = this.nodes.get(pod?.nodeName ?? e.nodeName ?? "");
          if (node) seen.add(node);
        }
    return [...seen];
  }

  sliceEndpoints(slice: EndpointSliceItem): MeshEndpoint[] {
    const ports: Record<string, number> = {};
    for (const p of slice.ports) ports[p.name] = p.port;
    const out: MeshEndpoint[] = [];
    for (const e of slice.endpoints) {
      for (const address of e.addresses) {
        const pod = this.podOf(e, address);
        // istiod: an endpoint whose Pod is not in the cache yet waits for it (no labels to
        // match subsets or Sidecars by would be wrong, not just incomplete).
        if (!pod && e.pod && this.mode === "pods") continue;
        out.push({
          address,
          ports,
          labels: pod ? pod.labels : this.mode === "pods" ? {} : slice.labels,
          locality: this.localityOf(pod, e),
          weight: 1,
          healthy: e.ready,
          source: slice.source,
        });
      }
    }
    return out;
  }

  private localityOf(pod: PodItem | undefined, e: SliceEndpoint): Locality {
    // Istio's pod label: `region.zone.subzone` (label values cannot hold `/`; accepted too).
    const label = pod?.labels["istio-locality"];
    if (label) {
      const [region = "", zone = "", subzone = ""] = label.split(label.includes("/") ? "/" : ".");
      return { region, zone, subzone };
    }
    const node = this.nodes.get(pod?.nodeName ?? e.nodeName ?? "");
    if (node && hasLocality(node.locality)) return node.locality;
    if (pod) {
      const own = topologyLocality(pod.labels);
      if (hasLocality(own)) return own;
    }
    return e.locality;
  }
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
    resolution: se.resolution,
    ...(se.addresses.length > 0 ? { addresses: se.addresses } : {}),
    ...(se.meshExternal ? { meshExternal: true } : {}),
    // A DNS cluster carries its endpoints' names (Envoy resolves them): they are part of the
    // cluster, so a change to them is a change to the service, never an endpoints-only push.
    ...(se.resolution === "DNS" || se.resolution === "DNS_ROUND_ROBIN"
      ? { dnsEndpoints: digestOf(se.endpoints) }
      : {}),
  };
}

/**
 * A DNS-resolved ServiceEntry without endpoints resolves its host itself (istiod: one endpoint
 * per host, the host name on the service port); NONE has no endpoints (original destination).
 */
function serviceEntryHostEndpoint(se: ServiceEntryItem, host: string): MeshEndpoint {
  return {
    address: host,
    ports: {},
    labels: {},
    locality: { region: "", zone: "", subzone: "" },
    weight: 1,
    healthy: true,
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
