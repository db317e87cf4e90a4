#!/usr/bin/env python3
"""Summarises one premise load run (a folder written by scripts/premise-load.sh).

Reads SIPp's statistics files, the center's CPU/memory samples, center.db (table
`interactions` with its `agent` column, table `recordings` with `payload.path`) and
every recording WAV; writes report.json and report.txt into the folder and prints
the text. Python standard library only.
"""

import argparse
import array
import csv
import json
import os
import sqlite3
import sys
import wave

# a second of audio counts as speech when its mean absolute sample is above this
# (16-bit PCM; about -54 dBFS)
ACTIVE = 64


def read_stat(path):
    """Last row, the peak of CurrentCall and the call-seconds (CurrentCall integrated
    over time) of a SIPp -trace_stat CSV."""
    if not os.path.exists(path):
        return None, 0, 0.0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if not rows:
        return None, 0, 0.0
    peak = max(int(r.get("CurrentCall", 0) or 0) for r in rows)
    call_secs, prev = 0.0, None
    for r in rows:
        # CurrentTime is "date<TAB>time<TAB>epoch"
        t = float(r["CurrentTime"].split("\t")[-1])
        if prev is not None:
            call_secs += int(r.get("CurrentCall", 0) or 0) * (t - prev)
        prev = t
    return rows[-1], peak, call_secs


def activity(path):
    """Per channel: fraction of whole seconds with sound, and mean absolute sample."""
    with wave.open(path, "rb") as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        return ch, [], []
    a = array.array("h")
    a.frombytes(raw[: len(raw) - len(raw) % 2])
    if sys.byteorder == "big":
        a.byteswap()
    fractions, means = [], []
    for c in range(ch):
        samples = a[c::ch]
        secs = max(1, len(samples) // rate)
        active = 0
        total = 0
        for s in range(secs):
            # every 4th sample is plenty to tell sound from silence
            window = samples[s * rate : (s + 1) * rate : 4]
            m = sum(map(abs, window)) / max(1, len(window))
            total += m
            if m > ACTIVE:
                active += 1
        fractions.append(active / secs)
        means.append(total / secs)
    return ch, fractions, means


def read_cpu(path):
    with open(path) as f:
        t, ticks, hwm = f.read().split()[:3]
    return float(t), int(ticks), int(hwm)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--label", default="")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--calls", type=int, default=0)
    ap.add_argument("--talk", type=float, default=0)
    ap.add_argument("--agents", type=int, default=0)
    ap.add_argument("--mode", default="")
    ap.add_argument("--clk-tck", type=int, default=100)
    ap.add_argument("--binary", default="")
    ap.add_argument("--prompts", default="speech")
    args = ap.parse_args()
    run = args.run

    uac, uac_peak, uac_call_secs = read_stat(os.path.join(run, "uac-stat.csv"))
    uas, uas_peak, _ = read_stat(os.path.join(run, "uas-stat.csv"))

    t0, ticks0, _ = read_cpu(os.path.join(run, "cpu-before.txt"))
    t1, ticks1, hwm_kb = read_cpu(os.path.join(run, "cpu-after.txt"))
    cpu_s = (ticks1 - ticks0) / args.clk_tck
    wall = t1 - t0
    i0, iticks0, _ = read_cpu(os.path.join(run, "cpu-idle-start.txt"))
    i1, iticks1, _ = read_cpu(os.path.join(run, "cpu-idle-end.txt"))
    idle_cores = (iticks1 - iticks0) / args.clk_tck / (i1 - i0) if i1 > i0 else None
    samples = []
    with open(os.path.join(run, "center-samples.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 7:
                samples.append(
                    (float(p[0]), int(p[1]), int(p[2]), int(p[3]), float(p[4]), int(p[5]), int(p[6]))
                )
    peak_cores = 0.0
    for a, b in zip(samples, samples[1:]):
        if b[0] > a[0]:
            peak_cores = max(peak_cores, (b[1] - a[1]) / args.clk_tck / (b[0] - a[0]))
    # the SIPp processes' CPU over the calls (their last sample alive)
    uas_cpu = (max(s[5] for s in samples) - samples[0][5]) / args.clk_tck if samples else None
    uac_cpu = max(s[6] for s in samples) / args.clk_tck if samples else None
    peak_load = max(s[4] for s in samples) if samples else None
    exit_file = os.path.join(run, "center-exit.txt")
    center_exit = open(exit_file).read().strip() if os.path.exists(exit_file) else ""
    perf_top = []
    perf_file = os.path.join(run, "perf-top.txt")
    if os.path.exists(perf_file):
        for line in open(perf_file):
            line = line.rstrip()
            if line and not line.startswith("#") and "%" in line:
                perf_top.append(" ".join(line.split()))
            if len(perf_top) >= 15:
                break

    db = sqlite3.connect(os.path.join(run, "data", "center.db"))
    rows = db.execute(
        "SELECT id, queue, agent, created_at_ms, ended_at_ms, "
        "json_extract(payload, '$.talk_ms'), json_extract(payload, '$.wait_ms') "
        "FROM interactions"
    ).fetchall()
    records = len(rows)
    answered = [r for r in rows if r[2]]
    queues = {}
    for r in rows:
        queues[r[1] or "-"] = queues.get(r[1] or "-", 0) + 1
    call_ms = sum((r[4] - r[3]) for r in rows if r[4] and r[3])
    talk_ms = sum((r[5] or 0) for r in rows)
    waits = sorted((r[6] or 0) for r in answered)
    recs = db.execute(
        "SELECT interaction, json_extract(payload, '$.path'), "
        "json_extract(payload, '$.duration_ms') FROM recordings"
    ).fetchall()
    per_call = {}
    for interaction, _, _ in recs:
        per_call[interaction] = per_call.get(interaction, 0) + 1
    two_sided = 0
    one_sided = []
    stereo = 0
    for interaction, path, _ in recs:
        full = path if os.path.isabs(path) else os.path.join(run, path)
        try:
            ch, fractions, _means = activity(full)
        except (OSError, EOFError, wave.Error) as e:
            one_sided.append((interaction, f"unreadable: {e}"))
            continue
        if ch == 2:
            stereo += 1
        if ch == 2 and all(f >= 0.25 for f in fractions):
            two_sided += 1
        else:
            one_sided.append((interaction, [round(f, 2) for f in fractions]))

    def last(row, key):
        return int(row.get(key, 0) or 0) if row else 0

    call_min = call_ms / 60000
    talk_min = talk_ms / 60000
    report = {
        "label": args.label,
        "mode": args.mode,
        "binary": args.binary,
        "rate_cps": args.rate,
        "calls": args.calls,
        "talk_secs": args.talk,
        "agents": args.agents,
        "prompts": args.prompts,
        "sipp": {
            "successful": last(uac, "SuccessfulCall(C)"),
            "failed": last(uac, "FailedCall(C)"),
            "created": last(uac, "TotalCallCreated"),
            "peak_concurrent": uac_peak,
            "uas_peak_concurrent": uas_peak,
            "uas_successful": last(uas, "SuccessfulCall(C)"),
            "uas_failed": last(uas, "FailedCall(C)"),
        },
        "center": {
            "cpu_s": round(cpu_s, 1),
            "wall_s": round(wall, 1),
            "mean_cores": round(cpu_s / wall, 2) if wall else None,
            "peak_cores_1s": round(peak_cores, 2),
            "peak_rss_mb": round(hwm_kb / 1024, 1),
            "idle_cores_agents_ready": round(idle_cores, 3) if idle_cores is not None else None,
            "exit": center_exit,
            "perf_top": perf_top,
            "call_minutes_sipp": round(uac_call_secs / 60, 1),
            "cpu_s_per_call_minute_sipp": round(cpu_s / (uac_call_secs / 60), 3)
            if uac_call_secs
            else None,
            "call_minutes": round(call_min, 1),
            "talk_minutes": round(talk_min, 1),
            "cpu_s_per_call_minute": round(cpu_s / call_min, 3) if call_min else None,
            "cpu_s_per_talk_minute": round(cpu_s / talk_min, 3) if talk_min else None,
        },
        "db": {
            "records": records,
            "answered": len(answered),
            "queues": queues,
            "wait_ms_p50": waits[len(waits) // 2] if waits else None,
            "wait_ms_max": waits[-1] if waits else None,
            "recordings": len(recs),
            "calls_with_recording": len(per_call),
            "calls_with_several": sum(1 for v in per_call.values() if v > 1),
            "stereo": stereo,
            "two_sided": two_sided,
            "not_two_sided_examples": one_sided[:5],
        },
        "sipp_cpu_s": {"callers": uac_cpu, "agents_uas": uas_cpu},
        "machine": {
            "peak_load_1min": peak_load,
            "uptime_before": open(os.path.join(run, "uptime-before.txt")).read().strip(),
            "uptime_after": open(os.path.join(run, "uptime-after.txt")).read().strip(),
        },
    }
    failed_calls = max(
        report["sipp"]["failed"],
        args.calls - len(answered) if args.calls else 0,
    )
    report["failed_calls"] = failed_calls
    with open(os.path.join(run, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    c, s, d = report["center"], report["sipp"], report["db"]
    text = (
        f"premise load {args.label}: {args.calls} calls at {args.rate:g}/s, talk ~{args.talk:g} s, "
        f"{args.agents} agents ({args.mode}), prompts {args.prompts}\n"
        f"  SIPp callers: {s['successful']} successful, {s['failed']} failed, "
        f"peak {s['peak_concurrent']} concurrent (agents' UAS peak {s['uas_peak_concurrent']})\n"
        f"  center.db: {d['records']} records, {d['answered']} answered by an agent, "
        f"queues {d['queues']}; {d['recordings']} recordings for {d['calls_with_recording']} "
        f"calls, {d['stereo']} stereo, {d['two_sided']} two-sided\n"
        f"  failed calls (SIPp failed or not answered): {failed_calls}\n"
        f"  center CPU: {c['cpu_s']} s over {c['wall_s']} s (mean {c['mean_cores']} cores, "
        f"peak {c['peak_cores_1s']} in 1 s)\n"
        f"  CPU-s per call-minute: {c['cpu_s_per_call_minute_sipp']} over the callers' "
        f"{c['call_minutes_sipp']} call-minutes (SIPp); {c['cpu_s_per_call_minute']} over "
        f"center.db's {c['call_minutes']} ({c['cpu_s_per_talk_minute']} per talk-minute, "
        f"{c['talk_minutes']} talking)\n"
        f"  center peak RSS: {c['peak_rss_mb']} MB; idle with the agents ready: "
        f"{c['idle_cores_agents_ready']} cores; exit: {c['exit']}\n"
        f"  SIPp CPU: callers {uac_cpu} s, agents' UAS {uas_cpu} s\n"
        f"  load before: {report['machine']['uptime_before']}\n"
        f"  load after:  {report['machine']['uptime_after']} (peak 1-min load {peak_load})\n"
    )
    if perf_top:
        text += "  center profile (perf, self time):\n" + "".join(f"    {l}\n" for l in perf_top)
    with open(os.path.join(run, "report.txt"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
