#!/usr/bin/env bash
# Unauthenticated exhaustion: OPTIONS padded with many header lines, from one UDP
# socket, against the example UAS (`examples/sip_uas.rs`) or the premise center
# (`examples/premise.rs`, TARGET=premise). Reports the target's peak and final RSS,
# the requests sent and the answers by status (200 within the limits, 513 over the
# header-line limit, 503 over the transaction limits), and the rate actually
# reached. With TARGET=premise, SIPp places genuine calls to the IVR from another
# address (127.0.0.2) during the flood and their outcome is reported. Measurement
# only: nothing is asserted (see docs/sip-load.md).
#
# usage: scripts/sip-flood.sh [RATE] [SECS] [PAD_LINES]
#   RATE       requests per second (2000)
#   SECS       seconds of flood (60)
#   PAD_LINES  padding header lines per request (250; the usual headers add 7)
# environment:
#   TARGET       uas (default) or premise
#   SIP_UAS_BIN  the UAS binary (target/release/examples/sip_uas of this tree)
#   PREMISE_BIN  the premise binary (target/release/examples/premise of this tree)
#   PORT         the target's UDP port on 127.0.0.1 (36010; premise: 23010)
#   HOLD_SECS    seconds the RSS is still sampled after the flood (5)
#   CALL_RATE    premise: genuine calls per second during the flood (2)
set -euo pipefail

RATE=${1:-2000}
SECS=${2:-60}
PAD=${3:-250}
TARGET=${TARGET:-uas}
HOLD_SECS=${HOLD_SECS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples
SCRATCH=$(mktemp -d)
case "$TARGET" in
uas)
    PORT=${PORT:-36010}
    BIN=${SIP_UAS_BIN:-$RELEASE/sip_uas}
    [ -x "$BIN" ] || { echo "no UAS binary at $BIN (cargo build --release --example sip_uas)" >&2; exit 1; }
    "$BIN" --bind "127.0.0.1:$PORT" --quiet >/dev/null 2>&1 &
    ;;
premise)
    PORT=${PORT:-23010}
    BIN=${PREMISE_BIN:-$RELEASE/premise}
    [ -x "$BIN" ] || { echo "no premise binary at $BIN (cargo build --release --example premise)" >&2; exit 1; }
    command -v sipp >/dev/null || { echo "sipp places the genuine calls (apt-get install -y sip-tester)" >&2; exit 1; }
    # one agent, logged off: callers hear the IVR, wait in the queue, hang up
    cat >"$SCRATCH/premise.toml" <<TOML
[sip]
bind = "127.0.0.1:$PORT"
tcp = false
[http]
enabled = false
[media]
rtp_first = $((PORT + 100))
rtp_last = $((PORT + 399))
[storage]
data_dir = "$SCRATCH/data"
record_calls = false
[analytics]
live_log_secs = 0
[[agents]]
id = "2001"
contact = "sip:2001@127.0.0.1:9"
skills = ["support"]
login = "offline"
TOML
    "$BIN" --config "$SCRATCH/premise.toml" >"$SCRATCH/premise.log" 2>&1 &
    ;;
*) echo "TARGET is uas or premise" >&2; exit 2 ;;
esac
UAS=$!
trap 'kill $UAS 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
sleep 1
rss() { awk '/^VmRSS/ {print $2}' "/proc/$UAS/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$UAS/status"; }
echo "$TARGET pid $UAS, RSS at start $(rss) kB"

CALLERS=
if [ "$TARGET" = premise ]; then
    CALL_RATE=${CALL_RATE:-2}
    CALLS=$((CALL_RATE * (SECS - 5)))
    # genuine callers from another address: 3 s each in the IVR, then BYE
    (cd "$SCRATCH" && exec sipp "127.0.0.1:$PORT" -sn uac -s ivr -i 127.0.0.2 -p $((PORT + 1)) \
        -mi 127.0.0.2 -mp $((PORT + 20)) -r "$CALL_RATE" -m "$CALLS" -d 3000 \
        -nostdin -trace_screen -timeout $((SECS + 60))s >/dev/null 2>&1) &
    CALLERS=$!
fi

python3 - "$PORT" "$RATE" "$SECS" "$PAD" "$UAS" "$HOLD_SECS" <<'EOF'
import collections, socket, sys, time
port, rate, secs, pad, pid, hold = (int(a) for a in sys.argv[1:7])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setblocking(False)
padding = "".join(f"X-Pad-{i}: a\r\n" for i in range(pad))
me = s.getsockname()[1]
def request(n):
    return (f"OPTIONS sip:cc@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKfl{n};rport\r\n"
            f"From: <sip:flood@127.0.0.1>;tag=f{n}\r\nTo: <sip:cc@127.0.0.1>\r\n"
            f"Call-ID: flood{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"{padding}Content-Length: 0\r\n\r\n").encode()
def rss():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
answers = collections.Counter()
def drain():
    while True:
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return
        answers[data.split(b" ", 2)[1].decode()] += 1
sent, peak, start = 0, 0, time.monotonic()
next_sample = start
while True:
    now = time.monotonic()
    if now - start >= secs:
        break
    due = int((now - start) * rate)
    while sent < due:
        try:
            s.sendto(request(sent), ("127.0.0.1", port))
        except BlockingIOError:
            break
        sent += 1
    drain()
    if now >= next_sample:
        peak = max(peak, rss())
        next_sample += 1
    time.sleep(0.001)
elapsed = time.monotonic() - start
end = time.monotonic() + hold
while time.monotonic() < end:
    drain()
    peak = max(peak, rss())
    time.sleep(0.2)
drain()
print(f"sent {sent} requests of {pad + 7} header lines in {elapsed:.1f} s ({sent / elapsed:.0f}/s)")
print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())) + f" (unanswered {sent - sum(answers.values())})")
print(f"target RSS: peak {peak / 1024:.1f} MB (sampled each second), after the flood {rss() / 1024:.1f} MB")
EOF
echo "$TARGET VmHWM $(hwm) kB"
if [ -n "$CALLERS" ]; then
    status=0
    wait "$CALLERS" || status=$?
    echo "genuine calls: $CALLS placed at $CALL_RATE/s during the flood, SIPp exit $status (0: all succeeded)"
    grep -hE "Successful call|Failed call" "$SCRATCH"/*_screen.log | tail -2 | tr -s ' ' || true
    kill -0 "$UAS" 2>/dev/null || { echo "the premise died:"; tail -20 "$SCRATCH/premise.log"; }
fi
