import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { errorMessage, isMeshctlError, MeshctlError, type SpawnedProgram } from "@meshctl/core";
import {
  buildPodNetwork,
  createCgroup,
  destroyPodNetwork,
  listNetns,
  type RunningSidecar,
  removeCgroupTree,
  spawnInPod,
  waitForListening,
} from "@meshctl/pod";
import {
  type AgentMode,
  agentArgv,
  agentErrorOf,
  decodeLoadOutput,
  decodeProgressLine,
  measurementFromLoadResult,
  type XdsAgentSpec,
} from "./agent-protocol.js";
import { LAB_ACCESS_LOG_FORMAT, type TracedRequest } from "./breakdown.js";
import { cleanupLabLeftovers } from "./cleanup.js";
import { CpuWindow } from "./cpu-window.js";
import { type EbpfAcceleration, loadEbpfIntegration } from "./ebpf-integration.js";
import { describeLabEnvironment } from "./facts.js";
import { breakdownOf, cpuPartsOf, loadSpecOf, SidecarAccessLogs } from "./measurement.js";
import { resolveLabOptions } from "./options.js";
import {
  APP_PORT,
  accessLogOf,
  LAB_PREFIX,
  type LabPlan,
  type LabPodPlan,
  planLab,
  podOf,
  telemetryOf,
  xdsCgroupOf,
} from "./plan.js";
import {
  abortedError,
  checkLabPrerequisites,
  telemetryUnavailableReason,
  xdsUnavailableReason,
} from "./preflight.js";
import { interleaveRounds, type LabSlot } from "./rounds.js";
import {
  LAB_XDS_PORT,
  labServiceObjects,
  labSidecarMeshObjects,
  PROXYLESS_SERVICE,
  startLabSidecar,
} from "./sidecar.js";
import type {
  LabEbpfCounters,
  LabEnvironment,
  LabLiveFigures,
  LabMeasurement,
  LabOptions,
  LabProgressEvent,
  LabRate,
  LabScenario,
  ResolvedLabOptions,
  SidecarKind,
} from "./types.js";

/** A target rate in messages: `2000 req/s`, or `max rate` for closed loop. */
function rateText(rate: LabRate): string {
  return rate === "max" ? "max rate" : `${rate} req/s`;
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
  /** Read positions in the Envoy sidecars' access logs. */
  private readonly accessLogs: SidecarAccessLogs;
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
    this.accessLogs = new SidecarAccessLogs(plan);
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
    const notes: string[] = [...pre.warnings];
    for (const note of pre.warnings) emit({ type: "warning", message: note });
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
    for (const scenario of options.scenarios) {
      const build = telemetryOf(scenario);
      const reason =
        build && (await telemetryUnavailableReason(build, pre.sidecar === "envoy" ? "envoy" : "haproxy"));
      if (reason) skipped.push({ scenario, reason });
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
    const plan = planLab({
      id,
      scenarios,
      cgroupRoot: pre.cgroupRoot,
      sidecarMode: options.sidecarMode,
      sidecarKind: options.sidecar,
    });
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
    for (const pod of plan.pods) {
      for (const cgroup of [pod.cgroup, pod.appCgroup, pod.sidecarCgroup, xdsCgroupOf(pod)])
        await createCgroup(cgroup);
    }
    // The sidecars (uid 1337) write their access logs here.
    await mkdir(join(plan.workDir, "logs"), { mode: 0o777 });
    await chmod(join(plan.workDir, "logs"), 0o777);
    this.checkAbort(signal);
    await buildPodNetwork(plan);
    this.checkAbort(signal);
    for (const pod of plan.pods.filter((p) => p.role === "server")) await this.startEchoServer(pod);
    this.checkAbort(signal);
    const meshed = plan.pods.filter((p) => p.sidecar);
    if (this.sidecarKind === "envoy" && meshed.length > 0) {
      const objects = labSidecarMeshObjects(plan, this.options.sidecarMode);
      for (const pod of meshed) {
        const telemetry = telemetryOf(pod.scenario);
        await this.startAgentControlPlane(pod, {
          objects,
          port: LAB_XDS_PORT,
          accessLog: { path: accessLogOf(plan, pod), encoding: "JSON", format: LAB_ACCESS_LOG_FORMAT },
          ...(telemetry ? { telemetry } : {}),
        });
      }
    }
    for (const pod of meshed) {
      const sidecar = await startLabSidecar(this.sidecarKind, pod, plan.workDir, this.cpuSets.pods);
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
      "echo",
      spec,
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
    mode: AgentMode,
    spec: unknown,
    port: number,
    timeoutMs: number,
    failure: (stderr: string) => MeshctlError,
  ): Promise<void> {
    const where = { netns: pod.netns, cgroup: mode === "xds" ? xdsCgroupOf(pod) : pod.appCgroup };
    const program = spawnInPod(where, agentArgv(this.agentPath, mode, spec), this.pin(this.cpuSets.pods));
    this.processes.push(program);
    let stderr = "";
    program.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-2000);
    });
    let stdout = "";
    program.stdout?.on("data", (c: Buffer) => {
      stdout = (stdout + c.toString()).slice(-2000);
    });
    let alive = true;
    void program.exited.then(() => {
      alive = false;
    });
    if (!(await waitForListening(pod.netns, [port], timeoutMs, () => alive))) {
      // The agent reports its own failures as an error line on stdout.
      const error = agentErrorOf(stdout);
      throw failure(error ? `${error.code}: ${error.message}` : stderr.trim());
    }
  }

  /**
   * meshctl's xDS control plane for the proxyless client, serving a mesh model of the lab (the
   * echo Service and its EndpointSlice at the server pod's address). It runs inside the client
   * pod on 127.0.0.1, as a node-local agent would, so nothing listens outside the lab.
   */
  private async startControlPlane(): Promise<void> {
    const server = podOf(this.plan, "grpc-proxyless", "server");
    const client = podOf(this.plan, "grpc-proxyless", "client");
    const objects = labServiceObjects({ name: PROXYLESS_SERVICE, protocol: "grpc", address: server.ip });
    await this.startAgentControlPlane(client, { objects, port: LAB_XDS_PORT });
  }

  /** Runs meshctl's xDS control plane (the pod agent's `xds` mode) on a pod's 127.0.0.1:15010. */
  private async startAgentControlPlane(pod: LabPodPlan, spec: XdsAgentSpec): Promise<void> {
    await this.startAgent(
      pod,
      "xds",
      spec,
      LAB_XDS_PORT,
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

  /**
   * Runs one measurement of one scenario at one rate from its client pod: the engine's result,
   * the CPU each part used during the measured phase, and (with Envoy sidecars) where each
   * request's latency went.
   */
  async measureOnce(
    slot: LabSlot,
    index: number,
    total: number,
    signal?: AbortSignal,
  ): Promise<LabMeasurement> {
    const o = this.options;
    const client = podOf(this.plan, slot.scenario, "client");
    const { mode, spec } = await loadSpecOf(this.plan, this.options, slot);
    const logs = this.sidecarKind === "envoy" ? this.accessLogs.of(slot.scenario) : undefined;
    for (const log of logs ?? []) await log.skipToEnd();
    const cpu = new CpuWindow(cpuPartsOf(this.plan, slot.scenario));
    const program = spawnInPod(
      { netns: client.netns, cgroup: client.appCgroup },
      agentArgv(this.agentPath, mode, spec),
      this.pin(this.cpuSets.generator),
    );
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
        const figures = decodeProgressLine(line);
        if (figures !== undefined) {
          // null: a torn line; the next one will do
          if (figures) live = figures;
          // The CPU window opens with the measured phase: process start and warm-up excluded.
          if (figures?.phase === "measure") cpu.open();
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
        rate: slot.rate,
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
      await cpu.close();
      if (signal?.aborted) throw abortedError();
      const what = `${slot.scenario} at ${rateText(slot.rate)} (round ${slot.round})`;
      const result = decodeLoadOutput(stdout, exitCode ?? null, stderr, what);
      if (result.requests > 0 && Object.values(result.errors).reduce((a, b) => a + b, 0) >= result.requests) {
        throw new MeshctlError(
          "LAB_SCENARIO_FAILED",
          `Every request of ${what} failed: ${JSON.stringify(result.errors)}`,
          {
            kind: "external",
            suggestions: [
              "Run with MESHCTL_TRACE=bench and check the sidecar configs in the lab's work directory.",
            ],
            details: { scenario: slot.scenario, errors: result.errors },
          },
        );
      }
      const trace = (result.trace?.requests ?? []) as readonly TracedRequest[];
      const measurement = measurementFromLoadResult(slot, result);
      const cpuUse = await cpu.result(trace, Date.parse(result.startedAt), result.requests);
      const breakdown = logs ? await breakdownOf(logs, trace) : undefined;
      return { ...measurement, ...(cpuUse ? { cpu: cpuUse } : {}), ...(breakdown ? { breakdown } : {}) };
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
    const slots = interleaveRounds(this.scenarios, this.options.rounds, this.options.rates);
    const measurements: LabMeasurement[] = [];
    const warnings: string[] = [];
    const seconds = this.options.durationSeconds + this.options.warmupSeconds;
    this.emit({ type: "phase", phase: "measure", message: `${slots.length} measurements of ${seconds}s` });
    for (const [index, slot] of slots.entries()) {
      this.checkAbort(signal);
      this.emit({
        type: "measurement-start",
        scenario: slot.scenario,
        rate: slot.rate,
        round: slot.round,
        index,
        total: slots.length,
        seconds,
        etaSeconds: (slots.length - index) * (seconds + 0.8),
      });
      const m = await this.measureOnce(slot, index, slots.length, signal);
      const at = `${slot.scenario} at ${rateText(slot.rate)} round ${slot.round}`;
      if (!m.rateReached && slot.rate !== "max") {
        warnings.push(
          `${at}: rate not reached, only ${m.achievedQps.toFixed(0)} of ${slot.rate} requests/s (the scenario saturated; its latency includes queueing)`,
        );
      }
      if (m.errors > 0) warnings.push(`${at}: ${m.errors} of ${m.requests} requests failed`);
      if (m.breakdown && m.breakdown.unmatched > 0)
        warnings.push(
          `${at}: ${m.breakdown.unmatched} requests missing from a sidecar access log (breakdown without them)`,
        );
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
  environment(): Promise<LabEnvironment> {
    return describeLabEnvironment({
      sidecar: this.sidecars.length === 0 ? "none" : this.sidecarKind,
      sidecarMode: this.options.sidecarMode,
      cgroupRoot: this.plan.cgroupBase,
      ebpf: this.ebpfDescription,
      cpuPinning: this.cpuSets.generator
        ? `generator on CPU ${this.cpuSets.generator}, pods on CPU ${this.cpuSets.pods}`
        : "none",
    });
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
    await step("network namespaces", () => destroyPodNetwork(this.plan));
    await step("bpffs pins", () => rm(this.plan.bpffsPinDir, { recursive: true, force: true }));
    await step("work directory", () => rm(this.plan.workDir, { recursive: true, force: true }));
    return problems;
  }
}
