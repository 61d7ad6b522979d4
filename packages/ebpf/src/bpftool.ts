import { createTracer, runCommand } from "@meshctl/core";
import { classifyBpftoolFailure } from "./errors.js";

const trace = createTracer("ebpf");

/** bpftool's result when the caller handles failure itself. */
export interface BpftoolResult {
  readonly ok: boolean;
  readonly stdout: string;
  /** stderr plus the JSON `error` field bpftool prints on stdout with -j. */
  readonly errorText: string;
}

/**
 * Runs bpftool without throwing on a non-zero exit (bpftool exits 255 for "not found" lookups,
 * which callers often expect).
 */
export async function tryBpftool(args: readonly string[]): Promise<BpftoolResult & { exitCode: number }> {
  trace(() => `bpftool ${args.join(" ")}`);
  // -n: bpftool never mounts anything. Left to itself it mounts a bpffs (over a bind mount) at a pin
  // path that is not on one; meshctl checks its pin paths instead (resolvePinDir).
  const result = await runCommand("bpftool", ["-n", ...args], { timeoutMs: 30_000, reject: false });
  let jsonError = "";
  if (result.exitCode !== 0 && result.stdout.startsWith("{")) {
    try {
      jsonError = String((JSON.parse(result.stdout) as { error?: unknown }).error ?? "");
    } catch {
      jsonError = result.stdout;
    }
  }
  const errorText = [result.stderr, jsonError].filter(Boolean).join("\n");
  if (result.exitCode !== 0)
    trace(() => `bpftool exit ${result.exitCode}: ${errorText.split("\n").slice(-3).join(" | ")}`);
  return { ok: result.exitCode === 0, stdout: result.stdout, errorText, exitCode: result.exitCode };
}

/**
 * The one door to bpftool (ADR 0020): every call goes through core's runCommand and every
 * failure becomes a typed EBPF_* error. `-j` output is parsed; bpftool's text is never parsed.
 */
export async function runBpftool(args: readonly string[], action: string): Promise<string> {
  const result = await tryBpftool(args);
  if (!result.ok) {
    throw classifyBpftoolFailure(
      { args, exitCode: result.exitCode, output: result.errorText, notFound: result.exitCode === 127 },
      action,
    );
  }
  return result.stdout;
}

/** Runs `bpftool -j ...` and parses the JSON it prints. */
export async function runBpftoolJson<T>(args: readonly string[], action: string): Promise<T> {
  const stdout = await runBpftool(["-j", ...args], action);
  return JSON.parse(stdout.trim() === "" ? "null" : stdout) as T;
}
