import type { VppConfigIssue } from "./engine.js";
import { renderStartupConf, type StartupConf, validateStartupConf } from "./startup-conf.js";
import { renderVclConf, type VclConf, validateVclConf } from "./vcl-conf.js";

export interface SidecarProfileOptions {
  /** Envoy's `--concurrency` (worker threads); each becomes a VCL worker. Default 2. */
  readonly envoyConcurrency?: number;
  /** VPP's runtime directory (sockets live here). Default /run/vpp. */
  readonly runtimeDir?: string;
  /** Core for VPP's main thread. Default: not pinned. */
  readonly mainCore?: number;
  /** Cores for VPP workers, e.g. "2-3". Default: none (main thread only). */
  readonly workerCores?: string;
  /** PCI addresses of NICs VPP should drive with DPDK. Default: none (DPDK plugin disabled). */
  readonly nics?: readonly string[];
  /** App namespace the sidecars attach to. Default "default". */
  readonly appNamespace?: string;
  /** Per-session rx and tx fifo size in bytes. Default 400000 (Envoy's documented value). */
  readonly fifoSize?: number;
  /** Where libvcl_ldpreload.so is inside the sidecar. */
  readonly ldpreloadPath?: string;
  /** Where vcl.conf is inside the sidecar. Default /etc/vpp/vcl.conf. */
  readonly vclConfigPath?: string;
  /** Highest number of kernel fds the proxy may hold; sets LDP_SID_BIT. Default 16384. */
  readonly maxKernelFds?: number;
  /** LDP_APP_NAME (VPP shows `<name>-ldp-<pid>`). Default "envoy". */
  readonly appName?: string;
  /** Group that may use VPP's sockets. Default "vpp". */
  readonly group?: string;
}

/** One generated setting and the reason for it (rendered into docs and `meshctl vpp config`). */
export interface ProfileExplanation {
  readonly file: "startup.conf" | "vcl.conf" | "env" | "envoy";
  readonly setting: string;
  readonly why: string;
}

export interface EnvoyVclBootstrap {
  readonly bootstrap_extensions: readonly [
    {
      readonly name: "envoy.extensions.vcl.vcl_socket_interface";
      readonly typed_config: { readonly "@type": string };
    },
  ];
  readonly default_socket_interface: "envoy.extensions.vcl.vcl_socket_interface";
}

export interface SidecarProfile {
  readonly startupConf: StartupConf;
  readonly vclConf: VclConf;
  /** Ready-to-write file contents. */
  readonly files: { readonly "startup.conf": string; readonly "vcl.conf": string };
  /** Environment for the LD_PRELOAD wiring. */
  readonly ldPreloadEnv: Readonly<Record<string, string>>;
  /** Bootstrap fragment for Envoy's native VCL socket interface (contrib images only). */
  readonly envoyBootstrap: EnvoyVclBootstrap;
  readonly explanations: readonly ProfileExplanation[];
  /** Validation of the generated files (warnings only for a valid profile). */
  readonly issues: readonly VppConfigIssue[];
}

export const DEFAULT_LDPRELOAD_PATH = "/usr/lib/x86_64-linux-gnu/libvcl_ldpreload.so";

/**
 * LDP_SID_BIT for a process that may hold `maxKernelFds` kernel fds: VCL handles start at
 * `1 << bit`, and a kernel fd at or above that line would be mistaken for a VCL session.
 *
 * @example
 * ldpSidBitFor(16384); // 14
 */
export function ldpSidBitFor(maxKernelFds: number): number {
  const bit = Math.ceil(Math.log2(Math.max(2, maxKernelFds)));
  return Math.min(30, Math.max(5, bit));
}

/**
 * Renders the startup.conf + vcl.conf pair, the LD_PRELOAD environment and the Envoy bootstrap
 * fragment for putting Envoy sidecars on VPP's host stack, with the reason for every choice.
 *
 * @example
 * const profile = renderSidecarProfile({ envoyConcurrency: 4 });
 * await writeFile("startup.conf", profile.files["startup.conf"]);
 */
export function renderSidecarProfile(options: SidecarProfileOptions = {}): SidecarProfile {
  const concurrency = options.envoyConcurrency ?? 2;
  const runtimeDir = (options.runtimeDir ?? "/run/vpp").replace(/\/+$/, "");
  const ns = options.appNamespace ?? "default";
  const fifo = options.fifoSize ?? 400_000;
  const group = options.group ?? "vpp";
  const nics = options.nics ?? [];
  const sidBit = ldpSidBitFor(options.maxKernelFds ?? 16_384);
  const explanations: ProfileExplanation[] = [];
  const why = (file: ProfileExplanation["file"], setting: string, text: string) =>
    explanations.push({ file, setting, why: text });

  const startupConf: StartupConf = {
    unix: {
      nodaemon: true,
      cliListen: `${runtimeDir}/cli.sock`,
      log: "/var/log/vpp/vpp.log",
      gid: group,
      fullCoredump: true,
    },
    socksvr: { socketName: `${runtimeDir}/api.sock` },
    memory: { mainHeapSize: "1G" },
    ...(options.mainCore !== undefined || options.workerCores !== undefined
      ? {
          cpu: {
            ...(options.mainCore !== undefined ? { mainCore: options.mainCore } : {}),
            ...(options.workerCores !== undefined ? { corelistWorkers: options.workerCores } : {}),
          },
        }
      : {}),
    buffers: { buffersPerNuma: 16_384 },
    session: { enable: true, useAppSocketApi: true, eventQueueLength: 100_000 },
    tcp: { ccAlgo: "cubic" },
    ...(nics.length
      ? { dpdk: { dev: Object.fromEntries(nics.map((pci) => [pci, { numRxQueues: 1 }])) } }
      : { plugins: { plugin: { "dpdk_plugin.so": { disable: true } } } }),
  };
  why(
    "startup.conf",
    "unix { cli-listen, gid }",
    `meshctl vpp status/cli and vppctl talk to ${runtimeDir}/cli.sock; members of group ${group} may use it without root.`,
  );
  why(
    "startup.conf",
    "socksvr { socket-name }",
    `the binary API socket meshctl's API client uses (${runtimeDir}/api.sock).`,
  );
  why(
    "startup.conf",
    "session { enable }",
    "turns the host stack on at startup, so sidecars can attach without a manual `session enable`.",
  );
  why(
    "startup.conf",
    "session { use-app-socket-api }",
    `sidecars attach through ${runtimeDir}/app_ns_sockets/${ns} (a unix socket, no shared binary-API segment). Required on VPP <= 24.10, a harmless no-op from 26.02 where it is the default.`,
  );
  why(
    "startup.conf",
    "session { event-queue-length 100000 }",
    "VPP's worker message queues carry every session event for every sidecar; Envoy's and VPP's own Envoy tests size them at 100000 (VPP ignores values below 2048). The alias is used because older releases only know this name.",
  );
  why(
    "startup.conf",
    "buffers { buffers-per-numa 16384 }",
    "Envoy's VCL guide value; enough packet buffers for many concurrent sessions without hugepages.",
  );
  why(
    "startup.conf",
    "cpu",
    options.workerCores !== undefined
      ? `main thread${options.mainCore !== undefined ? ` on core ${options.mainCore}` : ""}, workers on ${options.workerCores}: VPP polls these cores at 100%, keep them away from the sidecars.`
      : "no pinning and no workers: VPP's main thread still polls one core at ~100%. Give it dedicated cores (--main-core/--worker-cores) on real nodes; see `meshctl diagnose` for when VPP helps.",
  );
  why(
    "startup.conf",
    nics.length ? "dpdk { dev ... }" : "plugins { plugin dpdk_plugin.so { disable } }",
    nics.length
      ? "VPP drives these NICs itself; this is where VPP's host stack pays off (no kernel on the data path)."
      : "no NIC is handed to VPP, so DPDK stays off and VPP starts without hugepages or bound devices.",
  );

  const vclConf: VclConf = {
    rxFifoSize: fifo,
    txFifoSize: fifo,
    segmentSize: 1_000_000_000,
    addSegmentSize: 1_000_000_000,
    eventQueueSize: 40_000,
    appScopeLocal: true,
    appScopeGlobal: true,
    useMqEventfd: true,
    multiThreadWorkers: true,
    appSocketApi: `${runtimeDir}/app_ns_sockets/${ns}`,
    ...(concurrency + 2 > 16 ? { maxWorkers: concurrency + 2 } : {}),
  };
  why("vcl.conf", "app-socket-api", `attach through the app namespace socket of namespace \`${ns}\`.`);
  why(
    "vcl.conf",
    "use-mq-eventfd",
    "VPP signals an eventfd when a worker's queue becomes non-empty, so an idle sidecar blocks in epoll_wait instead of spinning at 100% CPU. Envoy's VCL socket interface requires it.",
  );
  why(
    "vcl.conf",
    "multi-thread-workers",
    `each of Envoy's ${concurrency} worker threads registers as its own VCL worker; without it all threads share sessions under one lock.`,
  );
  why(
    "vcl.conf",
    `rx-fifo-size/tx-fifo-size ${fifo}`,
    "per-session fifos; Envoy's documented load-test value. Plain integers: VCL reads `4m` as 4.",
  );
  why(
    "vcl.conf",
    "segment-size/add-segment-size 1000000000",
    "room for the fifos of many sessions in the shared-memory segment before VPP must add another.",
  );
  why(
    "vcl.conf",
    "event-queue-size 40000",
    "the VCL worker's inbound queue, sized like Envoy's guide for bursts of connection events.",
  );
  why(
    "vcl.conf",
    "app-scope-local + app-scope-global",
    "local scope lets two VCL apps on the node use cut-through shared memory; global scope lets sessions use VPP's routing table.",
  );
  if (concurrency + 2 > 16)
    why(
      "vcl.conf",
      "max-workers",
      `Envoy's main thread and ${concurrency} workers exceed VCL's default of 16 workers.`,
    );

  const ldPreloadEnv = {
    LD_PRELOAD: options.ldpreloadPath ?? DEFAULT_LDPRELOAD_PATH,
    VCL_CONFIG: options.vclConfigPath ?? "/etc/vpp/vcl.conf",
    LDP_SID_BIT: String(sidBit),
    LDP_APP_NAME: options.appName ?? "envoy",
  };
  why(
    "env",
    "LD_PRELOAD",
    "libvcl_ldpreload.so takes over socket(), epoll and friends; every AF_INET/AF_INET6 TCP/UDP socket becomes a VCL session.",
  );
  why(
    "env",
    "VCL_CONFIG",
    "the vcl.conf above; without it VCL reads /etc/vpp/vcl.conf or runs with defaults.",
  );
  why(
    "env",
    `LDP_SID_BIT=${sidBit}`,
    `VCL handles are returned as fds from ${2 ** sidBit}; Envoy may hold up to ${options.maxKernelFds ?? 16_384} kernel fds (files, eventfds, unix sockets) and any kernel fd above that line would be mistaken for a VCL session. select() only works with bit <= 9; Envoy uses epoll.`,
  );
  why("env", "LDP_APP_NAME", "names the app in `show app` as <name>-ldp-<pid>.");

  const envoyBootstrap: EnvoyVclBootstrap = {
    bootstrap_extensions: [
      {
        name: "envoy.extensions.vcl.vcl_socket_interface",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.vcl.v3alpha.VclSocketInterface" },
      },
    ],
    default_socket_interface: "envoy.extensions.vcl.vcl_socket_interface",
  };
  why(
    "envoy",
    "default_socket_interface",
    "Envoy's native integration (contrib images only, not in Istio's proxy): one VCL worker per Envoy worker, woken through the mq eventfd. VCL_CONFIG is still read from the environment.",
  );

  const header = "Generated by meshctl (profile: sidecar). See docs/vpp.md for every choice.";
  const files = {
    "startup.conf": renderStartupConf(startupConf, { header }),
    "vcl.conf": renderVclConf(vclConf, { header }),
  };
  const issues = [...validateStartupConf(startupConf), ...validateVclConf(vclConf)];
  return { startupConf, vclConf, files, ldPreloadEnv, envoyBootstrap, explanations, issues };
}
