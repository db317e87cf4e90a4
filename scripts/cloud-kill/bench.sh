#!/usr/bin/env bash
# Throughput of the `cloud` example on this machine, 1 node against 3 (no
# kill): for each node count and rate, Kamailio and the nodes on a schema of
# their own, AGENTS agents at a fixed contact (one SIPp UAS,
# scripts/premise-load/agents.xml), SIPp callers (scripts/cloud-kill/caller.xml:
# a DID straight into the queue, 3 s on the line, BYE) at RATE calls/s for
# SECS seconds. Prints one line per run: calls started, completed and failed
# (SIPp, per call), records in PostgreSQL (lost = callers without exactly one
# record), and each node's peak concurrent calls (the nodes' figures, sampled
# every 200 ms). Measurement only, nothing is asserted; docs/cloud.md has the
# figures. Needs kamailio, sipp, psql, DATABASE_URL, REDIS_URL.
#
# Usage: scripts/cloud-kill/bench.sh [CLOUD_BINARY]
#   NODES="1 3" RATES="10 20 30 40" SECS=20 AGENTS=100 (defaults)
# The binary: default $CARGO_TARGET_DIR/debug/examples/cloud
# (cargo build -p examples --example cloud; add --release for a release build).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/target}/debug/examples/cloud}
: "${DATABASE_URL:?}" "${REDIS_URL:?}"
NODES=${NODES:-"1 3"}
RATES=${RATES:-"10 20 30 40"}
SECS=${SECS:-20}
AGENTS=${AGENTS:-100}
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() {
  local nodes=$1 rate=$2
  local schema="cloud_bench_$$_${nodes}_${rate}"
  local out; out=$(mktemp -d)
  local agents_port proxy_port; agents_port=$(free_port); proxy_port=$(free_port)
  {
    printf 'tenant = "cloudbench"\n[sip]\nbind = "127.0.0.1:0"\ntcp = false\n'
    printf '[storage]\ndatabase = "postgres"\ndatabase_schema = "%s"\n' "$schema"
    printf '[cluster]\nnode = "set-by-cloud"\nprefix = "%s"\n' "$schema"
    printf '[ivr]\ndefault_queue = "support"\nmenu = [{ key = "1", label = "support", queue = "support" }]\n'
    printf '[[queues]]\nid = "support"\nskill = "support"\nwrap_up_secs = 0\n'
    printf '[[dids]]\nnumber = "+15550100"\nqueue = "support"\n'
    for i in $(seq 1 "$AGENTS"); do
      printf '[[agents]]\nid = "a%s"\ncontact = "sip:a%s@127.0.0.1:%s"\nskills = ["support"]\n' "$i" "$i" "$agents_port"
    done
  } >"$out/cloud.toml"
  (cd "$out" && exec sipp -sf "$here/scripts/premise-load/agents.xml" -i 127.0.0.1 -p "$agents_port" \
    -mi 127.0.0.1 -mp "$(free_port)" -cp "$(free_port)" -nostdin -timeout 200s >/dev/null 2>&1) &
  local agents=$!
  "$bin" --nodes "$nodes" --sip "$proxy_port" --rtp 31000 --config "$out/cloud.toml" \
    >"$out/cloud.out" 2>"$out/cloud.err" &
  local cloud=$!
  # every node reported once, then Kamailio's probes see them
  for _ in $(seq 1 180); do
    [ "$(grep -c '"figures"' "$out/cloud.out" || true)" -ge "$nodes" ] && break
    sleep 0.5
  done
  sleep 2
  local calls=$((rate * SECS))
  local started; started=$(date +%s.%N)
  (cd "$out" && exec sipp "127.0.0.1:$proxy_port" -sf "$here/scripts/cloud-kill/caller.xml" -s +15550100 \
    -m "$calls" -r "$rate" -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$(free_port)" \
    -cp "$(free_port)" -nostdin -timeout $((SECS + 60))s -recv_timeout 20s -trace_logs >/dev/null 2>&1) || true
  local took; took=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
  sleep 4
  kill -TERM "$cloud" 2>/dev/null || true
  wait "$cloud" 2>/dev/null || true
  kill "$agents" 2>/dev/null || true
  wait "$agents" 2>/dev/null || true
  local records
  records=$(psql -At "$DATABASE_URL" -c "SELECT payload->>'from' FROM $schema.interactions" 2>/dev/null || true)
  NODES_N=$nodes RATE=$rate TOOK=$took OUT=$out RECORDS="$records" python3 - <<'EOF'
import collections, glob, json, os
out = os.environ["OUT"]
calls = {}
for f in glob.glob(f"{out}/caller_*_logs.log"):
    for line in open(f):
        p = line.split()
        if len(p) < 3:
            continue
        n = p[0].split("-")[0]
        if p[1] == "start":
            calls[n] = calls.get(n, False)
        elif p[1] == "ok":
            calls[n] = True
ok = sum(1 for v in calls.values() if v)
recs = collections.Counter(r for r in os.environ["RECORDS"].split("\n") if r.startswith("+4930555"))
lost = sum(1 for n in calls if recs.get(f"+4930555{n}", 0) != 1)
peak = collections.defaultdict(int)
answered = collections.defaultdict(int)
for line in open(f"{out}/cloud.out"):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    f = v.get("figures")
    if f:
        peak[f["id"]] = max(peak[f["id"]], f.get("peak_active", 0))
        answered[f["id"]] = max(answered[f["id"]], f.get("answered", 0))
nodes = " ".join(f"{k}:{peak[k]}" for k in sorted(peak))
print(f"nodes={os.environ['NODES_N']} rate={os.environ['RATE']}/s calls={len(calls)} completed={ok} "
      f"failed={len(calls) - ok} records={sum(recs.values())} not_exactly_one={lost} "
      f"answered_by_agents={sum(answered.values())} peak_concurrent[{nodes}] total={sum(peak.values())} "
      f"sipp_took={os.environ['TOOK']}s")
EOF
  psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$out"
}

for n in $NODES; do
  for r in $RATES; do
    run_one "$n" "$r"
  done
done
