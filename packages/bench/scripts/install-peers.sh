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
for tool in wrk sockperf; do
  command -v "$tool" >/dev/null || echo "missing: $tool (apt-get install -y $tool)" >&2
done
