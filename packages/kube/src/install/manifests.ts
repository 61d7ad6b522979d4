/**
 * What `meshctl install` applies, as plain objects in apply order. Pure: the same options always
 * give the same objects (no timestamps, no random names), which is what makes a second apply a
 * no-op and `--dry-run -o yaml` output stable.
 */
import { basename } from "node:path";
import { ALLOCATOR_ENV } from "@meshctl/core";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { KubeError } from "../errors.js";
import { renderIstioNetworkingCrds } from "./crds.js";
import { LABEL_NAME, meshctlLabels } from "./labels.js";
import type { KubeObject } from "./rest-client.js";

export const INSTALL_COMPONENTS = ["xds", "ebpf", "tstats", "vpp"] as const;
/** `xds` the control plane, `ebpf` the acceleration DaemonSet, `tstats` telemetry, `vpp` the VPP DaemonSet. */
export type InstallComponent = (typeof INSTALL_COMPONENTS)[number];
export const DEFAULT_INSTALL_COMPONENTS: readonly InstallComponent[] = ["xds", "ebpf"];
export const DEFAULT_INSTALL_NAMESPACE = "meshctl-system";
export const DEFAULT_IMAGE_REGISTRY = "ghcr.io/meshctl";
/** ADS gRPC port of the control plane (Istio's grpc-xds). */
export const XDS_GRPC_PORT = 15010;
/** Debug HTTP port of the control plane (Istio's http-monitoring); `xds serve` binds it to 127.0.0.1. */
export const XDS_DEBUG_PORT = 15014;

/** Which part of the install an object belongs to (its `app.kubernetes.io/component` label). */
export type InstallPart = "namespace" | "crds" | InstallComponent;

/**
 * What the other packages contribute to an install, rendered by the caller (the CLI composes
 * `@meshctl/ebpf`, `@meshctl/vpp` and `@meshctl/tstats`). Injected so that @meshctl/kube depends on
 * core only, and the control plane (`@meshctl/xds`) can load it without the BPF or VPP code.
 */
export interface InstallComponentParts {
  /** The eBPF DaemonSet as YAML (`renderEbpfDaemonSet` of @meshctl/ebpf). */
  ebpfDaemonSet(options: { readonly image: string; readonly namespace: string }): string;
  /** VPP's objects (`renderVppKubernetesManifests(...).daemonSet` of @meshctl/vpp). */
  vppObjects(options: { readonly namespace: string; readonly image?: string }): readonly object[];
  /** File name of the tstats setting the control plane reads (`tstatsSettingsPath` of @meshctl/tstats). */
  readonly tstatsSettingsFile: string;
}

export interface InstallManifestOptions {
  /** Renderers of the ebpf, vpp and tstats parts; required when those components are installed. */
  readonly parts?: InstallComponentParts;
  /** Namespace of everything namespaced. Default `meshctl-system`. */
  readonly namespace?: string;
  /** Default `xds,ebpf`. `tstats` configures the control plane, so it needs `xds`. */
  readonly components?: readonly InstallComponent[];
  /** The meshctl image (control plane and eBPF DaemonSet). See {@link meshctlImage}. */
  readonly image: string;
  /** The VPP image (meshctl ships none). Default: `@meshctl/vpp`'s default. */
  readonly vppImage?: string;
  /** Also render the minimal Istio networking CRDs (applied only where absent). */
  readonly installCrds?: boolean;
}

export interface InstallManifest {
  readonly part: InstallPart;
  readonly object: KubeObject;
  /** Applied only when no object of that name exists (CRDs: never replace Istio's own). */
  readonly onlyIfAbsent: boolean;
}

/**
 * The meshctl image reference for a registry and version.
 *
 * @example
 * meshctlImage({ version: "0.1.0" }); // "ghcr.io/meshctl/meshctl:0.1.0"
 * meshctlImage({ registry: "registry.example:5000/mirror", version: "0.1.0" }); // "registry.example:5000/mirror/meshctl:0.1.0"
 */
export function meshctlImage(options: { readonly registry?: string; readonly version: string }): string {
  const registry = (options.registry ?? DEFAULT_IMAGE_REGISTRY).replace(/\/+$/, "");
  return `${registry}/meshctl:${options.version}`;
}

/**
 * Parses `--components xds,ebpf`: known names, no duplicates, `tstats` only with `xds`.
 *
 * @example
 * parseInstallComponents("xds, tstats"); // ["xds", "tstats"]
 */
export function parseInstallComponents(text: string): InstallComponent[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(INSTALL_COMPONENTS as readonly string[]).includes(n));
  if (unknown.length || names.length === 0)
    throw new KubeError(
      "KUBE_OPTIONS_INVALID",
      names.length === 0
        ? "No component to install."
        : `Unknown component ${unknown.map((u) => `"${u}"`).join(", ")}.`,
      { kind: "usage", suggestions: [`Components: ${INSTALL_COMPONENTS.join(", ")} (comma-separated).`] },
    );
  const components = [...new Set(names)] as InstallComponent[];
  checkComponents(components);
  return components;
}

function checkComponents(components: readonly InstallComponent[]): void {
  if (components.includes("tstats") && !components.includes("xds"))
    throw new KubeError(
      "KUBE_OPTIONS_INVALID",
      "The tstats component configures the control plane: it needs xds.",
      {
        kind: "usage",
        suggestions: ["Pass --components xds,tstats (plus ebpf/vpp as wanted)."],
      },
    );
}

/** The arguments of the control plane container. */
function xdsServeArgs(): string[] {
  // `xds serve` binds ADS to 127.0.0.1 by default: in a pod it must listen on the pod IP. No
  // --config/--kubeconfig: serve reads the cluster through the pod's service account when
  // KUBERNETES_SERVICE_HOST is set (in-cluster detection), with the RBAC below.
  return [
    "xds",
    "serve",
    "--host",
    "0.0.0.0",
    "--port",
    String(XDS_GRPC_PORT),
    "--debug-port",
    String(XDS_DEBUG_PORT),
    // On the pod IP too: `meshctl diagnose --kubeconfig` reads /debug/clients through the API
    // server's service proxy.
    "--debug-host",
    "0.0.0.0",
    // Plaintext ADS and the debug port beyond loopback are refused without it (XDS_INSECURE_BIND):
    // in the cluster the pod network (and its NetworkPolicies) is the boundary, as for istiod's
    // plaintext 15010 and its 15014 debug port. Serve with --tls-cert/--tls-key to drop it.
    "--insecure",
  ];
}

/** In the pod, `xds serve` reads tstats.json from here (MESHCTL_CONFIG_DIR). */
const XDS_CONFIG_DIR = "/etc/meshctl";

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Adds meshctl's labels to an object and, for workloads, to its pod template. */
function labelled(object: KubeObject, labels: Readonly<Record<string, string>>): KubeObject {
  const out = clone(object);
  out.metadata.labels = { ...(out.metadata.labels ?? {}), ...labels };
  const template = (out.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)
    ?.template;
  if (template)
    template.metadata = { ...template.metadata, labels: { ...(template.metadata?.labels ?? {}), ...labels } };
  return out;
}

/** Pods that never call the API server get no service account token. */
function withoutApiToken(object: KubeObject): KubeObject {
  const out = clone(object);
  const podSpec = (out.spec as { template?: { spec?: Record<string, unknown> } }).template?.spec;
  if (podSpec) podSpec.automountServiceAccountToken = false;
  return out;
}

/**
 * Everything install applies, in apply order: CRDs (when asked), the namespace, the control
 * plane's service account and RBAC, configuration, the control plane Service + Deployment, the
 * DaemonSets. Uninstall deletes in the reverse order.
 *
 * RBAC is least privilege for the control plane's Kubernetes source: get/list/watch of services,
 * pods, namespaces, nodes, discovery.k8s.io endpointslices and the Istio networking kinds it
 * reads. Nothing else (no writes, no secrets, no endpoints).
 *
 * @example
 * const manifests = renderInstallManifests({ image: "ghcr.io/meshctl/meshctl:0.1.0", components: ["xds"] });
 * manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`);
 */
export function renderInstallManifests(options: InstallManifestOptions): InstallManifest[] {
  const namespace = options.namespace ?? DEFAULT_INSTALL_NAMESPACE;
  const components = options.components ?? DEFAULT_INSTALL_COMPONENTS;
  checkComponents(components);
  if (!options.image)
    throw new KubeError("KUBE_OPTIONS_INVALID", "An image for meshctl is required.", { kind: "usage" });
  const has = (c: InstallComponent) => components.includes(c);
  const out: InstallManifest[] = [];
  const add = (part: InstallPart, object: KubeObject, onlyIfAbsent = false) =>
    out.push({ part, object: labelled(object, meshctlLabels(part, namespace)), onlyIfAbsent });

  if (options.installCrds) {
    for (const crd of renderIstioNetworkingCrds({})) add("crds", crd, true);
  }
  add("namespace", { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });

  const xdsName = "meshctl-xds";
  const xdsSelector = { [LABEL_NAME]: xdsName };
  const clusterName = `${xdsName}-${namespace}`;
  if (has("xds")) {
    add("xds", { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: xdsName, namespace } });
    const read = ["get", "list", "watch"];
    add("xds", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: clusterName },
      rules: [
        { apiGroups: [""], resources: ["services", "pods", "namespaces", "nodes"], verbs: read },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: read },
        {
          apiGroups: ["networking.istio.io"],
          resources: ["virtualservices", "destinationrules", "sidecars", "serviceentries", "workloadentries"],
          verbs: read,
        },
      ],
    });
    add("xds", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: clusterName },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterName },
      subjects: [{ kind: "ServiceAccount", name: xdsName, namespace }],
    });
  }

  const tstatsConfigMap = "meshctl-tstats";
  const parts = (): InstallComponentParts => {
    if (!options.parts) {
      throw new KubeError(
        "KUBE_OPTIONS_INVALID",
        "Rendering the ebpf, vpp or tstats component needs their parts.",
        {
          kind: "bug",
        },
      );
    }
    return options.parts;
  };
  if (has("tstats")) {
    // The file `meshctl enable tstats` writes on a host; the control plane reads it at start.
    const settings = { enabled: true, filters: {} };
    add("tstats", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: tstatsConfigMap, namespace },
      data: { [basename(parts().tstatsSettingsFile)]: `${JSON.stringify(settings, null, 2)}\n` },
    });
  }

  const vpp = has("vpp")
    ? parts()
        .vppObjects({ namespace, ...(options.vppImage ? { image: options.vppImage } : {}) })
        .map((o) => o as KubeObject)
        // The namespace is ours (above).
        .filter((o) => o.kind !== "Namespace")
    : [];
  for (const o of vpp.filter((o) => o.kind === "ConfigMap")) add("vpp", o);

  if (has("xds")) {
    add("xds", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: xdsName, namespace },
      spec: {
        type: "ClusterIP",
        selector: xdsSelector,
        ports: [
          { name: "grpc-xds", port: XDS_GRPC_PORT, targetPort: "grpc-xds", protocol: "TCP" },
          // What `meshctl diagnose --kubeconfig` asks through the API server's service proxy.
          { name: "http-debug", port: XDS_DEBUG_PORT, targetPort: "http-debug", protocol: "TCP" },
        ],
      },
    });
    const tstats = has("tstats");
    add("xds", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: xdsName, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: xdsSelector },
        template: {
          metadata: { labels: xdsSelector },
          spec: {
            serviceAccountName: xdsName,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "xds",
                image: options.image,
                command: ["meshctl"],
                args: xdsServeArgs(),
                env: [
                  // glibc's malloc settings for a long-running server (decision record 0068).
                  ...Object.entries(ALLOCATOR_ENV).map(([name, value]) => ({ name, value })),
                  ...(tstats ? [{ name: "MESHCTL_CONFIG_DIR", value: XDS_CONFIG_DIR }] : []),
                ],
                ports: [
                  { name: "grpc-xds", containerPort: XDS_GRPC_PORT, protocol: "TCP" },
                  { name: "http-debug", containerPort: XDS_DEBUG_PORT, protocol: "TCP" },
                ],
                readinessProbe: { tcpSocket: { port: "grpc-xds" }, periodSeconds: 5 },
                resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                ...(tstats
                  ? { volumeMounts: [{ name: "config", mountPath: XDS_CONFIG_DIR, readOnly: true }] }
                  : {}),
              },
            ],
            ...(tstats ? { volumes: [{ name: "config", configMap: { name: tstatsConfigMap } }] } : {}),
          },
        },
      },
    });
  }

  if (has("ebpf")) {
    const daemonSet = parseYaml(parts().ebpfDaemonSet({ image: options.image, namespace })) as KubeObject;
    add("ebpf", withoutApiToken(daemonSet));
  }
  for (const o of vpp.filter((o) => o.kind === "DaemonSet")) add("vpp", withoutApiToken(o));
  return out;
}

/**
 * Objects as one multi-document YAML stream (`---` between documents), keys in a stable order:
 * `meshctl install --dry-run -o yaml`, ready for `kubectl apply --server-side -f -`.
 *
 * @example
 * renderManifestsYaml(renderInstallManifests({ image }).map((m) => m.object));
 */
export function renderManifestsYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringifyYaml(o, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}
