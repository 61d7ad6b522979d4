#!/usr/bin/env bash
# Installs the peer load generators compared by compare-peers.mjs into a repo-local GOBIN
# (.tools/bin) so nothing lands in the user's PATH. wrk and sockperf come from Debian
# (scripts/setup.mjs); autocannon is a devDependency of @meshctl/bench.
set -euo pipefail
repo_root="$(cd "$(dirname "$0")/../../.." && pwd)"
export GOBIN="${repo_root}/.tools/bin"
mkdir -p "${GOBIN}"
if [[ -x "${GOBIN}/fortio" ]]; then
  echo "fortio already installed: $("${GOBIN}/fortio" version)"
else
  command -v go >/dev/null || { echo "go is required to install fortio (https://go.dev/dl/)" >&2; exit 1; }
  # @latest first; fortio >= 1.69 needs grol.io/grol, which some module proxies refuse (403),
  # so fall back to 1.68.2, the newest release without it (same load/report features we use).
  go install "fortio.org/fortio@${FORTIO_VERSION:-latest}" || go install fortio.org/fortio@v1.68.2
  echo "installed fortio $("${GOBIN}/fortio" version) into ${GOBIN}"
fi
# nginx: a C HTTP/1.1 target for the throughput comparison (--target nginx), so the generators,
# not a saturated Node server, decide the rate. Debian's package starts a service on :80 on
# systemd machines: stop and disable it, compare-peers starts its own instance on loopback.
if ! command -v nginx >/dev/null; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light
    if command -v systemctl >/dev/null; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  else
    echo "missing: nginx (apt-get install -y nginx-light), needed for --target nginx" >&2
  fi
fi
for tool in wrk sockperf; do
  command -v "$tool" >/dev/null || echo "missing: $tool (apt-get install -y $tool)" >&2
done
