/**
 * Where Istio's own samples are: the `istio.io/istio` Go module that istiod is built from
 * (pinned in bench/peers/istiod/go.mod), in the Go module cache. The parity corpus reads the
 * sample YAML from there at run time, so config nobody here wrote is compared, at the exact
 * version of the istiod it is compared with.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ExternalCommandError, MeshctlError, runCommand } from "@meshctl/core";
import { findRepoRoot } from "../load/target.js";

export interface IstioModule {
  /** The pinned version, e.g. `v0.0.0-20260827124520-eed52ebb66ad`. */
  readonly version: string;
  /** The module's source directory (read-only, in the Go module cache). */
  readonly dir: string;
}

const MODULE = "istio.io/istio";

/** The istio.io/istio version pinned by the istiod peer's go.mod. */
export function pinnedIstioVersion(goMod: string): string | undefined {
  for (const line of goMod.split("\n")) {
    const m = /^\s*(?:require\s+)?istio\.io\/istio\s+(v\S+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

function missing(message: string, cause?: unknown): MeshctlError {
  return new MeshctlError("XDS_LOAD_PEER_MISSING", message, {
    kind: "environment",
    ...(cause === undefined ? {} : { cause }),
    suggestions: [
      "Build istiod once (it downloads the module): bash scripts/peers/build-istiod.sh",
      "Or download it: (cd bench/peers/istiod && go mod download istio.io/istio)",
    ],
  });
}

async function goOutput(args: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  try {
    return (await runCommand("go", args, { cwd, timeoutMs })).stdout;
  } catch (cause) {
    const why =
      cause instanceof ExternalCommandError
        ? cause.code === "EXTERNAL_PROGRAM_MISSING"
          ? "go is not on PATH"
          : cause.message
        : String(cause);
    throw missing(`The Istio samples could not be located: ${why}.`, cause);
  }
}

/**
 * Finds the pinned istio.io/istio module source: `$(go env GOMODCACHE)/istio.io/istio@<version>`,
 * else `go mod download -json` (bounded) in bench/peers/istiod. Throws `XDS_PARITY_PEER_MISSING`
 * (environment) when neither works.
 *
 * @example
 * const { dir } = await locateIstioModule();
 * readFileSync(join(dir, "samples/bookinfo/platform/kube/bookinfo.yaml"), "utf8");
 */
export async function locateIstioModule(
  options: { readonly repoRoot?: string; readonly downloadTimeoutMs?: number } = {},
): Promise<IstioModule> {
  const root = options.repoRoot ?? findRepoRoot();
  const peerDir = root ? join(root, "bench/peers/istiod") : undefined;
  if (!peerDir || !existsSync(join(peerDir, "go.mod")))
    throw missing("bench/peers/istiod/go.mod (which pins the Istio version) was not found.");
  const version = pinnedIstioVersion(readFileSync(join(peerDir, "go.mod"), "utf8"));
  if (!version) throw missing(`bench/peers/istiod/go.mod does not require ${MODULE}.`);
  const cache = (await goOutput(["env", "GOMODCACHE"], peerDir, 15_000)).trim();
  const cached = join(cache, `${MODULE}@${version}`);
  if (cache && existsSync(join(cached, "samples"))) return { version, dir: cached };
  const json = await goOutput(
    ["mod", "download", "-json", `${MODULE}@${version}`],
    peerDir,
    options.downloadTimeoutMs ?? 600_000,
  );
  let dir: string | undefined;
  try {
    dir = (JSON.parse(json) as { Dir?: string }).Dir;
  } catch (cause) {
    throw missing(`go mod download -json ${MODULE}@${version} did not print JSON.`, cause);
  }
  if (!dir || !existsSync(join(dir, "samples")))
    throw missing(`${MODULE}@${version} was downloaded but has no samples directory (${dir ?? "no Dir"}).`);
  return { version, dir };
}
