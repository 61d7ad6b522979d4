import {
  checkReportPath,
  formatUs,
  parseBytes,
  parseDurationMs,
  resolveLoadOptions,
  writeReportFile,
} from "@meshctl/bench";
import { EXIT_CODES, isMeshctlError } from "@meshctl/core";
import {
  cleanupLabLeftovers,
  LAB_DEFAULTS,
  LAB_SCENARIOS,
  type LabCleanupReport,
  type LabOptions,
  type LabProgressEvent,
  type LabResult,
  parseLabRates,
  parseLabScenarios,
  renderLabHtmlReport,
  renderLabText,
  runLab,
} from "@meshctl/lab";
import { Flags } from "@oclif/core";
import { MeshctlCommand, SIGNAL_EXIT_CODES } from "../../base-command.js";

/** Rounds per rate: a lab of 3 rates × 8 scenarios × 1000 rounds of 10 s already takes 3 days. */
const MAX_LAB_ROUNDS = 1000;

/** `meshctl bench`: the lab result, or what `--cleanup` removed. */
export type BenchLabOutput =
  | ({ readonly kind: "lab" } & LabResult)
  | ({ readonly kind: "cleanup" } & LabCleanupReport);

export default class Bench extends MeshctlCommand<BenchLabOutput> {
  static override summary =
    "Build a local mesh lab and compare direct, sidecar, eBPF-accelerated and gRPC latency and CPU";
  static override description =
    `Builds a small mesh on this machine and measures the same load through each scenario:
  - direct          HTTP/1.1 client pod → server pod, no proxies
  - sidecar         both pods meshed: istio-init capture (15001/15006) and a sidecar proxy each
  - sidecar-ebpf    as sidecar, with @meshctl/ebpf sockops/sk_msg acceleration on the pods' cgroup
  - direct-grpc     a grpc-js client dialing the server pod, no proxies
  - sidecar-grpc    the same gRPC client through both sidecars
  - grpc-proxyless  the same gRPC client routed by meshctl's xDS control plane, no sidecar
  - sidecar-tstats       as sidecar, with Istio's telemetry from the native tstats module (opt-in)
  - sidecar-tstats-wasm  as sidecar, with the same telemetry as a proxy-wasm filter (opt-in)
Pods are network namespaces on a private bridge (10.213.x.0/24, never routed to the host). Rounds
are interleaved (A B C A B C ...) at each target rate; --qps takes one rate or a sweep (500,2000,max)
for latency against throughput. The report shows medians across rounds, paired comparisons with a
95% interval and a verdict (sidecar over direct, eBPF against sidecar, proxyless gRPC against direct
and sidecar gRPC, native telemetry against Wasm and against none), per-hop latency and CPU per request. Defaults follow Istio's method scaled to one
machine: 1 KiB payload, 1000 req/s open loop, 4 connections, Envoy sidecars. --duration and
--payload read like in \`meshctl bench run\` (10s, 500ms; 1KiB). Everything the lab creates (all
named mcl-*) is removed afterwards, also on Ctrl-C or error. Needs root.`;
  static override examples = [
    "sudo <%= config.bin %> bench",
    "sudo <%= config.bin %> bench --scenarios direct,sidecar,sidecar-ebpf --duration 10s --rounds 5",
    "sudo <%= config.bin %> bench --scenarios direct,sidecar --qps 500,2000,5000,max --html lab.html",
    "sudo <%= config.bin %> bench --scenarios sidecar,sidecar-tstats,sidecar-tstats-wasm --rounds 10",
    "sudo <%= config.bin %> bench --json > lab.json",
    "sudo <%= config.bin %> bench --cleanup",
  ];
  static override flags = {
    scenarios: Flags.string({
      description: `Comma-separated scenarios, in run order: ${LAB_SCENARIOS.join(", ")}.`,
      default: LAB_SCENARIOS.join(","),
      env: "MESHCTL_SCENARIOS",
    }),
    duration: Flags.string({
      char: "d",
      description: "Measured duration per scenario, rate and round (10, 10s, 500ms, 2m), as in `bench run`.",
      default: `${LAB_DEFAULTS.durationSeconds}s`,
      env: "MESHCTL_DURATION",
    }),
    warmup: Flags.string({
      description: "Warm-up before each measurement, discarded (1s, 500ms).",
      default: `${LAB_DEFAULTS.warmupSeconds}s`,
    }),
    rounds: Flags.integer({
      description: `Interleaved rounds per rate (1 to ${MAX_LAB_ROUNDS}).`,
      default: LAB_DEFAULTS.rounds,
      min: 1,
      max: MAX_LAB_ROUNDS,
      env: "MESHCTL_ROUNDS",
    }),
    qps: Flags.string({
      description:
        "Target rate over all connections (open loop), or a comma-separated sweep; max = closed loop, as fast as it goes (500,2000,5000,max).",
      default: LAB_DEFAULTS.rates.join(","),
      env: "MESHCTL_QPS",
    }),
    connections: Flags.integer({
      char: "c",
      description: "Client connections.",
      default: LAB_DEFAULTS.connections,
      min: 1,
      env: "MESHCTL_CONNECTIONS",
    }),
    payload: Flags.string({
      description: "Request/response body size (1024, 1KiB, 64k), as in `bench run`.",
      default: String(LAB_DEFAULTS.payloadBytes),
      env: "MESHCTL_PAYLOAD",
    }),
    sidecar: Flags.string({
      description:
        "Sidecar proxy of the meshed pods: envoy (Istio's defaults, configured by meshctl's xDS control plane) or haproxy.",
      options: ["envoy", "haproxy"],
      default: "envoy",
    }),
    pacing: Flags.string({
      description:
        "How the load generator times its sends: precise (polls before each send; on time, but keeps a CPU busy) or timer (sleeps; uses only what requests cost, sends up to ~1 ms late). Use timer to compare CPU on a small machine.",
      options: ["precise", "timer"],
      default: "precise",
      env: "MESHCTL_PACING",
    }),
    "sidecar-mode": Flags.string({
      description: "Sidecar mode: http (L7, like Istio) or tcp (L4; Envoy gets the port as opaque TCP).",
      options: ["http", "tcp"],
      default: "http",
    }),
    "pin-cpus": Flags.boolean({
      description:
        "Pin the load generator to the last CPU and the pods to the others (off by default: it hurt on small shared machines).",
      default: false,
    }),
    html: Flags.string({
      description: "Also write a self-contained HTML report to FILE.",
      helpValue: "FILE",
    }),
    cleanup: Flags.boolean({
      description:
        "Only remove leftovers of crashed lab runs (mcl-* namespaces, cgroups, pins, lab Envoys' /dev/shm files) and exit. Needs root.",
    }),
  };

  protected async execute(): Promise<BenchLabOutput> {
    const { flags } = await this.parse(Bench);
    if (flags.cleanup) return { kind: "cleanup", ...(await cleanupLabLeftovers()) };
    // Bad flags fail here, before any live view or signal handler.
    const options = labOptionsFromFlags(flags);
    if (flags.html) await checkReportPath(flags.html, "html");
    const controller = new AbortController();
    // First Ctrl-C: stop and tear down, then exit 130 (SIGINT) or 143 (SIGTERM). Second: give up
    // at once (the next run cleans leftovers).
    let interruptedBy: "SIGINT" | "SIGTERM" | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      const which = signal === "SIGINT" ? "SIGINT" : "SIGTERM";
      if (controller.signal.aborted) process.exit(SIGNAL_EXIT_CODES[which]);
      interruptedBy = which;
      controller.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const live = this.interactive ? await this.startLiveView() : undefined;
    const progress = live?.push ?? (this.jsonEnabled() ? undefined : plainProgress);
    try {
      const result = await runLab({
        ...options,
        removeLeftovers: true,
        signal: controller.signal,
        ...(progress ? { onProgress: progress } : {}),
      });
      if (flags.html) await writeReportFile(flags.html, renderLabHtmlReport(result), "html");
      return { kind: "lab", ...result };
    } catch (error) {
      if (interruptedBy && isMeshctlError(error) && error.code === "LAB_ABORTED") {
        await live?.stop();
        this.exitInterrupted(interruptedBy, error.message, error.code);
      }
      throw error;
    } finally {
      await live?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }

  /** A cleanup that could not remove everything fails (3), so scripts do not take it as clean. */
  protected override exitCodeFor(output: BenchLabOutput): number {
    return output.kind === "cleanup" && output.problems.length > 0 ? EXIT_CODES.environment : 0;
  }

  private async startLiveView(): Promise<{ push: (e: LabProgressEvent) => void; stop: () => Promise<void> }> {
    const [{ LabProgressStore }, { startLabProgressView }] = await Promise.all([
      import("../../ui/lab-progress-store.js"),
      import("../../ui/render-lab.js"),
    ]);
    const store = new LabProgressStore();
    const view = await startLabProgressView(store);
    return { push: store.push, stop: () => view.stop() };
  }

  protected renderText(output: BenchLabOutput): string {
    if (output.kind === "cleanup") {
      const lines =
        output.removed.length > 0 ? output.removed.map((r) => `removed ${r}`) : ["nothing to clean up"];
      for (const id of output.active) lines.push(`left lab ${id} alone: its process is still running`);
      for (const p of output.problems) lines.push(`could not remove ${p}`);
      return lines.join("\n");
    }
    const { kind: _kind, ...result } = output;
    return renderLabText(result).trimEnd();
  }
}

/** The flags `labOptionsFromFlags` reads. */
export interface BenchLabFlags {
  readonly scenarios: string;
  readonly duration: string;
  readonly warmup: string;
  readonly rounds: number;
  readonly qps: string;
  readonly connections: number;
  readonly payload: string;
  readonly sidecar: string;
  readonly pacing: string;
  readonly "sidecar-mode": string;
  readonly "pin-cpus": boolean;
}

/**
 * The lab's options from the command's flags. Durations and sizes are parsed by the same
 * functions as `meshctl bench run` (parseDurationMs, parseBytes), so `--duration 500ms` or
 * `MESHCTL_PAYLOAD=1KiB` mean the same in both commands.
 *
 * @example
 * labOptionsFromFlags({ ...flags, duration: "500ms", qps: "500,max" }); // { durationSeconds: 0.5, rates: [500, "max"], ... }
 */
export function labOptionsFromFlags(flags: BenchLabFlags): LabOptions {
  const durationMs = parseDurationMs(flags.duration);
  const warmupMs = parseDurationMs(flags.warmup, "warmup");
  const payloadBytes = parseBytes(flags.payload);
  const rates = parseLabRates(flags.qps);
  // Each measurement is a `bench run`: the same bounds (connections, rate, duration, payload)
  // apply, checked here before any namespace or proxy is created.
  for (const rate of rates)
    resolveLoadOptions({
      target: "http://127.0.0.1/",
      connections: flags.connections,
      durationMs,
      warmupMs,
      payloadBytes,
      ...(rate === "max" ? { max: true } : { qps: rate }),
    });
  return {
    scenarios: parseLabScenarios(flags.scenarios),
    durationSeconds: durationMs / 1000,
    warmupSeconds: warmupMs / 1000,
    rounds: flags.rounds,
    rates,
    connections: flags.connections,
    payloadBytes,
    sidecar: flags.sidecar as "envoy" | "haproxy",
    pacing: flags.pacing as "precise" | "timer",
    sidecarMode: flags["sidecar-mode"] as "http" | "tcp",
    pinCpus: flags["pin-cpus"],
  };
}

/** Progress for pipes and logs: one line per phase and measurement, on stderr. */
function plainProgress(e: LabProgressEvent): void {
  if (e.type === "phase") process.stderr.write(`[${e.phase}] ${e.message}\n`);
  else if (e.type === "warning") process.stderr.write(`warning: ${e.message}\n`);
  else if (e.type === "measurement-done") {
    const m = e.measurement;
    const rate = m.rate === "max" ? "max rate" : `${m.rate} req/s`;
    process.stderr.write(
      `  ${e.index + 1}/${e.total} ${m.scenario} @ ${rate} #${m.round}: ${Math.round(m.achievedQps)} req/s${m.rateReached ? "" : " (rate not reached)"}, p50 ${formatUs(m.latencyUs.p50)}, p90 ${formatUs(m.latencyUs.p90)}, p99 ${formatUs(m.latencyUs.p99)}${m.errors > 0 ? `, ${m.errors} errors` : ""}\n`,
    );
  }
}
