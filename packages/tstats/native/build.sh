#!/usr/bin/env bash
# Builds the tstats Envoy modules from native/src (and native/wasm).
# Usage: build.sh OUTDIR [native|wasm|all]   (default all)
#   native -> OUTDIR/libtstats.so  (Envoy dynamic module; clang, any Linux x86-64/aarch64)
#   wasm   -> OUTDIR/tstats.wasm   (proxy-wasm; clang + wasm-ld + wasi-libc)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTDIR [native|wasm|all]}"
target="${2:-all}"
mkdir -p "$out"
CLANG="${CLANG:-clang}"
if [[ "$target" == native || "$target" == all ]]; then
  command -v "$CLANG" >/dev/null || { echo "tstats: $CLANG not found (apt-get install clang)" >&2; exit 3; }
  "$CLANG" -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -D_POSIX_C_SOURCE=200809L \
    -o "$out/libtstats.so" "$here/src/tstats_core.c" "$here/src/envoy_module.c" "$here/src/envoy_network.c"
fi
if [[ "$target" == wasm || "$target" == all ]]; then
  bash "$here/wasm/build.sh" "$out"
fi
