#!/usr/bin/env bash
# Builds the proxy-wasm (ABI 0.2.1) tstats filter: OUTDIR/tstats.wasm.
# Usage: packages/tstats/native/wasm/build.sh OUTDIR
# Toolchain (Debian 12): clang (14) + apt packages wasi-libc lld-14 libclang-rt-14-dev-wasm32.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:?usage: build.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
APT_PKGS="wasi-libc lld-14 libclang-rt-14-dev-wasm32"

missing() {
  echo "build.sh: $1" >&2
  echo "build.sh: install the Wasm toolchain with: apt-get install -y clang $APT_PKGS" >&2
  exit 1
}

CC="${CC:-clang}"
command -v "$CC" >/dev/null || missing "no C compiler '$CC' (package clang)"
SYSROOT="${WASI_SYSROOT:-/usr}"
[ -f "$SYSROOT/lib/wasm32-wasi/libc.a" ] && [ -f "$SYSROOT/include/wasm32-wasi/stdlib.h" ] ||
  missing "no wasi-libc sysroot at $SYSROOT (lib/wasm32-wasi/libc.a; package wasi-libc)"
RT="$("$CC" --target=wasm32-wasi -print-libgcc-file-name -rtlib=compiler-rt 2>/dev/null || true)"
[ -n "$RT" ] && [ -f "$RT" ] || missing "no compiler-rt builtins for wasm32 ('$RT'; package libclang-rt-14-dev-wasm32)"

# wasm-ld: clang looks for `wasm-ld` next to itself and on PATH; Debian's lld-14 installs it as
# /usr/lib/llvm-14/bin/wasm-ld and /usr/bin/wasm-ld-14. Pass it explicitly.
LLVM_BIN="$("$CC" -print-prog-name=clang 2>/dev/null | xargs -r dirname 2>/dev/null || true)"
WASM_LD="${WASM_LD:-}"
for c in "$LLVM_BIN/wasm-ld" "$(command -v wasm-ld-14 || true)" "$(command -v wasm-ld || true)" /usr/lib/llvm-14/bin/wasm-ld; do
  [ -z "$WASM_LD" ] && [ -n "$c" ] && [ -x "$c" ] && WASM_LD="$c"
done
[ -n "$WASM_LD" ] || missing "no wasm-ld linker (package lld-14)"
# clang 14's wasm toolchain ignores --ld-path but takes an absolute -fuse-ld= (otherwise it runs
# the `wasm-ld` it finds next to itself or on PATH, which Debian does not provide under that name).
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

SRC="$HERE/../src"
CFLAGS=(--target=wasm32-wasi --sysroot="$SYSROOT" -O2 -std=c11 -Wall -Wextra -Werror -fvisibility=hidden -I"$SRC")
"$CC" "${CFLAGS[@]}" -c -o "$TMP/proxy_wasm_module.o" "$HERE/proxy_wasm_module.c"
"$CC" "${CFLAGS[@]}" -c -o "$TMP/tstats_core.o" "$SRC/tstats_core.c"
# reactor: crt1-reactor.o exports _initialize (runs constructors); the proxy_on_* entry points are
# exported by their export_name attributes.
"$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -fuse-ld="$WASM_LD" -mexec-model=reactor \
  -Wl,--strip-debug -Wl,--gc-sections \
  -o "$OUT/tstats.wasm" "$TMP/proxy_wasm_module.o" "$TMP/tstats_core.o"

echo "built $OUT/tstats.wasm ($(wc -c <"$OUT/tstats.wasm") bytes) with $("$CC" --version | head -1), $WASM_LD"
