/** The example mesh shipped with the package (examples/default), served when no --config is given. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Absolute path of the embedded example mesh directory.
 *
 * @example
 * await startXdsServer({ configDir: defaultMeshDirectory() });
 */
export function defaultMeshDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/ and dist/ are both one level below the package root.
  const candidates = [join(here, "..", "examples", "default"), join(here, "..", "..", "examples", "default")];
  try {
    const require = createRequire(import.meta.url);
    candidates.push(join(dirname(require.resolve("@meshctl/xds/package.json")), "examples", "default"));
  } catch {
    // not resolvable from here (e.g. bundled): the relative candidates remain
  }
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}
