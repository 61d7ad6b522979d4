/**
 * The synthetic mesh as a Kubernetes cluster would hold it, for control planes that read an API
 * server. Each ServiceEntry of the file mesh becomes a Service (selector `app`), one EndpointSlice
 * and one Pod per endpoint (labels `app`/`version`, Ready, with the endpoint's IP, referenced by
 * the slice's targetRef); the other Istio objects (VirtualService, DestinationRule, Sidecar) are
 * the same documents as in the files, applied as custom resources of minimal Istio CRDs. So the
 * services, addresses, subsets and routing are exactly those the directory source reads.
 *
 * There is no controller-manager or kubelet (see docs/xds.md §9): the loader writes what they
 * would (ServiceAccounts, pod status, EndpointSlices) itself.
 */
import { performance } from "node:perf_hooks";
import { parseAllDocuments } from "yaml";
import { forEachLimited, type KubeApiWriter, kubeCollectionPath } from "./kube-api.js";
import { SERVICE_PORT, type SyntheticMesh, type SyntheticService } from "./synthetic-mesh.js";

/** The node every synthetic pod claims to run on (no kubelet ever looks at it). */
const NODE_NAME = "meshctl-load-node";
const PORT_NAME = "http-web";

interface IstioKind {
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
  /** Served versions; the first is the storage version. */
  readonly versions: readonly string[];
}

/** Every Istio kind istiod watches (it waits for absent CRDs; these are all present and empty). */
const ISTIO_KINDS: readonly IstioKind[] = (
  [
    ["networking", "VirtualService", "virtualservices", "v1,v1beta1,v1alpha3"],
    ["networking", "DestinationRule", "destinationrules", "v1,v1beta1,v1alpha3"],
    ["networking", "Gateway", "gateways", "v1,v1beta1,v1alpha3"],
    ["networking", "ServiceEntry", "serviceentries", "v1,v1beta1,v1alpha3"],
    ["networking", "Sidecar", "sidecars", "v1,v1beta1,v1alpha3"],
    ["networking", "WorkloadEntry", "workloadentries", "v1,v1beta1,v1alpha3"],
    ["networking", "WorkloadGroup", "workloadgroups", "v1,v1beta1,v1alpha3"],
    ["networking", "EnvoyFilter", "envoyfilters", "v1alpha3"],
    ["networking", "ProxyConfig", "proxyconfigs", "v1beta1"],
    ["security", "AuthorizationPolicy", "authorizationpolicies", "v1,v1beta1"],
    ["security", "PeerAuthentication", "peerauthentications", "v1,v1beta1"],
    ["security", "RequestAuthentication", "requestauthentications", "v1,v1beta1"],
    ["telemetry", "Telemetry", "telemetries", "v1,v1alpha1"],
    ["extensions", "WasmPlugin", "wasmplugins", "v1alpha1"],
  ] as const
).map(([group, kind, plural, versions]) => ({
  group: `${group}.istio.io`,
  kind,
  plural,
  versions: versions.split(","),
}));

function istioKind(apiVersion: string, kind: string): IstioKind | undefined {
  const group = apiVersion.split("/")[0];
  return ISTIO_KINDS.find((k) => k.kind === kind && k.group === group);
}

/**
 * Minimal Istio CRDs: every kind istiod watches, each version served, with an open schema
 * (`x-kubernetes-preserve-unknown-fields`), so the API server stores the specs as given.
 *
 * @example
 * istioCustomResourceDefinitions().map((c) => c.metadata.name); // ["virtualservices.networking.istio.io", ...]
 */
export function istioCustomResourceDefinitions(): { metadata: { name: string }; [k: string]: unknown }[] {
  return ISTIO_KINDS.map((k) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${k.group}` },
    spec: {
      group: k.group,
      scope: "Namespaced",
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase() },
      versions: k.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      })),
    },
  }));
}

/** The pod behind endpoint slot `k` of a service (its name survives endpoint changes of that slot). */
export function syntheticPodName(service: Pick<SyntheticService, "name">, k: number): string {
  return `${service.name}-${k}`;
}

/** The Pod of endpoint slot k, without status (the API server drops status on create). */
export function syntheticPod(service: SyntheticService, k: number): Record<string, unknown> {
  const endpoint = service.endpoints[k];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: syntheticPodName(service, k),
      namespace: service.namespace,
      labels: { app: service.name, version: endpoint?.version ?? "v1" },
    },
    spec: {
      nodeName: NODE_NAME,
      automountServiceAccountToken: false,
      containers: [
        {
          name: "app",
          image: "registry.invalid/meshctl-load/app:1",
          ports: [{ name: PORT_NAME, containerPort: SERVICE_PORT, protocol: "TCP" }],
        },
      ],
    },
  };
}

/** The status a kubelet would report for a running, ready pod with this IP. */
export function syntheticPodStatus(ip: string): Record<string, unknown> {
  const now = new Date().toISOString();
  const ready = (type: string) => ({ type, status: "True", lastTransitionTime: now });
  return {
    status: {
      phase: "Running",
      hostIP: "10.255.0.1",
      hostIPs: [{ ip: "10.255.0.1" }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: now,
      conditions: [ready("PodScheduled"), ready("Initialized"), ready("ContainersReady"), ready("Ready")],
    },
  };
}

export function syntheticKubeService(service: SyntheticService): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: service.name, namespace: service.namespace, labels: { app: service.name } },
    spec: {
      type: "ClusterIP",
      selector: { app: service.name },
      ports: [{ name: PORT_NAME, port: SERVICE_PORT, targetPort: SERVICE_PORT, protocol: "TCP" }],
    },
  };
}

/** The `endpoints` of a service's EndpointSlice: slot k keeps its pod whatever its address. */
export function endpointSliceEndpoints(service: SyntheticService): Record<string, unknown>[] {
  return service.endpoints.map((e, k) => ({
    addresses: [e.address],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: NODE_NAME,
    targetRef: { kind: "Pod", namespace: service.namespace, name: syntheticPodName(service, k) },
  }));
}

/** The one EndpointSlice of a service, named after it, as the endpointslice controller labels it. */
export function syntheticEndpointSlice(service: SyntheticService): Record<string, unknown> {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: service.name,
      namespace: service.namespace,
      labels: {
        "kubernetes.io/service-name": service.name,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType: "IPv4",
    ports: [{ name: PORT_NAME, port: SERVICE_PORT, protocol: "TCP" }],
    endpoints: endpointSliceEndpoints(service),
  };
}

export const podPath = (ns: string, name: string) => `${kubeCollectionPath("v1", "pods", ns)}/${name}`;
export const endpointSlicePath = (ns: string, name: string) =>
  `${kubeCollectionPath("discovery.k8s.io/v1", "endpointslices", ns)}/${name}`;

interface KubeDocument {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec?: unknown;
}

/** The Istio documents of mesh files other than ServiceEntries (those become Services). */
export function istioDocumentsOf(files: Readonly<Record<string, string>>): KubeDocument[] {
  const out: KubeDocument[] = [];
  for (const text of Object.values(files))
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as KubeDocument | null;
      if (o && o.kind !== "ServiceEntry") out.push(o);
    }
  return out;
}

/** REST path of an Istio document's collection (POST) and of the object itself. */
export function istioDocumentPaths(doc: KubeDocument): { collection: string; object: string } {
  const k = istioKind(doc.apiVersion, doc.kind);
  if (!k) throw new Error(`no CRD for ${doc.apiVersion} ${doc.kind}`);
  const collection = kubeCollectionPath(doc.apiVersion, k.plural, doc.metadata.namespace);
  return { collection, object: `${collection}/${doc.metadata.name}` };
}

export interface KubeMeshLoadReport {
  /** Objects created (namespaces, service accounts, pods, services, slices, Istio objects, CRDs). */
  readonly objects: number;
  /** API requests made (pods take two: create, then status). */
  readonly writes: number;
  /** Milliseconds per step and in total. */
  readonly ms: Readonly<Record<"crds" | "namespaces" | "pods" | "services" | "istio" | "total", number>>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until every CRD's collection answers (established), bounded by `timeoutMs`. */
async function waitForCrds(api: KubeApiWriter, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let pending = ISTIO_KINDS.map(
    (k) => `${kubeCollectionPath(`${k.group}/${k.versions[0]}`, k.plural)}?limit=1`,
  );
  while (pending.length > 0) {
    const answers = await Promise.all(pending.map((p) => api.request("GET", p)));
    pending = pending.filter((_, i) => answers[i]?.status !== 200);
    if (pending.length === 0) return;
    if (performance.now() > deadline)
      throw new Error(`Istio CRDs not established within ${timeoutMs} ms: ${pending.join(", ")}`);
    await sleep(100);
  }
}

/**
 * Writes the synthetic mesh into an API server: CRDs, the one Node, namespaces (+ their `default`
 * ServiceAccount, which pod admission needs without a controller-manager), Pods with status,
 * Services, EndpointSlices, then the Istio objects. `concurrency` requests in flight.
 *
 * @example
 * const api = new KubeApiWriter(kube);
 * const loaded = await loadSyntheticMeshIntoKube(api, generateSyntheticMesh({ services: 20 }));
 * loaded.ms.total; // setup time, not part of any measured phase
 */
export async function loadSyntheticMeshIntoKube(
  api: KubeApiWriter,
  mesh: SyntheticMesh,
  options: { readonly concurrency?: number; readonly crdTimeoutMs?: number } = {},
): Promise<KubeMeshLoadReport> {
  const concurrency = options.concurrency ?? 32;
  const t0 = performance.now();
  let mark = t0;
  const ms: Record<string, number> = {};
  const step = (name: string) => {
    const t = performance.now();
    ms[name] = Math.round(t - mark);
    mark = t;
  };
  let objects = 0;
  let writes = 0;
  const create = async (path: string, body: unknown) => {
    writes++;
    objects++;
    await api.create(path, body, { alreadyExists: "ok" });
  };

  const crds = istioCustomResourceDefinitions();
  await forEachLimited(crds, concurrency, (c) =>
    create(kubeCollectionPath("apiextensions.k8s.io/v1", "customresourcedefinitions"), c),
  );
  await waitForCrds(api, options.crdTimeoutMs ?? 60_000);
  step("crds");

  const { namespaces, services } = mesh.description;
  await create(kubeCollectionPath("v1", "nodes"), {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: NODE_NAME, labels: { "kubernetes.io/hostname": NODE_NAME } },
  });
  await forEachLimited([...namespaces, "istio-system"], concurrency, async (name) => {
    await create(kubeCollectionPath("v1", "namespaces"), {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    });
    await create(kubeCollectionPath("v1", "serviceaccounts", name), {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "default", namespace: name },
    });
  });
  step("namespaces");

  const pods = services.flatMap((s) => s.endpoints.map((e, k) => ({ s, k, ip: e.address })));
  await forEachLimited(pods, concurrency, async ({ s, k, ip }) => {
    await create(kubeCollectionPath("v1", "pods", s.namespace), syntheticPod(s, k));
    writes++;
    await api.patch(`${podPath(s.namespace, syntheticPodName(s, k))}/status`, syntheticPodStatus(ip));
  });
  step("pods");

  await forEachLimited(services, concurrency, async (s) => {
    await create(kubeCollectionPath("v1", "services", s.namespace), syntheticKubeService(s));
    await create(
      kubeCollectionPath("discovery.k8s.io/v1", "endpointslices", s.namespace),
      syntheticEndpointSlice(s),
    );
  });
  step("services");

  const docs = istioDocumentsOf(mesh.files);
  await forEachLimited(docs, concurrency, (d) => create(istioDocumentPaths(d).collection, d));
  step("istio");
  ms.total = Math.round(performance.now() - t0);
  return { objects, writes, ms: ms as KubeMeshLoadReport["ms"] };
}
