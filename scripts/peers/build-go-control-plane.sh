#!/usr/bin/env bash
# Builds the go-control-plane benchmark peer (bench/peers/go-control-plane) into
# .tools/peers/go-control-plane/gcp-peer. Needs only the Go toolchain and the Go
# module proxy; go.sum pins every module. Skips the build when the binary is newer
# than every source file. Prints the binary's path (repo-relative) on stdout.
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."

src=bench/peers/go-control-plane
out=.tools/peers/go-control-plane/gcp-peer

require_go build-go-control-plane "the go-control-plane peer (envoy v1.40.0 module)"

if [ -x "$out" ] && [ -z "$(find "$src" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$out" -print -quit)" ]; then
  echo "build-go-control-plane: up to date" >&2
  echo "$out"
  exit 0
fi

mkdir -p "$(dirname "$out")"
echo "build-go-control-plane: building $out" >&2
# -mod=readonly: go.sum must already list everything (reproducible from a fresh clone).
(cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -o "../../../$out.tmp" .)
mv -f "$out.tmp" "$out"
echo "$out"
