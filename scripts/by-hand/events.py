#!/usr/bin/env python3
"""Prints the journal's events (kind, agent, JSON payload when there is one) from
the center's SQLite file: events.py DB [LAST_N]."""
import sqlite3, sys, re
db = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = list(c.execute("select seq, at_ms, interaction, agent, kind, body from events order by seq desc limit ?", (n,)))
for seq, at, inter, agent, kind, body in reversed(rows):
    text = body.decode("utf-8", "replace")
    m = re.search(r"\{.*\}", text)
    detail = m.group(0) if m else re.sub(r"[\x00-\x1f]", " ", text)[-120:]
    print(seq, at, (inter or "")[:8], agent or "", kind, detail[:220])
