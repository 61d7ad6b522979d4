import { writeFile } from "node:fs/promises";
import { EXIT_CODES } from "@meshctl/core";
import {
  cleanupLabLeftovers,
  LAB_DEFAULTS,
  LAB_SCENARIOS,
  type LabCleanupReport,
  type LabProgressEvent,
  type LabResult,
  parseLabScenarios,
  renderLabText,
  runLab,
} from "@meshctl/lab";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

/** `meshctl bench`: the lab result, or what `--cleanup` removed. */
export type BenchLabOutput =
  | ({ readonly kind: "lab" } & LabResult)
  | ({ readonly kind: "cleanup" } & LabCleanupReport);

export default class Bench extends MeshctlCommand<BenchLabOutput> {
  static override summary = "Build a local mesh lab and compare direct, sidecar and eBPF-accelerated latency";
  static override description =
    `Builds a small mesh on this machine and measures the same load through each scenario:
  - direct          client pod → server pod, no proxies
  - sidecar         both pods meshed: istio-init capture (15001/15006) and a sidecar proxy each
  - sidecar-ebpf    as sidecar, with @meshctl/ebpf sockops/sk_msg acceleration on the pods' cgroup
  - grpc-proxyless  a gRPC client routed by meshctl's xDS control plane (when available)
Pods are network namespaces on a private bridge (10.213.x.0/24, never routed to the host). Rounds
are interleaved (A B C A B C ...) and the report shows medians across rounds with their spread, the
sidecar overhead over direct and the eBPF gain over sidecar at p50/p90/p99. Defaults follow Istio's
method scaled to one machine: 1 KiB payload, 1000 req/s open loop, 4 connections. Everything the lab
creates (all named mcl-*) is removed afterwards, also on Ctrl-C or error. Needs root.`;
  static override examples = [
    "sudo <%= config.bin %> bench",
    "sudo <%= config.bin %> bench --scenarios direct,sidecar,sidecar-ebpf --duration 10 --rounds 5",
    "sudo <%= config.bin %> bench --json > lab.json",
    "sudo <%= config.bin %> bench --cleanup",
  ];
  static override flags = {
    scenarios: Flags.string({
      description: `Comma-separated scenarios, in run order (${LAB_SCENARIOS.join(", ")}).`,
      default: LAB_SCENARIOS.join(","),
      env: "MESHCTL_SCENARIOS",
    }),
    duration: Flags.string({
      description: "Measured seconds per scenario per round.",
      default: String(LAB_DEFAULTS.durationSeconds),
      env: "MESHCTL_DURATION",
    }),
    warmup: Flags.string({
      description: "Warm-up seconds before each measurement (discarded).",
      default: String(LAB_DEFAULTS.warmupSeconds),
    }),
    rounds: Flags.integer({
      description: "Interleaved rounds.",
      default: LAB_DEFAULTS.rounds,
      min: 1,
      env: "MESHCTL_ROUNDS",
    }),
    qps: Flags.integer({
      description: "Fixed request rate (open loop), total.",
      default: LAB_DEFAULTS.qps,
      min: 1,
      env: "MESHCTL_QPS",
    }),
    connections: Flags.integer({
      description: "Client connections.",
      default: LAB_DEFAULTS.connections,
      min: 1,
      env: "MESHCTL_CONNECTIONS",
    }),
    payload: Flags.integer({
      description: "Request/response body bytes.",
      default: LAB_DEFAULTS.payloadBytes,
      min: 0,
      env: "MESHCTL_PAYLOAD",
    }),
    sidecar: Flags.string({
      description:
        "Sidecar proxy of the meshed pods: envoy (Istio's defaults, configured by meshctl's xDS control plane) or haproxy.",
      options: ["envoy", "haproxy"],
      default: "envoy",
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
    const controller = new AbortController();
    // First Ctrl-C: stop and tear down. Second: give up at once (the next run cleans leftovers).
    const onSignal = () => {
      if (controller.signal.aborted) process.exit(130);
      controller.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const live = this.interactive ? await this.startLiveView() : undefined;
    const progress = live?.push ?? (this.jsonEnabled() ? undefined : plainProgress);
    try {
      const result = await runLab({
        scenarios: parseLabScenarios(flags.scenarios),
        durationSeconds: Number(flags.duration),
        warmupSeconds: Number(flags.warmup),
        rounds: flags.rounds,
        qps: flags.qps,
        connections: flags.connections,
        payloadBytes: flags.payload,
        sidecar: flags.sidecar as "envoy" | "haproxy",
        sidecarMode: flags["sidecar-mode"] as "http" | "tcp",
        pinCpus: flags["pin-cpus"],
        removeLeftovers: true,
        signal: controller.signal,
        ...(progress ? { onProgress: progress } : {}),
      });
      if (flags.html) await writeFile(flags.html, await renderLabHtml(result));
      return { kind: "lab", ...result };
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

/** Progress for pipes and logs: one line per phase and measurement, on stderr. */
function plainProgress(e: LabProgressEvent): void {
  if (e.type === "phase") process.stderr.write(`[${e.phase}] ${e.message}\n`);
  else if (e.type === "warning") process.stderr.write(`warning: ${e.message}\n`);
  else if (e.type === "measurement-done") {
    const m = e.measurement;
    process.stderr.write(
      `  ${e.index + 1}/${e.total} ${m.scenario} #${m.round}: p50 ${m.latencyUs.p50} µs, p90 ${m.latencyUs.p90} µs, p99 ${m.latencyUs.p99} µs\n`,
    );
  }
}

async function renderLabHtml(result: LabResult): Promise<string> {
  const { renderLabHtmlReport } = await import("@meshctl/lab");
  return renderLabHtmlReport(result);
}
