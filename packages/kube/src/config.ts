/**
 * Where meshctl finds the cluster: a kubeconfig file (`--kubeconfig`, else $KUBECONFIG, else
 * ~/.kube/config) with an optional `--context`, or the pod's service account when it runs in a
 * cluster (in-cluster config).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeError } from "./errors.js";

export interface KubeConnectionOptions {
  /** Path of a kubeconfig file; default $KUBECONFIG, then ~/.kube/config, then in-cluster. */
  readonly kubeconfig?: string;
  /** Context of the kubeconfig to use; default its current context. */
  readonly context?: string;
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST and the mounted token). */
  readonly inCluster?: boolean;
}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** True inside a Kubernetes pod with a service account token mounted. */
export function runningInCluster(): boolean {
  return Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN);
}

/**
 * Loads the cluster connection. Bad input is a typed error naming the file or the context, never
 * a stack trace.
 *
 * @example
 * const kc = loadKubeConfig({ kubeconfig: "/tmp/kubeconfig", context: "lab" });
 * kc.getCurrentCluster()?.server; // "https://127.0.0.1:6443"
 */
export function loadKubeConfig(options: KubeConnectionOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  const file =
    options.kubeconfig ??
    (process.env.KUBECONFIG ? process.env.KUBECONFIG.split(":")[0] : undefined) ??
    (existsSync(join(homedir(), ".kube", "config")) ? join(homedir(), ".kube", "config") : undefined);
  if (options.inCluster || (!file && runningInCluster())) {
    kc.loadFromCluster();
    return kc;
  }
  if (!file) {
    throw new KubeError("KUBE_CONFIG_INVALID", "No kubeconfig found and not running in a cluster.", {
      kind: "usage",
      suggestions: ["Pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config."],
    });
  }
  if (!existsSync(file)) {
    throw new KubeError("KUBE_CONFIG_INVALID", `The kubeconfig ${file} does not exist.`, {
      kind: "usage",
      details: { kubeconfig: file },
    });
  }
  try {
    kc.loadFromFile(file);
  } catch (cause) {
    throw new KubeError("KUBE_CONFIG_INVALID", `The kubeconfig ${file} does not parse: ${String(cause)}`, {
      kind: "usage",
      cause,
      details: { kubeconfig: file },
    });
  }
  if (options.context !== undefined) {
    if (!kc.getContextObject(options.context)) {
      throw new KubeError(
        "KUBE_CONTEXT_UNKNOWN",
        `The kubeconfig ${file} has no context "${options.context}".`,
        {
          kind: "usage",
          details: { kubeconfig: file, contexts: kc.getContexts().map((c) => c.name) },
          suggestions: [
            `Contexts in it: ${
              kc
                .getContexts()
                .map((c) => c.name)
                .join(", ") || "none"
            }.`,
          ],
        },
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeError("KUBE_CONFIG_INVALID", `The kubeconfig ${file} has no current cluster.`, {
      kind: "usage",
      details: { kubeconfig: file },
      suggestions: ["Pass --context NAME."],
    });
  }
  return kc;
}
