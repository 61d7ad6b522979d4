import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshctlError } from "@meshctl/core";

/**
 * Finds the cgroup v2 mount point from a mounts table (`/proc/self/mounts` format). Pure unified
 * hosts mount it at /sys/fs/cgroup, hybrid ones at /sys/fs/cgroup/unified; those two win over
 * any other mount (a container runtime's, say).
 *
 * @example
 * parseCgroup2Mount(await readFile("/proc/self/mounts", "utf8")); // "/sys/fs/cgroup/unified"
 */
export function parseCgroup2Mount(mounts: string): string | undefined {
  const points = mounts
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f[2] === "cgroup2" && f[1])
    .map((f) => f[1]!.replace(/\\040/g, " "));
  const preferred = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
  return preferred.find((p) => points.includes(p)) ?? points[0];
}

/**
 * The cgroup v2 mount of this machine.
 *
 * @example
 * const root = await findCgroup2Root();
 */
export async function findCgroup2Root(): Promise<string> {
  const mounts = await readFile("/proc/self/mounts", "utf8");
  const root = parseCgroup2Mount(mounts);
  if (!root) {
    throw new MeshctlError("LAB_NO_CGROUP2", "The lab needs a cgroup v2 hierarchy, and none is mounted.", {
      kind: "environment",
      suggestions: [
        "Mount one: `mount -t cgroup2 none /sys/fs/cgroup/unified` (or boot with systemd's unified hierarchy).",
      ],
    });
  }
  return root;
}

/** Creates a cgroup directory (and its parents). */
export async function createCgroup(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
}

/** Moves a process into a cgroup. */
export async function moveToCgroup(path: string, pid: number): Promise<void> {
  await writeFile(join(path, "cgroup.procs"), `${pid}\n`);
}

async function pidsOf(path: string): Promise<number[]> {
  try {
    const text = await readFile(join(path, "cgroup.procs"), "utf8");
    return text
      .split("\n")
      .filter(Boolean)
      .map((s) => Number(s));
  } catch {
    return [];
  }
}

async function childCgroups(path: string): Promise<string[]> {
  try {
    const entries = await readdir(path, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => join(path, e.name));
  } catch {
    return [];
  }
}

/**
 * Kills every process in a cgroup subtree and removes it, deepest first. `cgroup.kill` (Linux 5.14)
 * catches processes that forked after we looked; older kernels fall back to signalling each pid.
 * Missing cgroups are fine: teardown is idempotent. Resolves true when this call removed `path`,
 * false when it was already gone.
 *
 * @example
 * await removeCgroupTree("/sys/fs/cgroup/unified/mcl-lab-1a2b");
 */
export async function removeCgroupTree(path: string, timeoutMs = 5_000): Promise<boolean> {
  for (const child of await childCgroups(path)) await removeCgroupTree(child, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await pidsOf(path);
    if (pids.length === 0) break;
    try {
      await writeFile(join(path, "cgroup.kill"), "1\n");
    } catch {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (;;) {
    try {
      await rmdir(path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return false;
      if (code !== "EBUSY" || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** CPU a cgroup subtree used (cgroup v2 `cpu.stat`), in microseconds. */
export interface CgroupCpu {
  readonly usageUs: number;
  readonly userUs: number;
  readonly systemUs: number;
}

/**
 * Parses a cgroup v2 `cpu.stat` file. The `cpu` controller need not be enabled: the kernel always
 * reports `usage_usec`, `user_usec` and `system_usec`.
 *
 * @example
 * parseCpuStat("usage_usec 1200\nuser_usec 800\nsystem_usec 400\n"); // { usageUs: 1200, userUs: 800, systemUs: 400 }
 */
export function parseCpuStat(text: string): CgroupCpu {
  const fields = new Map(
    text
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length === 2)
      .map(([k, v]) => [k!, Number(v)] as const),
  );
  const get = (key: string) => {
    const v = fields.get(key);
    if (v === undefined || !Number.isFinite(v)) throw new Error(`cpu.stat has no ${key}`);
    return v;
  };
  return { usageUs: get("usage_usec"), userUs: get("user_usec"), systemUs: get("system_usec") };
}

/**
 * Reads a cgroup's CPU use so far (its whole subtree, also of processes that already exited).
 *
 * @example
 * const before = await readCgroupCpu(pod.cgroup);
 */
export async function readCgroupCpu(path: string): Promise<CgroupCpu> {
  return parseCpuStat(await readFile(join(path, "cpu.stat"), "utf8"));
}
