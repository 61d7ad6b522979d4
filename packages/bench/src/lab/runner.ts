import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, release } from "node:os";
import { dirname, join } from "node:path";
import {
  createTracer,
  errorMessage,
  findProgram,
  isMeshctlError,
  MeshctlError,
  runCommand,
  type SpawnedProgram,
} from "@meshctl/core";
import { createCgroup, findCgroup2Root, removeCgroupTree } from "./cgroup.js";
import { type EbpfAcceleration, loadEbpfIntegration } from "./ebpf-integration.js";
import { buildLabNetwork, deleteNetns, destroyLabNetwork, listNetns } from "./netns.js";
import { resolveLabOptions } from "./options.js";
import { APP_PORT, LAB_PREFIX, type LabPlan, type LabPodPlan, planLab, podOf, SIDECAR_UID } from "./plan.js";
import { benchPackageDir, spawnInPod, waitForListening } from "./pod-process.js";
import { compareScenarios, interleaveRounds, type LabSlot, summarizeRounds } from "./rounds.js";
import {
  ENVOY_SHM_DIR,
  LAB_MESH_NAMESPACE,
  LAB_XDS_PORT,
  labIdOfEnvoyShm,
  labServiceObjects,
  labSidecarMeshObjects,
  type RunningSidecar,
  selectSidecarKind,
  startEnvoySidecar,
  startHaproxySidecar,
} from "./sidecar.js";
import type {
  LabEbpfCounters,
  LabEnvironment,
  LabLiveFigures,
  LabMeasurement,
  LabOptions,
  LabPercentiles,
  LabProgressEvent,
  LabResult,
  LabScenario,
  ResolvedLabOptions,
  SidecarKind,
} from "./types.js";

const trace = createTracer("bench");

/** Script run inside pods (echo servers, load generation); built next to the library in dist/. */
export const LAB_AGENT_SCRIPT = "lab-agent.js";

const PROGRAMS = ["ip", "iptables-restore", "nsenter", "setpriv", "ss"] as const;

/** The proxyless scenario's mesh: Service `echo` in namespace `mcl-lab`, control plane port. */
const GRPC_SERVICE = "echo";
const MESH_NAMESPACE = LAB_MESH_NAMESPACE;
const XDS_PORT = LAB_XDS_PORT;

/** Why proxyless gRPC cannot run here, or undefined. The pod agent loads @meshctl/xds's build. */
function xdsUnavailableReason(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve("@meshctl/xds/package.json");
    if (!existsSync(join(dirname(pkg), "dist", "index.js")))
      return "@meshctl/xds is not built (its dist/ is missing)";
  } catch {
    return "@meshctl/xds is not installed";
  }
  return undefined;
}

/** Raised when the run was cancelled (Ctrl-C); everything was torn down before it is thrown. */
function abortedError(): MeshctlError {
  return new MeshctlError("LAB_ABORTED", "The lab run was interrupted; everything it created was removed.", {
    kind: "usage",
  });
}

/**
 * Throws LAB_REQUIRES_ROOT unless this process is root. Both building a lab and removing one need
 * it: unprivileged, `ip netns delete` and cgroup `rmdir` fail, and a cleanup that went on would
 * only collect failures.
 */
function requireLabRoot(message: string, suggestions: readonly string[]): void {
  if (typeof process.getuid !== "function" || process.getuid() === 0) return;
  throw new MeshctlError("LAB_REQUIRES_ROOT", message, {
    kind: "environment",
    suggestions,
    details: { uid: process.getuid() },
  });
}

/**
 * Checks what the lab needs before it touches anything: root, the programs it drives, a cgroup v2
 * mount, a sidecar proxy and the built pod agent.
 *
 * @example
 * await checkLabPrerequisites({ sidecar: "auto" });
 */
export async function checkLabPrerequisites(
  options: Pick<ResolvedLabOptions, "sidecar" | "scenarios">,
): Promise<{
  cgroupRoot: string;
  agentPath: string;
  sidecar: "haproxy" | "envoy" | "none";
}> {
  requireLabRoot(
    "The mesh lab needs root: it creates network namespaces, veth pairs and a bridge, installs iptables capture rules inside them, creates cgroups and attaches eBPF programs.",
    [
      "Run it with sudo: `sudo meshctl bench`.",
      "Or measure an existing target without root: `meshctl bench run http://host:port/`.",
    ],
  );
  const missing: string[] = [];
  for (const program of PROGRAMS) if (!(await findProgram(program))) missing.push(program);
  const meshed = options.scenarios.some((s) => s === "sidecar" || s === "sidecar-ebpf");
  let sidecar: "haproxy" | "envoy" | "none" = "none";
  if (meshed) {
    const found = {
      envoy: options.sidecar !== "haproxy" ? await findProgram("envoy") : undefined,
      haproxy: options.sidecar !== "envoy" ? await findProgram("haproxy") : undefined,
    };
    let choice = selectSidecarKind(options.sidecar, found);
    const xdsReason = choice.kind === "envoy" ? xdsUnavailableReason() : undefined;
    if (xdsReason && options.sidecar === "envoy") {
      throw new MeshctlError(
        "LAB_SIDECAR_UNSUPPORTED",
        `The Envoy sidecar needs meshctl's xDS control plane, which cannot run here: ${xdsReason}.`,
        {
          kind: "environment",
          suggestions: ["Build it: `npx nx run @meshctl/xds:build`.", "Or use `--sidecar haproxy`."],
        },
      );
    }
    if (xdsReason) {
      // auto: an Envoy without its control plane is useless; haproxy needs none.
      trace(`envoy found on PATH but ${xdsReason}; using haproxy`);
      choice = selectSidecarKind("haproxy", { ...found, haproxy: await findProgram("haproxy") });
    }
    if (choice.missing) missing.push(choice.missing);
    else sidecar = choice.kind;
  }
  if (missing.length > 0) {
    throw new MeshctlError("LAB_MISSING_PROGRAM", `The mesh lab needs ${missing.join(", ")} on PATH.`, {
      kind: "environment",
      suggestions: [
        "On Debian/Ubuntu: `apt-get install -y iproute2 iptables util-linux haproxy`.",
        ...(missing.includes("envoy") ? ["Put an `envoy` binary on PATH, or use `--sidecar haproxy`."] : []),
      ],
      details: { missing },
    });
  }
  const cgroupRoot = await findCgroup2Root();
  const agentPath = join(benchPackageDir(), "dist", LAB_AGENT_SCRIPT);
  if (!existsSync(agentPath)) {
    throw new MeshctlError(
      "LAB_AGENT_MISSING",
      `The lab's pod agent ${agentPath} is missing: @meshctl/bench is not built.`,
      {
        kind: "environment",
        suggestions: ["Build it: `npx nx run @meshctl/bench:build` (or `npm run build`)."],
      },
    );
  }
  return { cgroupRoot, agentPath, sidecar };
}

interface LoadSummaryLike {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

interface LoadResultLike {
  readonly protocol: string;
  readonly requests: number;
  readonly achievedQps: number;
  readonly fellBehind: boolean;
  readonly errors: Record<string, number>;
  readonly corrected: LoadSummaryLike;
  readonly uncorrected: LoadSummaryLike;
}

function percentilesOf(s: LoadSummaryLike): LabPercentiles {
  return { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max };
}

/** Turns the engine's result into one lab measurement. */
export function measurementFromLoadResult(slot: LabSlot, result: LoadResultLike): LabMeasurement {
  return {
    scenario: slot.scenario,
    round: slot.round,
    protocol: result.protocol,
    requests: result.requests,
    errors: Object.values(result.errors).reduce((a, b) => a + b, 0),
    achievedQps: result.achievedQps,
    rateReached: !result.fellBehind,
    latencyUs: percentilesOf(result.corrected),
    uncorrectedLatencyUs: percentilesOf(result.uncorrected),
    raw: result,
  };
}

/**
 * One lab on this machine: its plan, the processes and kernel objects it created, and an
 * idempotent teardown. `runLab` is the usual entry; sessions are exposed for tests and tools that
 * want to keep a lab up between measurements.
 */
export class LabSession {
  readonly plan: LabPlan;
  readonly options: ResolvedLabOptions;
  private readonly agentPath: string;
  /** The proxy the meshed pods run (haproxy or Envoy), decided by the preflight. */
  readonly sidecarKind: SidecarKind;
  private readonly emit: (event: LabProgressEvent) => void;
  private readonly processes: SpawnedProgram[] = [];
  private readonly sidecars: RunningSidecar[] = [];
  private acceleration: EbpfAcceleration | undefined;
  private teardownPromise: Promise<string[]> | undefined;
  private current: SpawnedProgram | undefined;
  readonly skipped: { scenario: LabScenario; reason: string }[] = [];
  readonly warnings: string[] = [];
  private ebpfDescription = "not used";
  /** CPU lists for `taskset`: the generator's, and everything else's. */
  private readonly cpuSets: { generator?: string; pods?: string } = {};

  private constructor(
    plan: LabPlan,
    options: ResolvedLabOptions,
    agentPath: string,
    emit: (e: LabProgressEvent) => void,
    sidecarKind: SidecarKind,
  ) {
    this.plan = plan;
    this.options = options;
    this.agentPath = agentPath;
    this.sidecarKind = sidecarKind;
    this.emit = emit;
    const n = cpus().length;
    if (options.pinCpus && n >= 2) {
      this.cpuSets.generator = String(n - 1);
      this.cpuSets.pods = n === 2 ? "0" : `0-${n - 2}`;
    }
  }

  /** Scenarios that will be measured (requested minus skipped). */
  get scenarios(): LabScenario[] {
    return this.options.scenarios.filter((s) => !this.skipped.some((k) => k.scenario === s));
  }

  /**
   * Checks prerequisites and builds the lab: namespaces, bridge, capture rules, cgroups, echo
   * servers, sidecars and eBPF acceleration. On failure everything built so far is removed.
   *
   * @example
   * const lab = await LabSession.start({ scenarios: ["direct", "sidecar"] });
   * try { await lab.measure(); } finally { await lab.teardown(); }
   */
  static async start(input: LabOptions = {}): Promise<LabSession> {
    const options = resolveLabOptions(input);
    const emit = (event: LabProgressEvent) => {
      try {
        input.onProgress?.(event);
      } catch {
        // a broken progress view must not break the run
      }
    };
    emit({ type: "phase", phase: "preflight", message: "checking prerequisites" });
    const pre = await checkLabPrerequisites(options);
    const notes: string[] = [];
    if (input.removeLeftovers) {
      const leftovers = await cleanupLabLeftovers();
      if (leftovers.removed.length > 0)
        notes.push(`removed leftovers of an earlier run: ${leftovers.removed.join(", ")}`);
      for (const problem of leftovers.problems) notes.push(`could not remove a leftover ${problem}`);
      for (const note of notes) emit({ type: "warning", message: note });
    }
    const skipped: { scenario: LabScenario; reason: string }[] = [];
    let ebpf: Awaited<ReturnType<typeof loadEbpfIntegration>> | undefined;
    if (options.scenarios.includes("sidecar-ebpf")) {
      ebpf = await loadEbpfIntegration();
      if (!ebpf.available) skipped.push({ scenario: "sidecar-ebpf", reason: ebpf.reason });
    }
    if (options.scenarios.includes("grpc-proxyless")) {
      const reason = xdsUnavailableReason();
      if (reason) skipped.push({ scenario: "grpc-proxyless", reason });
    }
    const scenarios = options.scenarios.filter((s) => !skipped.some((k) => k.scenario === s));
    if (scenarios.length === 0) {
      throw new MeshctlError(
        "LAB_NOTHING_TO_RUN",
        `None of the selected scenarios can run here: ${skipped.map((s) => `${s.scenario} (${s.reason})`).join("; ")}`,
        {
          kind: "environment",
        },
      );
    }
    const existing = new Set((await listNetns()).filter((n) => n.startsWith(LAB_PREFIX)));
    let id = "";
    for (let i = 0; i < 20; i++) {
      id = randomBytes(2).toString("hex");
      if (
        ![...existing].some((n) => n.startsWith(`${LAB_PREFIX}${id}-`)) &&
        !existsSync(join("/tmp", `${LAB_PREFIX}lab-${id}`))
      )
        break;
    }
    const plan = planLab({ id, scenarios, cgroupRoot: pre.cgroupRoot, sidecarMode: options.sidecarMode });
    const session = new LabSession(
      plan,
      options,
      pre.agentPath,
      emit,
      pre.sidecar === "envoy" ? "envoy" : "haproxy",
    );
    session.skipped.push(...skipped);
    session.warnings.push(...notes);
    for (const s of skipped) session.warnings.push(`skipped ${s.scenario}: ${s.reason}`);
    try {
      await session.build(input.signal, ebpf);
    } catch (error) {
      await session.teardown();
      throw error;
    }
    return session;
  }

  private pin(cpus: string | undefined): { cpus?: string } {
    return cpus ? { cpus } : {};
  }

  private checkAbort(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw abortedError();
  }

  private async build(
    signal: AbortSignal | undefined,
    ebpf: Awaited<ReturnType<typeof loadEbpfIntegration>> | undefined,
  ): Promise<void> {
    const { plan } = this;
    this.emit({
      type: "phase",
      phase: "setup",
      message: `building lab ${plan.id}: ${plan.pods.length} pods on ${plan.subnet}`,
    });
    await mkdir(plan.workDir, { recursive: true, mode: 0o755 });
    await writeFile(join(plan.workDir, "owner.pid"), `${process.pid}\n`);
    for (const pod of plan.pods) await createCgroup(pod.cgroup);
    this.checkAbort(signal);
    await buildLabNetwork(plan);
    this.checkAbort(signal);
    for (const pod of plan.pods.filter((p) => p.role === "server")) await this.startEchoServer(pod);
    this.checkAbort(signal);
    const meshed = plan.pods.filter((p) => p.sidecar);
    if (this.sidecarKind === "envoy" && meshed.length > 0) {
      const objects = labSidecarMeshObjects(plan, this.options.sidecarMode);
      for (const pod of meshed) await this.startAgentControlPlane(pod, objects);
    }
    for (const pod of meshed) {
      const sidecar =
        this.sidecarKind === "envoy"
          ? await startEnvoySidecar(pod, plan.workDir, this.cpuSets.pods)
          : await startHaproxySidecar(pod, plan.workDir, this.cpuSets.pods);
      this.sidecars.push(sidecar);
      this.processes.push(sidecar.program);
    }
    this.checkAbort(signal);
    if (this.scenarios.includes("grpc-proxyless")) await this.startControlPlane();
    this.checkAbort(signal);
    if (ebpf?.available && this.scenarios.includes("sidecar-ebpf")) {
      const cgroup = plan.scenarioCgroups["sidecar-ebpf"]!;
      this.emit({ type: "phase", phase: "setup", message: `attaching eBPF acceleration to ${cgroup}` });
      try {
        this.acceleration = await ebpf.enable({ cgroupPath: cgroup, pinDir: plan.bpffsPinDir });
        this.ebpfDescription = this.acceleration.description;
      } catch (error) {
        // The other scenarios are still worth measuring; the report says why this one is missing.
        const reason = `enabling eBPF acceleration failed: ${isMeshctlError(error) ? `${error.code}: ` : ""}${errorMessage(error)}`;
        this.skipped.push({ scenario: "sidecar-ebpf", reason });
        this.warnings.push(`skipped sidecar-ebpf: ${reason}`);
        this.emit({ type: "warning", message: `skipped sidecar-ebpf: ${reason}` });
        this.ebpfDescription = "enable failed";
        if (this.scenarios.length === 0) {
          throw new MeshctlError(
            "LAB_NOTHING_TO_RUN",
            `The only selected scenario could not run: ${reason}`,
            { kind: "environment", cause: error },
          );
        }
      }
    }
  }

  private async startEchoServer(pod: LabPodPlan): Promise<void> {
    const spec = { protocol: pod.appProtocol, port: APP_PORT, host: "0.0.0.0" };
    await this.startAgent(
      pod,
      ["echo", JSON.stringify(spec)],
      APP_PORT,
      15_000,
      (stderr) =>
        new MeshctlError(
          "LAB_ECHO_FAILED",
          `The echo server of ${pod.scenario} did not start: ${stderr || "no output"}`,
          {
            kind: "bug",
            details: { pod: pod.netns },
          },
        ),
    );
  }

  /**
   * Starts the pod agent in one of its modes inside a pod and waits until it listens on `port`;
   * `failure` explains a start that never got there (with the agent's last stderr).
   */
  private async startAgent(
    pod: LabPodPlan,
    agentArgs: readonly string[],
    port: number,
    timeoutMs: number,
    failure: (stderr: string) => MeshctlError,
  ): Promise<void> {
    const program = spawnInPod(
      pod,
      [process.execPath, this.agentPath, ...agentArgs],
      this.pin(this.cpuSets.pods),
    );
    this.processes.push(program);
    let stderr = "";
    program.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-2000);
    });
    program.stdout?.on("data", () => {});
    let alive = true;
    void program.exited.then(() => {
      alive = false;
    });
    if (!(await waitForListening(pod.netns, [port], timeoutMs, () => alive))) throw failure(stderr.trim());
  }

  /**
   * meshctl's xDS control plane for the proxyless client, serving a mesh model of the lab (the
   * echo Service and its EndpointSlice at the server pod's address). It runs inside the client
   * pod on 127.0.0.1, as a node-local agent would, so nothing listens outside the lab.
   */
  private async startControlPlane(): Promise<void> {
    const server = podOf(this.plan, "grpc-proxyless", "server");
    const client = podOf(this.plan, "grpc-proxyless", "client");
    const objects = labServiceObjects({ name: GRPC_SERVICE, protocol: "grpc", address: server.ip });
    await this.startAgentControlPlane(client, objects);
  }

  /** Runs meshctl's xDS control plane (the pod agent's `xds` mode) on a pod's 127.0.0.1:15010. */
  private async startAgentControlPlane(pod: LabPodPlan, objects: readonly object[]): Promise<void> {
    await this.startAgent(
      pod,
      ["xds", JSON.stringify({ objects, port: XDS_PORT })],
      XDS_PORT,
      20_000,
      (stderr) =>
        new MeshctlError(
          "LAB_XDS_FAILED",
          `meshctl's xDS control plane did not start in the lab: ${stderr || "no output"}`,
          {
            kind: "bug",
            details: { pod: pod.netns },
          },
        ),
    );
  }

  private targetOf(scenario: LabScenario): string {
    const server = podOf(this.plan, scenario, "server");
    return `http://${server.ip}:${APP_PORT}/`;
  }

  /**
   * Runs one measurement of one scenario from its client pod and returns the engine's result.
   */
  async measureOnce(
    slot: LabSlot,
    index: number,
    total: number,
    signal?: AbortSignal,
  ): Promise<LabMeasurement> {
    const o = this.options;
    const client = podOf(this.plan, slot.scenario, "client");
    const load = {
      target: this.targetOf(slot.scenario),
      qps: o.qps,
      connections: o.connections,
      durationMs: Math.round(o.durationSeconds * 1000),
      warmupMs: Math.round(o.warmupSeconds * 1000),
      payloadBytes: o.payloadBytes,
      timeoutMs: 10_000,
    };
    const proxyless = slot.scenario === "grpc-proxyless";
    const renderBootstrap = proxyless ? (await import("@meshctl/xds")).renderBootstrap : undefined;
    const spec = proxyless
      ? {
          ...load,
          target: `xds:///${GRPC_SERVICE}.${MESH_NAMESPACE}.svc.cluster.local:${APP_PORT}`,
          bootstrap: renderBootstrap!({
            kind: "grpc",
            name: "client",
            namespace: MESH_NAMESPACE,
            server: `127.0.0.1:${XDS_PORT}`,
            ip: client.ip,
          }),
        }
      : load;
    const argv = [process.execPath, this.agentPath, proxyless ? "grpc-load" : "load", JSON.stringify(spec)];
    const program = spawnInPod(client, argv, this.pin(this.cpuSets.generator));
    this.current = program;
    const started = Date.now();
    const seconds = o.durationSeconds + o.warmupSeconds;
    const remaining = (total - index) * (seconds + 0.8);
    let stdout = "";
    let stderr = "";
    let pending = "";
    let live: LabLiveFigures | undefined;
    program.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    program.stderr?.on("data", (c: Buffer) => {
      pending += c.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("@progress ")) {
          try {
            const p = JSON.parse(line.slice("@progress ".length)) as LabLiveFigures;
            live = {
              phase: p.phase,
              requests: p.requests,
              errors: p.errors,
              currentQps: p.currentQps,
              p50Us: p.p50Us,
              p99Us: p.p99Us,
            };
          } catch {
            // a torn line: the next one will do
          }
          continue;
        }
        stderr = `${stderr + line}\n`.slice(-2000);
      }
    });
    const tick = setInterval(() => {
      const elapsedSeconds = (Date.now() - started) / 1000;
      this.emit({
        type: "measurement-tick",
        scenario: slot.scenario,
        round: slot.round,
        index,
        total,
        elapsedSeconds,
        etaSeconds: Math.max(0, remaining - elapsedSeconds),
        ...(live ? { live } : {}),
      });
    }, 250);
    const onAbort = () => program.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    const hardLimit = setTimeout(() => program.kill("SIGKILL"), (seconds + 30) * 1000);
    try {
      const { exitCode } = await program.exited;
      if (signal?.aborted) throw abortedError();
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout.trim().split("\n").pop() ?? "");
      } catch {
        parsed = undefined;
      }
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (exitCode !== 0 || !parsed || error) {
        throw new MeshctlError(
          "LAB_LOAD_FAILED",
          `Load generation for ${slot.scenario} (round ${slot.round}) failed: ${error?.message ?? (stderr.trim() || `exit code ${exitCode ?? "?"}`)}`,
          { kind: "bug", details: { scenario: slot.scenario, exitCode, stderr, code: error?.code } },
        );
      }
      const measurement = measurementFromLoadResult(slot, parsed as LoadResultLike);
      if (measurement.requests > 0 && measurement.errors >= measurement.requests) {
        throw new MeshctlError(
          "LAB_SCENARIO_FAILED",
          `Every request of ${slot.scenario} failed: ${JSON.stringify((parsed as LoadResultLike).errors)}`,
          {
            kind: "external",
            suggestions: [
              "Run with MESHCTL_TRACE=bench and check the sidecar configs in the lab's work directory.",
            ],
            details: { scenario: slot.scenario, errors: (parsed as LoadResultLike).errors },
          },
        );
      }
      return measurement;
    } finally {
      clearInterval(tick);
      clearTimeout(hardLimit);
      signal?.removeEventListener("abort", onAbort);
      this.current = undefined;
    }
  }

  /**
   * Measures every scenario in interleaved rounds and summarises the result.
   *
   * @example
   * const result = await lab.measure();
   */
  async measure(signal?: AbortSignal): Promise<{ measurements: LabMeasurement[]; warnings: string[] }> {
    const slots = interleaveRounds(this.scenarios, this.options.rounds);
    const measurements: LabMeasurement[] = [];
    const warnings: string[] = [];
    const seconds = this.options.durationSeconds + this.options.warmupSeconds;
    this.emit({ type: "phase", phase: "measure", message: `${slots.length} measurements of ${seconds}s` });
    for (const [index, slot] of slots.entries()) {
      this.checkAbort(signal);
      this.emit({
        type: "measurement-start",
        scenario: slot.scenario,
        round: slot.round,
        index,
        total: slots.length,
        seconds,
        etaSeconds: (slots.length - index) * (seconds + 0.8),
      });
      const m = await this.measureOnce(slot, index, slots.length, signal);
      if (!m.rateReached) {
        warnings.push(
          `${slot.scenario} round ${slot.round}: the generator reached only ${m.achievedQps.toFixed(0)} of ${this.options.qps} requests/s`,
        );
      }
      if (m.errors > 0)
        warnings.push(`${slot.scenario} round ${slot.round}: ${m.errors} of ${m.requests} requests failed`);
      measurements.push(m);
      this.emit({ type: "measurement-done", measurement: m, index, total: slots.length });
    }
    return { measurements, warnings };
  }

  /** The eBPF counters of the sidecar-ebpf scenario, when accelerated. */
  async ebpfCounters(): Promise<LabEbpfCounters | undefined> {
    try {
      return await this.acceleration?.counters();
    } catch (error) {
      this.warnings.push(`could not read eBPF counters: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /** A description of where the lab runs, for the report. */
  async environment(): Promise<LabEnvironment> {
    let sidecarVersion = "";
    if (this.sidecars.length > 0 && this.sidecarKind === "envoy") {
      const v = await runCommand("envoy", ["--version"], { reject: false, timeoutMs: 5_000 });
      sidecarVersion =
        /version:\s*\S+?\/([\d.]+)/.exec(v.stdout)?.[1] ?? v.stdout.trim().split("\n")[0] ?? "";
    } else if (this.sidecars.length > 0) {
      const v = await runCommand("haproxy", ["-v"], { reject: false, timeoutMs: 5_000 });
      sidecarVersion =
        v.stdout
          .split("\n")[0]
          ?.replace(/^HAProxy version\s*/, "")
          .split(" ")[0] ?? "";
    }
    return {
      cpuPinning: this.cpuSets.generator
        ? `generator on CPU ${this.cpuSets.generator}, pods on CPU ${this.cpuSets.pods}`
        : "none",
      kernel: release(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      node: process.version,
      sidecar:
        this.sidecars.length === 0
          ? "none"
          : this.sidecarKind === "envoy"
            ? "envoy (xDS from meshctl's control plane)"
            : `haproxy (${this.options.sidecarMode} mode)`,
      sidecarVersion,
      cgroupRoot: this.plan.cgroupBase,
      ebpf: this.ebpfDescription,
    };
  }

  /**
   * Removes everything this lab created: processes, eBPF attachments and pins, cgroups, namespaces
   * (with their veths, bridge and iptables rules) and the work directory. Safe to call more than
   * once and concurrently; resolves with the problems it could not fix (empty when clean).
   *
   * @example
   * process.once("SIGINT", () => void lab.teardown());
   */
  teardown(): Promise<string[]> {
    this.teardownPromise ??= this.doTeardown();
    return this.teardownPromise;
  }

  private async doTeardown(): Promise<string[]> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (error) {
        problems.push(`${what}: ${errorMessage(error)}`);
      }
    };
    this.emit({ type: "phase", phase: "teardown", message: `removing lab ${this.plan.id}` });
    this.current?.kill("SIGKILL");
    for (const p of this.processes) p.kill("SIGTERM");
    await Promise.race([
      Promise.all(this.processes.map((p) => p.exited)),
      new Promise((r) => setTimeout(r, 2_000)),
    ]);
    if (this.acceleration) {
      const acc = this.acceleration;
      await step("eBPF disable", () => acc.disable());
    }
    await step("cgroups", () => removeCgroupTree(this.plan.cgroupBase));
    await step("network namespaces", () => destroyLabNetwork(this.plan));
    await step("bpffs pins", () => rm(this.plan.bpffsPinDir, { recursive: true, force: true }));
    await step("work directory", () => rm(this.plan.workDir, { recursive: true, force: true }));
    return problems;
  }
}

/**
 * Builds the lab, measures every scenario in interleaved rounds, tears everything down (also on
 * error and when `signal` aborts) and returns the comparison.
 *
 * @example
 * const result = await runLab({ scenarios: ["direct", "sidecar", "sidecar-ebpf"], durationSeconds: 10 });
 * result.comparisons.find((c) => c.id === "ebpf-gain");
 */
export async function runLab(options: LabOptions = {}): Promise<LabResult> {
  const startedAt = new Date();
  if (options.signal?.aborted) throw abortedError();
  const lab = await LabSession.start(options);
  let result: LabResult | undefined;
  let failure: unknown;
  try {
    const { measurements, warnings } = await lab.measure(options.signal);
    const summaries = summarizeRounds(measurements, lab.scenarios);
    const ebpfCounters = await lab.ebpfCounters();
    result = {
      schema: "meshctl.bench.lab/v1",
      startedAt: startedAt.toISOString(),
      durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
      options: lab.options,
      environment: await lab.environment(),
      skipped: lab.skipped,
      measurements,
      summaries,
      comparisons: compareScenarios(summaries),
      ...(ebpfCounters ? { ebpfCounters } : {}),
      warnings: [...lab.warnings, ...warnings],
    };
  } catch (error) {
    failure =
      options.signal?.aborted && !(isMeshctlError(error) && error.code === "LAB_ABORTED")
        ? abortedError()
        : error;
  }
  const problems = await lab.teardown();
  if (failure) throw failure;
  if (problems.length > 0) {
    throw new MeshctlError(
      "LAB_TEARDOWN_INCOMPLETE",
      `The lab ran but could not remove everything: ${problems.join("; ")}`,
      {
        kind: "environment",
        suggestions: ["Run `meshctl bench --cleanup` to remove leftovers."],
        details: { problems },
      },
    );
  }
  return result!;
}

/** What `cleanupLabLeftovers` found and did. */
export interface LabCleanupReport {
  readonly removed: readonly string[];
  /** Labs still owned by a live process, left alone. */
  readonly active: readonly string[];
  readonly problems: readonly string[];
}

async function ownerAlive(id: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(join("/tmp", `${LAB_PREFIX}lab-${id}`, "owner.pid"), "utf8")).trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `error` says the path was already gone (someone else removed it: not our removal). */
function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * Removes what crashed lab runs left behind: `mcl-*` namespaces, `mcl-lab-*` cgroups, bpffs pins,
 * work directories, and the hot-restart shared memory (`/dev/shm/envoy_shared_memory_*`) of Envoy
 * sidecars from lab versions that ran Envoy with hot restart: only files in the lab's base-id
 * range that belong to the sidecar uid (see `labIdOfEnvoyShm`), so other Envoys' files stay.
 * Labs whose owning process is still alive are skipped unless `force`. `removed` lists only what
 * this call removed; what it could not remove is in `problems`. Needs root, and checks that
 * first: unprivileged it removes nothing and throws LAB_REQUIRES_ROOT.
 *
 * @example
 * const { removed, problems } = await cleanupLabLeftovers();
 */
export async function cleanupLabLeftovers(options: { force?: boolean } = {}): Promise<LabCleanupReport> {
  requireLabRoot(
    `Removing the mesh lab's leftovers needs root: its network namespaces, cgroups and bpffs pins belong to root, and its Envoy sidecars' shared memory to uid ${SIDECAR_UID}. Nothing was removed.`,
    ["Run it with sudo: `sudo meshctl bench --cleanup`."],
  );
  const removed: string[] = [];
  const active = new Set<string>();
  const problems: string[] = [];
  const idOf = (name: string) => /^mcl-(?:lab-)?([0-9a-f]{4})(?:-|$)/.exec(name)?.[1];
  const keep = async (name: string) => {
    const id = idOf(name);
    if (!options.force && id && (await ownerAlive(id))) {
      active.add(id);
      return true;
    }
    return false;
  };
  /** Runs one removal; claims it only when `remove` reports that this call removed the thing. */
  const attempt = async (what: string, remove: () => Promise<boolean>) => {
    try {
      if (await remove()) removed.push(what);
    } catch (error) {
      if (!isMissing(error)) problems.push(`${what}: ${errorMessage(error)}`);
    }
  };
  const namespaces = (await listNetns()).filter((n) => n.startsWith(LAB_PREFIX));
  // Pods before node namespaces so bridges go last.
  namespaces.sort((a, b) => Number(a.endsWith("-node")) - Number(b.endsWith("-node")));
  for (const ns of namespaces) {
    if (await keep(ns)) continue;
    await attempt(`netns ${ns}`, () => deleteNetns(ns));
  }
  const roots = new Set<string>();
  try {
    roots.add(await findCgroup2Root());
  } catch {
    // no cgroup2: nothing to clean there
  }
  const dirs = async (parent: string, prefix: string) => {
    try {
      return (await readdir(parent, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
        .map((e) => join(parent, e.name));
    } catch {
      return [];
    }
  };
  for (const root of roots) {
    for (const dir of await dirs(root, `${LAB_PREFIX}lab-`)) {
      if (await keep(dir.slice(root.length + 1))) continue;
      await attempt(`cgroup ${dir}`, () => removeCgroupTree(dir));
    }
  }
  for (const [parent, kind] of [
    ["/sys/fs/bpf", "bpffs"],
    ["/tmp", "workdir"],
  ] as const) {
    for (const dir of await dirs(parent, `${LAB_PREFIX}lab-`)) {
      if (await keep(dir.slice(parent.length + 1))) continue;
      // No `force`: a directory that vanished meanwhile is not ours to claim.
      await attempt(`${kind} ${dir}`, () => rm(dir, { recursive: true }).then(() => true));
    }
  }
  for (const name of await readdir(ENVOY_SHM_DIR).catch(() => [] as string[])) {
    const id = labIdOfEnvoyShm(name);
    if (!id) continue;
    const file = join(ENVOY_SHM_DIR, name);
    const stat = await lstat(file).catch(() => undefined);
    if (!stat?.isFile() || stat.uid !== SIDECAR_UID) continue;
    if (await keep(`${LAB_PREFIX}lab-${id}`)) continue;
    await attempt(`envoy shared memory ${file}`, () => unlink(file).then(() => true));
  }
  return { removed, active: [...active], problems };
}
