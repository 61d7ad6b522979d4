import { join } from "node:path";
import type { SidecarModel } from "@meshctl/pod";
import type { LabScenario } from "./types.js";

/** Every name the lab creates on the machine starts with this, so leftovers can be found. */
export const LAB_PREFIX = "mcl-";

/** Port the app (echo server) listens on in every server pod. */
export const APP_PORT = 8080;

const SCENARIO_CODE: Record<LabScenario, string> = {
  direct: "d",
  sidecar: "s",
  "sidecar-ebpf": "e",
  "direct-grpc": "r",
  "sidecar-grpc": "t",
  "grpc-proxyless": "g",
  "sidecar-tstats": "n",
  "sidecar-tstats-wasm": "w",
};

/** Whether a scenario's pods run a sidecar proxy (istio-init capture and a sidecar each). */
export function isMeshed(scenario: LabScenario): boolean {
  return (
    scenario === "sidecar" ||
    scenario === "sidecar-ebpf" ||
    scenario === "sidecar-grpc" ||
    telemetryOf(scenario) !== undefined
  );
}

/** The tstats build a scenario's sidecars run (`native` module or `wasm` filter), if any. */
export function telemetryOf(scenario: LabScenario): "native" | "wasm" | undefined {
  if (scenario === "sidecar-tstats") return "native";
  if (scenario === "sidecar-tstats-wasm") return "wasm";
  return undefined;
}

/** Whether a scenario's app speaks gRPC (the grpc-js client and the gRPC echo server). */
export function isGrpc(scenario: LabScenario): boolean {
  return scenario === "direct-grpc" || scenario === "sidecar-grpc" || scenario === "grpc-proxyless";
}

/** One pod: a network namespace on the lab bridge, in its own cgroup. */
export interface LabPodPlan {
  readonly scenario: LabScenario;
  readonly role: "client" | "server";
  readonly netns: string;
  readonly ip: string;
  /** The veth end on the bridge, inside the node namespace. */
  readonly bridgePort: string;
  /** Absolute cgroup directory of the pod (eBPF sees it through its scenario's parent). */
  readonly cgroup: string;
  /** Child cgroups, so CPU is accounted per part: the app (echo server or load generator) and the sidecar. */
  readonly appCgroup: string;
  readonly sidecarCgroup: string;
  /** The pod's sidecar, when meshed. */
  readonly sidecar: SidecarModel | undefined;
  /** Protocol the app speaks. */
  readonly appProtocol: "http1" | "grpc";
}

/** Everything one lab run creates, derived from its id: names, addresses, paths. */
export interface LabPlan {
  readonly id: string;
  /** The namespace that holds the bridge; the host's namespace is never touched. */
  readonly nodeNetns: string;
  readonly bridge: string;
  /** /24 that exists only inside the lab's namespaces. */
  readonly subnet: string;
  readonly cgroupBase: string;
  /** Per-scenario cgroup (parent of its pods' cgroups): where eBPF attaches. */
  readonly scenarioCgroups: Readonly<Record<string, string>>;
  readonly bpffsPinDir: string;
  readonly workDir: string;
  readonly pods: readonly LabPodPlan[];
}

/**
 * Derives the lab's names and addresses from a run id. Pure: the same id always gives the same
 * plan, and everything is named `mcl-*` so `cleanupLabLeftovers()` can find it after a crash.
 *
 * @example
 * const plan = planLab({ id: "1a2b", scenarios: ["direct", "sidecar"], cgroupRoot: "/sys/fs/cgroup" });
 * plan.pods.map((p) => `${p.netns} ${p.ip}`);
 */
export function planLab(input: {
  readonly id: string;
  readonly scenarios: readonly LabScenario[];
  readonly cgroupRoot: string;
  readonly tmpDir?: string;
  readonly bpffs?: string;
  readonly sidecarMode?: "http" | "tcp";
  /** haproxy relays gRPC (HTTP/2) as opaque TCP: its gRPC scenario's sidecars run in `tcp` mode. */
  readonly sidecarKind?: "envoy" | "haproxy";
  readonly sidecarThreads?: number;
}): LabPlan {
  const { id } = input;
  if (!/^[0-9a-f]{4}$/.test(id)) throw new Error(`lab id must be 4 hex digits, got ${id}`);
  const octet = (Number.parseInt(id, 16) % 250) + 1;
  const subnet = `10.213.${octet}.0/24`;
  const cgroupBase = join(input.cgroupRoot, `${LAB_PREFIX}lab-${id}`);
  const scenarioCgroups: Record<string, string> = {};
  const pods: LabPodPlan[] = [];
  input.scenarios.forEach((scenario, index) => {
    const code = SCENARIO_CODE[scenario];
    const meshed = isMeshed(scenario);
    const scenarioCgroup = join(cgroupBase, scenario);
    scenarioCgroups[scenario] = scenarioCgroup;
    for (const [offset, role] of [
      [1, "client"],
      [2, "server"],
    ] as const) {
      const ip = `10.213.${octet}.${10 + index * 10 + offset}`;
      pods.push({
        scenario,
        role,
        netns: `${LAB_PREFIX}${id}-${scenario}-${role}`,
        ip,
        bridgePort: `mcl${id}${code}${role[0]}`,
        cgroup: join(scenarioCgroup, role),
        appCgroup: join(scenarioCgroup, role, "app"),
        sidecarCgroup: join(scenarioCgroup, role, "sidecar"),
        appProtocol: isGrpc(scenario) ? "grpc" : "http1",
        sidecar: meshed
          ? {
              pod: `${scenario}-${role}`,
              mode:
                isGrpc(scenario) && input.sidecarKind === "haproxy" ? "tcp" : (input.sidecarMode ?? "http"),
              outboundPort: 15001,
              inboundPort: 15006,
              healthPort: 15021,
              inbound:
                role === "server" ? [{ port: APP_PORT, protocol: isGrpc(scenario) ? "grpc" : "http" }] : [],
              threads: input.sidecarThreads ?? 2,
            }
          : undefined,
      });
    }
  });
  return {
    id,
    nodeNetns: `${LAB_PREFIX}${id}-node`,
    bridge: `mcl${id}br`,
    subnet,
    cgroupBase,
    scenarioCgroups,
    bpffsPinDir: join(input.bpffs ?? "/sys/fs/bpf", `${LAB_PREFIX}lab-${id}`),
    workDir: join(input.tmpDir ?? "/tmp", `${LAB_PREFIX}lab-${id}`),
    pods,
  };
}

/** The pod of a scenario and role. */
export function podOf(plan: LabPlan, scenario: LabScenario, role: "client" | "server"): LabPodPlan {
  const pod = plan.pods.find((p) => p.scenario === scenario && p.role === role);
  if (!pod) throw new Error(`no ${role} pod for ${scenario} in lab ${plan.id}`);
  return pod;
}

/** Where the control plane agent of a pod runs: its own cgroup, so it counts as neither app nor sidecar. */
export function xdsCgroupOf(pod: Pick<LabPodPlan, "cgroup">): string {
  return join(pod.cgroup, "xds");
}

/** The access log file of a meshed pod's Envoy sidecar. */
export function accessLogOf(
  plan: Pick<LabPlan, "workDir">,
  pod: Pick<LabPodPlan, "scenario" | "role">,
): string {
  return join(plan.workDir, "logs", `${pod.scenario}-${pod.role}.access.log`);
}
