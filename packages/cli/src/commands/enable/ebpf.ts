import { MeshctlError } from "@meshctl/core";
import {
  DEFAULT_BULK_TTL_SECONDS,
  DEFAULT_MAX_STREAM_BYTES,
  DEFAULT_PIN_DIR,
  type EnableEbpfResult,
  enableEbpfAcceleration,
} from "@meshctl/ebpf";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

export const pinDirFlag = Flags.string({
  description:
    "bpffs directory holding meshctl's pinned programs and maps: a directory of its own below a bpffs mount (`..` and symlinks are resolved first).",
  default: DEFAULT_PIN_DIR,
  env: "MESHCTL_EBPF_PIN_DIR",
  helpValue: "DIR",
});

/** Parses "15001,15006" into ports; the library validates the range. */
export function parsePortList(text: string | undefined, flag = "--ports"): number[] | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  return text.split(",").map((part) => {
    const port = Number(part.trim());
    if (!Number.isInteger(port)) {
      throw new MeshctlError("EBPF_INVALID_OPTIONS", `${flag}: "${part}" is not a port number.`, {
        kind: "usage",
        suggestions: ["Pass a comma-separated list, e.g. --ports 15001,15006,8080."],
      });
    }
    return port;
  });
}

export default class EnableEbpf extends MeshctlCommand<EnableEbpfResult> {
  static override summary = "Accelerate app <-> sidecar traffic on this node with sockops + sk_msg";
  static override description =
    `Loads meshctl's sockops and sk_msg programs, pins them under --pin-dir and attaches them to a
cgroup v2 directory: by default the cgroup v2 root (every pod on the node), or --cgroup for one pod.
Established TCP connections between two sockets of that cgroup in the same network namespace
(app -> sidecar after the iptables REDIRECT to 15001, sidecar -> app, any 127.0.0.1 pair) then
skip the TCP/IP stack. Idempotent: a second run asks the kernel what is attached and makes what is
missing (e.g. after a crash mid-enable). Refuses to attach beside another sock_ops program.
Needs root and Linux >= 5.15. Design and limits: docs/ebpf.md.`;
  static override examples = [
    "sudo <%= config.bin %> enable ebpf",
    "sudo <%= config.bin %> enable ebpf --cgroup /sys/fs/cgroup/kubepods.slice/kubepods-pod1234.slice",
    "sudo <%= config.bin %> enable ebpf --ports 15001,15006,8080 --json",
    "sudo <%= config.bin %> enable ebpf --bulk-ttl 0   # no learned bulk services",
    "sudo <%= config.bin %> enable ebpf --sidecar-uid 1337   # app <-> sidecar only, never app <-> app",
  ];
  static override flags = {
    cgroup: Flags.string({
      description: "cgroup v2 directory to attach to (default: the cgroup v2 root).",
      env: "MESHCTL_EBPF_CGROUP",
      helpValue: "PATH",
    }),
    "pin-dir": pinDirFlag,
    ports: Flags.string({
      description: "Only redirect connections with one of these ports on either end (max 16).",
      helpValue: "P1,P2",
    }),
    "exclude-ports": Flags.string({
      description:
        "Never accelerate connections with one of these ports (max 16), e.g. bulk services: zero sk_msg cost for them.",
      helpValue: "P1,P2",
    }),
    "max-message-bytes": Flags.integer({
      description: "A direction writing a larger single message goes to plain TCP for good (0 = no limit).",
      default: 0,
      min: 0,
    }),
    "max-stream-bytes": Flags.integer({
      description:
        "A direction sending more than this without a reply (a bulk stream) goes to plain TCP for good (0 = no limit).",
      default: DEFAULT_MAX_STREAM_BYTES,
      min: 0,
    }),
    "bulk-ttl": Flags.integer({
      description:
        "Seconds a service whose connection streamed past --max-stream-bytes keeps its new connections on plain TCP (0 = learning off).",
      default: DEFAULT_BULK_TTL_SECONDS,
      min: 0,
      max: 0xffffffff,
      env: "MESHCTL_EBPF_BULK_TTL",
      helpValue: "SECONDS",
    }),
    "sidecar-uid": Flags.integer({
      description:
        "Only accelerate connections with one end owned by this uid (the sidecar's; Istio: 1337). Default: every connection in the cgroup.",
      min: 0,
      max: 0xfffffffe,
      env: "MESHCTL_EBPF_SIDECAR_UID",
      helpValue: "UID",
    }),
  };

  protected async execute(): Promise<EnableEbpfResult> {
    const { flags } = await this.parse(EnableEbpf);
    const ports = parsePortList(flags.ports);
    const excludePorts = parsePortList(flags["exclude-ports"], "--exclude-ports");
    return enableEbpfAcceleration({
      pinDir: flags["pin-dir"],
      maxMessageBytes: flags["max-message-bytes"],
      maxStreamBytes: flags["max-stream-bytes"],
      bulkTtlSeconds: flags["bulk-ttl"],
      ...(flags.cgroup ? { cgroupPath: flags.cgroup } : {}),
      ...(ports ? { ports } : {}),
      ...(excludePorts ? { excludePorts } : {}),
      ...(flags["sidecar-uid"] !== undefined ? { sidecarUid: flags["sidecar-uid"] } : {}),
    });
  }

  protected renderText(r: EnableEbpfResult): string {
    const policy = [
      r.config.ports.length ? `ports ${r.config.ports.join(",")}` : "all ports",
      r.config.excludePorts.length ? `never ports ${r.config.excludePorts.join(",")}` : "",
      r.config.maxStreamBytes ? `streams over ${r.config.maxStreamBytes} B go to TCP` : "no stream limit",
      r.config.maxMessageBytes ? `messages over ${r.config.maxMessageBytes} B go to TCP` : "",
      r.config.bulkTtlSeconds && r.config.maxStreamBytes
        ? `services that stream stay on TCP for ${r.config.bulkTtlSeconds} s`
        : "no learned bulk services",
      r.config.sidecarUid !== null ? `only connections with a socket of uid ${r.config.sidecarUid}` : "",
    ].filter(Boolean);
    return [
      r.changed
        ? `eBPF acceleration enabled on ${r.cgroupPath}.`
        : `eBPF acceleration was already enabled on ${r.cgroupPath}; nothing changed.`,
      `  programs  ${r.programs.sockops.name} (id ${r.programs.sockops.id}), ${r.programs.skMsg.name} (id ${r.programs.skMsg.id})`,
      `  pins      ${r.pinDir}`,
      `  policy    ${policy.join("; ")}`,
      ...(r.repaired.length ? [`  repaired  ${r.repaired.join(", ")} (missing in the kernel)`] : []),
      "Connections opened from now on are accelerated; existing ones stay on TCP. See `meshctl ebpf status`.",
    ].join("\n");
  }
}
