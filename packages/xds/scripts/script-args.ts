/**
 * Usage errors and number/duration options for the benchmark scripts (soak, storm): a bad value
 * prints what was wrong and the help, and exits 2.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { parseDurationMs } from "../src/index.js";

/**
 * @example
 * const args = scriptArgs("soak", HELP, "30m, 90s or 1h");
 * const v = args.parse({ duration: { type: "string", default: "30m" } });
 * const duration = args.seconds("duration", v.duration as string); // 1800 for "30m"
 */
export type ScriptValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface ScriptArgs {
  /** Parses argv with `options` (plus `--help`, which prints the help and exits 0). */
  parse(options: NonNullable<ParseArgsConfig["options"]>): ScriptValues;
  fail(message: string): never;
  seconds(option: string, text: string | undefined): number | undefined;
  integer(option: string, text: string | undefined): number | undefined;
}

export function scriptArgs(name: string, help: string, durationExamples: string): ScriptArgs {
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n\n${help}`);
    process.exit(2);
  };
  /** A duration (`30m`, `90s`; a bare number is seconds), in seconds. */
  const seconds = (option: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDurationMs(text);
    if (ms === undefined) fail(`--${option} must be a duration like ${durationExamples}, got "${text}"`);
    return (ms as number) / 1000;
  };
  /** A finite number (the library checks its range). */
  const integer = (option: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v)) fail(`--${option} must be a number, got "${text}"`);
    return v;
  };
  const parse = (options: NonNullable<ParseArgsConfig["options"]>): ScriptValues => {
    let values: ScriptValues;
    try {
      values = parseArgs({ options: { ...options, help: { type: "boolean", default: false } } }).values;
    } catch (error) {
      return fail(error instanceof Error ? error.message : String(error));
    }
    if (values.help) {
      process.stdout.write(help);
      process.exit(0);
    }
    return values;
  };
  return { parse, fail, seconds, integer };
}
