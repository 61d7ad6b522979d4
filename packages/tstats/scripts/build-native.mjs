#!/usr/bin/env node
// Compiles native/ into obj/ (libtstats.so, the Envoy dynamic module, and tstats.wasm, its
// proxy-wasm build) so that the published package carries ready modules and users need no
// compiler. Run by `npm run build` before tsup. Usage: node scripts/build-native.mjs [native|wasm|all]
// Without clang it skips with a warning (the TypeScript part still builds); any other failure
// (a compiler error, a missing Wasm toolchain) fails the build.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const say = (text) => process.stdout.write(`${text}\n`);
const sayErr = (text) => process.stderr.write(`${text}\n`);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const outDir = join(root, "obj");
const clang = process.env.CLANG ?? "clang";
const target = process.argv[2] ?? "all";
const outputs = { native: ["libtstats.so"], wasm: ["tstats.wasm"], all: ["libtstats.so", "tstats.wasm"] }[
  target
];
if (!outputs) {
  sayErr(`build-native: unknown target "${target}" (native, wasm or all)`);
  process.exit(2);
}

function hasClang() {
  try {
    execFileSync(clang, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(c|h|sh)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

const script = join(nativeDir, "build.sh");
if (!existsSync(script)) {
  sayErr(`build-native: ${script} is missing`);
  process.exit(1);
}
const newest = newestSource(nativeDir);
const upToDate = outputs.every(
  (f) => existsSync(join(outDir, f)) && statSync(join(outDir, f)).mtimeMs >= newest,
);
if (upToDate) {
  say(`build-native: obj/${outputs.join(", obj/")} up to date`);
  process.exit(0);
}
if (!hasClang()) {
  sayErr(
    `build-native: warning: \`${clang}\` was not found, so obj/${outputs.join(", obj/")} were not built. ` +
      "Install clang (and lld-14, wasi-libc, libclang-rt-14-dev-wasm32 for the Wasm build; " +
      "scripts/system-packages.txt lists them) or set CLANG=/path/to/clang, then `meshctl tstats build`.",
  );
  process.exit(0);
}
execFileSync("bash", [script, outDir, target], { stdio: "inherit" });
for (const f of outputs) {
  if (!existsSync(join(outDir, f))) {
    sayErr(`build-native: ${script} succeeded but did not write obj/${f}`);
    process.exit(1);
  }
  say(`build-native: obj/${f} (${statSync(join(outDir, f)).size} bytes)`);
}
