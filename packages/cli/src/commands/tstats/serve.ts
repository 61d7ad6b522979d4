import {
  type LocalWorkload,
  loadLocalWorkloadFromBootstrap,
  localWorkload,
  startTstatsDemo,
} from "@meshctl/tstats";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

/** 7 days: well below Node's timer limit of 2^31-1 ms (≈ 24.8 days). */
const MAX_DURATION_SECONDS = 7 * 24 * 3600;
/** Stopping must not wait on a client that keeps a connection open. */
const CLOSE_DEADLINE_MS = 2000;

/** Resolves when `closing` settles or after `ms`, whichever comes first. */
async function closeWithin(closing: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closing.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

export interface TstatsServeResult {
  readonly url: string;
  readonly local: { readonly workload: string; readonly namespace: string; readonly nodeId: string };
  readonly demoCalls: number;
}

export default class TstatsServe extends MeshctlCommand<TstatsServeResult> {
  static override summary =
    "Run a tstats Prometheus exporter (with optional demo gRPC traffic) until interrupted";
  static override description =
    `Serves /stats/prometheus (and /metrics). The local identity comes from --bootstrap (a gRPC xDS
bootstrap, default $GRPC_XDS_BOOTSTRAP) or from --workload/--namespace. With --demo-traffic N,
two in-process proxyless gRPC clients call an echo server through the tstats interceptors N times
a second, so Prometheus and Istio's dashboards have something to show. Stop with Ctrl-C.`;
  static override examples = [
    "<%= config.bin %> tstats serve --demo-traffic 20",
    "<%= config.bin %> tstats serve --port 15090 --bootstrap /etc/istio/proxy/grpc-bootstrap.json",
  ];
  static override flags = {
    host: Flags.string({ description: "Listen address.", default: "127.0.0.1" }),
    port: Flags.integer({
      description: "Listen port (Istio's Envoy stats port is 15090).",
      default: 15090,
      min: 0,
      max: 65535,
    }),
    bootstrap: Flags.string({
      description: "gRPC xDS bootstrap to read the local identity from.",
      env: "GRPC_XDS_BOOTSTRAP",
      helpValue: "FILE",
    }),
    workload: Flags.string({ description: "Local workload name (without --bootstrap).", default: "echo-v1" }),
    namespace: Flags.string({ description: "Local namespace (without --bootstrap).", default: "default" }),
    "demo-traffic": Flags.integer({
      description: "Demo gRPC calls per second (0: exporter only).",
      default: 0,
      min: 0,
      max: 10000,
    }),
    "duration-seconds": Flags.integer({
      description: "Stop after this many seconds (0: until interrupted; at most 7 days).",
      default: 0,
      min: 0,
      // Node timers overflow at 2^31-1 ms (24.8 days) and would then fire at once.
      max: MAX_DURATION_SECONDS,
    }),
  };

  protected async execute(): Promise<TstatsServeResult> {
    const { flags } = await this.parse(TstatsServe);
    const local: LocalWorkload = flags.bootstrap
      ? await loadLocalWorkloadFromBootstrap(flags.bootstrap)
      : localWorkload({
          workloadName: flags.workload,
          namespace: flags.namespace,
          app: flags.workload.replace(/-v\d+$/, ""),
        });
    const demo = await startTstatsDemo({
      local,
      host: flags.host,
      port: flags.port,
      rate: flags["demo-traffic"],
    });
    // Serving ends on SIGINT/SIGTERM (a normal stop, exit 0) or after --duration-seconds. A
    // second signal exits at once; a close that hangs on a client is given up after 2 s. The
    // handlers are in place before the URL is printed: whoever waits for it may signal at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        clearTimeout(timer);
        process.once("SIGINT", () => process.exit(130));
        process.once("SIGTERM", () => process.exit(143));
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      const timer =
        flags["duration-seconds"] > 0 ? setTimeout(stop, flags["duration-seconds"] * 1000) : undefined;
    });
    if (!this.jsonEnabled())
      process.stderr.write(`tstats exporter at ${demo.exporter.url} (Ctrl-C to stop)\n`);
    await stopped;
    const demoCalls = demo.calls();
    await closeWithin(demo.close(), CLOSE_DEADLINE_MS);
    return {
      url: demo.exporter.url,
      local: { workload: local.workloadName, namespace: local.namespace, nodeId: local.nodeId },
      demoCalls,
    };
  }

  protected renderText(r: TstatsServeResult): string {
    return `Stopped the exporter at ${r.url} (${r.local.workload}.${r.local.namespace}; ${r.demoCalls} demo calls).`;
  }
}
