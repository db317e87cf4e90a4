#!/bin/sh
# The by-hand session of docs/premise.md, typed into tmux by this script:
#   ./setup.sh && ./start.sh && ./session.sh && ./report.sh
# Needs baresip, sox, tmux, python3 (numpy for report.sh), espeak-ng for the IVR.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: > "$TL"
LOG=$B/center.log
# field VALUE of the last console event line matching PATTERN
ev() { grep '^event ' "$LOG" | grep -- "$1" | tail -1 | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
wait_ev() { i=0; while ! grep '^event ' "$LOG" | grep -q -- "$1"; do i=$((i+1)); [ $i -lt 60 ] || { echo "no event $1"; exit 1; }; sleep 0.5; done; }
mark() { printf '%s mark %s\n' "$(date +%s.%N)" "$*" >> "$TL"; }

# 1. agents log in on lunch; 1001 becomes available
op agents; op state 1001 available; op agents
# 2. a caller through the IVR: menu key 2 (support) after the greeting
phone caller "/dial sip:ivr@127.0.0.1:45060" Enter
sleep 9; phone caller 2
wait_ev '"type":"connected"'
A=$(ev '"type":"connected"' interaction); echo "A=$A" >> "$TL"
mark talk; sleep 6
# each phase: the command, a mark in the timeline (report.py measures seconds 1-5
# after it), six seconds of it
# 3. hold / resume, mute
op hold "$A"; mark held; sleep 6
op resume "$A"; mark resumed; sleep 6
op mute "$A" on; mark muted; sleep 6
op mute "$A" off; mark unmuted; sleep 6
# 4. the supervisor listens, whispers, barges, then is removed (`kick` by agent id)
op monitor "$A" 3001 listen; wait_ev monitor_started; sleep 1; mark listen; sleep 6
op monitor "$A" 3001 whisper; mark whisper; sleep 6
op monitor "$A" 3001 barge; mark barge; sleep 6
op kick "$A" 3001; sleep 3
# 5. consultation with 1002, swap twice, complete (1002 takes the caller)
op state 1002 available
op consult "$A" agent:1002; sleep 2; mark consulting; sleep 6
op swap "$A"; mark swapped-back; sleep 6
op swap "$A"; mark swapped-again; sleep 6
op complete "$A"; mark completed; sleep 6
# 6. blind transfer back to 1001 (routed in support, 1001 preferred)
op transfer "$A" agent:1001; sleep 2; mark transferred; sleep 6
# 7. conference: consult 1002, conference, add the customer phone, kick it, 1001 leaves
op consult "$A" agent:1002; sleep 3
op conference "$A"; mark conference3; sleep 6
op add "$A" sip:9001@127.0.0.1; wait_ev 'number:sip:9001'; sleep 1; mark conference4; sleep 6
op kick "$A" "$(ev 'number:sip:9001' leg)"; mark kicked; sleep 6
op leave "$A"; mark left; sleep 6
op calls; op agents
op hangup "$A"; sleep 3
# 8. wrap-up code with notes
op code "$A" resolved "billing question answered; customer will pay by card"
# 9. click-to-dial: 1001's phone first, then the customer
op dial 1001 sip:9001@127.0.0.1
wait_ev '"type":"connected","interaction":"dial-'
D=$(ev '"interaction":"dial-' interaction); echo "D=$D" >> "$TL"
sleep 1; mark dialled; sleep 6
op hangup "$D"; sleep 2
op code "$D" callback-booked "customer asked for a callback on Monday"
# 10. the figures
op live; op report queue hour 1; op report agent hour 1
sleep 2
mkdir -p "$B/out"
tmux capture-pane -p -J -S -5000 -t byhand:center > "$B/out/center.txt"
for p in caller a1001 a1002 s3001 c9001; do tmux capture-pane -p -J -S -5000 -t "byhand:$p" > "$B/out/$p.txt"; done
echo "session done: $B/out, timeline $TL"
