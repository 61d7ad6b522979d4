#!/usr/bin/env node
// Runs every check the project has: format/lint, typecheck, and each package's tests (serially:
// the kernel tests share namespaces, iptables and cgroups), then prints one summary line.
import { spawnSync } from "node:child_process";
import { chalk, fs, glob } from "zx";

process.chdir(new URL("..", import.meta.url).pathname);

let failed = false;
/** Runs a shell command with its output straight to ours, and records a non-zero exit. */
function step(name, command) {
  console.log(chalk.bold(`\n== ${name}`));
  const result = spawnSync("sh", ["-c", command], { stdio: "inherit" });
  const code = result.status ?? (result.signal ? `signal ${result.signal}` : "unknown");
  if (result.status !== 0) {
    failed = true;
    console.log(chalk.red(`== ${name}: failed (exit ${code})`));
  }
}

for (const f of await glob("packages/*/test-results.json")) await fs.remove(f);

step("lint (biome, every package and the root)", "npx biome check .");
step("typecheck", "npx nx run-many -t typecheck --outputStyle=static");
step("tests", "npx nx run-many -t test --parallel=1 --outputStyle=static");

// Every package with tests must report them, or the summary would silently leave them out.
for (const pkg of await glob("packages/*/package.json")) {
  const { scripts = {} } = await fs.readJson(pkg);
  const report = pkg.replace(/package\.json$/, "test-results.json");
  if (scripts.test && !(await fs.pathExists(report))) {
    failed = true;
    console.log(chalk.red(`== ${pkg}: its test script wrote no ${report} (add the json reporter)`));
  }
}

let passed = 0;
let failedTests = 0;
let failedFiles = 0;
let skipped = 0;
for (const file of await glob("packages/*/test-results.json")) {
  const r = await fs.readJson(file);
  passed += r.numPassedTests ?? 0;
  failedTests += r.numFailedTests ?? 0;
  // A file whose beforeAll throws fails as a suite while its tests count as skipped.
  failedFiles += r.numFailedTestSuites ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(
  `\nTests: ${passed} passed, ${failedTests} failed, ${skipped} skipped; ${failedFiles} failed test files or suites`,
);
process.exit(failed || failedTests > 0 || failedFiles > 0 ? 1 : 0);
