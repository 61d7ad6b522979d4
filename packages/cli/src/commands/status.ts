import { MeshctlCommand } from "../base-command.js";
import { collectFeatureStatus, type FeatureStatus } from "../services/features.js";

export interface StatusResult {
  readonly features: FeatureStatus[];
}

export default class Status extends MeshctlCommand<StatusResult> {
  static override summary = "Show which meshctl features are on, on this host";
  static override description =
    "Lists each feature (ebpf, tstats, vpp) with its state: enabled, disabled, or unavailable, and a one-line summary. Use `meshctl diagnose` for what the host supports.";
  static override examples = ["<%= config.bin %> status", "<%= config.bin %> status --json"];

  protected async execute(): Promise<StatusResult> {
    await this.parse(Status);
    return collectFeatureStatus();
  }

  protected renderText(result: StatusResult): string {
    return result.features.map((f) => `${f.feature.padEnd(8)} ${f.state.padEnd(12)} ${f.summary}`).join("\n");
  }
}
