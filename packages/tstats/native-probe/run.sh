#!/usr/bin/env bash
# Starts the stock Envoy with the probe module, sends N requests, prints the module's metrics.
# Usage: ./run.sh [N]   (default 25). Needs ./build.sh first. Stops its own Envoy on exit.
set -euo pipefail
cd "$(dirname "$0")"
N="${1:-25}"
ENVOY="${ENVOY:-/usr/local/bin/envoy}"
"$ENVOY" --version
ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$PWD/out" "$ENVOY" -c "${BOOTSTRAP:-envoy.yaml}" --concurrency 1 --disable-hot-restart \
  --log-level info --component-log-level dynamic_modules:debug >out/envoy.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs -o /dev/null http://127.0.0.1:19901/ready && break
  kill -0 $PID 2>/dev/null || { echo "envoy exited:"; cat out/envoy.log; exit 1; }
  sleep 0.1
done
grep -iE 'dynamic module|abi' out/envoy.log || true
ok=0
for _ in $(seq 1 "$N"); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/)" = 200 ] && ok=$((ok+1))
done
echo "sent $N requests, $ok answered 200"
echo "--- /stats/prometheus | grep tstats_probe"
curl -s http://127.0.0.1:19901/stats/prometheus | grep tstats_probe
echo "--- /stats?filter=tstats_probe"
curl -s 'http://127.0.0.1:19901/stats?filter=tstats_probe'
