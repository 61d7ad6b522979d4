import { readdir, readFile, stat } from "node:fs/promises";
import os from "node:os";
import { errorMessage, findProgram, runCommand, runJson } from "@meshctl/core";

/** What `bpftool -j feature probe kernel` says, reduced to what meshctl's accelerators need. */
export interface BpfFeatureFacts {
  readonly sockOpsProg: boolean;
  readonly skMsgProg: boolean;
  readonly sockhashMap: boolean;
  readonly msgRedirectHash: boolean;
  readonly unprivilegedBpfDisabled: number | null;
  readonly jitEnabled: number | null;
}

export interface ProgramFact {
  readonly path: string | null;
  readonly version: string | null;
}

/**
 * Every fact the host checks read. Collected once from the real machine; tests inject their own
 * to show what an old kernel, a non-root user or a missing cgroup v2 look like.
 */
export interface HostFacts {
  readonly kernelRelease: string;
  readonly bpf: BpfFeatureFacts | { readonly error: string };
  readonly euid: number;
  /** CapEff from /proc/self/status, or null if unreadable. */
  readonly capEff: bigint | null;
  readonly filesystems: readonly string[];
  readonly cgroup2Mounts: readonly string[];
  readonly bpffsMounts: readonly string[];
  readonly btfVmlinux: boolean;
  readonly iptables: ProgramFact & { readonly backend: "nf_tables" | "legacy" | null };
  readonly nft: ProgramFact;
  /** istio-init style chains (ISTIO_*) in this network namespace's nat table. */
  readonly captureChains: readonly string[] | { readonly error: string };
  readonly programs: Readonly<
    Record<"envoy" | "haproxy" | "vpp" | "vppctl" | "clang" | "bpftool" | "llc", ProgramFact>
  >;
  readonly libbpf: string | null;
  readonly cpu: {
    readonly count: number;
    readonly model: string;
    readonly governors: readonly string[] | null;
    readonly smtActive: boolean | null;
    readonly isolated: string | null;
  };
  readonly clocksource: string | null;
  readonly virtualization: string | null;
  readonly loadAverage: readonly number[];
  readonly memoryBytes: number;
}

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function programFact(
  name: string,
  versionArgs: readonly string[],
  pattern: RegExp,
): Promise<ProgramFact> {
  const path = await findProgram(name);
  if (!path) return { path: null, version: null };
  const result = await runCommand(path, versionArgs, { reject: false, timeoutMs: 5_000 }).catch(() => null);
  const text = `${result?.stdout ?? ""}\n${result?.stderr ?? ""}`;
  return { path, version: pattern.exec(text)?.[1] ?? null };
}

function parseMounts(mounts: string, fsType: string): string[] {
  return mounts
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f[2] === fsType)
    .map((f) => f[1] ?? "");
}

async function probeBpf(bpftool: string | null): Promise<HostFacts["bpf"]> {
  if (!bpftool) return { error: "bpftool is not installed" };
  try {
    const probe = await runJson<{
      system_config?: Record<string, unknown>;
      program_types?: Record<string, boolean>;
      map_types?: Record<string, boolean>;
      helpers?: Record<string, string[]>;
    }>(bpftool, ["-j", "feature", "probe", "kernel"], { timeoutMs: 20_000 });
    const sys = probe.system_config ?? {};
    return {
      sockOpsProg: probe.program_types?.have_sock_ops_prog_type === true,
      skMsgProg: probe.program_types?.have_sk_msg_prog_type === true,
      sockhashMap: probe.map_types?.have_sockhash_map_type === true,
      msgRedirectHash: (probe.helpers?.sk_msg_available_helpers ?? []).includes("bpf_msg_redirect_hash"),
      unprivilegedBpfDisabled:
        typeof sys.unprivileged_bpf_disabled === "number" ? sys.unprivileged_bpf_disabled : null,
      jitEnabled: typeof sys.bpf_jit_enable === "number" ? sys.bpf_jit_enable : null,
    };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

async function captureChains(iptables: string | null): Promise<HostFacts["captureChains"]> {
  if (!iptables) return { error: "iptables is not installed" };
  const save = (await findProgram("iptables-save")) ?? null;
  if (!save) return { error: "iptables-save is not installed" };
  try {
    const { stdout } = await runCommand(save, ["-t", "nat"], { timeoutMs: 10_000 });
    return [...stdout.matchAll(/^:(ISTIO_[A-Z_]+)/gm)].map((m) => m[1] ?? "");
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

async function cpuGovernors(): Promise<string[] | null> {
  try {
    const cpus = (await readdir("/sys/devices/system/cpu")).filter((d) => /^cpu\d+$/.test(d));
    const values = await Promise.all(
      cpus.map((c) => readText(`/sys/devices/system/cpu/${c}/cpufreq/scaling_governor`)),
    );
    const present = values.filter((v): v is string => v !== null);
    return present.length ? [...new Set(present)] : null;
  } catch {
    return null;
  }
}

async function libbpfVersion(): Promise<string | null> {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]) {
    try {
      const file = (await readdir(dir)).find((f) => /^libbpf\.so\.\d/.test(f));
      if (file) return `${dir}/${file}`;
    } catch {
      // not this layout
    }
  }
  return null;
}

/**
 * Reads the facts of the machine meshctl runs on, through well-kept interfaces: bpftool's JSON
 * feature probe, /proc, /sys and the programs' own version flags.
 *
 * @example
 * const facts = await collectHostFacts();
 * evaluateHostChecks(facts);
 */
export async function collectHostFacts(): Promise<HostFacts> {
  const [bpftool, clang, llc, envoy, haproxy, vpp, vppctl, iptables, nft] = await Promise.all([
    programFact("bpftool", ["version"], /bpftool v?([\d.]+)/),
    programFact("clang", ["--version"], /clang version ([\d.]+)/),
    programFact("llc", ["--version"], /LLVM version ([\d.]+)/),
    programFact("envoy", ["--version"], /version: [0-9a-f]+\/([\d.]+)/),
    programFact("haproxy", ["-v"], /HAProxy version ([\d.]+)/),
    programFact("vpp", ["--version"], /(v?[\d.]+(?:-\S+)?)/),
    programFact("vppctl", ["--help"], /(vppctl)/),
    programFact("iptables", ["--version"], /iptables v([\d.]+)/),
    programFact("nft", ["--version"], /nftables v([\d.]+)/),
  ]);
  const iptablesVersionLine = iptables.path
    ? ((await runCommand(iptables.path, ["--version"], { reject: false }).catch(() => null))?.stdout ?? "")
    : "";
  const mounts = (await readText("/proc/self/mounts")) ?? "";
  const status = (await readText("/proc/self/status")) ?? "";
  const capHex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const cpus = os.cpus();
  const [bpf, chains, governors, btf, filesystems, smt, isolated, clocksource, libbpf] = await Promise.all([
    probeBpf(bpftool.path),
    captureChains(iptables.path),
    cpuGovernors(),
    exists("/sys/kernel/btf/vmlinux"),
    readText("/proc/filesystems"),
    readText("/sys/devices/system/cpu/smt/active"),
    readText("/sys/devices/system/cpu/isolated"),
    readText("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
    libbpfVersion(),
  ]);
  const cpuinfo = (await readText("/proc/cpuinfo")) ?? "";
  const hypervisor = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
  const dmi =
    (await readText("/sys/class/dmi/id/sys_vendor")) ?? (await readText("/sys/class/dmi/id/product_name"));
  return {
    kernelRelease: os.release(),
    bpf,
    euid: process.geteuid?.() ?? -1,
    capEff: capHex ? BigInt(`0x${capHex}`) : null,
    filesystems: (filesystems ?? "").split("\n").map((l) => l.trim().split(/\s+/).pop() ?? ""),
    cgroup2Mounts: parseMounts(mounts, "cgroup2"),
    bpffsMounts: parseMounts(mounts, "bpf"),
    btfVmlinux: btf,
    iptables: {
      ...iptables,
      backend: /nf_tables/.test(iptablesVersionLine)
        ? "nf_tables"
        : /legacy/.test(iptablesVersionLine)
          ? "legacy"
          : null,
    },
    nft,
    captureChains: chains,
    programs: { envoy, haproxy, vpp, vppctl, clang, bpftool, llc },
    libbpf,
    cpu: {
      count: cpus.length,
      model: cpus[0]?.model ?? "unknown",
      governors,
      smtActive: smt === null ? null : smt === "1",
      isolated: isolated === null || isolated === "" ? null : isolated,
    },
    clocksource,
    virtualization: hypervisor ? (dmi ?? "hypervisor") : null,
    loadAverage: os.loadavg(),
    memoryBytes: os.totalmem(),
  };
}
