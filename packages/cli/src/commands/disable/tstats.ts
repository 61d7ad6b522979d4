import { meshctlConfigDir, readTstatsSettings, writeTstatsSettings } from "@meshctl/tstats";
import { MeshctlCommand } from "../../base-command.js";
import { configDirFlag, type TstatsToggleResult } from "../enable/tstats.js";

export default class DisableTstats extends MeshctlCommand<TstatsToggleResult> {
  static override summary = "Stop inserting the tstats filters into sidecars' filter chains";
  static override description =
    "Records `enabled: false` in <config-dir>/tstats.json, keeping the module and filter options for a later enable.";
  static override examples = ["<%= config.bin %> disable tstats"];
  static override flags = { "config-dir": configDirFlag };

  protected async execute(): Promise<TstatsToggleResult> {
    const { flags } = await this.parse(DisableTstats);
    const dir = flags["config-dir"] ?? meshctlConfigDir();
    const previous = await readTstatsSettings(dir);
    const { path, settings } = await writeTstatsSettings(
      {
        enabled: false,
        module: previous.module,
        ...(previous.modulePath !== undefined ? { modulePath: previous.modulePath } : {}),
        filters: previous.filters,
      },
      dir,
    );
    return {
      feature: "tstats",
      enabled: false,
      path,
      settings,
      nextSteps: ["Restart or reload `meshctl xds serve` if it does not watch the config directory."],
    };
  }

  protected renderText(r: TstatsToggleResult): string {
    return `tstats disabled (${r.path}).`;
  }
}
