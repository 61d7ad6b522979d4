import {
  meshctlConfigDir,
  TSTATS_MODULE_SETTINGS,
  type TstatsModuleSetting,
  type TstatsSettings,
  writeTstatsSettings,
} from "@meshctl/tstats";
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
  static override summary = "Put Istio-compatible telemetry filters into sidecars' filter chains";
  static override description =
    `Records the setting in <config-dir>/tstats.json; meshctl's xDS control plane reads it when it
generates listeners for Envoy sidecars (proxyless gRPC services use @meshctl/tstats' interceptors).
--module picks what a sidecar gets:
  native (default)  Istio's own istio.metadata_exchange + istio.stats filters if the proxy has them
                    (Istio's proxy build), else the tstats dynamic module (libtstats.so, stock Envoy
                    1.40+; build it with \`meshctl tstats build\`), else nothing (see meshctl diagnose)
  wasm              the Wasm build of the module (tstats.wasm), to compare the two
  istio             Istio's filters only (HTTP and TCP), to each proxy that has them
Filters, dimensions and the Prometheus relabelling of the module's metrics: docs/tstats.md.`;
  static override examples = [
    "<%= config.bin %> enable tstats",
    "<%= config.bin %> enable tstats --module wasm",
    "<%= config.bin %> enable tstats --module native --module-path /opt/meshctl/libtstats.so",
    "<%= config.bin %> enable tstats --module istio --tcp-reporting-seconds 10 --additional-labels role,tier",
  ];
  static override flags = {
    "config-dir": configDirFlag,
    module: Flags.string({
      description: "What sidecars get: native (Istio's filters, else the dynamic module), wasm, or istio.",
      options: [...TSTATS_MODULE_SETTINGS],
      default: "native",
    }),
    "module-path": Flags.string({
      description:
        "The module file (libtstats.so or tstats.wasm) as the proxies' hosts see it, absolute (default: @meshctl/tstats' obj/).",
      helpValue: "FILE",
    }),
    ...tstatsFilterFlags,
  };

  protected async execute(): Promise<TstatsToggleResult> {
    const { flags } = await this.parse(EnableTstats);
    const dir = flags["config-dir"] ?? meshctlConfigDir();
    const { path, settings } = await writeTstatsSettings(
      {
        enabled: true,
        module: flags.module as TstatsModuleSetting,
        ...(flags["module-path"] !== undefined ? { modulePath: flags["module-path"] } : {}),
        filters: tstatsFilterOptionsFromFlags(flags),
      },
      dir,
    );
    return {
      feature: "tstats",
      enabled: true,
      path,
      settings,
      nextSteps: [
        ...(settings.module !== "istio" && settings.modulePath === undefined
          ? ["Build the module if you have not: `meshctl tstats build`."]
          : []),
        "Restart or reload `meshctl xds serve` if it does not watch the config directory.",
        settings.module === "istio"
          ? "Scrape the sidecars' /stats/prometheus (port 15090) with Prometheus; Istio's dashboards and Kiali work unchanged."
          : "Scrape the sidecars' /stats/prometheus with Prometheus, renaming envoy_istio_* to istio_* (metric_relabel_configs in docs/tstats.md); Istio's dashboards and Kiali then work unchanged.",
      ],
    };
  }

  protected renderText(r: TstatsToggleResult): string {
    return [`tstats enabled (${r.path}).`, "Next:", ...r.nextSteps.map((s, i) => `  ${i + 1}. ${s}`)].join(
      "\n",
    );
  }
}
