#!/bin/sh
# Starts the tmux session `byhand`: window `center` runs the premise example with
# premise.toml (operator commands typed on its stdin), one window per baresip.
# PREMISE: the example binary (default: the workspace's debug build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
B=${BYHAND_DIR:-/tmp/byhand}
P=${PREMISE:-${CARGO_TARGET_DIR:-target}/debug/examples/premise}
tmux kill-session -t byhand 2>/dev/null || true
tmux new-session -d -s byhand -n center -x 200 -y 50
tmux set-option -t byhand history-limit 20000
tmux send-keys -t byhand:center "cd $B && RUST_LOG=warn,callcore_premise=info $P --config $here/premise.toml 2>&1 | tee $B/center.log" Enter
sleep 3
for p in a1001 a1002 s3001 c9001 caller; do
  tmux new-window -d -t byhand -n "$p"
  tmux set-option -t "byhand:$p" history-limit 20000 >/dev/null
  tmux send-keys -t "byhand:$p" "cd $B/$p && baresip -f $B/$p 2>&1 | tee $B/$p/baresip.log" Enter
done
echo "tmux attach -t byhand   (windows: center a1001 a1002 s3001 c9001 caller)"
