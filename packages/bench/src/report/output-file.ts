import { constants } from "node:fs";
import { access, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { isMeshctlError, MeshctlError } from "@meshctl/core";

/** The OS reason for a file error, in words, with its code: "permission denied (EACCES)". */
function osReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const words: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "read-only file system",
    EISDIR: "is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ENOSPC: "no space left on the device",
    EDQUOT: "disk quota exceeded",
    ENAMETOOLONG: "file name too long",
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

function unwritable(flag: string, path: string, reason: string, cause?: unknown): MeshctlError {
  return new MeshctlError("BENCH_OUTPUT_UNWRITABLE", `--${flag} ${path} cannot be written: ${reason}.`, {
    kind: "usage",
    suggestions: [`Pass a --${flag} path in an existing directory you can write to.`],
    details: { flag, path, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Checks, before a run starts, that a report file can be written: its directory exists and is
 * writable, and the path is not a directory or read-only. A long run is then not lost to a typo.
 * Creates nothing.
 *
 * @example
 * await checkReportPath("out/report.html", "html"); // throws BENCH_OUTPUT_UNWRITABLE if out/ is missing
 */
export async function checkReportPath(path: string, flag: string): Promise<void> {
  const full = resolve(path);
  try {
    const s = await stat(full);
    if (s.isDirectory()) throw unwritable(flag, path, "it is a directory");
    await access(full, constants.W_OK);
    return;
  } catch (err) {
    if (isMeshctlError(err)) throw err;
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw unwritable(flag, path, osReason(err), err);
  }
  const dir = dirname(full);
  try {
    const d = await stat(dir);
    if (!d.isDirectory()) throw unwritable(flag, path, `${dir} is not a directory`);
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (isMeshctlError(err)) throw err;
    const e = err as NodeJS.ErrnoException;
    throw unwritable(
      flag,
      path,
      e.code === "ENOENT" ? `the directory ${dir} does not exist` : `directory ${dir}: ${osReason(err)}`,
      err,
    );
  }
}

/**
 * Writes a report file; an OS error becomes a usage error naming the flag, the path and the reason.
 *
 * @example
 * await writeReportFile("report.html", html, "html");
 */
export async function writeReportFile(path: string, content: string, flag: string): Promise<void> {
  try {
    await writeFile(path, content);
  } catch (err) {
    throw unwritable(flag, path, osReason(err), err);
  }
}
