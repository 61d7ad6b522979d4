#!/usr/bin/env bash
# Builds a real kube-apiserver (v1.37.2) and etcd (v3.7.0) from the Go module proxy into
# .tools/kube/bin/ (and kubectl with --kubectl). The scratch module is bench/peers/kube/
# (go.mod with the staging `replace` list, go.sum, tools.go), committed for reproducibility.
#
#   bash scripts/peers/build-kube.sh            # kube-apiserver + etcd
#   bash scripts/peers/build-kube.sh --kubectl  # also kubectl
#   bash scripts/peers/build-kube.sh --force    # rebuild even if up to date
#
# Idempotent: skips when the binaries exist and .tools/kube/bin/.stamp matches the hash of
# go.mod, go.sum, the build flags and the Go version. Cold: about 5 min on 2 cores, ~2.4 GB
# peak memory, ~3.7 GB of Go caches (kept in the usual GOMODCACHE/GOCACHE, so warm rebuilds
# take seconds).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_VERSION=v1.37.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MOD="$ROOT/bench/peers/kube"
OUT="$ROOT/.tools/kube/bin"
STAMP="$OUT/.stamp"

want_kubectl=0
force=0
for arg in "$@"; do
  case "$arg" in
    --kubectl) want_kubectl=1 ;;
    --force) force=1 ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-kube: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

require_go build-kube "kube-apiserver/etcd"

lock_output_dir "$OUT"

maj="${KUBE_VERSION#v}"
maj="${maj%%.*}"
min="$(echo "$KUBE_VERSION" | cut -d. -f2)"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$maj -X $pkg.gitMinor=$min -X $pkg.gitTreeState=clean"

stamp="$(
  {
    cat "$MOD/go.mod" "$MOD/go.sum"
    echo "$ldflags"
    go env GOVERSION GOOS GOARCH
  } | sha256sum | cut -d' ' -f1
)"

bins=(kube-apiserver etcd)
((want_kubectl)) && bins+=(kubectl)

if ((!force)) && [[ -f "$STAMP" && "$(cat "$STAMP")" == "$stamp" ]]; then
  missing=0
  for b in "${bins[@]}"; do [[ -x "$OUT/$b" ]] || missing=1; done
  if ((!missing)); then
    echo "build-kube: up to date (${bins[*]} in ${OUT#"$ROOT"/})"
    exit 0
  fi
fi

# A stamp mismatch invalidates everything already built.
if [[ -f "$STAMP" && "$(cat "$STAMP")" != "$stamp" ]] || ((force)); then
  rm -f "$OUT/kube-apiserver" "$OUT/etcd" "$OUT/kubectl" "$STAMP"
fi

export GOFLAGS="-mod=mod -buildvcs=false"
cd "$MOD"

build() { # build <name> <package> <about> [ldflags]
  local name="$1" pkgpath="$2" about="$3" flags="${4:--s -w}"
  if [[ -x "$OUT/$name" && -f "$STAMP" && "$(cat "$STAMP")" == "$stamp" ]]; then
    echo "build-kube: $name already built"
    return
  fi
  echo "build-kube: building $name ($about)..."
  local t0=$SECONDS
  go build -trimpath -ldflags "$flags" -o "$OUT/.$name.tmp" "$pkgpath"
  mv -f "$OUT/.$name.tmp" "$OUT/$name"
  echo "build-kube: built $name in $((SECONDS - t0)) s ($(du -m "$OUT/$name" | cut -f1) MiB)"
}

echo "build-kube: downloading modules (first run: a few hundred MB)..."
go mod download
build etcd go.etcd.io/etcd/server/v3 "about 2 min with a cold Go cache, seconds warm"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "about 4 min cold" "$ldflags"
if ((want_kubectl)); then
  build kubectl k8s.io/kubernetes/cmd/kubectl "about 20 s after kube-apiserver" "$ldflags"
fi
# Written last: an interrupted build leaves no stamp and the next run rebuilds (warm cache).
echo "$stamp" >"$STAMP"
"$OUT/kube-apiserver" --version
"$OUT/etcd" --version | sed -n 1p # sed reads it all: head would SIGPIPE etcd under pipefail (exit 141)
echo "build-kube: done (${bins[*]} in ${OUT#"$ROOT"/})"
