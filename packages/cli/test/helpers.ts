import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The packages/cli directory, the root oclif loads the CLI from. */
export const CLI_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const CLI_BIN = fileURLToPath(new URL("../bin/run.js", import.meta.url));

export interface BinResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built `meshctl` binary the way a user does (stdout piped, so plain text or JSON).
 *
 * @example
 * const { code, stdout } = await runMeshctl(["diagnose", "--json"]);
 */
export function runMeshctl(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<BinResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
