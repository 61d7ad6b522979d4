import { readFile, writeFile } from "node:fs/promises";
import {
  compareResults,
  LOAD_RESULT_SCHEMA,
  type LoadProtocol,
  type LoadResult,
  parseBytes,
  parseDurationMs,
  parseHeaders,
  type ReportEntry,
  type ResultComparison,
  renderHtmlReport,
  renderTextReport,
  runLoad,
  toFortioJson,
} from "@meshctl/bench";
import { MeshctlError } from "@meshctl/core";
import { Args, Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

/** `meshctl bench run --json`: the engine's versioned LoadResult, plus the comparison with --baseline. */
export type BenchRunOutput = LoadResult & {
  readonly label: string;
  readonly baseline?: { readonly file: string; readonly comparison: ResultComparison };
  readonly files: { readonly fortioJson?: string; readonly html?: string };
};

export default class BenchRun extends MeshctlCommand<BenchRunOutput> {
  static override summary = "Measure the latency of a target (coordinated-omission-correct)";
  static override description =
    `Sends load to an HTTP/1.1 (http://), HTTP/2 cleartext (h2c://), gRPC unary (grpc://) or TCP ping-pong (tcp://) target and reports latency percentiles p50..p99.99 and max from HDR histograms at microsecond resolution, errors by kind and the achieved rate.

Open loop by default (--qps, default 1000): requests follow a fixed schedule and latency counts from each request's intended send time, so a stalled target shows up as latency (wrk2-style coordinated-omission correction); the uncorrected service time is reported too. A run that achieved less than 99% of the target rate is flagged. --max runs closed loop at full speed. meshctl bench server starts matching echo servers.`;
  static override examples = [
    "<%= config.bin %> bench run http://127.0.0.1:8080/ --qps 2000 --connections 8 --duration 30s",
    "<%= config.bin %> bench run h2c://127.0.0.1:8080/ --max --connections 16 --duration 10s",
    "<%= config.bin %> bench run grpc://127.0.0.1:50051 --qps 500 --payload 1KiB --html report.html",
    "<%= config.bin %> bench run tcp://127.0.0.1:7000 --max --connections 1 --requests 100000",
    "<%= config.bin %> bench run http://127.0.0.1:8080/ --json > before.json && <%= config.bin %> bench run http://127.0.0.1:8080/ --baseline before.json",
  ];
  static override args = {
    target: Args.string({ description: "http://, h2c://, grpc:// or tcp:// URL", required: true }),
  };
  static override flags = {
    qps: Flags.integer({
      description: "Target request rate over all connections (open loop). Default 1000.",
      min: 1,
      exclusive: ["max"],
      env: "MESHCTL_QPS",
    }),
    max: Flags.boolean({
      description: "Closed loop: send as fast as responses come back.",
      exclusive: ["qps"],
    }),
    connections: Flags.integer({
      char: "c",
      description: "Connections.",
      default: 4,
      min: 1,
      env: "MESHCTL_CONNECTIONS",
    }),
    duration: Flags.string({
      char: "d",
      description: "Measured duration (10, 10s, 500ms, 2m). Default 10s.",
      exclusive: ["requests"],
      env: "MESHCTL_DURATION",
    }),
    requests: Flags.integer({
      char: "n",
      description: "Stop after this many measured requests instead.",
      min: 1,
      exclusive: ["duration"],
    }),
    payload: Flags.string({
      description: "Request body / message size (1024, 1KiB, 64k).",
      default: "0",
      env: "MESHCTL_PAYLOAD",
    }),
    warmup: Flags.string({ description: "Warm-up before measuring (not recorded).", default: "1s" }),
    header: Flags.string({
      char: "H",
      description: "Extra request header 'Name: value' (repeatable).",
      multiple: true,
    }),
    protocol: Flags.string({
      description: "Override the protocol the URL scheme implies.",
      options: ["http1", "http2", "grpc", "tcp"],
    }),
    workers: Flags.integer({
      description: "Worker threads generating load (when one event loop is the limit).",
      default: 1,
      min: 1,
    }),
    timeout: Flags.string({ description: "Per-request timeout.", default: "30s" }),
    label: Flags.string({ description: "Name of this run in reports (default: the target)." }),
    baseline: Flags.string({
      description: "A previous `bench run --json` result to compare with (deltas).",
      helpValue: "FILE",
    }),
    "fortio-json": Flags.string({
      description: "Also write fortio's result JSON (for `fortio report`).",
      helpValue: "FILE",
    }),
    html: Flags.string({ description: "Also write a self-contained HTML report.", helpValue: "FILE" }),
  };

  protected async execute(): Promise<BenchRunOutput> {
    const { args, flags } = await this.parse(BenchRun);
    const baseline = flags.baseline ? await readBaseline(flags.baseline) : undefined;
    this.baselineEntry = baseline?.entry;
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const live = this.interactive ? await startLive(args.target) : undefined;
    let result: LoadResult;
    try {
      result = await runLoad({
        target: args.target,
        ...(flags.protocol ? { protocol: flags.protocol as LoadProtocol } : {}),
        ...(flags.qps !== undefined ? { qps: flags.qps } : {}),
        ...(flags.max ? { max: true } : {}),
        connections: flags.connections,
        ...(flags.duration !== undefined ? { durationMs: parseDurationMs(flags.duration) } : {}),
        ...(flags.requests !== undefined ? { requests: flags.requests } : {}),
        payloadBytes: parseBytes(flags.payload),
        warmupMs: parseDurationMs(flags.warmup, "warmup"),
        headers: parseHeaders(flags.header ?? []),
        workers: flags.workers,
        timeoutMs: parseDurationMs(flags.timeout, "timeout"),
        signal: controller.signal,
        ...(live ? { onProgress: live.push } : {}),
      });
    } finally {
      await live?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    const label = flags.label ?? result.target;
    const entry: ReportEntry = { label, result };
    const files: { fortioJson?: string; html?: string } = {};
    if (flags["fortio-json"]) {
      await writeFile(
        flags["fortio-json"],
        `${JSON.stringify(toFortioJson(result, { labels: label }), null, 2)}\n`,
      );
      files.fortioJson = flags["fortio-json"];
    }
    if (flags.html) {
      await writeFile(flags.html, renderHtmlReport(baseline ? [baseline.entry, entry] : [entry]));
      files.html = flags.html;
    }
    // "Loudly": also on stderr, so it shows when stdout is redirected (e.g. --json > file).
    if (result.fellBehind)
      process.stderr.write(`WARNING: ${result.warnings[0] ?? "the target rate was not reached"}\n`);
    return {
      ...result,
      label,
      files,
      ...(baseline
        ? {
            baseline: {
              file: baseline.file,
              comparison: compareResults(baseline.entry, [baseline.entry, entry])[0] as ResultComparison,
            },
          }
        : {}),
    };
  }

  protected renderText(output: BenchRunOutput): string {
    // Drop the CLI-only fields; what remains is the engine's LoadResult.
    const { label, baseline: _b, files, ...result } = output;
    const lines = [
      renderTextReport(
        { label, result },
        this.baselineEntry ? { baseline: this.baselineEntry } : {},
      ).trimEnd(),
    ];
    if (files.fortioJson)
      lines.push(
        `fortio JSON written to ${files.fortioJson} (view it with: fortio report -data-dir <its directory>)`,
      );
    if (files.html) lines.push(`HTML report written to ${files.html}`);
    return lines.join("\n");
  }

  /** Set by execute() for renderText; --json output carries only the comparison. */
  private baselineEntry: ReportEntry | undefined;
}

async function startLive(
  target: string,
): Promise<{ push: (p: import("@meshctl/bench").LoadProgress) => void; stop: () => Promise<void> }> {
  const [{ LoadProgressStore }, { startLoadProgressView }] = await Promise.all([
    import("../../ui/load-progress-store.js"),
    import("../../ui/render-load.js"),
  ]);
  const store = new LoadProgressStore(target);
  const view = await startLoadProgressView(store);
  return { push: store.push, stop: () => view.stop() };
}

/** Reads a `bench run --json` file (or a plain LoadResult) as the baseline. */
async function readBaseline(file: string): Promise<{ file: string; entry: ReportEntry }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new MeshctlError(
      "BENCH_BASELINE_INVALID",
      `cannot read the baseline ${file}: ${(cause as Error).message}`,
      {
        kind: "usage",
        suggestions: ["Pass a file written by `meshctl bench run --json`"],
        cause,
      },
    );
  }
  const r = parsed as Partial<BenchRunOutput>;
  if (r.schema !== LOAD_RESULT_SCHEMA || !r.corrected) {
    throw new MeshctlError(
      "BENCH_BASELINE_INVALID",
      `${file} is not a meshctl bench result (schema ${String(r.schema)}, expected ${LOAD_RESULT_SCHEMA})`,
      {
        kind: "usage",
        suggestions: ["Pass a file written by `meshctl bench run --json`"],
      },
    );
  }
  return { file, entry: { label: `baseline (${r.label ?? r.target})`, result: r as LoadResult } };
}
