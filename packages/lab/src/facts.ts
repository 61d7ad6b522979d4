import { cpus, release } from "node:os";
import { runCommand } from "@meshctl/core";
import type { LabEnvironment, SidecarKind } from "./types.js";

/** The version a sidecar proxy reports (`envoy --version`, `haproxy -v`), or "" when unknown. */
export async function sidecarVersionOf(kind: SidecarKind): Promise<string> {
  if (kind === "envoy") {
    const v = await runCommand("envoy", ["--version"], { reject: false, timeoutMs: 5_000 });
    return /version:\s*\S+?\/([\d.]+)/.exec(v.stdout)?.[1] ?? v.stdout.trim().split("\n")[0] ?? "";
  }
  const v = await runCommand("haproxy", ["-v"], { reject: false, timeoutMs: 5_000 });
  return (
    v.stdout
      .split("\n")[0]
      ?.replace(/^HAProxy version\s*/, "")
      .split(" ")[0] ?? ""
  );
}

/**
 * Where a lab ran, for the report: machine, kernel, CPU pinning, the sidecar and its version, the
 * cgroup the pods lived in and the eBPF state.
 *
 * @example
 * await describeLabEnvironment({ sidecar: "envoy", sidecarMode: "http", cgroupRoot, ebpf: "attached", cpuPinning: "none" });
 */
export async function describeLabEnvironment(o: {
  readonly sidecar: SidecarKind | "none";
  readonly sidecarMode: "http" | "tcp";
  readonly cgroupRoot: string;
  readonly ebpf: string;
  readonly cpuPinning: string;
}): Promise<LabEnvironment> {
  return {
    cpuPinning: o.cpuPinning,
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    sidecar:
      o.sidecar === "none"
        ? "none"
        : o.sidecar === "envoy"
          ? "envoy (xDS from meshctl's control plane)"
          : `haproxy (${o.sidecarMode} mode)`,
    sidecarVersion: o.sidecar === "none" ? "" : await sidecarVersionOf(o.sidecar),
    cgroupRoot: o.cgroupRoot,
    ebpf: o.ebpf,
  };
}
