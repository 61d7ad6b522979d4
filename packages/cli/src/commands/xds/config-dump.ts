import { EXIT_CODES } from "@meshctl/core";
import type { ConfigDump, ResourceKind } from "@meshctl/xds";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

export type XdsConfigDumpResult = ConfigDump;

type Res = Record<string, unknown>;

function summarize(kind: ResourceKind, r: Res): string {
  switch (kind) {
    case "cds":
      return `${String(r.type ?? "")} ${String(r.lb_policy ?? "ROUND_ROBIN")}`;
    case "eds": {
      const eps = (
        (r.endpoints as {
          lb_endpoints?: {
            endpoint: { address: { socket_address: { address: string; port_value: number } } };
          }[];
        }[]) ?? []
      ).flatMap((l) => l.lb_endpoints ?? []);
      return (
        eps
          .map(
            (e) =>
              `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
          )
          .join(", ") || "(no endpoints)"
      );
    }
    case "lds": {
      const sa = (r.address as { socket_address?: { address: string; port_value: number } } | undefined)
        ?.socket_address;
      return sa ? `${sa.address}:${sa.port_value}` : "api_listener";
    }
    case "rds":
      return ((r.virtual_hosts as { domains: string[] }[]) ?? []).map((v) => v.domains[0] ?? "").join(", ");
  }
}

export default class XdsConfigDump extends MeshctlCommand<XdsConfigDumpResult> {
  static override summary =
    "Show what a proxy would receive from a mesh directory (like istioctl proxy-config)";
  static override description =
    `Generates the Listeners, Routes, Clusters and Endpoints for a node id offline, encoded with the
real Envoy protos and decoded back. Text output is a summary table; --json has every resource in
full. Node ids: grpc~IP~POD.NS~NS.svc.cluster.local (proxyless gRPC) or sidecar~... (Envoy).
Findings in the mesh files are listed after the resources; an error-level finding (an object
left out, a route with no backend) makes the exit code 5, after the dump is printed.`;
  static override examples = [
    "<%= config.bin %> xds config-dump --node-id grpc~127.0.0.1~client.demo~demo.svc.cluster.local",
    "<%= config.bin %> xds config-dump --config ./mesh --node-id sidecar~10.0.0.7~web-1.demo~demo.svc.cluster.local --type lds --json",
  ];
  static override flags = {
    config: Flags.string({
      description: "Directory of mesh YAML. Default: the embedded example mesh.",
      helpValue: "DIR",
      env: "MESHCTL_XDS_CONFIG",
    }),
    "node-id": Flags.string({ description: "The proxy's node id.", required: true }),
    type: Flags.string({ description: "Only this resource type.", options: ["lds", "rds", "cds", "eds"] }),
  };

  protected async execute(): Promise<XdsConfigDumpResult> {
    const { flags } = await this.parse(XdsConfigDump);
    const { defaultMeshDirectory, renderConfigDump } = await import("@meshctl/xds");
    return renderConfigDump({
      configDir: flags.config ?? defaultMeshDirectory(),
      nodeId: flags["node-id"],
      ...(flags.type ? { type: flags.type as ResourceKind } : {}),
    });
  }

  protected override exitCodeFor(result: XdsConfigDumpResult): number {
    return (result.diagnostics ?? []).some((d) => d.severity === "error") ? EXIT_CODES.checkFailed : 0;
  }

  protected renderText(result: XdsConfigDumpResult): string {
    const out: string[] = [`node ${result.nodeId} (${result.proxyType})`];
    for (const [kind, section] of Object.entries(result.types) as [
      ResourceKind,
      NonNullable<ConfigDump["types"][ResourceKind]>,
    ][]) {
      out.push("", `${kind.toUpperCase()} (${section.resources.length})`);
      const width = Math.min(60, Math.max(4, ...section.resources.map((r) => r.name.length)));
      for (const r of section.resources)
        out.push(`  ${r.name.padEnd(width)}  ${summarize(kind, r.resource)}`);
    }
    for (const d of result.diagnostics ?? [])
      out.push(`! ${d.file}:${d.line}:${d.column} ${d.severity}: ${d.path ? `${d.path}: ` : ""}${d.reason}`);
    return out.join("\n");
  }
}
