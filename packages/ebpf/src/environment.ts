import { readFile, realpath, stat } from "node:fs/promises";
import { release } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { createTracer, runCommand } from "@meshctl/core";
import { runBpftoolJson } from "./bpftool.js";
import { ebpfError } from "./errors.js";

const trace = createTracer("ebpf");

/** One line of /proc/self/mounts. */
export interface MountEntry {
  readonly source: string;
  readonly target: string;
  readonly type: string;
}

/**
 * Parses /proc/self/mounts text (octal escapes such as `\040` decoded).
 *
 * @example
 * parseMounts("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")[0]?.target; // "/sys/fs/cgroup"
 */
export function parseMounts(text: string): MountEntry[] {
  const decode = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return text
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f.length >= 3)
    .map(([source, target, type]) => ({ source: decode(source!), target: decode(target!), type: type! }));
}

async function readMounts(): Promise<MountEntry[]> {
  return parseMounts(await readFile("/proc/self/mounts", "utf8"));
}

/** Where cgroup v2 is mounted here, or undefined (cgroup v1-only host without a unified mount). */
export async function findCgroup2Mount(): Promise<string | undefined> {
  const mounts = await readMounts();
  // Prefer the shortest path: on hybrid hosts that is /sys/fs/cgroup/unified, never a container's copy.
  return mounts
    .filter((m) => m.type === "cgroup2")
    .map((m) => m.target)
    .sort((a, b) => a.length - b.length)[0];
}

/** Where bpffs is mounted, or undefined. */
export async function findBpffsMounts(): Promise<string[]> {
  return (await readMounts()).filter((m) => m.type === "bpf").map((m) => m.target);
}

const FALLBACK_CGROUP2 = "/run/meshctl/cgroupv2";

/**
 * Returns the cgroup v2 mount, mounting one when the host has none (cgroup v1 hosts keep working:
 * a v2 hierarchy can be mounted beside v1, like Cilium's /run/cilium/cgroupv2).
 */
export async function ensureCgroup2Mount(): Promise<string> {
  const existing = await findCgroup2Mount();
  if (existing) return existing;
  trace(`no cgroup2 mount; mounting one at ${FALLBACK_CGROUP2}`);
  try {
    await runCommand("mkdir", ["-p", FALLBACK_CGROUP2]);
    await runCommand("mount", ["-t", "cgroup2", "none", FALLBACK_CGROUP2]);
  } catch (cause) {
    throw ebpfError("EBPF_NOT_SUPPORTED", "cgroup v2 is not mounted and could not be mounted.", {
      kind: "environment",
      cause,
      suggestions: [
        "Mount it: `mount -t cgroup2 none /sys/fs/cgroup/unified` (needs root and CONFIG_CGROUP_BPF).",
      ],
    });
  }
  return FALLBACK_CGROUP2;
}

/**
 * A path with `..` and every symlink resolved: the real path of its longest existing prefix plus the
 * components that do not exist yet (which cannot be symlinks).
 */
export async function resolveRealPath(path: string): Promise<string> {
  const absolute = resolve(path);
  const missing: string[] = [];
  let prefix = absolute;
  for (;;) {
    const real = await realpath(prefix).catch(() => undefined);
    if (real !== undefined) return join(real, ...missing.reverse());
    if (prefix === dirname(prefix)) return absolute;
    missing.push(basename(prefix));
    prefix = dirname(prefix);
  }
}

/** The mount that holds `path` (the longest mount point that is `path` or one of its parents). */
export function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.target === "/" || path === m.target || path.startsWith(`${m.target}/`);
    if (inside && (!best || m.target.length >= best.target.length)) best = m;
  }
  return best;
}

/** The bpffs meshctl mounts when none is mounted (and never anywhere else). */
export const BPFFS_ROOT = "/sys/fs/bpf";

export interface PinDirLocation {
  /** The pin directory with `..` and symlinks resolved. */
  readonly path: string;
  /** The path is itself a mount point (only older meshctl versions, through bpftool, made those). */
  readonly isMountPoint: boolean;
  /** No bpffs is mounted yet; enable mounts one at /sys/fs/bpf. */
  readonly needsBpffs: boolean;
}

/**
 * Resolves `pinDir` (`..`, symlinks) and checks the result is a directory of its own strictly below
 * a bpffs mount, so that nothing meshctl pins or mounts can land over another directory. With
 * `allowMountPoint` (disable, status) a pin dir that is itself a mount point is accepted so that
 * what an older version mounted there can be cleaned up.
 */
export async function resolvePinDir(
  pinDir: string,
  options: { readonly allowMountPoint?: boolean } = {},
): Promise<PinDirLocation> {
  const invalid = (why: string) =>
    ebpfError("EBPF_INVALID_OPTIONS", `pinDir ${pinDir} ${why}`, {
      kind: "usage",
      details: { pinDir },
      suggestions: [`Use a directory of its own below a bpffs mount, e.g. ${BPFFS_ROOT}/meshctl.`],
    });
  if (!isAbsolute(pinDir)) throw invalid("must be an absolute path.");
  const path = await resolveRealPath(pinDir);
  const mounts = await readMounts();
  const bpffs = mounts.filter((m) => m.type === "bpf");
  const holder = mountOf(path, mounts);
  const isMountPoint = mounts.some((m) => m.target === path);
  const shown = path === pinDir ? "" : ` (resolves to ${path})`;
  if (bpffs.length === 0) {
    if (!path.startsWith(`${BPFFS_ROOT}/`)) throw invalid(`is not on a bpffs mount${shown}.`);
    return { path, isMountPoint: false, needsBpffs: true };
  }
  if (holder?.type !== "bpf")
    throw invalid(`is not on a bpffs mount${shown}: it is on ${holder?.target ?? "/"}.`);
  if (isMountPoint && (!options.allowMountPoint || path === BPFFS_ROOT)) {
    throw invalid(`is a mount point${shown}, not a directory below one.`);
  }
  return { path, isMountPoint, needsBpffs: false };
}

/** Mounts bpffs at /sys/fs/bpf, the only place meshctl ever mounts it. */
export async function mountBpffs(): Promise<void> {
  trace(`bpffs not mounted; mounting ${BPFFS_ROOT}`);
  try {
    await runCommand("mount", ["-t", "bpf", "bpf", BPFFS_ROOT]);
  } catch (cause) {
    throw ebpfError(
      "EBPF_PERMISSION_DENIED",
      `bpffs is not mounted at ${BPFFS_ROOT} and mounting it failed.`,
      {
        kind: "environment",
        cause,
        suggestions: [`Run as root, or mount it yourself: \`mount -t bpf bpf ${BPFFS_ROOT}\`.`],
      },
    );
  }
}

/** Every mount stacked at exactly `path`, topmost first. */
export async function mountsAt(path: string): Promise<MountEntry[]> {
  return (await readMounts()).filter((m) => m.target === path).reverse();
}

/**
 * Resolves the cgroup to attach to: the cgroup v2 root by default, else `cgroupPath`, which must be a
 * directory inside the cgroup v2 mount.
 */
export async function resolveCgroup(
  cgroupPath: string | undefined,
): Promise<{ mount: string; path: string }> {
  const mount = await ensureCgroup2Mount();
  const path =
    cgroupPath === undefined
      ? mount
      : await resolveRealPath(isAbsolute(cgroupPath) ? cgroupPath : join(mount, cgroupPath));
  if (path !== mount && !path.startsWith(`${mount}/`)) {
    throw ebpfError("EBPF_CGROUP_INVALID", `${path} is not inside the cgroup v2 mount ${mount}.`, {
      kind: "usage",
      details: { cgroupPath: path, cgroup2Mount: mount },
      suggestions: [`Pass a cgroup under ${mount}, e.g. ${mount}/kubepods.slice/<pod>.`],
    });
  }
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw ebpfError("EBPF_CGROUP_INVALID", `cgroup ${path} does not exist.`, {
      kind: "usage",
      details: { cgroupPath: path },
      suggestions: ["Create it (`mkdir`) or pass an existing cgroup with --cgroup."],
    });
  }
  return { mount, path };
}

/** Linux release as [major, minor], e.g. [6, 18]. */
export function parseKernelRelease(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The oldest kernel with bpf_get_netns_cookie in sk_msg and sock_ops, which the keys need. */
export const MIN_KERNEL: readonly [number, number] = [5, 15];

/** The result of probing the running kernel for what sidecar acceleration needs. */
export interface EbpfSupport {
  readonly supported: boolean;
  readonly kernelRelease: string;
  readonly root: boolean;
  readonly btf: boolean;
  /** Features that are present, by name, e.g. `sk_msg program`, `bpf_msg_redirect_hash in sk_msg`. */
  readonly present: readonly string[];
  readonly missing: readonly string[];
}

interface FeatureProbe {
  program_types?: Record<string, boolean>;
  map_types?: Record<string, boolean>;
  helpers?: Record<string, string[]>;
}

const REQUIRED_HELPERS: Record<string, readonly string[]> = {
  sock_ops_available_helpers: [
    "bpf_sock_hash_update",
    "bpf_get_netns_cookie",
    "bpf_sock_ops_cb_flags_set",
    // Learned bulk services: the service endpoint per socket, and the age of mc_bulk entries.
    "bpf_sk_storage_get",
    "bpf_ktime_get_ns",
    // Sidecar-uid filter: the socket owner, read through CO-RE from the kernel's tcp_sock.
    "bpf_skc_to_tcp_sock",
  ],
  sk_msg_available_helpers: [
    "bpf_msg_redirect_hash",
    "bpf_get_netns_cookie",
    "bpf_sk_storage_get",
    "bpf_ktime_get_ns",
  ],
};

/**
 * Probes the kernel (`bpftool -j feature probe kernel`) for everything the programs use.
 *
 * @example
 * const support = await probeEbpfSupport();
 * if (!support.supported) console.log(support.missing);
 */
export async function probeEbpfSupport(): Promise<EbpfSupport> {
  const kernelRelease = release();
  const root = process.getuid?.() === 0;
  const btf = await stat("/sys/kernel/btf/vmlinux").then(
    () => true,
    () => false,
  );
  const present: string[] = [];
  const missing: string[] = [];
  const version = parseKernelRelease(kernelRelease);
  const oldKernel =
    version !== undefined &&
    (version[0] < MIN_KERNEL[0] || (version[0] === MIN_KERNEL[0] && version[1] < MIN_KERNEL[1]));
  if (oldKernel) missing.push(`Linux >= ${MIN_KERNEL.join(".")} (running ${kernelRelease})`);
  // libbpf relocates the one CO-RE field read (the socket owner) against the kernel's BTF.
  if (!btf) missing.push("kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)");
  if (root) {
    const probe = await runBpftoolJson<FeatureProbe>(
      ["feature", "probe", "kernel"],
      "probing kernel BPF features",
    );
    const check = (ok: boolean | undefined, name: string) => (ok ? present : missing).push(name);
    check(probe?.program_types?.have_sock_ops_prog_type, "sock_ops program");
    check(probe?.program_types?.have_sk_msg_prog_type, "sk_msg program");
    check(probe?.map_types?.have_sockhash_map_type, "sockhash map");
    check(probe?.map_types?.have_sk_storage_map_type, "sk_storage map");
    for (const [list, helpers] of Object.entries(REQUIRED_HELPERS)) {
      const available = new Set(probe?.helpers?.[list] ?? []);
      const progType = list.replace("_available_helpers", "");
      for (const helper of helpers) {
        check(available.has(helper), `${helper} in ${progType}`);
      }
    }
  } else {
    missing.push("root (or CAP_BPF + CAP_NET_ADMIN + CAP_SYS_ADMIN) to probe and load BPF");
  }
  return { supported: missing.length === 0, kernelRelease, root, btf, present, missing };
}

/** Throws the right typed error when the kernel or privileges cannot run acceleration. */
export async function assertEbpfSupported(): Promise<EbpfSupport> {
  if (process.getuid?.() !== 0) {
    throw ebpfError(
      "EBPF_PERMISSION_DENIED",
      "Enabling eBPF acceleration needs root: it loads BPF programs and attaches them to a cgroup.",
      {
        kind: "environment",
        suggestions: [
          "Run with sudo.",
          "In Kubernetes, run the privileged DaemonSet rendered by `renderEbpfDaemonSet`.",
        ],
      },
    );
  }
  const support = await probeEbpfSupport();
  if (!support.supported) {
    throw ebpfError(
      "EBPF_NOT_SUPPORTED",
      `This kernel cannot run meshctl's sidecar acceleration; missing: ${support.missing.join(", ")}.`,
      {
        kind: "environment",
        details: { kernelRelease: support.kernelRelease, missing: support.missing },
        suggestions: [
          `Use Linux >= ${MIN_KERNEL.join(".")} built with CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF and CONFIG_BPF_STREAM_PARSER.`,
        ],
      },
    );
  }
  return support;
}
