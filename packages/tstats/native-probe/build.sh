#!/usr/bin/env bash
# Builds libtstats_probe.so (the Envoy dynamic module) with clang.
# Usage: ./build.sh [abi-version-string]   (default v0.2.0, the one Envoy 1.40 reports as matched)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p out
clang -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
  -DTSTATS_ENVOY_ABI_VERSION="\"${1:-v0.2.0}\"" \
  -o out/libtstats_probe.so tstats_probe.c
echo "built out/libtstats_probe.so"
nm -D --defined-only out/libtstats_probe.so | grep -c envoy_dynamic_module_on_ | sed 's/^/exported hooks: /'
