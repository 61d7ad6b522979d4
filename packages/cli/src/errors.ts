import { EXIT_CODES, isMeshctlError } from "@meshctl/core";

export interface ErrorReport {
  readonly exitCode: number;
  readonly text: string;
  readonly json: {
    code: string;
    message: string;
    kind: string;
    suggestions: readonly string[];
    details?: unknown;
  };
}

/** oclif's own parse errors (unknown flag, missing arg) are user mistakes. */
function isParseError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.constructor?.name ?? "";
  const oclif = (error as { oclif?: { exit?: number } }).oclif;
  return (
    /Flag|Arg|Parse|Failed|Nonexistent|Unexpected|Required/.test(name) ||
    (oclif !== undefined && oclif.exit === 2) ||
    /Unexpected argument|Nonexistent flag|Missing required|Expected --|is not one of|command .* not found/i.test(
      error.message,
    )
  );
}

/**
 * Maps anything thrown by a command to what the user sees and the exit code.
 * User and environment errors: one paragraph and suggestions, no stack.
 * Anything else is a bug: the stack, versions and where to report it.
 */
export function createErrorReport(
  error: unknown,
  context: { commandId: string; verbose: boolean },
): ErrorReport {
  if (isMeshctlError(error)) {
    const lines = [`Error [${error.code}]: ${error.message}`];
    for (const s of error.suggestions) lines.push(`  → ${s}`);
    if (context.verbose && error.cause)
      lines.push(`  cause: ${String((error.cause as Error)?.stack ?? error.cause)}`);
    return { exitCode: error.exitCode, text: lines.join("\n"), json: error.toJSON() };
  }
  if (isParseError(error)) {
    const message = (error as Error).message.replace(/\n\s*See more help with --help\s*$/, "");
    const help = context.commandId
      ? `meshctl ${context.commandId.replaceAll(":", " ")} --help`
      : "meshctl --help";
    return {
      exitCode: EXIT_CODES.usage,
      text: `Error [USAGE]: ${message}\n  → See \`${help}\`.`,
      json: { code: "USAGE", message, kind: "usage", suggestions: [`See \`${help}\`.`] },
    };
  }
  const err = error instanceof Error ? error : new Error(String(error));
  const versions =
    `meshctl ${process.env.npm_package_version ?? ""} node ${process.version} ${process.platform}-${process.arch}`.replace(
      /\s+/g,
      " ",
    );
  return {
    exitCode: EXIT_CODES.bug,
    text: `Internal error (a bug in meshctl, please report it): ${err.message}\n${err.stack ?? ""}\n${versions}`,
    json: {
      code: "INTERNAL",
      message: err.message,
      kind: "bug",
      suggestions: ["Report this with the output of `meshctl diagnose --json`."],
      details: { stack: err.stack },
    },
  };
}
