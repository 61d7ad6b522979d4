/** Joins per-file items into one MeshModel: services with their endpoints, routing, scopes. */
import type {
  EndpointSliceItem,
  MeshItem,
  ServiceEntryItem,
  ServiceItem,
  WorkloadEntryItem,
} from "./parse-documents.js";
import type { ConfigDiagnostic, Labels, MeshEndpoint, MeshModel, MeshService } from "./types.js";
import { DEFAULT_DOMAIN_SUFFIX, DEFAULT_ROOT_NAMESPACE } from "./types.js";

export function labelsMatch(selector: Labels, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function warn(source: { file: string; line: number }, reason: string): ConfigDiagnostic {
  return { severity: "warning", file: source.file, line: source.line, column: 1, path: "", reason };
}

/**
 * Builds the mesh model from parsed items. Cross-object problems (duplicate hosts, slices
 * without a Service) are warnings: they never make a file invalid.
 *
 * @example
 * const { model } = assembleMeshModel(parseMeshFile("a.yaml", text).items);
 */
export function assembleMeshModel(
  items: readonly MeshItem[],
  opts: { domainSuffix?: string; rootNamespace?: string } = {},
): { model: MeshModel; diagnostics: ConfigDiagnostic[] } {
  const suffix = opts.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
  const diagnostics: ConfigDiagnostic[] = [];
  const byKind = <K extends MeshItem["kind"]>(kind: K) =>
    items.filter((i): i is Extract<MeshItem, { kind: K }> => i.kind === kind);
  const slices = byKind("EndpointSlice");
  const workloads = byKind("WorkloadEntry");
  const services = new Map<string, MeshService>();

  const add = (svc: MeshService) => {
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
  };

  const usedSlices = new Set<EndpointSliceItem>();
  for (const svc of byKind("Service")) {
    const own = slices.filter((s) => s.namespace === svc.namespace && s.serviceName === svc.name);
    for (const s of own) usedSlices.add(s);
    add({
      hostname: `${svc.name}.${svc.namespace}.svc.${suffix}`,
      name: svc.name,
      namespace: svc.namespace,
      origin: "kubernetes",
      ports: svc.ports,
      endpoints: [
        ...own.flatMap(sliceEndpoints),
        ...selectWorkloads(workloads, svc.namespace, svc.selector, svc),
      ],
      exportTo: svc.exportTo,
      source: svc.source,
    });
  }
  for (const s of slices) {
    if (!usedSlices.has(s))
      diagnostics.push(
        warn(
          s.source,
          `EndpointSlice ${s.namespace}/${s.source.name} refers to Service ${s.serviceName}, which does not exist`,
        ),
      );
  }
  for (const se of byKind("ServiceEntry")) {
    for (const host of se.hosts) add(serviceEntryService(se, host, workloads));
  }
  const model: MeshModel = {
    services: [...services.values()].sort((a, b) => a.hostname.localeCompare(b.hostname)),
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
  return { model, diagnostics };
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
  namespace: string,
  selector: Labels | undefined,
  _owner: ServiceItem | ServiceEntryItem,
): MeshEndpoint[] {
  if (!selector || Object.keys(selector).length === 0) return [];
  return workloads
    .filter((w) => w.namespace === namespace && labelsMatch(selector, w.labels))
    .map((w) => ({
      address: w.address,
      ports: w.ports,
      labels: w.labels,
      locality: w.locality,
      weight: w.weight,
      healthy: true,
      source: w.source,
    }));
}

function serviceEntryService(
  se: ServiceEntryItem,
  host: string,
  workloads: readonly WorkloadEntryItem[],
): MeshService {
  const inline: MeshEndpoint[] = se.endpoints.map((e) => ({
    address: e.address,
    ports: e.ports,
    labels: e.labels,
    locality: e.locality,
    weight: e.weight,
    healthy: true,
    source: e.source,
  }));
  return {
    hostname: host,
    name: host,
    namespace: se.namespace,
    origin: "serviceentry",
    ports: se.ports,
    endpoints: [...inline, ...selectWorkloads(workloads, se.namespace, se.workloadSelector, se)],
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
