import { Args } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";
import { FEATURE_DESCRIPTIONS, FEATURE_NAMES } from "../services/features.js";
import { refuseFeature } from "./enable.js";

export default class Disable extends MeshctlCommand<never> {
  static override summary = "Turn off an accelerator or integration and remove what it left";
  static override description =
    `Features:\n${FEATURE_NAMES.map((f) => `  ${f.padEnd(7)} ${FEATURE_DESCRIPTIONS[f]}`).join("\n")}\n\nEach built feature has its own command: see \`meshctl disable <feature> --help\`.`;
  static override examples = ["<%= config.bin %> disable ebpf"];
  static override args = { feature: Args.string({ description: "feature to disable", required: true }) };

  protected async execute(): Promise<never> {
    const { args } = await this.parse(Disable);
    return refuseFeature("disable", args.feature);
  }

  protected renderText(): string {
    return "";
  }
}
