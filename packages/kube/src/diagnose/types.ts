/**
 * What `meshctl diagnose --kubeconfig` learns about a cluster. Facts only: no judgement (that is
 * the CLI's pure evaluation), and every part that can fail carries its own error, so one refused
 * request never hides what the others found.
 */
import type { KubeErrorCode } from "../errors.js";

/** Why one fact could not be gathered. */
export interface ClusterFactError {
  /** `KUBE_FORBIDDEN` for RBAC refusals, `KUBE_UNREACHABLE`, `KUBE_TIMEOUT`, ... */
  readonly code: KubeErrorCode | "CONTROL_PLANE_UNREACHABLE" | "CONTROL_PLANE_BAD_RESPONSE";
  /** The server's message (a Kubernetes Status message names the user, verb and resource). */
  readonly message: string;
  /** The request that failed, in words: `list pods in all namespaces`. */
  readonly request: string;
  readonly httpStatus: number | null;
}

/** A fact, or why it is missing. */
export type Gathered<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ClusterFactError };

export interface ClusterTarget {
  /** The kubeconfig file read, null for in-cluster config or when none was found. */
  readonly kubeconfig: string | null;
  readonly context: string | null;
  readonly server: string | null;
  readonly user: string | null;
}

export interface ApiServerFacts {
  readonly server: string;
  /** `v1.37.2` */
  readonly gitVersion: string;
  readonly major: string;
  readonly minor: string;
  readonly platform: string;
}

/** One of the Istio CRDs meshctl reads, present or not. */
export interface IstioCrdFact {
  /** `sidecars.networking.istio.io` */
  readonly name: string;
  readonly kind: string;
  readonly present: boolean;
  readonly servedVersions: readonly string[];
  readonly storageVersion: string | null;
  /** The `Established` condition is True (the API server serves it). */
  readonly established: boolean;
}

export interface WorkloadCondition {
  readonly type: string;
  readonly status: string;
  readonly reason: string | null;
  readonly message: string | null;
}

/** A meshctl Deployment or DaemonSet, with the status its controller last wrote. */
export interface WorkloadFact {
  readonly kind: "Deployment" | "DaemonSet";
  readonly namespace: string;
  readonly name: string;
  /** `app.kubernetes.io/component`, when set. */
  readonly component: string | null;
  readonly images: readonly string[];
  readonly generation: number;
  /** null when no controller has written a status yet. */
  readonly observedGeneration: number | null;
  /** Deployment: spec.replicas; DaemonSet: status.desiredNumberScheduled. */
  readonly desired: number;
  readonly ready: number;
  readonly updated: number;
  readonly available: number;
  readonly conditions: readonly WorkloadCondition[];
}

export interface ServicePortFact {
  readonly name: string | null;
  readonly port: number;
  readonly targetPort: string | null;
}

export interface ServiceFact {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePortFact[];
}

/** meshctl's own objects, found by their `app.kubernetes.io/part-of=meshctl` label. */
export interface MeshctlComponentsFacts {
  readonly selector: string;
  /** Where they were looked for: all namespaces, or one when listing all was refused. */
  readonly searched: string;
  readonly workloads: readonly WorkloadFact[];
  readonly services: readonly ServiceFact[];
}

export interface NamespaceFact {
  readonly name: string;
  /** Active or Terminating. */
  readonly phase: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The `istio-iptables` settings of an istio-init container, as its args and env give them. */
export interface CaptureSettings {
  readonly args: readonly string[];
  /** -p: where outbound TCP is redirected (Envoy's 15001). */
  readonly outboundPort: string | null;
  /** -z: where inbound TCP is redirected (15006). */
  readonly inboundPort: string | null;
  /** -b: inbound ports captured (`*` = all, empty = inbound not captured). */
  readonly inboundPorts: string | null;
  /** -i: outbound CIDRs captured (`*` = all, empty = outbound not captured). */
  readonly outboundCidrs: string | null;
  /** -m: REDIRECT or TPROXY. */
  readonly mode: string | null;
  /** -u: the proxy's UID, whose traffic is not captured. */
  readonly proxyUid: string | null;
  /** Capabilities the container adds (iptables needs NET_ADMIN and NET_RAW), or "privileged". */
  readonly capabilities: readonly string[];
}

/** What a pod's spec says about its place in the mesh (the spec, not the running state). */
export interface PodFact {
  readonly namespace: string;
  readonly name: string;
  /** Pending, Running, ... */
  readonly phase: string;
  /** Running with condition Ready=True. */
  readonly ready: boolean;
  readonly podIp: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** `sidecar.istio.io/inject` (label, else annotation), when set. */
  readonly injectOverride: string | null;
  /** `inject.istio.io/templates` annotation, when set (`grpc-agent` = proxyless). */
  readonly injectTemplates: string | null;
  /** The `istio-proxy` container, if the pod has one (a native sidecar is an init container). */
  readonly sidecar: { readonly image: string | null; readonly native: boolean } | null;
  /** How a gRPC app finds its xDS bootstrap, e.g. `GRPC_XDS_BOOTSTRAP in container app`. */
  readonly proxylessBootstrap: string | null;
  /** The `istio-init` container's capture settings, if present. */
  readonly istioInit: CaptureSettings | null;
  /** An `istio-validation` init container: capture is done by the istio-cni node agent. */
  readonly cniValidation: boolean;
}

/** A Sidecar resource (networking.istio.io) as far as scoping goes. */
export interface SidecarResourceFact {
  readonly namespace: string;
  readonly name: string;
  readonly workloadSelector: Readonly<Record<string, string>> | null;
  /** All `egress[].hosts`, e.g. `./*`, `istio-system/*`, `*\/*`. */
  readonly egressHosts: readonly string[];
}

/** One xDS type of one connected proxy, as the control plane's `/debug/clients` reports it. */
export interface TypeSyncFact {
  readonly lastVersionSent: string | null;
  readonly lastSentAt: string | null;
  readonly ackedVersion: string | null;
  readonly nackedVersion: string | null;
  readonly lastNackError: string | null;
  readonly lastNackAt: string | null;
}

export interface ProxySyncFact {
  readonly nodeId: string;
  readonly namespace: string;
  readonly proxyType: string;
  readonly protocol: string;
  readonly connectedAt: string | null;
  /** Keyed by xDS type (`lds`, `rds`, `cds`, `eds`). */
  readonly types: Readonly<Record<string, TypeSyncFact>>;
  /** What the proxy reported it can run (Envoy's Node user agent and extensions), when known. */
  readonly capabilities?: {
    readonly userAgent: string | null;
    readonly buildVersion: string | null;
    readonly extensionCount: number;
  };
  /** Filters the control plane did not send because the proxy lacks them (empty: none skipped). */
  readonly skippedFilters?: readonly { readonly name: string; readonly reason: string }[];
}

export interface ControlPlaneSync {
  /** When the control plane answered: our clock, or its HTTP Date when the clocks disagree by over 2 s. */
  readonly now: string;
  readonly proxies: readonly ProxySyncFact[];
}

export type ControlPlaneFacts =
  | {
      /** `flag`: --control-plane URL; `service-proxy`: the meshctl Service through the API server. */
      readonly source: "flag" | "service-proxy";
      /** The URL asked, or `namespace/service:port` for the service proxy. */
      readonly endpoint: string;
      readonly sync: Gathered<ControlPlaneSync>;
    }
  | { readonly source: "none"; readonly reason: string };

export interface ClusterFacts {
  /** When the facts were gathered (local clock). */
  readonly observedAt: string;
  readonly target: ClusterTarget;
  /** The namespace diagnose was limited to (--namespace), or null for all. */
  readonly namespace: string | null;
  /** Where mesh-wide Sidecar defaults live (Istio's root namespace). */
  readonly rootNamespace: string;
  /** The connection and the server version; when it failed, every later fact is null. */
  readonly api: Gathered<ApiServerFacts>;
  readonly crds: Gathered<readonly IstioCrdFact[]> | null;
  readonly components: Gathered<MeshctlComponentsFacts> | null;
  readonly namespaces: Gathered<readonly NamespaceFact[]> | null;
  readonly pods: Gathered<readonly PodFact[]> | null;
  readonly sidecars: Gathered<readonly SidecarResourceFact[]> | null;
  readonly controlPlane: ControlPlaneFacts | null;
}
