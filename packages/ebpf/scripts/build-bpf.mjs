#!/usr/bin/env node
// Compiles bpf/*.bpf.c into obj/*.bpf.o so that the published package carries ready objects
// and users need no compiler. Run by `npm run build` before tsup.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const say = (text) => process.stdout.write(`${text}\n`);
const sayErr = (text) => process.stderr.write(`${text}\n`);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "bpf");
const outDir = join(root, "obj");
const clang = process.env.CLANG ?? "clang";

const multiarch = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" }[process.arch];
const includeDirs = [srcDir, ...(multiarch ? [`/usr/include/${multiarch}`] : [])];

function hasClang() {
  try {
    execFileSync(clang, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const sources = readdirSync(srcDir).filter((f) => f.endsWith(".bpf.c"));
const headers = readdirSync(srcDir).filter((f) => f.endsWith(".h"));
mkdirSync(outDir, { recursive: true });

const clangAvailable = hasClang();
for (const source of sources) {
  const input = join(srcDir, source);
  const output = join(outDir, source.replace(/\.c$/, ".o"));
  const newest = Math.max(statSync(input).mtimeMs, ...headers.map((h) => statSync(join(srcDir, h)).mtimeMs));
  if (existsSync(output) && statSync(output).mtimeMs >= newest) continue;
  if (!clangAvailable) {
    sayErr(
      `build-bpf: ${source} needs compiling but \`${clang}\` was not found. Install clang, llvm and libbpf-dev ` +
        "(node scripts/setup.mjs does) or set CLANG=/path/to/clang.",
    );
    process.exit(1);
  }
  const args = [
    "-O2",
    "-g",
    "-target",
    "bpf",
    "-Wall",
    "-Werror",
    ...includeDirs.map((d) => `-I${d}`),
    "-c",
    input,
    "-o",
    output,
  ];
  execFileSync(clang, args, { stdio: "inherit" });
  say(`build-bpf: ${source} -> obj/${source.replace(/\.c$/, ".o")}`);
}
