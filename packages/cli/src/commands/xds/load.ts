import { MeshctlError } from "@meshctl/core";
import type { ChurnKind, XdsLoadProgress, XdsLoadReport, XdsLoadTarget } from "@meshctl/xds";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

const TARGETS = ["meshctl", "go-control-plane", "istiod", "external"] as const;
const KINDS = ["endpoints", "services", "routes"] as const;

function usage(message: string, suggestion: string): MeshctlError {
  return new MeshctlError("XDS_LOAD_INVALID_OPTION", message, { kind: "usage", suggestions: [suggestion] });
}

function parseKinds(text: string): ChurnKind[] {
  const kinds = text
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
  for (const k of kinds)
    if (!(KINDS as readonly string[]).includes(k))
      throw usage(`Unknown churn kind "${k}".`, `Use some of ${KINDS.join(", ")}, comma-separated.`);
  return kinds as ChurnKind[];
}

function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/s)?$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0)
    throw usage(`--connect-rate must be N or N/s, got "${text}".`, "e.g. --connect-rate 200/s");
  return Number(m[1]);
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? "-" : `${Math.round(v)} ms`);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The text report: one compact table per phase. */
export function formatXdsLoadReport(r: XdsLoadReport): string {
  const lines: string[] = [];
  lines.push(
    `xds load: ${r.target.name} at ${r.target.address}, ${r.proxies.total} proxies (${r.proxies.envoySotw} Envoy SotW, ${r.proxies.envoyDelta} Envoy Delta, ${r.proxies.grpc} gRPC) on ${r.proxies.channels} connections, ${r.mesh.services} services x ${r.mesh.endpointsPerService} endpoints in ${r.mesh.namespaces} namespaces${r.mesh.scoping ? "" : " (no scoping)"}`,
  );
  lines.push("");
  const c = r.initial.convergenceMs;
  lines.push(
    table([
      ["initial convergence", "p50", "p90", "p99", "max", "all", "not converged"],
      [
        "",
        ms(c.p50),
        ms(c.p90),
        ms(c.p99),
        ms(c.max),
        ms(r.initial.allConvergedMs),
        String(r.initial.notConverged),
      ],
    ]),
  );
  lines.push("");
  if (r.churn.ran) {
    const rows: string[][] = [
      ["churn latency", "changes", "receipts", "p50", "p90", "p99", "max", "left behind"],
    ];
    for (const [kind, k] of Object.entries(r.churn.byKind))
      rows.push([
        kind,
        String(k.changes),
        String(k.received),
        ms(k.latencyMs.p50),
        ms(k.latencyMs.p90),
        ms(k.latencyMs.p99),
        ms(k.latencyMs.max),
        String(k.leftBehind),
      ]);
    lines.push(table(rows));
    lines.push(
      `  ${r.churn.applied} changes in ${r.churn.seconds} s (${r.churn.achievedRate}/s of ${r.churn.targetRate}/s), drained in ${r.churn.drainMs} ms`,
    );
  } else lines.push(`churn: skipped (${r.churn.skippedReason})`);
  lines.push("");
  const resources: string[][] = [["resources", "initial", "churn"]];
  const cpu = (u: { cpuSeconds: Readonly<Record<string, number>> } | null | undefined, p: string) =>
    u?.cpuSeconds[p] === undefined ? "-" : `${u.cpuSeconds[p]} s`;
  resources.push(["server CPU", cpu(r.server, "initial"), cpu(r.server, "churn")]);
  for (const [name, u] of Object.entries(r.serverComponents))
    resources.push([`${name} CPU`, cpu(u, "initial"), cpu(u, "churn")]);
  resources.push(["harness CPU", cpu(r.harness, "initial"), cpu(r.harness, "churn")]);
  resources.push([
    "bytes/proxy",
    kib(r.traffic.initial.bytesPerProxy.mean),
    kib(r.traffic.churn.bytesPerProxy.mean),
  ]);
  resources.push([
    "responses/proxy",
    String(r.traffic.initial.responsesPerProxy.mean),
    String(r.traffic.churn.responsesPerProxy.mean),
  ]);
  lines.push(table(resources));
  const extra: string[] = [];
  if (r.server) extra.push(`server peak RSS ${r.server.peakRssMiB} MiB`);
  for (const [name, u] of Object.entries(r.serverComponents))
    extra.push(`${name} peak RSS ${u.peakRssMiB} MiB`);
  extra.push(`rejected streams ${r.streams.rejected}`, `reconnects ${r.streams.reconnects}`);
  if (r.streams.errors > 0) extra.push(`stream errors ${r.streams.errors}`);
  if (r.serverCacheHitRate !== null)
    extra.push(`cache hit rate ${(r.serverCacheHitRate * 100).toFixed(1)} %`);
  lines.push(`  ${extra.join(", ")}`);
  const churned = r.serverMetricsChurn;
  const misses = (type: string) => churned[`meshctl_xds_cache_misses_total{type="${type}"}`];
  if (r.churn.ran && misses("eds") !== undefined) {
    const pushes = (type: string) => churned[`meshctl_xds_proxy_pushes_total{type="${type}"}`] ?? 0;
    lines.push(
      `  generated during churn: clusters ${misses("cds") ?? 0}, listeners+routes (views) ${misses("view") ?? 0}, inbound ${misses("inbound") ?? 0}, CLAs ${misses("eds") ?? 0} (serialized once each) for ${pushes("eds")} EDS-only and ${pushes("full")} full proxy pushes`,
    );
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  for (const e of r.streams.errorSamples.slice(0, 3)) lines.push(`error: ${e}`);
  return lines.join("\n");
}

function progressLine(p: XdsLoadProgress): string {
  const s = (p.elapsedMs / 1000).toFixed(1);
  const churn =
    p.phase === "churn" || p.phase === "drain"
      ? `, ${p.changesApplied} changes, ${p.pendingReceipts} receipts pending`
      : "";
  return `${s}s ${p.phase}: ${p.connected}/${p.proxies} connected, ${p.converged}/${p.proxies} converged${churn}`;
}

export default class XdsLoad extends MeshctlCommand<XdsLoadReport> {
  static override summary = "Load-test an xDS control plane with simulated Envoy and proxyless gRPC clients";
  static override description =
    `Generates a synthetic mesh (Istio ServiceEntry, VirtualService, DestinationRule and Sidecar
YAML), starts the control plane (meshctl by default; go-control-plane or istiod as peers) or
points at a running one (--server), connects N simulated proxies over real gRPC ADS streams
(Envoy-shaped SotW and Delta clients, proxyless gRPC clients) that ACK everything, then
measures the initial convergence and the latency of churn (endpoint, route and service
changes) until every expected proxy has the change. Reports server CPU and peak RSS, bytes
per proxy, rejected streams, and the server's own metrics. Addresses in the mesh are data
only: no traffic is sent to them. Progress goes to stderr on a terminal.`;
  static override examples = [
    "<%= config.bin %> xds load --proxies 200 --services 200 --churn-seconds 10",
    "<%= config.bin %> xds load --target istiod --server-option debounceAfterMs=100 --json > istiod.json",
    "<%= config.bin %> xds load --server 127.0.0.1:15010 --config-dir ./mesh --metrics-url http://127.0.0.1:15014/metrics",
  ];
  static override flags = {
    target: Flags.string({
      description: "Server to start and measure (external: an already running one, see --server).",
      options: [...TARGETS],
      env: "MESHCTL_XDS_LOAD_TARGET",
    }),
    server: Flags.string({
      description: "host:port of a running xDS server (implies --target external).",
      helpValue: "HOST:PORT",
    }),
    "server-pid": Flags.integer({
      description: "Pid of the running server, to measure its CPU and memory.",
      min: 1,
    }),
    "metrics-url": Flags.string({
      description: "Prometheus /metrics URL of the running server.",
      helpValue: "URL",
    }),
    "config-dir": Flags.string({
      description: "Directory the running server watches: the mesh and churn are written there.",
      helpValue: "DIR",
    }),
    proxies: Flags.integer({ description: "Simulated proxies.", default: 2000, min: 1 }),
    "grpc-fraction": Flags.string({
      description: "Fraction of proxyless gRPC clients (the rest are Envoy).",
      default: "0.25",
    }),
    "delta-fraction": Flags.string({
      description: "Fraction of the Envoy proxies speaking Delta xDS.",
      default: "0.5",
    }),
    "grpc-targets": Flags.integer({ description: "Services each gRPC client dials.", default: 3, min: 1 }),
    services: Flags.integer({ description: "Services in the synthetic mesh.", default: 1000, min: 1 }),
    endpoints: Flags.integer({ description: "Endpoints per service.", default: 10, min: 1 }),
    namespaces: Flags.integer({ description: "Namespaces, including the shared one.", default: 50, min: 1 }),
    routed: Flags.string({
      description: "Fraction of services with a VirtualService + DestinationRule.",
      default: "0.1",
    }),
    scoping: Flags.boolean({
      description:
        "A Sidecar per namespace limiting egress to ./*, shared/*, istio-system/* (--no-scoping: none).",
      default: true,
      allowNo: true,
    }),
    "churn-rate": Flags.string({ description: "Changes per second (0: no churn).", default: "100" }),
    "churn-seconds": Flags.string({ description: "Duration of the churn phase.", default: "60" }),
    "churn-kinds": Flags.string({
      description: "Comma-separated: endpoints, services, routes.",
      default: "endpoints",
    }),
    "connect-rate": Flags.string({
      description: "New streams per second at start (default: all at once).",
      helpValue: "N/s",
    }),
    "proxies-per-channel": Flags.integer({
      description: "Proxies sharing one HTTP/2 connection.",
      default: 1,
      min: 1,
    }),
    "server-option": Flags.string({
      description:
        "Server knob key=value (meshctl: debounceAfterMs, cache, scoping...; istiod: mapped to PILOT_*).",
      multiple: true,
      helpValue: "KEY=VALUE",
    }),
    timeout: Flags.string({ description: "Bound on the initial convergence, seconds.", default: "120" }),
  };

  protected async execute(): Promise<XdsLoadReport> {
    const { flags } = await this.parse(XdsLoad);
    const num = (name: string, text: string) => {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n))
        throw usage(`--${name} must be a number, got "${text}".`, `e.g. --${name} 1`);
      return n;
    };
    const { parseServerOptions, runXdsLoad } = await import("@meshctl/xds");
    const showProgress = !this.jsonEnabled() && Boolean(process.stderr.isTTY);
    let last = "";
    const onProgress = (p: XdsLoadProgress) => {
      if (!showProgress) return;
      const line = progressLine(p);
      if (line === last) return;
      last = line;
      process.stderr.write(`\r\u001b[2K${line}`);
    };
    // runXdsLoad cannot be cancelled: on SIGINT/SIGTERM the command reports the interruption and
    // exits at once; the exit hooks of the process runner stop the control plane it started.
    const onSignal = (signal: NodeJS.Signals): void => {
      if (showProgress && last) process.stderr.write("\r\u001b[2K");
      this.exitInterrupted(
        signal === "SIGINT" ? "SIGINT" : "SIGTERM",
        "xds load was interrupted: the simulated proxies and the control plane it started were stopped; no report was made.",
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      return await runXdsLoad(
        {
          ...(flags.target ? { target: flags.target as XdsLoadTarget } : {}),
          ...(flags.server ? { server: flags.server } : {}),
          ...(flags["server-pid"] !== undefined ? { serverPid: flags["server-pid"] } : {}),
          ...(flags["metrics-url"] ? { metricsUrl: flags["metrics-url"] } : {}),
          ...(flags["config-dir"] ? { configDir: flags["config-dir"] } : {}),
          proxies: flags.proxies,
          grpcFraction: num("grpc-fraction", flags["grpc-fraction"]),
          deltaFraction: num("delta-fraction", flags["delta-fraction"]),
          grpcTargets: flags["grpc-targets"],
          services: flags.services,
          endpoints: flags.endpoints,
          namespaces: flags.namespaces,
          routedFraction: num("routed", flags.routed),
          scoping: flags.scoping,
          churnRate: num("churn-rate", flags["churn-rate"]),
          churnSeconds: num("churn-seconds", flags["churn-seconds"]),
          churnKinds: parseKinds(flags["churn-kinds"]),
          ...(flags["connect-rate"] ? { connectRate: parseRate(flags["connect-rate"]) } : {}),
          proxiesPerChannel: flags["proxies-per-channel"],
          serverOptions: parseServerOptions(flags["server-option"] ?? []),
          timeoutSeconds: num("timeout", flags.timeout),
        },
        onProgress,
      );
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (showProgress && last) process.stderr.write("\r\u001b[2K");
    }
  }

  protected renderText(report: XdsLoadReport): string {
    return formatXdsLoadReport(report);
  }
}
