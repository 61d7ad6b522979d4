import { buildTstatsFilterSet, renderEnvoyFilterManifest, type TstatsFilterSet } from "@meshctl/tstats";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { tstatsFilterFlags, tstatsFilterOptionsFromFlags } from "./shared-flags.js";

export type TstatsRenderResult =
  | { readonly format: "envoyfilter"; readonly manifest: string }
  | { readonly format: "xds"; readonly filters: TstatsFilterSet };

export default class TstatsRender extends MeshctlCommand<TstatsRenderResult> {
  static override summary = "Render Istio's native telemetry filters as an EnvoyFilter manifest or raw xDS";
  static override description =
    `The filters are Istio's native (not Wasm) stats and metadata-exchange filters:
istio.metadata_exchange (peer_metadata) + istio.stats before the router in HTTP chains, the TCP
metadata exchange + istio.stats before tcp_proxy, and the upstream exchange as a cluster filter.

--format envoyfilter prints a networking.istio.io/v1alpha3 EnvoyFilter for an existing Istio install
whose built-in telemetry is turned off (otherwise requests are counted twice).
--format xds prints the filters as protobuf JSON per place (http/network inbound|outbound, cluster),
for a control plane of your own. (\`meshctl tstats build\` compiles the tstats Envoy module.)
See docs/tstats.md.`;
  static override examples = [
    "<%= config.bin %> tstats render > tstats-envoyfilter.yaml",
    "<%= config.bin %> tstats render --format xds --json",
    "<%= config.bin %> tstats render --namespace istio-system --proxy-version '^1\\.2[0-9].*' --no-tcp",
  ];
  static override flags = {
    format: Flags.string({
      description: "Output format.",
      options: ["envoyfilter", "xds"],
      default: "envoyfilter",
    }),
    name: Flags.string({ description: "EnvoyFilter name.", default: "meshctl-tstats" }),
    namespace: Flags.string({
      description: "EnvoyFilter namespace (Istio's root namespace applies mesh-wide).",
      default: "istio-system",
    }),
    "proxy-version": Flags.string({
      description: "Only patch proxies whose version matches this regex.",
      helpValue: "REGEX",
    }),
    tcp: Flags.boolean({ description: "Include the TCP filters.", default: true, allowNo: true }),
    encoding: Flags.string({
      description: "xds format: typed_config as the Istio message (typed) or wrapped in TypedStruct.",
      options: ["typed", "typed-struct"],
      default: "typed",
    }),
    ...tstatsFilterFlags,
  };

  protected async execute(): Promise<TstatsRenderResult> {
    const { flags } = await this.parse(TstatsRender);
    const filterOptions = tstatsFilterOptionsFromFlags(flags);
    if (flags.format === "xds") {
      return {
        format: "xds",
        filters: buildTstatsFilterSet({
          ...filterOptions,
          encoding: flags.encoding as "typed" | "typed-struct",
        }),
      };
    }
    return {
      format: "envoyfilter",
      manifest: renderEnvoyFilterManifest({
        ...filterOptions,
        name: flags.name,
        namespace: flags.namespace,
        tcp: flags.tcp,
        ...(flags["proxy-version"] ? { proxyVersion: flags["proxy-version"] } : {}),
      }),
    };
  }

  protected renderText(result: TstatsRenderResult): string {
    return result.format === "envoyfilter"
      ? result.manifest.trimEnd()
      : JSON.stringify(result.filters, null, 2);
  }
}
