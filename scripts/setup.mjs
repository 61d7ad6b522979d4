#!/usr/bin/env node
// Second stage of setup (zx): Debian packages when root, the pinned Envoy, then the build of every package.
// Idempotent: re-running skips what is already there.
import { $, chalk, fs, path } from "zx";

$.verbose = false;
const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);

const wanted = (await fs.readFile("scripts/system-packages.txt", "utf8"))
  .split("\n")
  .map((line) => line.replace(/#.*/, "").trim())
  .filter(Boolean);

async function missingPackages() {
  const missing = [];
  for (const pkg of wanted) {
    // dpkg-query field syntax, not a JS template.
    const format = ["$", "{Status}"].join("");
    const status = await $`dpkg-query -W -f=${format} ${pkg}`.nothrow();
    if (!status.stdout.includes("install ok installed")) missing.push(pkg);
  }
  return missing;
}

const hasApt = (await $`command -v apt-get`.nothrow()).exitCode === 0;
if (!hasApt) {
  console.log(chalk.yellow("setup: no apt-get here; install these yourself: ") + wanted.join(" "));
} else {
  const missing = await missingPackages();
  if (missing.length === 0) {
    console.log("setup: system packages present");
  } else if (process.getuid?.() !== 0) {
    console.log(
      chalk.yellow(
        `setup: not root, cannot install: ${missing.join(" ")} (run: sudo apt-get install -y ${missing.join(" ")})`,
      ),
    );
  } else {
    console.log(`setup: apt-get install ${missing.join(" ")}`);
    process.env.DEBIAN_FRONTEND = "noninteractive";
    await $`apt-get update -qq`;
    await $`apt-get install -y -qq --no-install-recommends ${missing}`.pipe(process.stdout);
  }
}

// The pinned stock Envoy (sidecar for the lab, real-Envoy tests); cached in .tools/envoy.
// stdio inherited so its progress line and any error message reach the user as written.
const envoy = await $({ stdio: "inherit" })`bash scripts/install-envoy.sh`.nothrow();
if (envoy.exitCode !== 0) {
  console.error(
    chalk.red(`setup: failed installing Envoy (scripts/install-envoy.sh exited ${envoy.exitCode})`),
  );
  process.exit(envoy.exitCode ?? 1);
}

console.log("setup: building packages (nx, cached)");
await $`npx nx run-many -t build --outputStyle=static`.pipe(process.stdout);
console.log(chalk.green("setup: done"));
