import { MeshctlError } from "@meshctl/core";
import { runVppCommand, type VppCommandResult } from "@meshctl/vpp";
import { Args, Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { vppSocketFlags } from "./shared-flags.js";

export default class VppCli extends MeshctlCommand<VppCommandResult> {
  static override summary = "Run a VPP CLI command (like vppctl)";
  static override description =
    `Runs the command through the binary API's cli_inband when the API socket answers, so an unknown
or failing command exits non-zero; otherwise through the CLI socket like vppctl, where VPP gives
no failure signal.`;
  static override examples = [
    '<%= config.bin %> vpp cli "show session verbose"',
    "<%= config.bin %> vpp cli show app --via cli",
  ];
  static override strict = false;
  static override args = {
    command: Args.string({
      description: "the VPP CLI command (quote it, or pass its words)",
      required: true,
    }),
  };
  static override flags = {
    ...vppSocketFlags,
    via: Flags.string({
      description: "Transport: auto (API, else CLI socket), api or cli.",
      options: ["auto", "api", "cli"],
      default: "auto",
    }),
  };

  protected async execute(): Promise<VppCommandResult> {
    const { argv, flags } = await this.parse(VppCli);
    const command = (argv as string[]).join(" ").trim();
    const result = await runVppCommand(command, {
      cliSocket: flags["cli-socket"],
      apiSocket: flags["api-socket"],
      timeoutMs: flags.timeout,
      ...(flags.via === "auto" ? {} : { prefer: flags.via as "api" | "cli" }),
    });
    if (result.retval !== null && result.retval !== 0) {
      throw new MeshctlError(
        "VPP_CLI_ERROR",
        `VPP rejected \`${command}\` (retval ${result.retval}): ${result.output.trim()}`,
        {
          kind: "usage",
          details: { ...result },
          suggestions: ['Check the command with `meshctl vpp cli "help"` or `... "?"`.'],
        },
      );
    }
    return result;
  }

  protected renderText(result: VppCommandResult): string {
    return result.output.replace(/\n$/, "");
  }
}
