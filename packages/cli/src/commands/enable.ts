import { MeshctlError, notAvailableYet } from "@meshctl/core";
import { Args } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";
import { FEATURE_DESCRIPTIONS, FEATURE_NAMES, type FeatureName } from "../services/features.js";

/** Shared by `enable` and `disable`: a feature without its own command is refused clearly. */
export function refuseFeature(verb: "enable" | "disable", feature: string): never {
  if (!(FEATURE_NAMES as readonly string[]).includes(feature)) {
    throw new MeshctlError("UNKNOWN_FEATURE", `Unknown feature "${feature}".`, {
      kind: "usage",
      suggestions: [`Choose one of: ${FEATURE_NAMES.join(", ")}.`],
    });
  }
  throw notAvailableYet(`meshctl ${verb} ${feature}`, FEATURE_DESCRIPTIONS[feature as FeatureName]);
}

export default class Enable extends MeshctlCommand<never> {
  static override summary = "Turn on an accelerator or integration";
  static override description =
    `Features:\n${FEATURE_NAMES.map((f) => `  ${f.padEnd(7)} ${FEATURE_DESCRIPTIONS[f]}`).join("\n")}\n\nEach built feature has its own command with its own flags: see \`meshctl enable <feature> --help\`.`;
  static override examples = [
    "<%= config.bin %> enable ebpf",
    "<%= config.bin %> enable ebpf --cgroup /sys/fs/cgroup/kubepods.slice",
  ];
  static override args = { feature: Args.string({ description: "feature to enable", required: true }) };

  protected async execute(): Promise<never> {
    const { args } = await this.parse(Enable);
    return refuseFeature("enable", args.feature);
  }

  protected renderText(): string {
    return "";
  }
}
