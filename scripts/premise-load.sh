#!/usr/bin/env bash
# Load through the real premise center: SIPp callers through the IVR into a queue,
# answered by agents whose phone is one SIPp UAS echoing RTP. Reports SIPp's
# successful/failed calls and peak concurrency, the center's CPU seconds per
# call-minute and peak RSS, the machine's load, and what landed in center.db
# (answered records, one two-sided stereo recording per call).
#
# usage: scripts/premise-load.sh [RATE] [CALLS] [TALK_SECS]
#   RATE       new calls per second (20)
#   CALLS      calls in all (1200)
#   TALK_SECS  seconds of talk with the agent (30)
# environment:
#   PREMISE_BIN  the center binary (target/release/examples/premise of this tree)
#   AGENTS       how many agents (1200); all are rung at the one UAS
#   AGENT_MODE   contact: `[[agents]] contact = ...` (no registration), or
#                register: agents with passwords, registered by SIPp REGISTER with
#                digest auth, their contact the UAS (for code without `contact`)
#   OUT          the run's folder (premise-load-runs/<mode>-<rate>x<calls>-<time>)
#   LABEL        a name for the run in the report
#   IDLE_SECS    seconds the center's idle CPU is measured with the agents ready (5)
#   PERF_SECS    profile the center that long at full load (perf record -g)
#   PROMPTS      speech (espeak-ng, when installed) or chimes (the center runs without
#                espeak-ng on its PATH: 8 kHz chimes, the IVR lasts 2.8 s, not 10 s)
# Ports: center SIP 5070, callers 5071, agents' UAS 5072, REGISTER 5073; SIPp control
# 35001-35003; callers' RTP 36000, UAS echo 36100(+2); center RTP 40000-49999.
set -euo pipefail

RATE=${1:-20}
CALLS=${2:-1200}
TALK_SECS=${3:-30}
AGENTS=${AGENTS:-1200}
AGENT_MODE=${AGENT_MODE:-contact}
# pcap: the whole call as one pcap (play_pcap_audio); stream: speech by rtp_stream, the digit by pcap
CALLER_RTP=${CALLER_RTP:-stream}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
FILES="$HERE/premise-load"
PREMISE_BIN=${PREMISE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/premise}
SPEECH=${SPEECH:-/usr/share/sip-tester/g711a.pcap}
DIGIT=${DIGIT:-/usr/share/sip-tester/dtmf_2833_2.pcap}
OUT=${OUT:-$ROOT/premise-load-runs/$AGENT_MODE-${RATE}x$CALLS-$(date +%Y%m%d-%H%M%S)}
LABEL=${LABEL:-$AGENT_MODE}
# the greeting and the menu last about 10 s with espeak-ng, 2.8 s as chimes; the IVR
# drops a key pressed during a prompt, and waits 5 s for one after the menu
PROMPTS=${PROMPTS:-speech}
if [ "$PROMPTS" = chimes ]; then
    IVR_MS=${IVR_MS:-5500}
else
    IVR_MS=${IVR_MS:-12500}
fi

case "$AGENT_MODE" in contact | register) ;; *)
    echo "AGENT_MODE must be contact or register" >&2
    exit 2
    ;;
esac
for f in "$PREMISE_BIN" "$SPEECH" "$DIGIT"; do
    [ -e "$f" ] || {
        echo "missing $f (build: cargo build --release --example premise)" >&2
        exit 2
    }
done
command -v sipp >/dev/null || {
    echo "sipp missing (apt-get install sip-tester)" >&2
    exit 2
}
if [ "$(id -u)" != 0 ]; then
    echo "play_pcap_audio needs root (raw sockets)" >&2
    exit 2
fi
for port in 5070 5071 5072 5073; do
    if ss -Hlun "sport = :$port" | grep -q .; then
        echo "UDP port $port is taken: is another load running?" >&2
        exit 2
    fi
done

ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
echo "run folder: $OUT"

# what each caller says (one RTP stream: speech, the digit, speech while talking),
# and how long the call lasts from the answer to the BYE
CALL_MS=$((IVR_MS + 1200 + TALK_SECS * 1000))
if [ "$CALLER_RTP" = stream ]; then
    # speech through rtp_stream (ordinary UDP sockets), only the digit through a raw
    # socket (play_pcap_audio), so the load tool's raw sockets do not multiply the
    # cost of every packet the center sends (see caller_stream.py)
    python3 "$FILES/caller_stream.py" "$OUT" --speech "$SPEECH" \
        --ivr-ms "$IVR_MS" --talk-secs "$TALK_SECS" >/dev/null
    SPEAK="  <nop><action><exec rtp_stream=\"$OUT/ivr.al,1,8\"/></action></nop>
  <pause milliseconds=\"$IVR_MS\"/>
  <nop><action><exec play_pcap_audio=\"$DIGIT\"/></action></nop>
  <pause milliseconds=\"400\"/>
  <nop><action><exec rtp_stream=\"$OUT/talk.al,1,8\"/></action></nop>
  <pause milliseconds=\"$((CALL_MS - IVR_MS - 400))\"/>"
    MEDIA_PORT='[rtpstream_audio_port]'
else
    python3 "$FILES/caller_pcap.py" "$OUT/caller.pcap" --speech "$SPEECH" --digit "$DIGIT" \
        --ivr-ms "$IVR_MS" --talk-secs "$TALK_SECS" >/dev/null
    SPEAK="  <nop><action><exec play_pcap_audio=\"$OUT/caller.pcap\"/></action></nop>
  <pause milliseconds=\"$CALL_MS\"/>"
    MEDIA_PORT='[media_port]'
fi
python3 - "$FILES/caller.xml" "$OUT/caller.xml" "$SPEAK" "$MEDIA_PORT" <<'PY'
import sys
src, dst, speak, port = sys.argv[1:]
text = open(src).read().replace("@SPEAK@", speak).replace("@MEDIA_PORT@", port)
open(dst, "w").write(text)
PY

# the center's configuration: the load's base plus the run's folder and agents
{
    cat "$FILES/center.toml"
    printf '\n[storage]\ndata_dir = "%s/data"\nrecord_calls = true\n' "$OUT"
    for i in $(seq 1 "$AGENTS"); do
        id=$((5000 + i))
        if [ "$AGENT_MODE" = contact ]; then
            printf '\n[[agents]]\nid = "%s"\ncontact = "sip:%s@127.0.0.1:5072"\nskills = ["support"]\n' "$id" "$id"
        else
            printf '\n[[agents]]\nid = "%s"\npassword = "load%s"\nskills = ["support"]\n' "$id" "$id"
        fi
    done
} >"$OUT/center.toml"
if [ "$AGENT_MODE" = register ]; then
    {
        echo SEQUENTIAL
        for i in $(seq 1 "$AGENTS"); do
            id=$((5000 + i))
            echo "$id;[authentication username=$id password=load$id];127.0.0.1:5072"
        done
    } >"$OUT/agents.csv"
fi

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        pkill -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

uptime >"$OUT/uptime-before.txt"

# the center
# PROMPTS=chimes: the center finds no espeak-ng and chimes instead of speaking
CENTER_PATH=$PATH
[ "$PROMPTS" = chimes ] && CENTER_PATH=/nonexistent
PATH=$CENTER_PATH RUST_LOG=${RUST_LOG:-warn,callcore_premise=info} "$PREMISE_BIN" \
    --config "$OUT/center.toml" >"$OUT/center.out" 2>"$OUT/center.log" &
CENTER=$!
PIDS+=("$CENTER")
for _ in $(seq 1 100); do
    grep -q "running; Ctrl-C stops" "$OUT/center.out" 2>/dev/null && break
    kill -0 "$CENTER" 2>/dev/null || {
        echo "the center did not start:" >&2
        cat "$OUT/center.log" >&2
        exit 1
    }
    sleep 0.2
done

# the agents' phones: one UAS, RTP echoed
sipp -sf "$FILES/agents.xml" -i 127.0.0.1 -p 5072 -mi 127.0.0.1 -mp 36100 \
    -rtp_echo -ci 127.0.0.1 -cp 35002 -nostdin -trace_err -error_file "$OUT/uas-errors.log" \
    -trace_stat -stf "$OUT/uas-stat.csv" -fd 5 -timeout 900 >"$OUT/uas.out" 2>&1 &
UAS=$!
PIDS+=("$UAS")

if [ "$AGENT_MODE" = register ]; then
    timeout 120 sipp 127.0.0.1:5070 -sf "$FILES/register.xml" -inf "$OUT/agents.csv" \
        -m "$AGENTS" -r 200 -l 200 -i 127.0.0.1 -p 5073 -ci 127.0.0.1 -cp 35003 -nostdin \
        -trace_err -error_file "$OUT/register-errors.log" >"$OUT/register.out" 2>&1 || {
        echo "registration failed (see $OUT/register-errors.log)" >&2
        exit 1
    }
    # the center makes a registered agent available within a presence round
    for _ in $(seq 1 120); do
        n=$(grep -c "registration changed.*Available" "$OUT/center.out" || true)
        [ "$n" -ge "$AGENTS" ] && break
        sleep 1
    done
    echo "registered agents available: $(grep -c "registration changed.*Available" "$OUT/center.out" || true)"
fi

# CPU ticks (utime+stime) of a process, 0 when it is gone
ticks() {
    local st
    if [ -r "/proc/$1/stat" ] && read -r -a st <"/proc/$1/stat" 2>/dev/null; then
        echo $((st[13] + st[14]))
    else
        echo 0
    fi
}
# the center's CPU and memory, every second, with the SIPp processes' CPU
CLK=$(getconf CLK_TCK)
sample() {
    while kill -0 "$CENTER" 2>/dev/null; do
        rss=$(awk '/VmRSS/{print $2}' "/proc/$CENTER/status")
        hwm=$(awk '/VmHWM/{print $2}' "/proc/$CENTER/status")
        uac=0
        [ -s "$OUT/uac.pid" ] && uac=$(ticks "$(cat "$OUT/uac.pid")")
        echo "$(date +%s.%N) $(ticks "$CENTER") $rss $hwm $(cut -d' ' -f1 /proc/loadavg) $(ticks "$UAS") $uac"
        sleep 1
    done
}
# time, CPU ticks and the peak RSS so far (kB)
cpu() {
    echo "$(date +%s.%N) $(ticks "$CENTER") $(awk '/VmHWM/{print $2}' "/proc/$CENTER/status")"
}

# the center with every agent ready and no call
cpu >"$OUT/cpu-idle-start.txt"
sleep "${IDLE_SECS:-5}"
cpu >"$OUT/cpu-idle-end.txt"

sample >"$OUT/center-samples.txt" &
PIDS+=("$!")
cpu >"$OUT/cpu-before.txt"

# the callers, bounded: -m calls, -timeout for the whole run, a watchdog beyond it
CALL_SECS=$((CALL_MS / 1000 + 1))
DURATION=$((CALLS / RATE + CALL_SECS + 35))
sipp 127.0.0.1:5070 -sf "$OUT/caller.xml" -s ivr -r "$RATE" \
    -m "$CALLS" -l "$CALLS" -i 127.0.0.1 -p 5071 -mi 127.0.0.1 -mp 36000 -ci 127.0.0.1 \
    -cp 35001 -nostdin -timeout "$DURATION" -timeout_error -trace_err \
    -error_file "$OUT/uac-errors.log" -trace_stat -stf "$OUT/uac-stat.csv" -fd 1 \
    >"$OUT/uac.out" 2>&1 &
UAC=$!
echo "$UAC" >"$OUT/uac.pid"
PIDS+=("$UAC")
(sleep $((DURATION + 30)) && kill "$UAC" 2>/dev/null) &
PIDS+=("$!")
# optional profile of the center at full load (perf record -g, PERF_SECS seconds)
if [ -n "${PERF_SECS:-}" ] && command -v perf >/dev/null; then
    (
        sleep $((CALL_SECS + 10))
        perf record -F 199 -g -p "$CENTER" -o "$OUT/perf.data" -- sleep "$PERF_SECS" \
            >"$OUT/perf-record.log" 2>&1
    ) &
    PIDS+=("$!")
fi
wait "$UAC" || echo "sipp callers exited with $?"

# let the center finish the last calls' records and recordings
sleep 5
cpu >"$OUT/cpu-after.txt"
uptime >"$OUT/uptime-after.txt"
kill -INT "$CENTER" 2>/dev/null || true
exit_how=clean
for _ in $(seq 1 100); do
    kill -0 "$CENTER" 2>/dev/null || break
    sleep 0.2
done
if kill -0 "$CENTER" 2>/dev/null; then
    exit_how="killed: no exit 20 s after SIGINT"
    kill -KILL "$CENTER" 2>/dev/null || true
fi
echo "$exit_how" >"$OUT/center-exit.txt"
cleanup
trap - EXIT
if [ -s "$OUT/perf.data" ]; then
    perf report -i "$OUT/perf.data" --no-children --percent-limit 1 --stdio -g none \
        >"$OUT/perf-top.txt" 2>/dev/null || true
fi

python3 "$FILES/report.py" "$OUT" --label "$LABEL" --rate "$RATE" --calls "$CALLS" \
    --talk "$TALK_SECS" --agents "$AGENTS" --mode "$AGENT_MODE" --clk-tck "$CLK" \
    --binary "$PREMISE_BIN" --prompts "$PROMPTS"
