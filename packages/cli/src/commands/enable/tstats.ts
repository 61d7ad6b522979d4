import { meshctlConfigDir, type TstatsSettings, writeTstatsSettings } from "@meshctl/tstats";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { tstatsFilterFlags, tstatsFilterOptionsFromFlags } from "../tstats/shared-flags.js";

export interface TstatsToggleResult {
  readonly feature: "tstats";
  readonly enabled: boolean;
  readonly path: string;
  readonly settings: TstatsSettings;
  readonly nextSteps: readonly string[];
}

export const configDirFlag = Flags.string({
  description: "meshctl's config directory (where the xDS control plane reads tstats.json).",
  env: "MESHCTL_CONFIG_DIR",
  helpValue: "DIR",
});

export default class EnableTstats extends MeshctlCommand<TstatsToggleResult> {
  static override summary =
    "Put Istio's native stats and metadata-exchange filters into sidecars' filter chains";
  static override description =
    `Records the setting in <config-dir>/tstats.json. meshctl's xDS control plane reads it and inserts
istio.metadata_exchange + istio.stats (HTTP) and the TCP exchange + istio.stats (TCP) into the
listeners it generates for Envoy sidecars; proxyless gRPC services use @meshctl/tstats'
interceptors instead. Filters and dimensions: docs/tstats.md.`;
  static override examples = [
    "<%= config.bin %> enable tstats",
    "<%= config.bin %> enable tstats --tcp-reporting-seconds 10 --additional-labels role,tier",
  ];
  static override flags = { "config-dir": configDirFlag, ...tstatsFilterFlags };

  protected async execute(): Promise<TstatsToggleResult> {
    const { flags } = await this.parse(EnableTstats);
    const dir = flags["config-dir"] ?? meshctlConfigDir();
    const { path, settings } = await writeTstatsSettings(
      { enabled: true, filters: tstatsFilterOptionsFromFlags(flags) },
      dir,
    );
    return {
      feature: "tstats",
      enabled: true,
      path,
      settings,
      nextSteps: [
        "Restart or reload `meshctl xds serve` if it does not watch the config directory.",
        "Scrape the sidecars' /stats/prometheus (port 15090) with Prometheus; Istio's dashboards and Kiali work unchanged.",
      ],
    };
  }

  protected renderText(r: TstatsToggleResult): string {
    return [`tstats enabled (${r.path}).`, "Next:", ...r.nextSteps.map((s, i) => `  ${i + 1}. ${s}`)].join(
      "\n",
    );
  }
}
