import { runCommand, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { type PodSpec, SIDECAR_UID } from "./types.js";

// The cgroup is joined before entering the namespace: `ip netns exec` remounts /sys, which would
// hide the cgroup2 mount; nsenter --net only switches the network namespace.
const POD_WRAPPER =
  'cg="$1"; ns="$2"; shift 2; echo $$ > "$cg/cgroup.procs" && exec nsenter "--net=/run/netns/$ns" -- "$@"';

/**
 * The argv that runs `command` inside a pod: in the pod's cgroup (so cgroup-attached eBPF sees its
 * sockets), in the pod's network namespace, and for sidecars as the proxy uid that capture exempts.
 *
 * @example
 * podCommand(pod, ["haproxy", "-f", cfg, "-db"], { asSidecar: true });
 */
export function podCommand(
  pod: Pick<PodSpec, "netns" | "cgroup">,
  argv: readonly string[],
  options: { asSidecar?: boolean; cpus?: string } = {},
): { command: string; args: string[] } {
  const drop = options.asSidecar
    ? ["setpriv", `--reuid=${SIDECAR_UID}`, `--regid=${SIDECAR_UID}`, "--clear-groups", "--"]
    : [];
  const pin = options.cpus ? ["taskset", "-c", options.cpus] : [];
  return { command: "sh", args: ["-c", POD_WRAPPER, "sh", pod.cgroup, pod.netns, ...pin, ...drop, ...argv] };
}

/**
 * Starts a long-running process inside a pod. The caller owns the handle (kill it on teardown;
 * removing the pod's cgroup kills it too).
 *
 * @example
 * const sidecar = spawnInPod(pod, ["haproxy", "-f", cfg, "-db"], { asSidecar: true });
 */
export function spawnInPod(
  pod: Pick<PodSpec, "netns" | "cgroup">,
  argv: readonly string[],
  options: { asSidecar?: boolean; cpus?: string; env?: Readonly<Record<string, string>> } = {},
): SpawnedProgram {
  const { command, args } = podCommand(pod, argv, options);
  return spawnProgram(command, args, options.env ? { env: options.env } : {});
}

/**
 * Waits until TCP ports listen inside a namespace (polls `ss`), or the process died, or time ran out.
 *
 * @example
 * await waitForListening("mcl-1a2b-sidecar-client", [15001, 15006], 5000);
 */
export async function waitForListening(
  netns: string,
  ports: readonly number[],
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await runCommand("ss", ["-N", netns, "-H", "-l", "-t", "-n"], {
      reject: false,
      timeoutMs: 5_000,
    });
    const listening = new Set(
      result.stdout
        .split("\n")
        .map((line) => line.trim().split(/\s+/)[3] ?? "")
        .map((local) => Number(local.slice(local.lastIndexOf(":") + 1))),
    );
    if (ports.every((p) => listening.has(p))) return true;
    if (!isAlive()) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
