import type { Readable } from "node:stream";
import { execa } from "execa";
import { MeshctlError } from "./errors.js";

/** A program meshctl ran that failed, with everything needed to explain why. */
export class ExternalCommandError extends MeshctlError {
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode_: number | undefined;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(init: {
    command: string;
    args: readonly string[];
    exitCode: number | undefined;
    stderr: string;
    timedOut: boolean;
    notFound: boolean;
    cause?: unknown;
  }) {
    const line = [init.command, ...init.args].join(" ");
    const reason = init.notFound
      ? "program not found"
      : init.timedOut
        ? "timed out"
        : `exit code ${init.exitCode ?? "?"}`;
    const tail = init.stderr.trim().split("\n").slice(-3).join(" | ");
    super(
      init.notFound ? "EXTERNAL_PROGRAM_MISSING" : "EXTERNAL_COMMAND_FAILED",
      `\`${line}\` failed (${reason})${tail ? `: ${tail}` : ""}`,
      {
        kind: "external",
        cause: init.cause,
        suggestions: init.notFound ? [`Install \`${init.command}\` (see \`meshctl diagnose\`).`] : [],
        details: {
          command: init.command,
          args: init.args,
          exitCode: init.exitCode,
          stderr: init.stderr,
          timedOut: init.timedOut,
        },
      },
    );
    this.name = "ExternalCommandError";
    this.command = init.command;
    this.args = init.args;
    this.exitCode_ = init.exitCode;
    this.stderr = init.stderr;
    this.timedOut = init.timedOut;
  }
}

export interface RunOptions {
  /** Milliseconds before the program is killed; default 30 s. */
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Return the result instead of throwing on a non-zero exit. */
  readonly reject?: boolean;
}

export interface RunResult {
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The one way meshctl runs external programs (bpftool, ip, iptables, haproxy, ...).
 * Timeouts, stderr capture and a typed `ExternalCommandError` live here, nowhere else.
 *
 * @example
 * const { stdout } = await runCommand("ip", ["-j", "netns", "list"]);
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  try {
    const result = await execa(command, [...args], {
      timeout: options.timeoutMs ?? 30_000,
      reject: false,
      stripFinalNewline: true,
      ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    const notFound =
      (result as { code?: string }).code === "ENOENT" || /ENOENT/.test(String(result.message ?? ""));
    const exitCode = result.exitCode ?? -1;
    if ((exitCode !== 0 || result.timedOut || notFound) && options.reject !== false) {
      throw new ExternalCommandError({
        command,
        args,
        exitCode: result.exitCode,
        stderr: String(result.stderr ?? ""),
        timedOut: Boolean(result.timedOut),
        notFound,
        cause: result.cause,
      });
    }
    return {
      command,
      args,
      exitCode: notFound ? 127 : exitCode,
      stdout: String(result.stdout ?? ""),
      stderr: String(result.stderr ?? ""),
    };
  } catch (error) {
    if (error instanceof ExternalCommandError) throw error;
    throw new ExternalCommandError({
      command,
      args,
      exitCode: undefined,
      stderr: "",
      timedOut: false,
      notFound: false,
      cause: error,
    });
  }
}

/**
 * Runs a program that prints JSON (`bpftool -j`, `ip -j`) and parses its output.
 *
 * @example
 * const links = await runJson<{ ifname: string }[]>("ip", ["-j", "link", "show"]);
 */
export async function runJson<T>(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<T> {
  const result = await runCommand(command, args, options);
  try {
    return JSON.parse(result.stdout || "null") as T;
  } catch (cause) {
    throw new ExternalCommandError({
      command,
      args,
      exitCode: result.exitCode,
      stderr: `output is not JSON: ${result.stdout.slice(0, 200)}`,
      timedOut: false,
      notFound: false,
      cause,
    });
  }
}

/** A long-running program started by {@link spawnProgram}. */
export interface SpawnedProgram {
  readonly pid: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Resolves when the program ends, with its exit code (undefined when killed by a signal). */
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  kill(signal?: NodeJS.Signals): boolean;
}

/**
 * Starts a long-running program (a proxy, an echo server) and returns a handle.
 * The caller owns it and must kill it.
 *
 * @example
 * const haproxy = spawnProgram("haproxy", ["-f", cfg, "-db"]);
 * haproxy.kill();
 */
export function spawnProgram(
  command: string,
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; cwd?: string } = {},
): SpawnedProgram {
  const child = execa(command, [...args], {
    reject: false,
    buffer: false,
    stdin: "ignore",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const exited = Promise.resolve(child).then((r) => ({ exitCode: r.exitCode, signal: r.signal }));
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill: (signal) => child.kill(signal),
  };
}

/**
 * The absolute path of a program on PATH, or undefined.
 *
 * @example
 * const bpftool = await findProgram("bpftool");
 */
export async function findProgram(name: string): Promise<string | undefined> {
  const { access, constants } = await import("node:fs/promises");
  const { delimiter, join } = await import("node:path");
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin", "/usr/local/sbin"]);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
