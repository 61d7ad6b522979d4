/**
 * The real kube-apiserver + etcd for the install tests (bench/peers/istiod/launch.mjs), and an
 * independent view of the cluster through @kubernetes/client-node (not the REST client under
 * test) for the assertions.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { requirementGate } from "@meshctl/core/testing";
import { renderEbpfDaemonSet } from "@meshctl/ebpf";
import { tstatsSettingsPath } from "@meshctl/tstats";
import { renderVppKubernetesManifests } from "@meshctl/vpp";
import type { InstallComponentParts } from "../src/index.js";

export interface KubeApiserver {
  readonly kubeconfig: string;
  readonly server: string;
  close(): Promise<void>;
}

/** The contract of bench/peers/istiod/launch.mjs this test uses. */
interface KubeLauncher {
  toolsDir(): string;
  kubeAvailable(): { ok: boolean; reason: string };
  startKubeApiserver(opts?: { workDir?: string; binDir?: string }): Promise<KubeApiserver>;
}

const launcherPath = join(dirname(fileURLToPath(import.meta.url)), "../../../bench/peers/istiod/launch.mjs");

const launcher: KubeLauncher | undefined = existsSync(launcherPath)
  ? ((await import(pathToFileURL(launcherPath).href)) as KubeLauncher)
  : undefined;

/** Whether the kube-apiserver tests run (skip with the reason, or fail in CI: MESHCTL_REQUIRE). */
export function kubeApiserverGate(test: string): { skip: boolean; missing?: string } {
  const available = launcher?.kubeAvailable() ?? { ok: false, reason: `${launcherPath} is missing` };
  return requirementGate("kube-apiserver", available.ok ? undefined : available.reason, test);
}

/**
 * The launcher's API server, plus `--allow-privileged=true`: kube-apiserver defaults to false,
 * while kubeadm, kind, k3s and the managed clusters' standard modes run with true, and the eBPF
 * and VPP DaemonSets are privileged by nature. A wrapper in a temp bin dir appends the flag
 * (exec, so the launcher still signals the real process).
 */
export async function startKubeApiserver(): Promise<KubeApiserver> {
  if (!launcher) throw new Error(`${launcherPath} is missing`);
  const realBin = join(launcher.toolsDir(), "kube/bin");
  const binDir = await mkdtemp(join(tmpdir(), "mck-bin-"));
  try {
    await symlink(join(realBin, "etcd"), join(binDir, "etcd"));
    await writeFile(
      join(binDir, "kube-apiserver"),
      `#!/bin/sh\nexec ${JSON.stringify(join(realBin, "kube-apiserver"))} "$@" --allow-privileged=true\n`,
      { mode: 0o755 },
    );
    const kube = await launcher.startKubeApiserver({ binDir });
    return {
      ...kube,
      close: async () => {
        await kube.close();
        await rm(binDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(binDir, { recursive: true, force: true });
    throw error;
  }
}

/** Every kind install may create, for listing "everything of ours". */
export const INSTALLABLE_KINDS = [
  { apiVersion: "v1", kind: "Namespace", namespaced: false },
  { apiVersion: "v1", kind: "ServiceAccount", namespaced: true },
  { apiVersion: "v1", kind: "ConfigMap", namespaced: true },
  { apiVersion: "v1", kind: "Service", namespaced: true },
  { apiVersion: "apps/v1", kind: "Deployment", namespaced: true },
  { apiVersion: "apps/v1", kind: "DaemonSet", namespaced: true },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", namespaced: false },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", namespaced: false },
  { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespaced: false },
] as const;

export interface ObjectSummary {
  readonly id: string;
  readonly resourceVersion: string;
  readonly deletionTimestamp: boolean;
}

/** A second client (client-node's generic object API) to check what the code under test did. */
export class ClusterView {
  readonly kubeConfig: KubeConfig;
  readonly api: KubernetesObjectApi;

  constructor(kubeconfigPath: string) {
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(kubeconfigPath);
    this.api = KubernetesObjectApi.makeApiClient(this.kubeConfig);
  }

  /** `Kind namespace/name` → resourceVersion of everything matching the selector, cluster-wide. */
  async listAll(labelSelector: string): Promise<Map<string, ObjectSummary>> {
    const out = new Map<string, ObjectSummary>();
    for (const k of INSTALLABLE_KINDS) {
      const list = await this.api.list(
        k.apiVersion,
        k.kind,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
      for (const item of list.items) {
        const id = item.metadata?.namespace
          ? `${k.kind} ${item.metadata.namespace}/${item.metadata.name}`
          : `${k.kind} ${item.metadata?.name}`;
        out.set(id, {
          id,
          resourceVersion: item.metadata?.resourceVersion ?? "",
          deletionTimestamp: Boolean(item.metadata?.deletionTimestamp),
        });
      }
    }
    return out;
  }

  /** Server-side apply as another field manager (kubectl, an operator, a person). */
  async applyAs(manager: string, object: Record<string, unknown>, force = false): Promise<void> {
    await this.api.patch(
      object as never,
      undefined,
      undefined,
      manager,
      force,
      PatchStrategy.ServerSideApply,
    );
  }

  async create(object: Record<string, unknown>): Promise<void> {
    await this.api.create(object as never);
  }

  async read(apiVersion: string, kind: string, name: string, namespace?: string) {
    return this.api.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });
  }
}

/** The ebpf, vpp and tstats parts of an install, from the real packages (what the CLI hands in). */
export const testParts: InstallComponentParts = {
  ebpfDaemonSet: (options) => renderEbpfDaemonSet(options),
  vppObjects: (options) => renderVppKubernetesManifests(options).daemonSet,
  tstatsSettingsFile: tstatsSettingsPath("/"),
};
