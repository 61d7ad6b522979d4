import type {
  ClusterFacts,
  IstioCrdFact,
  NamespaceFact,
  PodFact,
  ProxySyncFact,
  SidecarResourceFact,
  TypeSyncFact,
  WorkloadFact,
} from "@meshctl/kube";

export const NOW = "2026-12-06T12:00:00.000Z";
const ago = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();

export function crd(kind: string, plural: string, o: Partial<IstioCrdFact> = {}): IstioCrdFact {
  return {
    name: `${plural}.networking.istio.io`,
    kind,
    present: true,
    servedVersions: ["v1", "v1beta1"],
    storageVersion: "v1",
    established: true,
    ...o,
  };
}

export const ALL_CRDS = [
  crd("VirtualService", "virtualservices"),
  crd("DestinationRule", "destinationrules"),
  crd("Sidecar", "sidecars"),
  crd("ServiceEntry", "serviceentries"),
  crd("WorkloadEntry", "workloadentries"),
];

export function workload(o: Partial<WorkloadFact> & Pick<WorkloadFact, "kind" | "name">): WorkloadFact {
  return {
    namespace: "meshctl-system",
    component: o.kind === "Deployment" ? "xds" : "ebpf",
    images: ["ghcr.io/meshctl/meshctl:0.1.0"],
    generation: 1,
    observedGeneration: 1,
    desired: 1,
    ready: 1,
    updated: 1,
    available: 1,
    conditions: [],
    ...o,
  };
}

export function ns(name: string, labels: Record<string, string> = {}, phase = "Active"): NamespaceFact {
  return { name, labels, phase };
}

export const ISTIO_INIT = {
  args: [
    "istio-iptables",
    "-p",
    "15001",
    "-z",
    "15006",
    "-u",
    "1337",
    "-m",
    "REDIRECT",
    "-i",
    "*",
    "-b",
    "*",
  ],
  outboundPort: "15001",
  inboundPort: "15006",
  inboundPorts: "*",
  outboundCidrs: "*",
  mode: "REDIRECT",
  proxyUid: "1337",
  capabilities: ["NET_ADMIN", "NET_RAW"],
};

/** A pod with an injected sidecar and istio-init, unless overridden. */
export function pod(name: string, namespace: string, o: Partial<PodFact> = {}): PodFact {
  return {
    namespace,
    name,
    phase: "Running",
    ready: true,
    podIp: null,
    labels: { app: name },
    injectOverride: null,
    injectTemplates: null,
    sidecar: { image: "proxyv2", native: false },
    proxylessBootstrap: null,
    istioInit: ISTIO_INIT,
    cniValidation: false,
    ...o,
  };
}

export function proxyless(name: string, namespace: string, o: Partial<PodFact> = {}): PodFact {
  return pod(name, namespace, {
    sidecar: null,
    istioInit: null,
    proxylessBootstrap: "GRPC_XDS_BOOTSTRAP in container app",
    ...o,
  });
}

export function sidecar(
  name: string,
  namespace: string,
  egressHosts: string[],
  workloadSelector: Record<string, string> | null = null,
): SidecarResourceFact {
  return { name, namespace, egressHosts, workloadSelector };
}

/** Every xDS type ACKed at `version`, unless overridden. */
export function proxy(
  nodeId: string,
  types: Record<string, Partial<TypeSyncFact>> = {},
  version = "v7",
): ProxySyncFact {
  const synced: TypeSyncFact = {
    lastVersionSent: version,
    lastSentAt: ago(60_000),
    ackedVersion: version,
    nackedVersion: null,
    lastNackError: null,
    lastNackAt: null,
  };
  const kinds = ["cds", "eds", "lds", "rds"];
  return {
    nodeId,
    namespace: nodeId.split("~")[3]?.split(".")[0] ?? "",
    proxyType: nodeId.split("~")[0] ?? "sidecar",
    protocol: "sotw",
    connectedAt: ago(120_000),
    types: Object.fromEntries(kinds.map((k) => [k, { ...synced, ...(types[k] ?? {}) }])),
  };
}

export { ago };

/**
 * A healthy cluster: API v1.37.2, Istio CRDs, meshctl ready, namespace demo injected with a
 * sidecar pod and a proxyless pod, scoped by demo/default, both proxies synced.
 *
 * @example
 * evaluateClusterChecks(clusterFactsFixture({ crds: { ok: true, value: ALL_CRDS.slice(1) } }));
 */
export function clusterFactsFixture(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    observedAt: NOW,
    target: {
      kubeconfig: "/home/me/.kube/config",
      context: "lab",
      server: "https://10.0.0.1:6443",
      user: "me",
    },
    namespace: null,
    rootNamespace: "istio-system",
    api: {
      ok: true,
      value: {
        server: "https://10.0.0.1:6443",
        gitVersion: "v1.37.2",
        major: "1",
        minor: "37",
        platform: "linux/amd64",
      },
    },
    crds: { ok: true, value: ALL_CRDS },
    components: {
      ok: true,
      value: {
        selector: "app.kubernetes.io/part-of=meshctl",
        searched: "all namespaces",
        workloads: [
          workload({ kind: "Deployment", name: "meshctl-xds" }),
          workload({ kind: "DaemonSet", name: "meshctl-ebpf" }),
        ],
        services: [
          {
            namespace: "meshctl-system",
            name: "meshctl-xds",
            ports: [{ name: "http-debug", port: 15014, targetPort: "15014" }],
          },
        ],
      },
    },
    namespaces: {
      ok: true,
      value: [
        ns("default"),
        ns("demo", { "istio-injection": "enabled" }),
        ns("istio-system"),
        ns("meshctl-system"),
      ],
    },
    pods: { ok: true, value: [pod("echo-1", "demo"), proxyless("grpc-1", "demo")] },
    sidecars: { ok: true, value: [sidecar("default", "demo", ["./*", "istio-system/*"])] },
    controlPlane: {
      source: "service-proxy",
      endpoint: "meshctl-system/meshctl-xds:http-debug",
      sync: {
        ok: true,
        value: {
          now: NOW,
          proxies: [
            proxy("sidecar~10.1.0.5~echo-1.demo~demo.svc.cluster.local"),
            proxy("grpc~10.1.0.6~grpc-1.demo~demo.svc.cluster.local"),
          ],
        },
      },
    },
    ...overrides,
  };
}
