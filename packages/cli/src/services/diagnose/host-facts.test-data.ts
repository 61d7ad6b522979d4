import type { HostFacts } from "./host-facts.js";

const program = (path: string | null, version: string | null = null) => ({ path, version });

/**
 * A healthy Linux node with everything meshctl needs; override what a test is about.
 *
 * @example
 * evaluateHostChecks(hostFactsFixture({ euid: 1000, capEff: 0n }));
 */
export function hostFactsFixture(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    kernelRelease: "6.8.0-45-generic",
    bpf: {
      sockOpsProg: true,
      skMsgProg: true,
      sockhashMap: true,
      msgRedirectHash: true,
      unprivilegedBpfDisabled: 2,
      jitEnabled: 1,
    },
    euid: 0,
    capEff: 0x1ffffffffffn,
    filesystems: ["sysfs", "proc", "cgroup", "cgroup2", "bpf", "ext4"],
    cgroup2Mounts: ["/sys/fs/cgroup"],
    bpffsMounts: ["/sys/fs/bpf"],
    btfVmlinux: true,
    iptables: { path: "/usr/sbin/iptables", version: "1.8.9", backend: "nf_tables" },
    nft: program("/usr/sbin/nft", "1.0.6"),
    captureChains: [],
    programs: {
      envoy: program(null),
      haproxy: program("/usr/sbin/haproxy", "2.6.12"),
      vpp: program(null),
      vppctl: program(null),
      clang: program("/usr/bin/clang", "14.0.6"),
      bpftool: program("/usr/sbin/bpftool", "7.1.0"),
      llc: program("/usr/bin/llc", "14.0.6"),
    },
    libbpf: "/usr/lib/x86_64-linux-gnu/libbpf.so.1",
    cpu: { count: 8, model: "Test CPU", governors: ["performance"], smtActive: false, isolated: null },
    clocksource: "tsc",
    virtualization: null,
    loadAverage: [0.1, 0.1, 0.1],
    memoryBytes: 16 * 2 ** 30,
    ...overrides,
  };
}
