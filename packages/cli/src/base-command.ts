import { Command, Flags, type Interfaces } from "@oclif/core";
import { createErrorReport, type ErrorReport } from "./errors.js";
import { isInteractive } from "./ui/terminal.js";

/** Exit codes of a command stopped by a signal: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * The base of every meshctl command. A command:
 *  1. declares flags/args and parses them,
 *  2. calls ONE library or service function in `execute()`, returning a JSON-serializable result,
 *  3. lets this base render it: `--json` (the result, a public API), ink on a TTY (`renderInk`),
 *     or plain text (`renderText`) when piped.
 * Errors of every command go through one handler (`catch`), which maps them to exit codes.
 */
export abstract class MeshctlCommand<T> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    verbose: Flags.boolean({
      description: "Print more detail (and stack traces of internal errors).",
      env: "MESHCTL_VERBOSE",
      helpGroup: "GLOBAL",
    }),
    "no-color": Flags.boolean({
      description: "Disable colours in output.",
      env: "MESHCTL_NO_COLOR",
      helpGroup: "GLOBAL",
    }),
  };

  /** Does the command's work by calling one library or service function. */
  protected abstract execute(): Promise<T>;

  /** Plain-text rendering for pipes and logs. */
  protected abstract renderText(result: T): string;

  /** Optional ink rendering for a TTY; falls back to `renderText`. */
  protected renderInk?(result: T): Promise<void>;

  /** The exit code for a successful run (e.g. a health check that found failures). */
  protected exitCodeFor(_result: T): number {
    return 0;
  }

  protected get verbose(): boolean {
    return (
      this.argv.includes("--verbose") ||
      process.env.MESHCTL_VERBOSE === "true" ||
      process.env.MESHCTL_VERBOSE === "1"
    );
  }

  /** True when output goes to a terminal and ink should draw it. */
  protected get interactive(): boolean {
    return !this.jsonEnabled() && isInteractive();
  }

  public async run(): Promise<T> {
    const result = await this.execute();
    if (!this.jsonEnabled()) {
      if (this.renderInk && this.interactive) await this.renderInk(result);
      else {
        const text = this.renderText(result);
        if (text) this.log(text);
      }
    }
    const code = this.exitCodeFor(result);
    if (code !== 0) {
      if (this.jsonEnabled()) this.logJson(result);
      this.exit(code);
    }
    return result;
  }

  /**
   * For long work that has no partial result to show and cannot be stopped more gently: reports
   * the interruption (text on stderr, or the `--json` error object) and exits 130 (SIGINT) or
   * 143 (SIGTERM) at once. process.exit() runs the exit hooks that stop spawned programs.
   */
  protected exitInterrupted(
    signal: keyof typeof SIGNAL_EXIT_CODES,
    message: string,
    code = "INTERRUPTED",
  ): never {
    const error = { code, message, kind: "usage", suggestions: [], details: { signal } };
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
    else process.stderr.write(`Error [${code}]: ${message}\n`);
    return process.exit(SIGNAL_EXIT_CODES[signal]);
  }

  protected override async catch(error: Interfaces.CommandError): Promise<never> {
    // this.exit() throws an ExitError: it is a decision, not a failure.
    if ((error as { code?: string }).code === "EEXIT") throw error;
    const report: ErrorReport = createErrorReport(error, { commandId: this.id ?? "", verbose: this.verbose });
    if (this.jsonEnabled()) {
      this.logJson({ error: report.json });
    } else {
      process.stderr.write(`${report.text}\n`);
    }
    return this.exit(report.exitCode);
  }
}
