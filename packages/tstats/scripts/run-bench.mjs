// Builds scripts/bench.ts (with the library sources it imports) into dist/bench.mjs and runs it
// with plain node. Not through tsx: tsx compiles with esbuild's keepNames, which wraps every
// closure in a __name() call, a per-call cost the published build (tsup) does not have and that
// would dominate the interceptor figures.
//   flock /tmp/meshctl-bench.lock node packages/tstats/scripts/run-bench.mjs [bench flags]
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(pkg, "dist", "bench.mjs");
await build({
  entryPoints: [join(pkg, "scripts", "bench.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  conditions: ["@meshctl/source"],
  keepNames: false,
  logLevel: "warning",
});
const result = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(result.status ?? 1);
