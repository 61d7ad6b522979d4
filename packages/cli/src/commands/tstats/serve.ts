import {
  type LocalWorkload,
  loadLocalWorkloadFromBootstrap,
  localWorkload,
  startTstatsDemo,
} from "@meshctl/tstats";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

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
      description: "Stop after this many seconds (0: until interrupted).",
      default: 0,
      min: 0,
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
    if (!this.jsonEnabled())
      process.stderr.write(`tstats exporter at ${demo.exporter.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      if (flags["duration-seconds"] > 0) setTimeout(stop, flags["duration-seconds"] * 1000);
    });
    const demoCalls = demo.calls();
    await demo.close();
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
