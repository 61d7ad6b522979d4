/** Gathers the cluster facts behind `meshctl diagnose --kubeconfig`. Reads only; never prints. */
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1DaemonSet,
  type V1Deployment,
  type V1Service,
  VersionApi,
} from "@kubernetes/client-node";
import { type KubeConnectionOptions, loadKubeConfig } from "../config.js";
import {
  clusterFactError,
  gatherFact,
  listAllPages,
  makeDeadlineApiClient,
  PAGE_SIZE,
} from "./api-client.js";
import {
  fetchControlPlaneSync,
  fetchControlPlaneSyncViaServiceProxy,
  findControlPlaneService,
} from "./control-plane.js";
import { podFactOf } from "./pod-facts.js";
import type {
  ApiServerFacts,
  ClusterFacts,
  ClusterTarget,
  ControlPlaneFacts,
  Gathered,
  IstioCrdFact,
  MeshctlComponentsFacts,
  NamespaceFact,
  PodFact,
  ServiceFact,
  SidecarResourceFact,
  WorkloadCondition,
  WorkloadFact,
} from "./types.js";

/** The Istio CRDs meshctl's control plane reads (networking.istio.io). */
export const ISTIO_CRDS = [
  { name: "virtualservices.networking.istio.io", kind: "VirtualService" },
  { name: "destinationrules.networking.istio.io", kind: "DestinationRule" },
  { name: "sidecars.networking.istio.io", kind: "Sidecar" },
  { name: "serviceentries.networking.istio.io", kind: "ServiceEntry" },
  { name: "workloadentries.networking.istio.io", kind: "WorkloadEntry" },
] as const;

/** The labels `meshctl install` puts on everything it creates. */
export const MESHCTL_PART_OF_SELECTOR = "app.kubernetes.io/part-of=meshctl";
export const DEFAULT_MESHCTL_NAMESPACE = "meshctl-system";
export const DEFAULT_ROOT_NAMESPACE = "istio-system";
const SIDECAR_VERSIONS = ["v1", "v1beta1", "v1alpha3"];

export interface ClusterDiagnoseOptions extends KubeConnectionOptions {
  /** Limit the namespace facts (pods, injection, scoping) to one namespace. */
  readonly namespace?: string;
  /** The control plane's debug URL; default: the meshctl Service through the API server's service proxy. */
  readonly controlPlaneUrl?: string;
  /** Istio's root namespace, where a Sidecar without selector is the mesh-wide default. */
  readonly rootNamespace?: string;
  /** Where meshctl's components are looked for when listing all namespaces is refused. */
  readonly meshctlNamespace?: string;
  /** Deadline of each request (ms). Default 10,000. */
  readonly timeoutMs?: number;
}

function conditionsOf(
  conds: readonly { type: string; status: string; reason?: string; message?: string }[] = [],
) {
  return conds.map(
    (c): WorkloadCondition => ({
      type: c.type,
      status: c.status,
      reason: c.reason ?? null,
      message: c.message ?? null,
    }),
  );
}

function deploymentFact(d: V1Deployment): WorkloadFact {
  const s = d.status;
  return {
    kind: "Deployment",
    namespace: d.metadata?.namespace ?? "",
    name: d.metadata?.name ?? "",
    component: d.metadata?.labels?.["app.kubernetes.io/component"] ?? null,
    images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ""),
    generation: d.metadata?.generation ?? 0,
    observedGeneration: s?.observedGeneration ?? null,
    desired: d.spec?.replicas ?? 1,
    ready: s?.readyReplicas ?? 0,
    updated: s?.updatedReplicas ?? 0,
    available: s?.availableReplicas ?? 0,
    conditions: conditionsOf(s?.conditions),
  };
}

function daemonSetFact(d: V1DaemonSet): WorkloadFact {
  const s = d.status;
  return {
    kind: "DaemonSet",
    namespace: d.metadata?.namespace ?? "",
    name: d.metadata?.name ?? "",
    component: d.metadata?.labels?.["app.kubernetes.io/component"] ?? null,
    images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ""),
    generation: d.metadata?.generation ?? 0,
    observedGeneration: s?.observedGeneration ?? null,
    desired: s?.desiredNumberScheduled ?? 0,
    ready: s?.numberReady ?? 0,
    updated: s?.updatedNumberScheduled ?? 0,
    available: s?.numberAvailable ?? 0,
    conditions: conditionsOf(s?.conditions),
  };
}

function serviceFact(s: V1Service): ServiceFact {
  return {
    namespace: s.metadata?.namespace ?? "",
    name: s.metadata?.name ?? "",
    ports: (s.spec?.ports ?? []).map((p) => ({
      name: p.name ?? null,
      port: p.port,
      targetPort: p.targetPort === undefined ? null : String(p.targetPort),
    })),
  };
}

function sidecarFact(o: Record<string, unknown>): SidecarResourceFact {
  const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
  const spec = (o.spec ?? {}) as {
    workloadSelector?: { labels?: Record<string, string> };
    egress?: { hosts?: string[] }[];
  };
  const selector = spec.workloadSelector?.labels;
  return {
    namespace: meta.namespace ?? "",
    name: meta.name ?? "",
    workloadSelector: selector && Object.keys(selector).length > 0 ? selector : null,
    egressHosts: (spec.egress ?? []).flatMap((e) => e.hosts ?? []),
  };
}

interface Apis {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly ext: ApiextensionsV1Api;
  readonly custom: CustomObjectsApi;
}

async function gatherCrds(apis: Apis): Promise<Gathered<readonly IstioCrdFact[]>> {
  const facts: IstioCrdFact[] = [];
  for (const crd of ISTIO_CRDS) {
    try {
      const found = await apis.ext.readCustomResourceDefinition({ name: crd.name });
      const versions = found.spec.versions ?? [];
      facts.push({
        name: crd.name,
        kind: crd.kind,
        present: true,
        servedVersions: versions.filter((v) => v.served).map((v) => v.name),
        storageVersion: versions.find((v) => v.storage)?.name ?? null,
        established: (found.status?.conditions ?? []).some(
          (c) => c.type === "Established" && c.status === "True",
        ),
      });
    } catch (error) {
      const e = clusterFactError(error, `get customresourcedefinitions.apiextensions.k8s.io ${crd.name}`);
      if (e.httpStatus !== 404) return { ok: false, error: e };
      facts.push({
        name: crd.name,
        kind: crd.kind,
        present: false,
        servedVersions: [],
        storageVersion: null,
        established: false,
      });
    }
  }
  return { ok: true, value: facts };
}

async function gatherComponents(
  apis: Apis,
  meshctlNamespace: string,
): Promise<Gathered<MeshctlComponentsFacts>> {
  const labelSelector = MESHCTL_PART_OF_SELECTOR;
  const inAll = async (): Promise<MeshctlComponentsFacts> => {
    const [deployments, daemonSets, services] = await Promise.all([
      apis.apps.listDeploymentForAllNamespaces({ labelSelector }),
      apis.apps.listDaemonSetForAllNamespaces({ labelSelector }),
      apis.core.listServiceForAllNamespaces({ labelSelector }),
    ]);
    return {
      selector: labelSelector,
      searched: "all namespaces",
      workloads: [...deployments.items.map(deploymentFact), ...daemonSets.items.map(daemonSetFact)],
      services: services.items.map(serviceFact),
    };
  };
  const inOne = async (namespace: string): Promise<MeshctlComponentsFacts> => {
    const [deployments, daemonSets, services] = await Promise.all([
      apis.apps.listNamespacedDeployment({ namespace, labelSelector }),
      apis.apps.listNamespacedDaemonSet({ namespace, labelSelector }),
      apis.core.listNamespacedService({ namespace, labelSelector }),
    ]);
    return {
      selector: labelSelector,
      searched: `namespace ${namespace}`,
      workloads: [...deployments.items.map(deploymentFact), ...daemonSets.items.map(daemonSetFact)],
      services: services.items.map(serviceFact),
    };
  };
  const all = await gatherFact(
    `list deployments, daemonsets and services (${labelSelector}) in all namespaces`,
    inAll,
  );
  // A user allowed into meshctl's namespace only still gets the components checked.
  if (all.ok || all.error.code !== "KUBE_FORBIDDEN") return all;
  const one = await gatherFact(
    `list deployments, daemonsets and services (${labelSelector}) in namespace ${meshctlNamespace}`,
    () => inOne(meshctlNamespace),
  );
  return one.ok ? one : all;
}

async function gatherNamespaces(
  apis: Apis,
  only: string | undefined,
): Promise<Gathered<readonly NamespaceFact[]>> {
  const fact = (n: {
    metadata?: { name?: string; labels?: Record<string, string> };
    status?: { phase?: string };
  }) => ({
    name: n.metadata?.name ?? "",
    phase: n.status?.phase ?? "Active",
    labels: n.metadata?.labels ?? {},
  });
  if (only !== undefined)
    return gatherFact(`get namespace ${only}`, async () => [
      fact(await apis.core.readNamespace({ name: only })),
    ]);
  return gatherFact("list namespaces", async () =>
    (
      await listAllPages((cont) =>
        apis.core.listNamespace({ limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }),
      )
    ).map(fact),
  );
}

async function gatherPods(apis: Apis, only: string | undefined): Promise<Gathered<readonly PodFact[]>> {
  const request = only !== undefined ? `list pods in namespace ${only}` : "list pods in all namespaces";
  return gatherFact(request, async () => {
    const pods = await listAllPages((cont) => {
      const page = { limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) };
      return only !== undefined
        ? apis.core.listNamespacedPod({ namespace: only, ...page })
        : apis.core.listPodForAllNamespaces(page);
    });
    return pods.map(podFactOf);
  });
}

async function gatherSidecars(
  apis: Apis,
  crds: Gathered<readonly IstioCrdFact[]>,
  only: string | undefined,
  rootNamespace: string,
): Promise<Gathered<readonly SidecarResourceFact[]>> {
  const crd = crds.ok ? crds.value.find((c) => c.kind === "Sidecar") : undefined;
  const request = "list sidecars.networking.istio.io";
  if (crd && !crd.present) {
    return {
      ok: false,
      error: {
        code: "KUBE_API_ERROR",
        message: `the Sidecar CRD (${crd.name}) is not installed`,
        request,
        httpStatus: 404,
      },
    };
  }
  const version = SIDECAR_VERSIONS.find((v) => crd?.servedVersions.includes(v)) ?? "v1";
  const base = { group: "networking.istio.io", version, plural: "sidecars" };
  const namespaces = only === undefined ? [] : [...new Set([only, rootNamespace])];
  return gatherFact(
    only === undefined ? `${request} in all namespaces` : `${request} in namespaces ${namespaces.join(", ")}`,
    async () => {
      const lists =
        only === undefined
          ? [await apis.custom.listClusterCustomObject(base)]
          : await Promise.all(
              namespaces.map((namespace) => apis.custom.listNamespacedCustomObject({ ...base, namespace })),
            );
      return lists.flatMap((l) =>
        ((l as { items?: Record<string, unknown>[] }).items ?? []).map(sidecarFact),
      );
    },
  );
}

async function gatherControlPlane(
  apis: Apis,
  components: Gathered<MeshctlComponentsFacts>,
  options: ClusterDiagnoseOptions,
  timeoutMs: number,
): Promise<ControlPlaneFacts> {
  if (options.controlPlaneUrl !== undefined) {
    return {
      source: "flag",
      endpoint: options.controlPlaneUrl,
      sync: await fetchControlPlaneSync(options.controlPlaneUrl, timeoutMs),
    };
  }
  if (!components.ok) return { source: "none", reason: "meshctl's Services could not be listed" };
  const target = findControlPlaneService(components.value.services);
  if (!target) {
    return {
      source: "none",
      reason:
        components.value.services.length === 0
          ? `no Service labelled ${components.value.selector} (is meshctl installed?)`
          : `no meshctl Service exposes a debug port (${components.value.services
              .map((s) => `${s.namespace}/${s.name}`)
              .join(", ")})`,
    };
  }
  return {
    source: "service-proxy",
    endpoint: `${target.namespace}/${target.service}:${target.port}`,
    sync: await fetchControlPlaneSyncViaServiceProxy(apis.core, target),
  };
}

function targetOf(kc: KubeConfig | undefined, options: ClusterDiagnoseOptions): ClusterTarget {
  return {
    kubeconfig: options.kubeconfig ?? null,
    context: kc?.getCurrentContext() || (options.context ?? null),
    server: kc?.getCurrentCluster()?.server ?? null,
    user: kc?.getCurrentUser()?.name ?? null,
  };
}

/**
 * Gathers everything the cluster checks judge: the API server and its version, Istio's CRDs,
 * meshctl's components, namespaces, pods (sidecar, proxyless bootstrap, istio-init capture),
 * Sidecar resources and, from the control plane, the sync state of connected proxies.
 * Never throws for cluster problems: a bad kubeconfig, an unreachable server or an RBAC refusal
 * is recorded in the fact it prevented.
 *
 * @example
 * const facts = await gatherClusterFacts({ kubeconfig: "/tmp/kubeconfig", namespace: "demo" });
 * if (!facts.api.ok) console.error(facts.api.error.message);
 */
export async function gatherClusterFacts(options: ClusterDiagnoseOptions = {}): Promise<ClusterFacts> {
  const observedAt = new Date().toISOString();
  const namespace = options.namespace ?? null;
  const rootNamespace = options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const skipped = {
    crds: null,
    components: null,
    namespaces: null,
    pods: null,
    sidecars: null,
    controlPlane: null,
  };
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(options);
  } catch (error) {
    return {
      observedAt,
      target: targetOf(undefined, options),
      namespace,
      rootNamespace,
      api: { ok: false, error: clusterFactError(error, "load the kubeconfig") },
      ...skipped,
    };
  }
  const server = kc.getCurrentCluster()?.server ?? "";
  const target = targetOf(kc, options);
  const apis: Apis = {
    core: makeDeadlineApiClient(kc, CoreV1Api, timeoutMs),
    apps: makeDeadlineApiClient(kc, AppsV1Api, timeoutMs),
    ext: makeDeadlineApiClient(kc, ApiextensionsV1Api, timeoutMs),
    custom: makeDeadlineApiClient(kc, CustomObjectsApi, timeoutMs),
  };
  const version = await gatherFact(
    `GET ${server}/version`,
    () => makeDeadlineApiClient(kc, VersionApi, timeoutMs).getCode(),
    timeoutMs,
  );
  const api: Gathered<ApiServerFacts> = version.ok
    ? {
        ok: true,
        value: {
          server,
          gitVersion: version.value.gitVersion,
          major: version.value.major,
          minor: version.value.minor,
          platform: version.value.platform,
        },
      }
    : version;
  // /version is readable by everyone authenticated; any other failure means nothing else will work.
  if (!version.ok && version.error.code !== "KUBE_FORBIDDEN")
    return { observedAt, target, namespace, rootNamespace, api, ...skipped };

  const only = options.namespace;
  const [crds, components, namespaces, pods] = await Promise.all([
    gatherCrds(apis),
    gatherComponents(apis, options.meshctlNamespace ?? DEFAULT_MESHCTL_NAMESPACE),
    gatherNamespaces(apis, only),
    gatherPods(apis, only),
  ]);
  const [sidecars, controlPlane] = await Promise.all([
    gatherSidecars(apis, crds, only, rootNamespace),
    gatherControlPlane(apis, components, options, timeoutMs),
  ]);
  return {
    observedAt,
    target,
    namespace,
    rootNamespace,
    api,
    crds,
    components,
    namespaces,
    pods,
    sidecars,
    controlPlane,
  };
}
