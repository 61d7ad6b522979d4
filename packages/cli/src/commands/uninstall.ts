import type { UninstallResult } from "@meshctl/kube";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";
import { installNamespaceFlag, kubeConnectionFlags } from "./kube-flags.js";

/** `meshctl uninstall --json`: every object found and what was done to it. */
export type UninstallOutput = UninstallResult;

export default class Uninstall extends MeshctlCommand<UninstallOutput> {
  static override summary = "Remove meshctl's components from a Kubernetes cluster";
  static override description =
    `Deletes what \`meshctl install\` created in --namespace: objects labelled app.kubernetes.io/managed-by=meshctl whose managedFields show a server-side apply by field manager "meshctl" (a look-alike is left alone), workloads first, then services, configuration, RBAC, and the namespace last. The namespace is kept when meshctl did not create it or when it holds objects meshctl did not create. Istio CRDs installed with --install-crds are kept unless --include-crds (deleting a CRD deletes every object of its kind). --dry-run shows the list and deletes nothing.`;
  static override examples = [
    "<%= config.bin %> uninstall --dry-run",
    "<%= config.bin %> uninstall --context prod --namespace meshctl-system",
  ];
  static override flags = {
    ...kubeConnectionFlags,
    namespace: installNamespaceFlag,
    "dry-run": Flags.boolean({
      description: "Show what would be deleted (server-side dry run); delete nothing.",
    }),
    "include-crds": Flags.boolean({
      description: "Also delete the Istio CRDs install created, and with them every object of those kinds.",
    }),
  };

  protected async execute(): Promise<UninstallOutput> {
    const { flags } = await this.parse(Uninstall);
    // Loaded on use: the Kubernetes client is heavy and `meshctl --help` stays fast.
    const { loadKubeConfig, uninstallMeshctl } = await import("@meshctl/kube");
    return uninstallMeshctl({
      kubeConfig: loadKubeConfig({
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.context ? { context: flags.context } : {}),
      }),
      namespace: flags.namespace,
      dryRun: flags["dry-run"],
      includeCrds: flags["include-crds"],
    });
  }

  protected renderText(result: UninstallOutput): string {
    return formatUninstallResult(result);
  }
}

/** One line per object with what was done (or would be), and whether anything changed. */
export function formatUninstallResult(result: UninstallResult): string {
  const lines = [
    `meshctl uninstall${result.dryRun ? " --dry-run (server-side; nothing deleted)" : ""}: namespace ${result.namespace}, on ${result.server}`,
  ];
  for (const o of result.objects)
    lines.push(
      `  ${(result.dryRun && o.action === "deleted" ? "would delete" : o.action).padEnd(14)}${
        o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`
      }${o.reason ? `  (${o.reason})` : ""}`,
    );
  const deleted = result.objects.filter((o) => o.action === "deleted").length;
  const others = result.objects.length - deleted;
  lines.push(
    result.changed
      ? `${result.dryRun ? "Would delete" : "Deleted"} ${deleted} object${deleted === 1 ? "" : "s"}${others ? `; ${others} left as listed` : ""}.`
      : result.objects.length === 0
        ? `Nothing to delete: nothing of meshctl's install was found for namespace ${result.namespace}.`
        : "Nothing to delete: what is left is listed above with the reason.",
  );
  return lines.join("\n");
}
