#!/usr/bin/env bash
# Builds istiod (Istio's pilot-discovery) from the Go module proxy into .tools/istiod/bin/.
# The scratch module is bench/peers/istiod/ (go.mod pinning istio.io/istio at a pseudo-version,
# go.sum, tools.go), committed for reproducibility.
#
#   bash scripts/peers/build-istiod.sh          # build if missing or out of date
#   bash scripts/peers/build-istiod.sh --force  # rebuild
#
# Idempotent: skips when the binary exists and .tools/istiod/bin/.stamp matches the hash of
# go.mod, go.sum, the build flags and the Go version. Cold: about 6 min on 2 cores (Go caches
# are kept, so warm rebuilds take seconds). istiod needs a Kubernetes API server at run time:
# build that with scripts/peers/build-kube.sh; bench/peers/istiod/launch.mjs starts both.
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MOD="$ROOT/bench/peers/istiod"
OUT="$ROOT/.tools/istiod/bin"
STAMP="$OUT/.stamp"
NAME=pilot-discovery

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-istiod: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

require_go build-istiod "pilot-discovery (istio.io/istio, go 1.26.0)"

lock_output_dir "$OUT"

# Stamp the version so `pilot-discovery version` reports the pinned module, not "unknown".
istio_version="$(awk '$1 == "require" && $2 == "istio.io/istio" { print $3 } $1 == "istio.io/istio" { print $2 }' "$MOD/go.mod" | sed -n 1p)"
vpkg=istio.io/istio/pkg/version
ldflags="-s -w -X $vpkg.buildVersion=$istio_version -X $vpkg.buildStatus=Clean -X $vpkg.buildTag=$istio_version"

stamp="$(
  {
    cat "$MOD/go.mod" "$MOD/go.sum"
    echo "$ldflags"
    go env GOVERSION GOOS GOARCH
  } | sha256sum | cut -d' ' -f1
)"

if ((!force)) && [[ -x "$OUT/$NAME" && -f "$STAMP" && "$(cat "$STAMP")" == "$stamp" ]]; then
  echo "build-istiod: up to date (${OUT#"$ROOT"/}/$NAME)"
  exit 0
fi
rm -f "$STAMP"

export GOFLAGS="-mod=mod -buildvcs=false"
cd "$MOD"
echo "build-istiod: downloading modules (first run: a few hundred MB)..."
go mod download
echo "build-istiod: building $NAME $istio_version (about 6 min cold)..."
t0=$SECONDS
go build -trimpath -ldflags "$ldflags" -o "$OUT/.$NAME.tmp" istio.io/istio/pilot/cmd/pilot-discovery
mv -f "$OUT/.$NAME.tmp" "$OUT/$NAME"
echo "$stamp" >"$STAMP"
echo "build-istiod: built $NAME in $((SECONDS - t0)) s ($(du -m "$OUT/$NAME" | cut -f1) MiB)"
"$OUT/$NAME" version --short 2>/dev/null || true
echo "build-istiod: done (${OUT#"$ROOT"/}/$NAME)"
