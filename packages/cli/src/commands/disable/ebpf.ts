import { DEFAULT_RELEASE_TIMEOUT_MS, type DisableEbpfResult, disableEbpfAcceleration } from "@meshctl/ebpf";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { pinDirFlag } from "../enable/ebpf.js";

export default class DisableEbpf extends MeshctlCommand<DisableEbpfResult> {
  static override summary = "Detach meshctl's eBPF acceleration and remove every pin and map";
  static override description =
    `Stops redirecting (open connections continue on plain TCP without losing bytes), detaches the
sockops program from every cgroup it is attached to, detaches the sk_msg program from the sockhash
and removes the pins. The kernel frees the programs and maps when the last accelerated connection
closes; --force removes those sockets from the sockhash at once (bytes already redirected but not yet
read by the receiving application are then lost).`;
  static override examples = [
    "sudo <%= config.bin %> disable ebpf",
    "sudo <%= config.bin %> disable ebpf --force --json",
  ];
  static override flags = {
    "pin-dir": pinDirFlag,
    cgroup: Flags.string({
      description: "Also detach from this cgroup (found automatically otherwise).",
      helpValue: "PATH",
    }),
    force: Flags.boolean({
      description: "Drop accelerated sockets from the sockhash now (may lose unread redirected bytes).",
    }),
    "release-timeout": Flags.integer({
      description:
        "Milliseconds to keep releasing connections that still exchange data to plain TCP before detaching (0 = detach at once).",
      default: DEFAULT_RELEASE_TIMEOUT_MS,
      min: 0,
    }),
    "drain-timeout": Flags.integer({
      description: "Milliseconds to wait for the kernel to free programs and maps.",
      default: 2000,
      min: 0,
    }),
  };

  protected async execute(): Promise<DisableEbpfResult> {
    const { flags } = await this.parse(DisableEbpf);
    return disableEbpfAcceleration({
      pinDir: flags["pin-dir"],
      force: flags.force,
      drainTimeoutMs: flags["drain-timeout"],
      releaseTimeoutMs: flags["release-timeout"],
      ...(flags.cgroup ? { cgroupPath: flags.cgroup } : {}),
    });
  }

  protected renderText(r: DisableEbpfResult): string {
    if (!r.changed) return `eBPF acceleration is not enabled (nothing pinned in ${r.pinDir}).`;
    const lines = [
      "eBPF acceleration disabled.",
      `  detached  ${r.detached.length ? r.detached.map((d) => d.cgroupPath).join(", ") : "nothing was attached"}`,
      `  removed   ${r.removedPins.length} pin(s) from ${r.pinDir}`,
      `  released  ${r.releasedSockets} socket(s) left the sockhash while disable waited; ${r.openSockets} idle one(s) stay until they close`,
    ];
    if (r.unmounted.length) lines.push(`  unmounted ${r.unmounted.join(", ")} (left by an older meshctl)`);
    const lingering = r.lingering.programIds.length + r.lingering.mapIds.length;
    if (lingering > 0) {
      lines.push(
        `  ${r.openSockets} accelerated socket(s) were still open; the kernel frees programs ${r.lingering.programIds.join(",") || "-"} and maps ${r.lingering.mapIds.join(",") || "-"} when they close.`,
      );
    } else lines.push("  nothing is left in the kernel.");
    return lines.join("\n");
  }
}
