import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { findProgram } from "@meshctl/core";
import {
  defaultVppManifestDir,
  installVppHostConfig,
  renderVppKubernetesManifests,
  type VppHostInstallResult,
} from "@meshctl/vpp";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { profileOptionsFromFlags, vppProfileFlags } from "../vpp/shared-flags.js";

export interface EnableVppResult {
  /** Kubernetes manifests written (for `meshctl install` / kubectl apply), absolute paths. */
  readonly manifests: readonly string[];
  /** Absolute directory they were written to: --out, else meshctl's state directory. */
  readonly outDir: string;
  /** What was done on this host; null when VPP is not installed here (or --no-host). */
  readonly host: VppHostInstallResult | null;
  readonly nextSteps: readonly string[];
}

export default class EnableVpp extends MeshctlCommand<EnableVppResult> {
  static override summary =
    "Put sidecars on VPP's host stack: render the Kubernetes pieces, configure a local VPP";
  static override description =
    `Writes into --out: vpp-daemonset.yaml (a VPP DaemonSet owning /run/vpp and installing the VCL
libraries on each node), vcl-configmap.yaml and sidecar-patch.yaml (the /run/vpp volume, VCL
libraries, vcl.conf, LD_PRELOAD environment and resources for the sidecar container). Nothing is
applied: \`meshctl install\` (or kubectl) does that.

Without --out the files go to meshctl's state directory, never the current directory:
$XDG_STATE_HOME/meshctl/vpp, else /var/lib/meshctl/vpp as root, else ~/.local/state/meshctl/vpp.
The absolute paths written are printed (and listed in --json).

On a host where \`vpp\` is installed it also writes startup.conf and vcl.conf to --config-dir
(backing up files it replaces) and reports what must be restarted.`;
  static override examples = [
    "<%= config.bin %> enable vpp --image registry.example/vpp:26.06",
    "<%= config.bin %> enable vpp --out ./vpp --sidecar-container istio-proxy --envoy-concurrency 4",
    "sudo <%= config.bin %> enable vpp --dry-run",
  ];
  static override flags = {
    out: Flags.string({
      description:
        "Directory for the Kubernetes manifests (default: $XDG_STATE_HOME/meshctl/vpp, /var/lib/meshctl/vpp as root, else ~/.local/state/meshctl/vpp).",
      helpValue: "DIR",
    }),
    image: Flags.string({
      description: "VPP image for the DaemonSet (its VPP must match the VCL the sidecars load).",
      default: "ligato/vpp-base:latest",
      env: "MESHCTL_VPP_IMAGE",
    }),
    namespace: Flags.string({ description: "Namespace of the VPP DaemonSet.", default: "meshctl-vpp" }),
    "sidecar-container": Flags.string({
      description: "Container to patch in application pods.",
      default: "istio-proxy",
    }),
    "vpp-cpu": Flags.string({
      description: "CPU for the VPP DaemonSet (requests = limits, whole cores for the static CPU manager).",
      default: "2",
    }),
    "vpp-memory": Flags.string({ description: "Memory for the VPP DaemonSet.", default: "2Gi" }),
    host: Flags.boolean({
      description: "Configure the VPP installed on this host (default: when `vpp` is on PATH).",
      allowNo: true,
    }),
    "config-dir": Flags.string({
      description: "Where this host's VPP reads startup.conf and vcl.conf.",
      default: "/etc/vpp",
      helpValue: "DIR",
    }),
    "dry-run": Flags.boolean({
      description: "Render the manifests but do not change this host's VPP configuration.",
    }),
    ...vppProfileFlags,
  };

  protected async execute(): Promise<EnableVppResult> {
    const { flags } = await this.parse(EnableVpp);
    const profileOptions = profileOptionsFromFlags(flags);
    const rendered = renderVppKubernetesManifests({
      ...profileOptions,
      image: flags.image,
      namespace: flags.namespace,
      sidecarContainer: flags["sidecar-container"],
      vppCpu: flags["vpp-cpu"],
      vppMemory: flags["vpp-memory"],
    });
    // Never the cwd implicitly: a relative path only when the user typed one.
    const outDir = resolve(flags.out ?? defaultVppManifestDir());
    await mkdir(outDir, { recursive: true });
    const manifests: string[] = [];
    for (const [name, text] of Object.entries(rendered.files)) {
      await writeFile(join(outDir, name), text);
      manifests.push(join(outDir, name));
    }
    const onHost = flags.host ?? Boolean(await findProgram("vpp"));
    const host = onHost
      ? await installVppHostConfig({
          ...profileOptions,
          configDir: flags["config-dir"],
          dryRun: flags["dry-run"],
          force: flags.host === true,
        })
      : null;
    const nextSteps = [
      `kubectl apply -f ${join(outDir, "vpp-daemonset.yaml")}`,
      `kubectl -n <app-namespace> apply -f ${join(outDir, "vcl-configmap.yaml")}`,
      `kubectl -n <app-namespace> patch deployment <name> --patch-file ${join(outDir, "sidecar-patch.yaml")}`,
      ...(host?.restart ?? []),
      "meshctl vpp status   (check that the sidecars appear as envoy-ldp-<pid>)",
    ];
    return { manifests, outDir, host, nextSteps };
  }

  protected renderText(r: EnableVppResult): string {
    const lines = [
      `Wrote ${r.manifests.length} manifests to ${r.outDir}:`,
      ...r.manifests.map((m) => `  ${m}`),
    ];
    if (r.host) {
      lines.push(`This host's VPP (${r.host.vppBinary ?? "not on PATH"}):`);
      for (const f of r.host.files)
        lines.push(`  ${f.action.padEnd(11)} ${f.path}${f.backup ? ` (previous kept as ${f.backup})` : ""}`);
    } else lines.push("No VPP installed on this host: nothing configured locally.");
    lines.push("Next:", ...r.nextSteps.map((s, i) => `  ${i + 1}. ${s}`));
    return lines.join("\n");
  }
}
