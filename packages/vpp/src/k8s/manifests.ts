import { stringify } from "yaml";
import {
  renderSidecarProfile,
  type SidecarProfile,
  type SidecarProfileOptions,
} from "../config/sidecar-profile.js";

export interface VppKubernetesOptions extends Omit<SidecarProfileOptions, "ldpreloadPath" | "vclConfigPath"> {
  /** Namespace of the VPP DaemonSet. Default "meshctl-vpp". */
  readonly namespace?: string;
  /** VPP image. meshctl ships none; its VPP must match the VCL libraries it hands to sidecars. */
  readonly image?: string;
  /** Where the image keeps libvcl_ldpreload.so and libvppcom.so. Default /usr/lib/x86_64-linux-gnu. */
  readonly vppLibDirInImage?: string;
  /** Host directory the DaemonSet copies the VCL libraries to. Default /var/lib/meshctl/vpp/lib. */
  readonly hostLibDir?: string;
  /** Container to patch in application pods. Default "istio-proxy". */
  readonly sidecarContainer?: string;
  /** CPU for VPP (requests = limits, so the static CPU manager can give whole cores). Default "2". */
  readonly vppCpu?: string;
  /** Memory for VPP. Default "2Gi". */
  readonly vppMemory?: string;
  readonly nodeSelector?: Readonly<Record<string, string>>;
}

export interface VppKubernetesManifests {
  readonly profile: SidecarProfile;
  /** Namespace, ConfigMap and DaemonSet, in apply order. */
  readonly daemonSet: readonly Record<string, unknown>[];
  /** ConfigMap with vcl.conf for an application namespace (no namespace set: apply with -n). */
  readonly sidecarConfigMap: Record<string, unknown>;
  /** Strategic-merge patch for a Deployment/StatefulSet pod template. */
  readonly sidecarPatch: Record<string, unknown>;
  /** File name → YAML text. */
  readonly files: Readonly<Record<string, string>>;
}

const SIDECAR_LIB_DIR = "/opt/meshctl-vpp/lib";
const SIDECAR_VCL_DIR = "/etc/meshctl-vpp";

/**
 * Renders the Kubernetes pieces for VPP sidecar acceleration: a privileged VPP DaemonSet that
 * owns /run/vpp on each node and installs the VCL libraries there, and the patch that puts a
 * sidecar on VCL (/run/vpp volume, libraries, vcl.conf, LD_PRELOAD environment, resources).
 * Nothing is applied; `meshctl install` will.
 *
 * @example
 * const m = renderVppKubernetesManifests({ image: "registry.example/vpp:26.06" });
 * await writeFile("vpp-daemonset.yaml", m.files["vpp-daemonset.yaml"]!);
 */
export function renderVppKubernetesManifests(options: VppKubernetesOptions = {}): VppKubernetesManifests {
  const namespace = options.namespace ?? "meshctl-vpp";
  const image = options.image ?? "ligato/vpp-base:latest";
  const libDir = options.vppLibDirInImage ?? "/usr/lib/x86_64-linux-gnu";
  const hostLibDir = options.hostLibDir ?? "/var/lib/meshctl/vpp/lib";
  const container = options.sidecarContainer ?? "istio-proxy";
  // A numeric gid needs no `vpp` group in the image; 1337 is the Istio proxy's group, so the
  // sockets VPP creates under /run/vpp are reachable by the sidecars.
  const profile = renderSidecarProfile({
    ...options,
    group: options.group ?? "1337",
    ldpreloadPath: `${SIDECAR_LIB_DIR}/libvcl_ldpreload.so`,
    vclConfigPath: `${SIDECAR_VCL_DIR}/vcl.conf`,
  });
  const labels = { "app.kubernetes.io/name": "vpp", "app.kubernetes.io/part-of": "meshctl" };
  const cpu = options.vppCpu ?? "2";
  const memory = options.vppMemory ?? "2Gi";

  const daemonSet: Record<string, unknown>[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels } },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "vpp-config", namespace, labels },
      data: { "startup.conf": profile.files["startup.conf"], "vcl.conf": profile.files["vcl.conf"] },
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "vpp", namespace, labels },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            hostNetwork: true,
            ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
            initContainers: [
              {
                name: "install-vcl-libs",
                image,
                command: [
                  "sh",
                  "-c",
                  `cp -L ${["libvcl_ldpreload.so", "libvppcom.so", "libvppinfra.so", "libsvm.so", "libvlibmemoryclient.so"].map((l) => `${libDir}/${l}*`).join(" ")} /host-lib/`,
                ],
                volumeMounts: [{ name: "vcl-libs", mountPath: "/host-lib" }],
              },
            ],
            containers: [
              {
                name: "vpp",
                image,
                command: ["vpp", "-c", "/etc/vpp/startup.conf"],
                securityContext: { privileged: true },
                resources: { requests: { cpu, memory }, limits: { cpu, memory } },
                readinessProbe: { exec: { command: ["vppctl", "show", "version"] }, periodSeconds: 10 },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/vpp" },
                  { name: "run-vpp", mountPath: "/run/vpp" },
                  { name: "log", mountPath: "/var/log/vpp" },
                  { name: "dev", mountPath: "/dev" },
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name: "vpp-config" } },
              { name: "run-vpp", hostPath: { path: "/run/vpp", type: "DirectoryOrCreate" } },
              { name: "vcl-libs", hostPath: { path: hostLibDir, type: "DirectoryOrCreate" } },
              { name: "log", emptyDir: {} },
              { name: "dev", hostPath: { path: "/dev" } },
            ],
          },
        },
      },
    },
  ];

  const sidecarConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "meshctl-vcl-config", labels },
    data: { "vcl.conf": profile.files["vcl.conf"] },
  };
  const sidecarPatch = {
    spec: {
      template: {
        spec: {
          volumes: [
            { name: "vpp-run", hostPath: { path: "/run/vpp", type: "Directory" } },
            { name: "vpp-vcl-libs", hostPath: { path: hostLibDir, type: "Directory" } },
            { name: "vpp-vcl-config", configMap: { name: "meshctl-vcl-config" } },
          ],
          containers: [
            {
              name: container,
              env: [
                ...Object.entries(profile.ldPreloadEnv).map(([name, value]) => ({ name, value })),
                // Only VPP's libraries live here, so this cannot shadow the image's own.
                { name: "LD_LIBRARY_PATH", value: SIDECAR_LIB_DIR },
              ],
              volumeMounts: [
                { name: "vpp-run", mountPath: "/run/vpp" },
                { name: "vpp-vcl-libs", mountPath: SIDECAR_LIB_DIR, readOnly: true },
                { name: "vpp-vcl-config", mountPath: SIDECAR_VCL_DIR, readOnly: true },
              ],
              // Fifo pages the sidecar touches in VPP's shared segments are charged to its cgroup.
              resources: { requests: { memory: "256Mi" }, limits: { memory: "1Gi" } },
            },
          ],
        },
      },
    },
  };
  const header = "# Generated by meshctl enable vpp. See docs/vpp.md.\n";
  const yaml = (docs: readonly unknown[]) =>
    header + docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
  return {
    profile,
    daemonSet,
    sidecarConfigMap,
    sidecarPatch,
    files: {
      "vpp-daemonset.yaml": yaml(daemonSet),
      "vcl-configmap.yaml": yaml([sidecarConfigMap]),
      "sidecar-patch.yaml": yaml([sidecarPatch]),
    },
  };
}
