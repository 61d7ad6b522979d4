import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

/** The bootstrap document itself: `--json` and text output are both a valid bootstrap file. */
export type XdsBootstrapResult = Record<string, unknown>;

export default class XdsBootstrap extends MeshctlCommand<XdsBootstrapResult> {
  static override summary = "Print a bootstrap JSON for a proxyless gRPC client or an Envoy sidecar";
  static override description =
    `For --kind grpc, save it and point GRPC_XDS_BOOTSTRAP at the file (any gRPC language), or put the JSON in GRPC_XDS_BOOTSTRAP_CONFIG; then dial xds:///NAME.NAMESPACE.svc.cluster.local:PORT.

For --kind envoy, run envoy -c FILE. The node id is Istio-style (grpc~IP~POD.NS~NS.svc.cluster.local or sidecar~...), which the control plane reads to scope what the proxy receives.

An Envoy bootstrap also carries the tstats stats_config: Istio's buckets for the istio.* histograms and Istio's stats tags for the Wasm build (nothing else is named so). When tstats is enabled with the native module (meshctl enable tstats) and the module file exists, it also loads the module's bootstrap extension (its TCP counters) and sets node.metadata.MESHCTL_TSTATS_TCP=true, so the control plane sends this Envoy the TCP filter too.`;
  static override examples = [
    "<%= config.bin %> xds bootstrap --kind grpc --name client-1 --namespace demo > bootstrap.json && GRPC_XDS_BOOTSTRAP=bootstrap.json node client.js",
    "<%= config.bin %> xds bootstrap --kind envoy --name web-1 --namespace demo --ip 10.0.0.7 --server xds.internal:15010 > envoy.json",
    "<%= config.bin %> xds bootstrap --kind envoy --name web-2 --namespace demo --admin-port 15100 > envoy-2.json",
  ];
  static override flags = {
    kind: Flags.string({ description: "Client kind.", options: ["grpc", "envoy"], required: true }),
    name: Flags.string({ description: "Pod (workload) name.", required: true }),
    namespace: Flags.string({ description: "Namespace of the workload.", default: "default" }),
    server: Flags.string({
      description: "Control plane address.",
      default: "127.0.0.1:15010",
      helpValue: "HOST:PORT",
      env: "MESHCTL_XDS_SERVER",
    }),
    ip: Flags.string({
      description: "The workload's IP (Envoy inbound listeners are built for it).",
      default: "127.0.0.1",
    }),
    delta: Flags.boolean({ description: "Envoy only: use Delta (incremental) ADS." }),
    "admin-port": Flags.integer({
      description:
        "Envoy only: port of Envoy's admin API on 127.0.0.1 (another one per Envoy when several run on one host).",
      default: 15000,
      min: 1,
      max: 65535,
      helpValue: "PORT",
    }),
  };

  protected async execute(): Promise<XdsBootstrapResult> {
    const { flags } = await this.parse(XdsBootstrap);
    const { renderBootstrap } = await import("@meshctl/xds");
    const { readTstatsSettings, tstatsEnvoyBootstrap, tstatsEnvoyStatsConfig } = await import(
      "@meshctl/tstats"
    );
    // Read like `xds serve` does; only an Envoy bootstrap carries the TCP telemetry additions.
    const tcp = flags.kind === "envoy" ? tstatsEnvoyBootstrap(await readTstatsSettings()) : undefined;
    return renderBootstrap({
      kind: flags.kind as "grpc" | "envoy",
      name: flags.name,
      namespace: flags.namespace,
      server: flags.server,
      ip: flags.ip,
      delta: flags.delta,
      adminPort: flags["admin-port"],
      statsConfig: tstatsEnvoyStatsConfig(),
      ...(tcp ? { bootstrapExtensions: tcp.bootstrapExtensions, nodeMetadata: tcp.nodeMetadata } : {}),
    });
  }

  protected renderText(result: XdsBootstrapResult): string {
    return JSON.stringify(result, null, 2);
  }
}
