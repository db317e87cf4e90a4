#!/bin/sh
# The whole by-hand session, best-effort reproducible: phones, center, session,
# measurements. PREMISE=path/to/premise (the example binary) to choose the build.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
"$here/start.sh"
sleep 8   # the phones register
"$here/session.sh"
python3 "$here/report.py" "${BYHAND_DIR:-/tmp/byhand}" | tee "${BYHAND_DIR:-/tmp/byhand}/out/heard.txt"
echo "stop: tmux kill-session -t byhand"
