import { DEFAULT_API_SOCKET, DEFAULT_CLI_SOCKET } from "@meshctl/vpp";
import { Flags } from "@oclif/core";

/** Socket flags shared by `meshctl vpp status|cli`. */
export const vppSocketFlags = {
  "cli-socket": Flags.string({
    description: "VPP CLI socket (startup.conf `unix { cli-listen }`).",
    default: DEFAULT_CLI_SOCKET,
    env: "MESHCTL_VPP_CLI_SOCKET",
    helpValue: "PATH",
  }),
  "api-socket": Flags.string({
    description: "VPP binary-API socket (startup.conf `socksvr { socket-name }`).",
    default: DEFAULT_API_SOCKET,
    env: "MESHCTL_VPP_API_SOCKET",
    helpValue: "PATH",
  }),
  timeout: Flags.integer({
    description: "Timeout per VPP request, in milliseconds (1 to 600000).",
    default: 5000,
    min: 1,
    // Node timers overflow at 2^31-1 ms and would then fire at once; no VPP request takes 10 min.
    max: 600_000,
  }),
};

/** Profile flags shared by `meshctl vpp config` and `meshctl enable vpp`. */
export const vppProfileFlags = {
  "envoy-concurrency": Flags.integer({
    description: "Envoy worker threads (--concurrency); each becomes a VCL worker.",
    default: 2,
    min: 1,
  }),
  "main-core": Flags.integer({ description: "Pin VPP's main thread to this core.", min: 0 }),
  "worker-cores": Flags.string({ description: "Cores for VPP worker threads, e.g. 2-3.", helpValue: "LIST" }),
  nic: Flags.string({
    description: "PCI address of a NIC VPP drives with DPDK (repeatable).",
    multiple: true,
    helpValue: "PCI",
  }),
  "runtime-dir": Flags.string({
    description: "VPP runtime directory (sockets).",
    default: "/run/vpp",
    helpValue: "DIR",
  }),
  "app-namespace": Flags.string({
    description: "VPP app namespace the sidecars attach to.",
    default: "default",
  }),
  "fifo-size": Flags.integer({
    description: "Per-session rx/tx fifo size in bytes.",
    default: 400_000,
    min: 4096,
  }),
  "max-kernel-fds": Flags.integer({
    description: "Kernel fds the proxy may hold (sets LDP_SID_BIT).",
    default: 16_384,
    min: 2,
  }),
};

/** Turns parsed profile flags into the library's options. */
export function profileOptionsFromFlags(flags: {
  "envoy-concurrency": number;
  "main-core"?: number | undefined;
  "worker-cores"?: string | undefined;
  nic?: string[] | undefined;
  "runtime-dir": string;
  "app-namespace": string;
  "fifo-size": number;
  "max-kernel-fds": number;
}) {
  return {
    envoyConcurrency: flags["envoy-concurrency"],
    ...(flags["main-core"] !== undefined ? { mainCore: flags["main-core"] } : {}),
    ...(flags["worker-cores"] !== undefined ? { workerCores: flags["worker-cores"] } : {}),
    nics: flags.nic ?? [],
    runtimeDir: flags["runtime-dir"],
    appNamespace: flags["app-namespace"],
    fifoSize: flags["fifo-size"],
    maxKernelFds: flags["max-kernel-fds"],
  };
}
