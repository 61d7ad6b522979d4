import { parseDurationMs } from "@meshctl/bench";
import { MeshctlError } from "@meshctl/core";
import type { InstalledObject, InstallProgressEvent, InstallResult } from "@meshctl/kube";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";
import { installComponentParts } from "../services/install-parts.js";
import { installNamespaceFlag, kubeConnectionFlags } from "./kube-flags.js";

/** `meshctl install --json`: the library's result (objects and what apply did to each, rollout, manifests). */
export type InstallOutput = InstallResult;

export default class Install extends MeshctlCommand<InstallOutput> {
  static override summary = "Install meshctl's components into a Kubernetes cluster";
  static override description =
    `Server-side applies (field manager "meshctl") the namespace, the control plane's service account and read-only RBAC, its Deployment + Service (\`meshctl xds serve\`), the eBPF DaemonSet, and optionally the VPP DaemonSet and the tstats configuration. Everything is validated by a server-side dry run first: a field owned by another field manager, or an object the API server rejects, stops the install before anything is written (--force-conflicts takes conflicting fields over).

Idempotent: a second run changes nothing and says so. Then waits for the rollout (--no-wait to skip) and fails after --timeout naming what is not ready. --install-crds adds minimal Istio networking CRDs where they are absent. Every object is labelled app.kubernetes.io/managed-by=meshctl; \`meshctl uninstall\` removes exactly these.`;
  static override examples = [
    "<%= config.bin %> install",
    "<%= config.bin %> install --dry-run -o yaml > meshctl.yaml",
    "<%= config.bin %> install --components xds,ebpf,tstats --context prod --timeout 10m",
    "<%= config.bin %> install --registry registry.example:5000/mirror --install-crds",
  ];
  static override flags = {
    ...kubeConnectionFlags,
    namespace: installNamespaceFlag,
    components: Flags.string({
      description: "Components: xds (control plane), ebpf (acceleration DaemonSet), tstats (telemetry), vpp.",
      default: "xds,ebpf",
      helpValue: "LIST",
      env: "MESHCTL_COMPONENTS",
    }),
    "dry-run": Flags.boolean({
      description:
        "Validate on the API server (server-side dry run) and show what would change; write nothing.",
    }),
    output: Flags.string({
      char: "o",
      description: "Print the manifests applied (with --dry-run: that would be) instead of the summary.",
      options: ["yaml"],
    }),
    image: Flags.string({
      description:
        "meshctl image for the control plane and the eBPF DaemonSet. Default: <registry>/meshctl:<version>.",
      env: "MESHCTL_IMAGE",
    }),
    registry: Flags.string({
      description: "Registry (and path) of the default meshctl image.",
      default: "ghcr.io/meshctl",
      env: "MESHCTL_REGISTRY",
    }),
    "vpp-image": Flags.string({
      description:
        "VPP image for the vpp component (meshctl ships none; its VPP must match the sidecars' VCL).",
      env: "MESHCTL_VPP_IMAGE",
    }),
    "install-crds": Flags.boolean({
      description: "Apply minimal Istio networking CRDs where absent (never replaces existing ones).",
    }),
    "force-conflicts": Flags.boolean({
      description: "Take over fields another field manager owns (server-side apply force).",
    }),
    wait: Flags.boolean({
      description: "Wait for the Deployment and DaemonSets to roll out.",
      default: true,
      allowNo: true,
    }),
    timeout: Flags.string({
      description: "How long to wait for the rollout (10s, 5m).",
      default: "5m",
      helpValue: "DURATION",
      env: "MESHCTL_TIMEOUT",
    }),
  };

  protected async execute(): Promise<InstallOutput> {
    const { flags } = await this.parse(Install);
    if (flags.output && this.jsonEnabled())
      throw new MeshctlError("USAGE", "--json and -o yaml both choose the output: pass one.", {
        kind: "usage",
      });
    let timeoutMs: number;
    try {
      timeoutMs = parseDurationMs(flags.timeout, "timeout");
    } catch (cause) {
      throw new MeshctlError("KUBE_OPTIONS_INVALID", `--timeout "${flags.timeout}" is not a duration.`, {
        kind: "usage",
        cause,
        suggestions: ["Use seconds (90), or a unit: 30s, 5m."],
      });
    }
    // Loaded on use: the Kubernetes client is heavy and `meshctl --help` stays fast.
    const { installMeshctl, loadKubeConfig, meshctlImage, parseInstallComponents, renderManifestsYaml } =
      await import("@meshctl/kube");
    if (flags.output === "yaml") this.renderYaml = (result) => renderManifestsYaml(result.manifests);
    const components = parseInstallComponents(flags.components);
    const kubeConfig = loadKubeConfig({
      ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
      ...(flags.context ? { context: flags.context } : {}),
    });
    const live = this.interactive ? await startLive() : undefined;
    const onProgress = live?.push ?? (this.jsonEnabled() ? undefined : plainProgress());
    try {
      return await installMeshctl({
        kubeConfig,
        parts: installComponentParts,
        namespace: flags.namespace,
        components,
        image: flags.image ?? meshctlImage({ registry: flags.registry, version: this.config.version }),
        ...(flags["vpp-image"] ? { vppImage: flags["vpp-image"] } : {}),
        installCrds: flags["install-crds"],
        dryRun: flags["dry-run"],
        forceConflicts: flags["force-conflicts"],
        wait: flags.wait,
        timeoutMs,
        ...(onProgress ? { onProgress } : {}),
      });
    } finally {
      await live?.stop();
    }
  }

  protected renderText(result: InstallOutput): string {
    return this.renderYaml ? this.renderYaml(result).trimEnd() : formatInstallResult(result);
  }

  /** Set by execute() with -o yaml (the renderer comes with the lazily loaded @meshctl/kube). */
  private renderYaml: ((result: InstallOutput) => string) | undefined;
}

function objectName(o: { kind: string; name: string; namespace?: string }): string {
  return o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`;
}

/**
 * The text summary: one line per object with what apply did, the rollout, warnings, and a last
 * line that says whether anything changed.
 */
export function formatInstallResult(result: InstallResult): string {
  const lines = [
    `meshctl install${result.dryRun ? " --dry-run (server-side; nothing written)" : ""}: namespace ${result.namespace}, components ${result.components.join(", ")}, on ${result.server}`,
  ];
  for (const o of result.objects) lines.push(formatObjectLine(o));
  if (result.rollout)
    lines.push(
      `rollout: ready after ${Math.round(result.rollout.elapsedMs / 1000)} s (${result.rollout.workloads
        .map((w) => `${objectName(w)} ${w.summary}`)
        .join("; ")})`,
    );
  for (const w of result.warnings) lines.push(`warning: ${w}`);
  const counts = new Map<string, number>();
  for (const o of result.objects) counts.set(o.action, (counts.get(o.action) ?? 0) + 1);
  const tally = [...counts].map(([action, n]) => `${n} ${action}`).join(", ");
  lines.push(
    result.changed
      ? `${result.dryRun ? "Would change" : "Done"}: ${tally}.`
      : `Nothing ${result.dryRun ? "would change" : "changed"}: every object is already as meshctl renders it (${tally}).`,
  );
  return lines.join("\n");
}

function formatObjectLine(o: InstalledObject): string {
  return `  ${o.action.padEnd(11)}${objectName(o)}${o.reason ? `  (${o.reason})` : ""}`;
}

/** Piped output: phases and rollout changes on stderr, so stdout stays the result (or the YAML). */
function plainProgress(): (event: InstallProgressEvent) => void {
  let lastRollout = "";
  return (event) => {
    if (event.type === "phase") process.stderr.write(`meshctl install: ${event.message}\n`);
    if (event.type === "rollout") {
      const pending = event.report.workloads
        .filter((w) => !w.ready)
        .map((w) => `${objectName(w)}: ${w.summary}`)
        .join("; ");
      if (pending && pending !== lastRollout)
        process.stderr.write(
          `meshctl install: waiting (${Math.round(event.report.elapsedMs / 1000)} s): ${pending}\n`,
        );
      lastRollout = pending;
    }
  };
}

async function startLive(): Promise<{ push: (e: InstallProgressEvent) => void; stop: () => Promise<void> }> {
  const [{ InstallProgressStore }, { startInstallProgressView }] = await Promise.all([
    import("../ui/install-progress-store.js"),
    import("../ui/render-install.js"),
  ]);
  const store = new InstallProgressStore();
  const view = await startInstallProgressView(store);
  return { push: store.push, stop: () => view.stop() };
}
