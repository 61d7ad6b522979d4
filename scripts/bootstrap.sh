#!/usr/bin/env bash
# First stage of setup, plain bash because nothing is installed yet: check Node, install npm
# dependencies, then hand over to scripts/setup.mjs (zx) for system packages and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e '
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`meshctl needs Node.js >= 20.19 (found ${process.version}).`);
  process.exit(1);
}'

# npm ci only when the lockfile changed since the last install (fast re-runs, exact CI installs).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

exec node scripts/setup.mjs "$@"
