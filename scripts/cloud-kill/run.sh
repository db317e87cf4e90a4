#!/usr/bin/env bash
# kill -9 of one node of `examples/cloud` (3 nodes behind Kamailio) under SIPp
# load: prints SIPp's cumulative successes/failures per second and the calls
# the survivors closed as node_failure. Needs kamailio, sipp, DATABASE_URL,
# REDIS_URL. Usage: scripts/cloud-kill/run.sh [CLOUD_BINARY]
# (default: target/debug/examples/cloud; build it with cargo build --example cloud)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/target}/debug/examples/cloud}
: "${DATABASE_URL:?}" "${REDIS_URL:?}"
out=$(mktemp -d)
"$bin" --nodes 3 --sip 25060 >"$out/cloud.out" 2>"$out/cloud.err" &
cloud=$!
trap 'kill -TERM $cloud 2>/dev/null || true; rm -rf "$out"' EXIT
sleep 6
victim=$(grep '"id":"n2"' "$out/cloud.out" | head -1 | sed 's/.*"pid":\([0-9]*\).*/\1/')
sipp 127.0.0.1:25060 -sf "$here/callcore-premise/tests/sipp/ops_caller.xml" -s ivr \
  -m 200 -r 10 -i 127.0.0.1 -p 25070 -mi 127.0.0.1 -mp 25080 -ci 127.0.0.1 -cp 25090 \
  -nostdin -timeout 55s -trace_stat -stf "$out/stat.csv" -fd 1 >/dev/null 2>&1 &
sipp=$!
sleep 7
kill -9 "$victim"
echo "killed n2 (pid $victim) at second 7 of the load"
wait $sipp || true
sleep 3
awk -F';' 'NR>1{print $5, "created="$13, "ok="$16, "failed="$18}' "$out/stat.csv"
grep '"total"' "$out/cloud.out" | tail -1
