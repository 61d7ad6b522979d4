/**
 * The real-kernel tests' pods, built with @meshctl/pod: each `pods()` call is a pod network (a node
 * namespace, the pods' "world", holding SVC_IP and routing to the pods on its bridge), meshed pods
 * get istio-init capture rules and an Envoy sidecar from a static bootstrap (Istio's 15001/15006
 * listeners, L4), and every process runs in a cgroup under one lab cgroup. Everything is named
 * mce-<id>* and removed by `lab.cleanup()`, which tests call in afterAll/finally.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { errorMessage, findProgram, runCommand } from "@meshctl/core";
import { isRequired } from "@meshctl/core/testing";
import {
  buildPodNetwork,
  createCgroup,
  destroyPodNetwork,
  ENVOY_ADMIN_PORT,
  findCgroup2Root,
  type PodNetwork,
  type PodSpec,
  podCommand,
  type RunningSidecar,
  removeCgroupTree,
  renderStaticSidecarBootstrap,
  routePodsViaNode,
  startEnvoySidecar,
} from "@meshctl/pod";
import { disableEbpfAcceleration, type EbpfCounters, getEbpfStatus } from "../src/index.js";

export const PEER = fileURLToPath(new URL("./fixtures/peer.mjs", import.meta.url));
/** A "service" address in the world: pods reach it through their default route. */
export const SVC_IP = "10.96.0.10";
export const SVC_PORT = 80;
/** The capture targets, Istio's ports. */
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
/** Envoy workers per sidecar: Istio's default. */
const ENVOY_THREADS = 2;
/** Every pod network is private to its node namespace, so all of them can use the same addresses. */
const SUBNET = "10.201.0.0/24";
const GATEWAY_IP = "10.201.0.1";

/** Why the real-kernel tests cannot run here, or undefined. */
export async function labPrerequisites(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not root";
  const cgroup2 = await findCgroup2Root().catch(() => undefined);
  if (!cgroup2) return "no cgroup2 mount";
  for (const tool of ["ip", "iptables-restore", "nsenter", "setpriv", "ss", "bpftool"]) {
    if (!(await findProgram(tool))) return `${tool} not installed`;
  }
  return undefined;
}

/**
 * Why the suites with an Envoy sidecar cannot run here, or undefined. Where MESHCTL_REQUIRE lists
 * envoy (CI) they run anyway, and a missing Envoy fails them instead of skipping them.
 */
export async function envoyPrerequisite(): Promise<string | undefined> {
  if ((await findProgram("envoy")) || isRequired("envoy")) return undefined;
  return "envoy not installed (the sidecar is Envoy)";
}

/** Where a process runs: a network namespace and a cgroup. */
export type Place = Pick<PodSpec, "netns" | "cgroup">;

export interface Pod extends PodSpec {
  readonly name: string;
  /** The node namespace of the pod's network ("the world" outside the pod), holding SVC_IP. */
  readonly world: Place;
}

export interface PodRequest {
  readonly name: string;
  /** Cgroup (from `lab.cgroup`) of the pod's processes; pods may share one. */
  readonly cgroup: string;
  /** istio-init capture rules to the sidecar's 15001/15006 (start the sidecar with `lab.sidecar`). */
  readonly meshed?: boolean;
}

export interface Proc {
  readonly child: ChildProcess;
  /** Next JSON line printed by the process (fails after timeoutMs). */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  send(line: string): void;
  wait(timeoutMs?: number): Promise<number | null>;
}

function wrapProc(child: ChildProcess): Proc {
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  const stderr: string[] = [];
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  if (child.stdout) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    next(timeoutMs = 30_000) {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(JSON.parse(line) as Record<string, unknown>);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no output within ${timeoutMs} ms; stderr: ${stderr.join("").slice(-500)}`)),
          timeoutMs,
        );
        const waiter = (l: string) => {
          clearTimeout(timer);
          resolve(JSON.parse(l) as Record<string, unknown>);
        };
        waiters.push(waiter);
        exited.then(() => {
          if (waiters.includes(waiter)) {
            clearTimeout(timer);
            reject(new Error(`process exited; stderr: ${stderr.join("").slice(-500)}`));
          }
        });
      });
    },
    send(line: string) {
      child.stdin?.write(`${line}\n`);
    },
    wait(timeoutMs = 60_000) {
      return Promise.race([
        exited,
        new Promise<number | null>((_, reject) =>
          setTimeout(() => reject(new Error("process did not exit")), timeoutMs),
        ),
      ]);
    },
  };
}

export class Lab {
  readonly id: string;
  private readonly workDir: string;
  private readonly procs: Proc[] = [];
  private readonly sidecars: RunningSidecar[] = [];
  private readonly networks: PodNetwork[] = [];
  /** `<cgroup2 root>/mce-<id>`: every cgroup of the lab lives below it. */
  private cgroupRoot: string | undefined;

  constructor(id: string) {
    this.id = id;
    this.workDir = `/tmp/mce-${id}`;
  }

  /** Creates `<cgroup2 root>/mce-<id>/<name>` (`name` may nest: "first/child") and returns its path. */
  async cgroup(name: string): Promise<string> {
    this.cgroupRoot ??= join(await findCgroup2Root(), `mce-${this.id}`);
    const path = join(this.cgroupRoot, name);
    await createCgroup(path);
    return path;
  }

  /** A directory under the lab's /tmp/mce-<id>, readable by the sidecar uid. */
  async tempDir(name: string): Promise<string> {
    const dir = join(this.workDir, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /**
   * A pod network of its own: a node namespace `mce-<id>-n<k>` (the pods' gateway, holding SVC_IP)
   * and the pods `mce-<id>-<name>` on its bridge, meshed ones with istio-init capture rules.
   */
  async pods(requests: readonly PodRequest[]): Promise<Pod[]> {
    const network: PodNetwork = {
      nodeNetns: `mce-${this.id}-n${this.networks.length}`,
      bridge: "br0",
      subnet: SUBNET,
      pods: requests.map((r, i) => ({
        netns: `mce-${this.id}-${r.name}`,
        ip: `10.201.0.${10 + i}`,
        bridgePort: `veth${i}`,
        cgroup: r.cgroup,
        sidecar: r.meshed ? { outboundPort: OUTBOUND_PORT, inboundPort: INBOUND_PORT } : undefined,
      })),
    };
    // Recorded before anything exists, so that cleanup also removes a half-built network.
    this.networks.push(network);
    const world = { netns: network.nodeNetns, cgroup: await this.cgroup("world") };
    await buildPodNetwork(network);
    await routePodsViaNode(network, { gatewayIp: GATEWAY_IP, nodeAddresses: [SVC_IP] });
    return network.pods.map((spec, i) => ({ ...spec, name: requests[i]!.name, world }));
  }

  /** One pod in a network of its own. */
  async pod(name: string, cgroup: string, options: { meshed?: boolean } = {}): Promise<Pod> {
    const [pod] = await this.pods([{ name, cgroup, ...options }]);
    return pod!;
  }

  /**
   * A meshed pod in the lab's "pod" cgroup: the upstream service (SVC_IP:SVC_PORT) in its world,
   * outside the cgroup; the app on "::" (IPv4 peers arrive as IPv4-mapped IPv6 sockets) and an
   * Envoy sidecar in the pod.
   */
  async sidecarPod(name: string, appPort: number): Promise<{ pod: Pod; cgroup: string }> {
    const cgroup = await this.cgroup("pod");
    const pod = await this.pod(name, cgroup, { meshed: true });
    await (await this.peer(pod.world, ["server", "--host", SVC_IP, "--port", String(SVC_PORT)])).next();
    await (await this.peer(pod, ["server", "--host", "::", "--port", String(appPort)])).next();
    await this.sidecar(pod, [appPort]);
    return { pod, cgroup };
  }

  /**
   * Envoy as the pod's sidecar, as uid 1337 from the start as Istio runs it (runAsUser 1337): its
   * listeners, and so the sockets it accepts, are owned by that uid, which the sidecar-uid filter
   * reads. 15001 forwards to the original destination, 15006 to 127.0.0.1:<app port> from 127.0.0.6.
   */
  async sidecar(pod: Pod, appPorts: readonly number[]): Promise<RunningSidecar> {
    const sidecar = await startEnvoySidecar(pod, {
      name: pod.name,
      workDir: await this.tempDir("sidecars"),
      bootstrap: renderStaticSidecarBootstrap({ appPorts, nodeId: pod.netns }),
      threads: ENVOY_THREADS,
      ports: [ENVOY_ADMIN_PORT, OUTBOUND_PORT, INBOUND_PORT],
    });
    this.sidecars.push(sidecar);
    return sidecar;
  }

  /** Starts `argv` in a place (a pod, or a pod's world) with piped stdio. */
  spawnIn(where: Place, argv: readonly string[]): Proc {
    const { command, args } = podCommand(where, argv);
    const proc = wrapProc(spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] }));
    this.procs.push(proc);
    return proc;
  }

  /** Starts the test peer (fixtures/peer.mjs) in a place. */
  async peer(where: Place, args: readonly string[]): Promise<Proc> {
    return this.spawnIn(where, [process.execPath, PEER, ...args]);
  }

  /**
   * Removes everything the lab made, each step even when an earlier one failed: processes, pod
   * networks (whatever still runs in them is killed), the lab cgroup tree, the work directory.
   * Throws afterwards when a step failed.
   */
  async cleanup(): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    for (const proc of this.procs) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
    }
    for (const sidecar of this.sidecars) sidecar.program.kill("SIGKILL");
    await Promise.all(this.procs.map((p) => p.wait(5_000).catch(() => undefined)));
    for (const network of [...this.networks].reverse()) await attempt(() => destroyPodNetwork(network));
    if (this.cgroupRoot) {
      const root = this.cgroupRoot;
      await attempt(() => removeCgroupTree(root));
    }
    await attempt(() => rm(this.workDir, { recursive: true, force: true }));
    if (failures.length > 0) {
      throw new AggregateError(failures, `lab ${this.id} cleanup: ${failures.map(errorMessage).join("; ")}`);
    }
  }
}

/** Compiles scripts/fallback-rr.c (the request/response peer of the fallback tests) into the lab's temp dir. */
export async function compileFallbackPeer(lab: Lab): Promise<string> {
  const cc = (await findProgram("cc")) ?? (await findProgram("clang"));
  if (!cc) throw new Error("no C compiler (cc or clang) for scripts/fallback-rr.c");
  const binary = join(await lab.tempDir("fallback-rr"), "fallback-rr");
  const source = fileURLToPath(new URL("../scripts/fallback-rr.c", import.meta.url));
  await runCommand(cc, ["-O2", "-Wall", "-pthread", "-o", binary, source]);
  return binary;
}

/** Runs a verifying client to completion and returns its JSON summary. */
export async function runClient(
  lab: Lab,
  where: Place,
  args: readonly string[],
): Promise<Record<string, unknown>> {
  const proc = await lab.peer(where, ["client", ...args]);
  const result = await proc.next(120_000);
  await proc.wait(10_000);
  return result;
}

/** The counters of the programs pinned under pinDir (throws when they are not loaded). */
export async function counters(pinDir: string): Promise<EbpfCounters> {
  const status = await getEbpfStatus({ pinDir });
  if (!status.counters) throw new Error(`no counters under ${pinDir}`);
  return status.counters;
}

/** Polls check every 100 ms until it holds or timeoutMs passes; returns its last answer. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** afterAll of every real-kernel suite: disable (idempotent), then remove the lab, even if disable fails. */
export async function teardown(lab: Lab, pinDir: string): Promise<void> {
  try {
    await disableEbpfAcceleration({ pinDir, force: true, drainTimeoutMs: 0 });
  } finally {
    await lab.cleanup();
  }
}
