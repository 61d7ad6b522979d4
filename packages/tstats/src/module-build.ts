/**
 * Compiling the tstats module (`meshctl tstats build`, `npm run build`): native/build.sh does the
 * compiling (its contract: `build.sh OUTDIR [native|wasm|all]` writes OUTDIR/libtstats.so and/or
 * OUTDIR/tstats.wasm, exits non-zero with a message when a compiler is missing); this runs it and
 * reports what it produced.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ExternalCommandError, MeshctlError, runCommand } from "@meshctl/core";
import { TSTATS_MODULE_FILE_NAMES, type TstatsModuleKind, tstatsObjDir } from "./module-filter.js";

export type TstatsBuildTarget = TstatsModuleKind | "all";
export const TSTATS_BUILD_TARGETS: readonly TstatsBuildTarget[] = ["native", "wasm", "all"];

export interface TstatsBuildOptions {
  /** Output directory. Default: the package's `obj/`, where the control plane looks. */
  readonly outDir?: string;
  /** Default `all`. */
  readonly target?: TstatsBuildTarget;
  /** The build script. Default: the package's `native/build.sh`. */
  readonly script?: string;
  /** Default 5 minutes. */
  readonly timeoutMs?: number;
}

export interface TstatsBuiltFile {
  readonly kind: TstatsModuleKind;
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface TstatsBuildResult {
  readonly outDir: string;
  readonly target: TstatsBuildTarget;
  readonly files: readonly TstatsBuiltFile[];
  /** What the build script printed (stdout, then stderr). */
  readonly output: string;
}

/** The package's build script (shipped in the npm package with the C sources). */
export function tstatsBuildScriptPath(): string {
  return fileURLToPath(new URL("../native/build.sh", import.meta.url));
}

async function describeFile(kind: TstatsModuleKind, path: string): Promise<TstatsBuiltFile> {
  const [info, bytes] = await Promise.all([stat(path), readFile(path)]);
  return { kind, path, bytes: info.size, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * Compiles the module(s) with native/build.sh and returns the files with sizes and sha256.
 *
 * @example
 * const { files } = await buildTstatsModules({ target: "native" });
 * files[0]; // { kind: "native", path: ".../obj/libtstats.so", bytes: 35712, sha256: "..." }
 */
export async function buildTstatsModules(options: TstatsBuildOptions = {}): Promise<TstatsBuildResult> {
  const target = options.target ?? "all";
  if (!TSTATS_BUILD_TARGETS.includes(target))
    throw new MeshctlError(
      "TSTATS_BUILD_TARGET_INVALID",
      `Unknown build target "${target}" (one of ${TSTATS_BUILD_TARGETS.join(", ")}).`,
      { kind: "usage" },
    );
  const script = options.script ?? tstatsBuildScriptPath();
  if (!existsSync(script))
    throw new MeshctlError("TSTATS_BUILD_SCRIPT_MISSING", `The tstats build script ${script} is missing.`, {
      kind: "environment",
      suggestions: ["Reinstall @meshctl/tstats: its npm package ships native/ with the C sources."],
    });
  const outDir = resolve(options.outDir ?? tstatsObjDir());
  let output: string;
  try {
    const result = await runCommand("bash", [script, outDir, target], {
      timeoutMs: options.timeoutMs ?? 300_000,
    });
    output = [result.stdout, result.stderr].filter(Boolean).join("\n");
  } catch (cause) {
    if (!(cause instanceof ExternalCommandError)) throw cause;
    const reason = cause.timedOut
      ? "timed out"
      : cause.stderr.trim().split("\n").slice(-4).join("\n") || cause.message;
    throw new MeshctlError(
      "TSTATS_MODULE_BUILD_FAILED",
      `Building the tstats module (${target}) failed: ${reason}`,
      {
        kind: "environment",
        cause,
        suggestions: [
          "Install the compilers build.sh names (clang for native; clang, lld and wasi-libc for wasm), or pick --target native.",
        ],
        details: { script, outDir, target, stderr: cause.stderr },
      },
    );
  }
  const kinds: TstatsModuleKind[] = target === "all" ? ["native", "wasm"] : [target];
  const files: TstatsBuiltFile[] = [];
  for (const kind of kinds) {
    const path = `${outDir}/${TSTATS_MODULE_FILE_NAMES[kind]}`;
    if (!existsSync(path))
      throw new MeshctlError("TSTATS_MODULE_BUILD_FAILED", `${script} succeeded but did not write ${path}.`, {
        kind: "bug",
        details: { script, outDir, target, output },
      });
    files.push(await describeFile(kind, path));
  }
  return { outDir, target, files, output };
}
