#!/usr/bin/env node
// Runs every check the project has: format/lint, typecheck, and each package's tests (serially:
// the kernel tests share namespaces, iptables and cgroups), then prints one summary line.
import { $, chalk, fs, glob } from "zx";

$.verbose = false;
process.chdir(new URL("..", import.meta.url).pathname);

let failed = false;
async function step(name, command) {
  console.log(chalk.bold(`\n== ${name}`));
  const result = await command().nothrow().pipe(process.stdout);
  if (result.exitCode !== 0) {
    failed = true;
    // stdout went to the log as it came; say what the step wrote to stderr, which it did not.
    const stderr = result.stderr.trim();
    if (stderr) console.log(stderr.split("\n").slice(-40).join("\n"));
    console.log(chalk.red(`== ${name}: failed (exit ${result.exitCode})`));
  }
}

for (const f of await glob("packages/*/test-results.json")) await fs.remove(f);

await step("lint (biome, every package and the root)", () => $`npx biome check .`);
await step("typecheck", () => $`npx nx run-many -t typecheck --outputStyle=static`);
await step("tests", () => $`npx nx run-many -t test --parallel=1 --outputStyle=static`);

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
let skipped = 0;
for (const file of await glob("packages/*/test-results.json")) {
  const r = await fs.readJson(file);
  passed += r.numPassedTests ?? 0;
  failedTests += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`\nTests: ${passed} passed, ${failedTests} failed, ${skipped} skipped`);
process.exit(failed || failedTests > 0 ? 1 : 0);
