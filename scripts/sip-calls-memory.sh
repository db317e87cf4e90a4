#!/usr/bin/env bash
# Memory of the example UAS (`examples/sip_uas.rs`) under a SIPp call load: SIPp's
# built-in `uac` scenario (INVITE, 100/180/200, ACK, BYE, 200) at RATE calls/s for
# SECS seconds. Reports SIPp's counters (successful, failed, retransmissions, elapsed),
# the rate reached, the UAS's RSS sampled each second and its peak (VmHWM), and the
# memory per call held at the peak. Measurement only: nothing is asserted
# (see docs/sip-load.md).
#
# usage: scripts/sip-calls-memory.sh [RATE] [SECS]
#   RATE  calls per second requested (4000)
#   SECS  seconds of load (120)
# environment:
#   SIP_UAS_BIN  the UAS binary (target/release/examples/sip_uas of this tree)
#   PORT         the UAS's port on 127.0.0.1 (44010); SIPp uses PORT+51, +90, +79
#   HOLD_SECS    seconds the RSS is still sampled after SIPp ends (3)
set -euo pipefail

RATE=${1:-4000}
SECS=${2:-120}
PORT=${PORT:-44010}
HOLD_SECS=${HOLD_SECS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SIP_UAS_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/sip_uas}
[ -x "$BIN" ] || { echo "no UAS binary at $BIN (cargo build --release --example sip_uas)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp missing (apt-get install -y sip-tester)" >&2; exit 1; }

WORK=$(mktemp -d)
"$BIN" --bind "127.0.0.1:$PORT" --quiet >/dev/null 2>&1 &
UAS=$!
trap 'kill $UAS 2>/dev/null || true; rm -rf "$WORK"' EXIT
sleep 0.5
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$UAS/status"; }
start=$(kb VmRSS)
echo "UAS $BIN pid $UAS, RSS at start $start kB, load $(cut -d' ' -f1-3 /proc/loadavg)"

(
  cd "$WORK"
  sipp -sn uac "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 51)) -mi 127.0.0.1 -mp $((PORT + 90)) \
       -ci 127.0.0.1 -cp $((PORT + 79)) -r "$RATE" -m $((RATE * SECS)) -nostdin \
       -timeout $((SECS + 40))s -trace_stat -stf stat.csv -fd 1 >/dev/null 2>&1 || true
) &
SIPP=$!
peak=0
t=0
while kill -0 $SIPP 2>/dev/null; do
  sleep 1
  t=$((t + 1))
  r=$(kb VmRSS)
  [ "$r" -gt "$peak" ] && peak=$r
  if [ $((t % 10)) -eq 0 ]; then echo "t=${t}s RSS ${r} kB"; fi
done
for _ in $(seq "$HOLD_SECS"); do
  sleep 1
  r=$(kb VmRSS)
  [ "$r" -gt "$peak" ] && peak=$r
done
hwm=$(kb VmHWM)
echo "load after $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK/stat.csv" "$hwm" "$peak" "$RATE" "$SECS" "$start" <<'PY'
import csv, sys
path = sys.argv[1]
hwm, peak, rate, secs, start = (int(a) for a in sys.argv[2:7])
rows = list(csv.reader(open(path), delimiter=";"))
head, last = rows[0], rows[-1]
col = lambda name: last[head.index(name)]
ok, failed = int(col("SuccessfulCall(C)")), int(col("FailedCall(C)"))
retrans = int(col("Retransmissions(C)"))
h, m, s = col("ElapsedTime(C)").split(":")[:3]
elapsed = int(h) * 3600 + int(m) * 60 + float(s)
achieved = ok / elapsed if elapsed else 0.0
# Calls whose transactions linger together: the most calls ended within any 32 s
# (Timer J/L) window of SIPp's one-second rows.
ended = [int(r[head.index("SuccessfulCall(C)")]) + int(r[head.index("FailedCall(C)")]) for r in rows[1:]]
held = max((ended[i] - ended[max(0, i - 32)] for i in range(len(ended))), default=0)
print(f"requested {rate}/s x {secs} s: {ok} calls ok, {failed} failed, {retrans} retransmissions, "
      f"{elapsed:.1f} s elapsed, {achieved:.0f} calls/s reached")
print(f"peak RSS sampled {peak/1024:.1f} MB, VmHWM {hwm/1024:.1f} MB")
if held:
    per_call = (hwm - start) * 1024 / held
    print(f"~{per_call:.0f} B of peak RSS above the start per call held ({held} calls ended "
          f"within 32 s at most); projection at 4,000/s (128,000 held): "
          f"{(per_call * 128000 / 1024 + start) / 1024:.0f} MB")
PY
