# Helpers for driving the session (sourced by session.sh).
B=${BYHAND_DIR:-/tmp/byhand}
TL=$B/timeline.txt
# op CMD...: types an operator command into the center's console, notes the time
op() {
  printf '%s op %s\n' "$(date +%s.%N)" "$*" >> "$TL"
  tmux send-keys -t byhand:center "$*" Enter
  sleep "${OP_WAIT:-1}"
}
# phone NAME KEYS: types into a baresip's console (a command or DTMF digits)
phone() {
  n=$1; shift
  printf '%s %s %s\n' "$(date +%s.%N)" "$n" "$*" >> "$TL"
  tmux send-keys -t "byhand:$n" "$@"
}
# the newest interaction id that `calls` prints
last_call() {
  tmux send-keys -t byhand:center "calls" Enter; sleep 1
  tmux capture-pane -p -S -40 -t byhand:center | grep -E '^[^ ]+$' | grep -v -e calls -e '^no$' | tail -1
}
