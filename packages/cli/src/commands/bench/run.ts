import { readFile } from "node:fs/promises";
import {
  checkReportPath,
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
  resolveLoadOptions,
  runLoad,
  toFortioJson,
  writeReportFile,
} from "@meshctl/bench";
import { MeshctlError } from "@meshctl/core";
import { Args, Flags } from "@oclif/core";
import { MeshctlCommand, SIGNAL_EXIT_CODES } from "../../base-command.js";

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
      description: "Target request rate over all connections (open loop; up to 1,000,000). Default 1000.",
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
      description: "Connections (1 to 10,000, and within the open-file limit).",
      default: 4,
      min: 1,
      env: "MESHCTL_CONNECTIONS",
    }),
    duration: Flags.string({
      char: "d",
      description: "Measured duration (10, 10s, 500ms, 2m; at most 7 days). Default 10s.",
      exclusive: ["requests"],
      env: "MESHCTL_DURATION",
    }),
    requests: Flags.integer({
      char: "n",
      description: "Stop after this many measured requests instead (at most 1,000,000,000).",
      min: 1,
      exclusive: ["duration"],
    }),
    payload: Flags.string({
      description:
        "Request body / message size (1024, 1KiB, 64k; at most 16 MiB, and 1 GiB over all connections).",
      default: "0",
      env: "MESHCTL_PAYLOAD",
    }),
    warmup: Flags.string({
      description: "Warm-up before measuring (not recorded; at most 1h).",
      default: "1s",
    }),
    header: Flags.string({
      char: "H",
      description: "Extra request header 'Name: value' (repeatable; no control characters, at most 64).",
      multiple: true,
    }),
    protocol: Flags.string({
      description: "Override the protocol the URL scheme implies.",
      options: ["http1", "http2", "grpc", "tcp"],
    }),
    workers: Flags.integer({
      description:
        "Worker threads generating load (when one event loop is the limit; at most 4 per CPU, 64 in all).",
      default: 1,
      min: 1,
    }),
    timeout: Flags.string({ description: "Per-request timeout (1ms to 1h).", default: "30s" }),
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
    // Output files are checked before the run, so a long run is not lost to a typo in a path.
    if (flags["fortio-json"]) await checkReportPath(flags["fortio-json"], "fortio-json");
    if (flags.html) await checkReportPath(flags.html, "html");
    const controller = new AbortController();
    // First SIGINT/SIGTERM: stop sending, print the partial result, exit 128+signal. A second one
    // exits at once (like `meshctl bench`).
    const onSignal = (signal: NodeJS.Signals): void => {
      const code = SIGNAL_EXIT_CODES[signal === "SIGINT" ? "SIGINT" : "SIGTERM"];
      if (this.interruptedBy !== undefined) process.exit(code);
      this.interruptedBy = code;
      controller.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let live: Awaited<ReturnType<typeof startLive>> | undefined;
    let result: LoadResult;
    try {
      const options = {
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
      };
      // Bad options fail here, before a live view takes the terminal.
      resolveLoadOptions(options);
      live = this.interactive ? await startLive(args.target) : undefined;
      result = await runLoad({ ...options, ...(live ? { onProgress: live.push } : {}) });
    } finally {
      await live?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    if (this.interruptedBy !== undefined)
      process.stderr.write("interrupted: stopped early, the result below is partial\n");
    const label = flags.label ?? result.target;
    const entry: ReportEntry = { label, result };
    const files: { fortioJson?: string; html?: string } = {};
    if (flags["fortio-json"]) {
      await writeReportFile(
        flags["fortio-json"],
        `${JSON.stringify(toFortioJson(result, { labels: label }), null, 2)}\n`,
        "fortio-json",
      );
      files.fortioJson = flags["fortio-json"];
    }
    if (flags.html) {
      await writeReportFile(
        flags.html,
        renderHtmlReport(baseline ? [baseline.entry, entry] : [entry]),
        "html",
      );
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

  /** An interrupted run still prints its partial result, then exits 130 (SIGINT) or 143 (SIGTERM). */
  protected override exitCodeFor(_output: BenchRunOutput): number {
    return this.interruptedBy ?? 0;
  }

  /** Set by execute() for renderText; --json output carries only the comparison. */
  private baselineEntry: ReportEntry | undefined;
  /** The exit code of the signal that stopped the run early. */
  private interruptedBy: number | undefined;
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
