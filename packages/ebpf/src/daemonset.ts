import { stringify } from "yaml";
import { ebpfError } from "./errors.js";
import { DEFAULT_PIN_DIR } from "./loader.js";

export interface EbpfDaemonSetOptions {
  /** Image that contains meshctl and bpftool. */
  readonly image: string;
  readonly namespace?: string;
  readonly name?: string;
  /** cgroup to attach to, as seen inside the container (host /sys/fs/cgroup is mounted at the same path). */
  readonly cgroupPath?: string;
  readonly pinDir?: string;
  readonly ports?: readonly number[];
  readonly excludePorts?: readonly number[];
  readonly maxMessageBytes?: number;
  readonly maxStreamBytes?: number;
  /** Learned bulk-service TTL in seconds (0 = off); default: the library's (600). */
  readonly bulkTtlSeconds?: number;
  /** Sidecar-uid filter (Istio's sidecar runs as 1337); default: off. */
  readonly sidecarUid?: number;
  readonly nodeSelector?: Readonly<Record<string, string>>;
}

/**
 * Renders the DaemonSet that enables sidecar acceleration on every node (for `meshctl install`).
 * Privileged: it loads BPF programs, pins them on the host's bpffs and attaches them to the host's
 * cgroup v2 tree; legacy attachments outlive the process, so the pod only enables and waits, and
 * disables in preStop.
 *
 * @example
 * const yaml = renderEbpfDaemonSet({ image: "ghcr.io/example/meshctl:0.1.0" });
 */
export function renderEbpfDaemonSet(options: EbpfDaemonSetOptions): string {
  if (!options.image)
    throw ebpfError("EBPF_INVALID_OPTIONS", "renderEbpfDaemonSet: image is required.", { kind: "usage" });
  const name = options.name ?? "meshctl-ebpf";
  const namespace = options.namespace ?? "meshctl-system";
  const pinDir = options.pinDir ?? DEFAULT_PIN_DIR;
  const enableArgs = ["meshctl", "enable", "ebpf", "--pin-dir", pinDir];
  if (options.cgroupPath) enableArgs.push("--cgroup", options.cgroupPath);
  if (options.ports?.length) enableArgs.push("--ports", options.ports.join(","));
  if (options.excludePorts?.length) enableArgs.push("--exclude-ports", options.excludePorts.join(","));
  if (options.maxMessageBytes !== undefined)
    enableArgs.push("--max-message-bytes", String(options.maxMessageBytes));
  if (options.maxStreamBytes !== undefined)
    enableArgs.push("--max-stream-bytes", String(options.maxStreamBytes));
  if (options.bulkTtlSeconds !== undefined) enableArgs.push("--bulk-ttl", String(options.bulkTtlSeconds));
  if (options.sidecarUid !== undefined) enableArgs.push("--sidecar-uid", String(options.sidecarUid));
  const labels = { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "meshctl" };
  const manifest = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name, namespace, labels },
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": name } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: {
          hostNetwork: true,
          priorityClassName: "system-node-critical",
          tolerations: [{ operator: "Exists" }],
          nodeSelector: options.nodeSelector ?? { "kubernetes.io/os": "linux" },
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: "ebpf",
              image: options.image,
              command: [
                "/bin/sh",
                "-c",
                `${enableArgs.map((a) => JSON.stringify(a)).join(" ")} && exec sleep infinity`,
              ],
              lifecycle: {
                preStop: { exec: { command: ["meshctl", "disable", "ebpf", "--pin-dir", pinDir] } },
              },
              securityContext: { privileged: true },
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
              volumeMounts: [
                { name: "bpffs", mountPath: "/sys/fs/bpf", mountPropagation: "Bidirectional" },
                { name: "cgroup", mountPath: "/sys/fs/cgroup" },
              ],
            },
          ],
          volumes: [
            { name: "bpffs", hostPath: { path: "/sys/fs/bpf", type: "DirectoryOrCreate" } },
            { name: "cgroup", hostPath: { path: "/sys/fs/cgroup", type: "Directory" } },
          ],
        },
      },
    },
  };
  return stringify(manifest, { lineWidth: 0 });
}
