import { Flags } from "@oclif/core";

/**
 * The cluster connection flags, one definition for every command that talks to Kubernetes, so
 * the reserved `--kubeconfig` (and `--context`) mean the same everywhere.
 */
export const kubeConnectionFlags = {
  kubeconfig: Flags.string({
    description: "kubeconfig file. Default: $KUBECONFIG, then ~/.kube/config, then in-cluster.",
    helpValue: "FILE",
    env: "MESHCTL_KUBECONFIG",
  }),
  context: Flags.string({
    description: "kubeconfig context. Default: its current context.",
    helpValue: "NAME",
    env: "MESHCTL_CONTEXT",
  }),
};

/** `--namespace` of install/uninstall: where meshctl's components live. */
export const installNamespaceFlag = Flags.string({
  char: "n",
  description: "Namespace of meshctl's components.",
  default: "meshctl-system",
  env: "MESHCTL_NAMESPACE",
});
