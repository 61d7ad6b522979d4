import { EXIT_CODES } from "@meshctl/core";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";
import { formatDiagnoseText } from "../services/diagnose/format.js";
import { type DiagnoseReport, defaultCheckGroups, runDiagnose } from "../services/diagnose/index.js";
import { kubeConnectionFlags } from "./kube-flags.js";

export default class Diagnose extends MeshctlCommand<DiagnoseReport> {
  static override summary = "Check what this host supports and what meshctl found on it";
  static override description =
    `Inspects the machine meshctl runs on and reports each finding as ok, warn or fail, with the evidence and what to do:
  - kernel: version, BPF program/map types and helpers (probed with bpftool), BTF
  - privileges: whether this process may load BPF (root, CAP_BPF + CAP_NET_ADMIN)
  - cgroup: cgroup v2 and bpffs, mounted or mountable
  - netfilter: iptables / nft, and istio-init capture chains
  - dataplane and toolchain: envoy, haproxy, vpp, clang, bpftool, libbpf
  - bench: CPUs, governor, virtualization and load, which a latency benchmark must record
  - cluster (with --kubeconfig, --context, --namespace or --control-plane): the API server and its version, Istio's
    CRDs, meshctl's components and their readiness; per namespace, injection labels, pods with an
    istio-proxy sidecar or a proxyless gRPC bootstrap, istio-init capture (from the pod spec) and
    Sidecar scoping; and, from the control plane's /debug/clients, which proxies are synced, stale
    or NACKing (with the NACK message)

Exits 0 when the report was produced; with --strict, exits 5 if any check failed.`;
  static override examples = [
    "<%= config.bin %> diagnose",
    "<%= config.bin %> diagnose --json | jq '.checks[] | select(.status != \"ok\")'",
    "<%= config.bin %> diagnose --strict",
    "<%= config.bin %> diagnose --kubeconfig ~/.kube/config --namespace demo",
    "<%= config.bin %> diagnose --kubeconfig ~/.kube/config --control-plane http://127.0.0.1:15014 --json",
  ];
  static override flags = {
    strict: Flags.boolean({ description: "Exit with code 5 when any check fails.", env: "MESHCTL_STRICT" }),
    "vpp-pid": Flags.integer({
      description: "Also check whether this process runs on VPP's VCL (LD_PRELOAD and a valid VCL_CONFIG).",
      min: 1,
      env: "MESHCTL_VPP_PID",
    }),
    ...kubeConnectionFlags,
    // No env twin: MESHCTL_NAMESPACE is install's (meshctl's own namespace), a different thing.
    namespace: Flags.string({
      char: "n",
      description: "Check only this namespace of the cluster (pods, injection, capture, scoping, sync).",
      helpValue: "NAME",
    }),
    "control-plane": Flags.string({
      description:
        "URL of the control plane's debug endpoint, for proxy sync state (default: meshctl's Service through the API server's service proxy).",
      env: "MESHCTL_CONTROL_PLANE",
      helpValue: "URL",
    }),
  };

  private strict = false;
  private noColor = false;

  protected async execute(): Promise<DiagnoseReport> {
    const { flags } = await this.parse(Diagnose);
    this.strict = flags.strict;
    this.noColor = flags["no-color"] || process.env.NO_COLOR !== undefined;
    const vppPid = flags["vpp-pid"];
    const { kubeconfig, context, namespace } = flags;
    const controlPlaneUrl = flags["control-plane"];
    const wantsCluster = [kubeconfig, context, namespace, controlPlaneUrl].some((v) => v !== undefined);
    const cluster = wantsCluster
      ? {
          ...(kubeconfig !== undefined ? { kubeconfig } : {}),
          ...(context !== undefined ? { context } : {}),
          ...(namespace !== undefined ? { namespace } : {}),
          ...(controlPlaneUrl !== undefined ? { controlPlaneUrl } : {}),
        }
      : undefined;
    return runDiagnose({
      groups: defaultCheckGroups({
        ...(vppPid !== undefined ? { vppPid } : {}),
        ...(cluster ? { cluster } : {}),
      }),
    });
  }

  protected renderText(report: DiagnoseReport): string {
    return formatDiagnoseText(report, {
      color: !this.noColor && Boolean(process.stdout.isTTY),
      verbose: this.verbose,
    });
  }

  protected override async renderInk(report: DiagnoseReport): Promise<void> {
    const { renderDiagnose } = await import("../ui/render.js");
    await renderDiagnose(report, this.verbose);
  }

  protected override exitCodeFor(report: DiagnoseReport): number {
    return this.strict && report.summary.fail > 0 ? EXIT_CODES.checkFailed : 0;
  }
}
