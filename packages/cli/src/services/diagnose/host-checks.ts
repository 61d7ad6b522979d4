import { ENVOY_PINNED_VERSION } from "@meshctl/pod";
import type { HostFacts, ProgramFact } from "./host-facts.js";
import type { Check, CheckStatus } from "./types.js";

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

function check(
  group: string,
  name: string,
  status: CheckStatus,
  summary: string,
  evidence: readonly string[],
  recommendation: string | null = null,
): Check {
  return { id: `${group}.${name}`, group, status, summary, evidence, recommendation };
}

/** Parses "6.18.44-fc-v782" into [6, 18, 44]. */
export function parseKernelVersion(release: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function atLeast(v: [number, number, number] | null, major: number, minor: number): boolean {
  return v !== null && (v[0] > major || (v[0] === major && v[1] >= minor));
}

function hasCap(cap: bigint | null, bit: bigint): boolean {
  return cap !== null && ((cap >> bit) & 1n) === 1n;
}

function kernelChecks(f: HostFacts): Check[] {
  const v = parseKernelVersion(f.kernelRelease);
  const out: Check[] = [];
  out.push(
    atLeast(v, 4, 18)
      ? check(
          "kernel",
          "version",
          "ok",
          `Linux ${f.kernelRelease} is new enough for sockmap acceleration (needs 4.18+; 5.10+ recommended)`,
          [`uname -r: ${f.kernelRelease}`],
        )
      : check(
          "kernel",
          "version",
          "fail",
          `Linux ${f.kernelRelease} is too old for sockhash + bpf_msg_redirect_hash (needs 4.18+)`,
          [`uname -r: ${f.kernelRelease}`],
          "Upgrade the node kernel to 5.10 or newer to use eBPF acceleration.",
        ),
  );
  if ("error" in f.bpf) {
    out.push(
      check(
        "kernel",
        "bpf-sockmap",
        "warn",
        "Could not probe BPF features; judging from the kernel version only",
        [f.bpf.error],
        "Install bpftool (Debian: apt-get install bpftool) so meshctl can probe the kernel instead of guessing.",
      ),
    );
  } else {
    const b = f.bpf;
    const missing = [
      !b.sockOpsProg && "sock_ops program type",
      !b.skMsgProg && "sk_msg program type",
      !b.sockhashMap && "sockhash map type",
      !b.msgRedirectHash && "bpf_msg_redirect_hash helper for sk_msg",
    ].filter((x): x is string => Boolean(x));
    const evidence = [
      `bpftool feature probe: sock_ops=${b.sockOpsProg} sk_msg=${b.skMsgProg} sockhash=${b.sockhashMap} bpf_msg_redirect_hash=${b.msgRedirectHash}`,
      `bpf_jit_enable=${b.jitEnabled ?? "?"} unprivileged_bpf_disabled=${b.unprivilegedBpfDisabled ?? "?"}`,
    ];
    out.push(
      missing.length === 0
        ? check(
            "kernel",
            "bpf-sockmap",
            "ok",
            "The kernel has sockops, sk_msg, sockhash and bpf_msg_redirect_hash",
            evidence,
          )
        : check(
            "kernel",
            "bpf-sockmap",
            "fail",
            `The kernel lacks: ${missing.join(", ")}`,
            evidence,
            "Use a kernel built with CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF and CONFIG_BPF_STREAM_PARSER (5.10+).",
          ),
    );
    if (b.jitEnabled === 0) {
      out.push(
        check(
          "kernel",
          "bpf-jit",
          "warn",
          "The BPF JIT is off: programs run interpreted and slower",
          evidence.slice(1),
          "sysctl -w net.core.bpf_jit_enable=1",
        ),
      );
    }
  }
  out.push(
    f.btfVmlinux
      ? check("kernel", "btf", "ok", "Kernel BTF is available (CO-RE programs load without kernel headers)", [
          "/sys/kernel/btf/vmlinux exists",
        ])
      : check(
          "kernel",
          "btf",
          "warn",
          "No kernel BTF: CO-RE field relocations cannot be resolved",
          ["/sys/kernel/btf/vmlinux is missing"],
          "Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are).",
        ),
  );
  return out;
}

function privilegeChecks(f: HostFacts): Check[] {
  const capEvidence = [
    `euid=${f.euid}`,
    `CapEff=${f.capEff === null ? "unreadable" : `0x${f.capEff.toString(16)}`}`,
  ];
  const root = f.euid === 0;
  const bpfCaps =
    hasCap(f.capEff, CAP_SYS_ADMIN) || (hasCap(f.capEff, CAP_BPF) && hasCap(f.capEff, CAP_NET_ADMIN));
  if (root && bpfCaps)
    return [
      check(
        "privileges",
        "bpf-load",
        "ok",
        "This process may load and attach BPF programs (root with CAP_SYS_ADMIN)",
        capEvidence,
      ),
    ];
  if (bpfCaps)
    return [
      check(
        "privileges",
        "bpf-load",
        "ok",
        "This process may load BPF programs (CAP_BPF + CAP_NET_ADMIN)",
        capEvidence,
      ),
    ];
  return [
    check(
      "privileges",
      "bpf-load",
      "fail",
      "This process may not load BPF programs (needs root, or CAP_BPF and CAP_NET_ADMIN)",
      capEvidence,
      "Run meshctl as root (sudo), or grant CAP_BPF,CAP_NET_ADMIN; on Kubernetes the DaemonSet runs privileged.",
    ),
  ];
}

function filesystemChecks(f: HostFacts): Check[] {
  const out: Check[] = [];
  const cg2Known = f.filesystems.includes("cgroup2");
  if (f.cgroup2Mounts.length > 0) {
    out.push(
      check(
        "cgroup",
        "v2",
        "ok",
        `cgroup v2 is mounted at ${f.cgroup2Mounts[0]}`,
        f.cgroup2Mounts.map((m) => `cgroup2 mounted at ${m}`),
      ),
    );
  } else if (cg2Known) {
    out.push(
      check(
        "cgroup",
        "v2",
        "warn",
        "cgroup v2 is supported but not mounted; meshctl will mount it when enabling eBPF",
        ["cgroup2 listed in /proc/filesystems", "no cgroup2 mount in /proc/self/mounts"],
        "mount -t cgroup2 none /sys/fs/cgroup/unified (meshctl enable ebpf does this for you)",
      ),
    );
  } else {
    out.push(
      check(
        "cgroup",
        "v2",
        "fail",
        "The kernel has no cgroup v2: sockops programs cannot be attached",
        ["cgroup2 missing from /proc/filesystems"],
        "Use a kernel with cgroup v2 (4.5+); sockops attaches only to cgroup v2.",
      ),
    );
  }
  if (f.bpffsMounts.length > 0) {
    out.push(
      check(
        "cgroup",
        "bpffs",
        "ok",
        `bpffs is mounted at ${f.bpffsMounts[0]}`,
        f.bpffsMounts.map((m) => `bpf mounted at ${m}`),
      ),
    );
  } else if (f.filesystems.includes("bpf")) {
    out.push(
      check(
        "cgroup",
        "bpffs",
        "warn",
        "bpffs is supported but not mounted; meshctl will mount it at /sys/fs/bpf",
        ["bpf listed in /proc/filesystems"],
        "mount -t bpf bpf /sys/fs/bpf (meshctl enable ebpf does this for you)",
      ),
    );
  } else {
    out.push(
      check(
        "cgroup",
        "bpffs",
        "fail",
        "The kernel has no bpffs: programs and maps cannot be pinned",
        ["bpf missing from /proc/filesystems"],
        "Use a kernel with CONFIG_BPF_SYSCALL.",
      ),
    );
  }
  return out;
}

function versionLine(name: string, p: ProgramFact): string {
  return p.path ? `${name} ${p.version ?? "(version unknown)"} at ${p.path}` : `${name}: not on PATH`;
}

function netfilterChecks(f: HostFacts): Check[] {
  const out: Check[] = [];
  const ev = [versionLine("iptables", f.iptables), versionLine("nft", f.nft)];
  if (f.iptables.path) {
    out.push(
      check(
        "netfilter",
        "tools",
        "ok",
        `iptables ${f.iptables.version ?? ""} (${f.iptables.backend ?? "unknown"} backend) is available for istio-init style capture`.replace(
          /\s+/g,
          " ",
        ),
        ev,
      ),
    );
  } else if (f.nft.path) {
    out.push(
      check(
        "netfilter",
        "tools",
        "warn",
        "Only nft is available; istio-init style capture uses iptables",
        ev,
        "apt-get install iptables",
      ),
    );
  } else {
    out.push(
      check(
        "netfilter",
        "tools",
        "fail",
        "Neither iptables nor nft is installed: traffic capture for sidecars is impossible",
        ev,
        "apt-get install iptables",
      ),
    );
  }
  if (Array.isArray(f.captureChains)) {
    const chains = f.captureChains as readonly string[];
    out.push(
      chains.length > 0
        ? check(
            "netfilter",
            "capture",
            "ok",
            `istio-init capture chains are present in this network namespace: ${chains.join(", ")}`,
            chains.map((c) => `nat chain ${c}`),
          )
        : check(
            "netfilter",
            "capture",
            "ok",
            "No istio-init capture chains in this network namespace (expected on a node; they live in pod namespaces)",
            ["iptables-save -t nat: no ISTIO_* chains"],
          ),
    );
  } else {
    out.push(
      check(
        "netfilter",
        "capture",
        "warn",
        "Could not read the nat table",
        [(f.captureChains as { error: string }).error],
        "Run as root to inspect iptables rules.",
      ),
    );
  }
  return out;
}

function programChecks(f: HostFacts): Check[] {
  const p = f.programs;
  const out: Check[] = [];
  const envoyFix = "Install the pinned Envoy: `bash scripts/install-envoy.sh` (part of `npm run lab`).";
  out.push(
    !p.envoy.path
      ? check(
          "dataplane",
          "envoy",
          "warn",
          "Envoy is not installed: the lab's default sidecar (and `meshctl bench`) needs it",
          [versionLine("envoy", p.envoy)],
          `${envoyFix} Or run the lab with \`--sidecar haproxy\`.`,
        )
      : p.envoy.version === ENVOY_PINNED_VERSION
        ? check("dataplane", "envoy", "ok", `Envoy ${p.envoy.version} is installed (the pinned release)`, [
            versionLine("envoy", p.envoy),
          ])
        : check(
            "dataplane",
            "envoy",
            "warn",
            p.envoy.version
              ? `Envoy ${p.envoy.version} is installed; meshctl is tested with ${ENVOY_PINNED_VERSION}`
              : `${p.envoy.path} does not report an Envoy version: it may not be Envoy`,
            [versionLine("envoy", p.envoy)],
            envoyFix,
          ),
  );
  out.push(
    p.haproxy.path
      ? check(
          "dataplane",
          "haproxy",
          "ok",
          `HAProxy ${p.haproxy.version ?? ""} is installed (the lab's sidecar without Envoy)`.replace(
            /\s+/g,
            " ",
          ),
          [versionLine("haproxy", p.haproxy)],
        )
      : check(
          "dataplane",
          "haproxy",
          "warn",
          "HAProxy is not installed: the lab has no sidecar proxy without Envoy",
          [versionLine("haproxy", p.haproxy)],
          "apt-get install haproxy",
        ),
  );
  out.push(
    p.vpp.path || p.vppctl.path
      ? check("dataplane", "vpp", "ok", "FD.io VPP is installed", [
          versionLine("vpp", p.vpp),
          versionLine("vppctl", p.vppctl),
        ])
      : check(
          "dataplane",
          "vpp",
          "ok",
          "FD.io VPP is not installed (optional: only for the VPP host-stack integration)",
          [versionLine("vpp", p.vpp), versionLine("vppctl", p.vppctl)],
        ),
  );
  const toolchain = [
    versionLine("clang", p.clang),
    versionLine("llc", p.llc),
    versionLine("bpftool", p.bpftool),
    `libbpf: ${f.libbpf ?? "not found"}`,
  ];
  const missing = [!p.bpftool.path && "bpftool", !f.libbpf && "libbpf"].filter(Boolean);
  out.push(
    missing.length === 0
      ? check(
          "toolchain",
          "bpf",
          "ok",
          `bpftool and libbpf are present for loading BPF${p.clang.path ? "; clang can rebuild the programs" : ""}`,
          toolchain,
        )
      : check(
          "toolchain",
          "bpf",
          "warn",
          `Missing for loading BPF: ${missing.join(", ")}`,
          toolchain,
          "apt-get install bpftool libbpf1 (clang and llvm only to rebuild the programs)",
        ),
  );
  return out;
}

function benchChecks(f: HostFacts): Check[] {
  const c = f.cpu;
  const evidence = [
    `cpus=${c.count} model="${c.model}"`,
    `governor=${c.governors?.join(",") ?? "not exposed"}`,
    `smt=${c.smtActive ?? "unknown"} isolated=${c.isolated ?? "none"}`,
    `clocksource=${f.clocksource ?? "unknown"} virtualization=${f.virtualization ?? "none detected"}`,
    `loadavg=${f.loadAverage.map((l) => l.toFixed(2)).join(" ")} memory=${(f.memoryBytes / 2 ** 30).toFixed(1)}GiB`,
  ];
  const out: Check[] = [];
  out.push(
    c.count >= 4
      ? check(
          "bench",
          "cpus",
          "ok",
          `${c.count} CPUs: enough to pin load generator, proxies and servers apart`,
          evidence.slice(0, 1),
        )
      : check(
          "bench",
          "cpus",
          "warn",
          `Only ${c.count} CPUs: load generator, proxies and servers share cores, so compare ratios from interleaved runs, not absolute times`,
          evidence.slice(0, 1),
          "Run benchmarks on 4+ dedicated cores for absolute figures.",
        ),
  );
  const governors = c.governors;
  if (governors === null) {
    out.push(
      check(
        "bench",
        "cpu-governor",
        "ok",
        "CPU frequency scaling is not exposed (typical in VMs); frequency is up to the host",
        evidence.slice(1, 2),
      ),
    );
  } else if (governors.every((g) => g === "performance")) {
    out.push(check("bench", "cpu-governor", "ok", "CPU governor is performance", evidence.slice(1, 2)));
  } else {
    out.push(
      check(
        "bench",
        "cpu-governor",
        "warn",
        `CPU governor is ${governors.join(",")}: latency varies with frequency changes`,
        evidence.slice(1, 2),
        "cpupower frequency-set -g performance (for benchmarks)",
      ),
    );
  }
  const load = f.loadAverage[0] ?? 0;
  out.push(
    load > c.count * 0.5
      ? check(
          "bench",
          "environment",
          "warn",
          `The machine is busy (load ${load.toFixed(2)} on ${c.count} CPUs): benchmark figures will be noisy`,
          evidence,
          "Stop other work before measuring, or rely on interleaved rounds.",
        )
      : check(
          "bench",
          "environment",
          "ok",
          `Recorded for benchmark reports: ${f.virtualization ? `VM (${f.virtualization})` : "bare metal"}, clocksource ${f.clocksource ?? "unknown"}`,
          evidence,
        ),
  );
  return out;
}

/**
 * Turns host facts into findings. Pure: the same facts always give the same checks.
 *
 * @example
 * const checks = evaluateHostChecks(await collectHostFacts());
 */
export function evaluateHostChecks(facts: HostFacts): Check[] {
  return [
    ...kernelChecks(facts),
    ...privilegeChecks(facts),
    ...filesystemChecks(facts),
    ...netfilterChecks(facts),
    ...programChecks(facts),
    ...benchChecks(facts),
  ];
}
