import { notAvailableYet } from "@meshctl/core";
import { Args } from "@oclif/core";
import { MeshctlCommand } from "../base-command.js";

/**
 * A command whose capability is designed but not built yet: it says so with the stable code
 * NOT_AVAILABLE_YET and exit code 2, and never pretends.
 */
export function notYetCommand(id: string, summary: string, why: string): typeof MeshctlCommand<never> {
  return class NotYet extends MeshctlCommand<never> {
    static override summary = `${summary} (not available yet)`;
    static override description = `${summary}\n\nThis capability is not built yet: ${why}.`;
    static override strict = false;
    static override args = { rest: Args.string({ required: false, hidden: true }) };

    protected async execute(): Promise<never> {
      await this.parse(NotYet);
      throw notAvailableYet(`meshctl ${id}`, why);
    }

    protected renderText(): string {
      return "";
    }
  };
}
