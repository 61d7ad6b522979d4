/**
 * The kinds the Kubernetes mesh source watches, and which version of Istio's CRDs the API server
 * serves (v1 where it exists, else v1beta1, as istiod prefers).
 */
import { isMeshctlError } from "@meshctl/core";
import type { KubeHttp } from "./kube-http.js";

export interface KubeResource {
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** `v1` or `networking.istio.io/v1`. */
export function apiVersionOf(r: KubeResource): string {
  return r.group === "" ? r.version : `${r.group}/${r.version}`;
}

/** The collection's path, cluster-wide: `/api/v1/services`, `/apis/networking.istio.io/v1/sidecars`. */
export function collectionPath(r: KubeResource): string {
  return r.group === "" ? `/api/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/${r.plural}`;
}

/** The name RBAC rules use: `services`, `virtualservices.networking.istio.io`. */
export function rbacResource(r: KubeResource): string {
  return r.group === "" ? r.plural : `${r.plural}.${r.group}`;
}

export const NAMESPACES: KubeResource = {
  kind: "Namespace",
  group: "",
  version: "v1",
  plural: "namespaces",
  namespaced: false,
};
export const NODES: KubeResource = {
  kind: "Node",
  group: "",
  version: "v1",
  plural: "nodes",
  namespaced: false,
};

/** Core kinds the model is built from (always served). */
export const CORE_RESOURCES: readonly KubeResource[] = [
  { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true },
  {
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    namespaced: true,
  },
  { kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true },
];

export const ISTIO_GROUP = "networking.istio.io";
/** Preferred first. Istio serves all three for these kinds; v1 since Istio 1.22. */
export const ISTIO_VERSIONS = ["v1", "v1beta1", "v1alpha3"] as const;

/** Istio kinds the model reads, by plural. */
export const ISTIO_KINDS: readonly { readonly kind: string; readonly plural: string }[] = [
  { kind: "VirtualService", plural: "virtualservices" },
  { kind: "DestinationRule", plural: "destinationrules" },
  { kind: "Sidecar", plural: "sidecars" },
  { kind: "ServiceEntry", plural: "serviceentries" },
  { kind: "WorkloadEntry", plural: "workloadentries" },
];

interface ApiResourceList {
  resources?: { name?: string; kind?: string; namespaced?: boolean }[];
}

/**
 * Which Istio kinds are served, each at the first of ISTIO_VERSIONS the API server has. Kinds
 * that are not served (Istio's CRDs not installed) are returned as missing, not an error.
 *
 * @example
 * const { found, missing } = await discoverIstioResources(http);
 */
export async function discoverIstioResources(
  http: KubeHttp,
  signal?: AbortSignal,
): Promise<{ found: KubeResource[]; missing: string[] }> {
  const served = new Map<string, Set<string>>();
  for (const version of ISTIO_VERSIONS) {
    try {
      const list = await http.getJson<ApiResourceList>(
        `/apis/${ISTIO_GROUP}/${version}`,
        {},
        { verb: "get", resource: `${ISTIO_GROUP}/${version} (discovery)` },
        signal ? { signal } : {},
      );
      served.set(version, new Set((list.resources ?? []).map((r) => r.name ?? "")));
    } catch (error) {
      // 404: this version (or the whole group) is not served.
      if (isMeshctlError(error) && error.details.status === 404) continue;
      throw error;
    }
  }
  const found: KubeResource[] = [];
  const missing: string[] = [];
  for (const k of ISTIO_KINDS) {
    const version = ISTIO_VERSIONS.find((v) => served.get(v)?.has(k.plural));
    if (version) found.push({ ...k, group: ISTIO_GROUP, version, namespaced: true });
    else missing.push(k.kind);
  }
  return { found, missing };
}
