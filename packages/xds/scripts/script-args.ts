/**
 * Usage errors and number/duration options for the benchmark scripts (soak, storm): a bad value
 * prints what was wrong and the help, and exits 2.
 */
import { parseDurationMs } from "../src/index.js";

/**
 * @example
 * const { fail, seconds, integer } = scriptArgs("soak", HELP, "30m, 90s or 1h");
 * const duration = seconds("duration", values.duration); // 1800 for "30m"
 */
export interface ScriptArgs {
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
  return { fail, seconds, integer };
}
