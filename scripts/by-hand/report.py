#!/usr/bin/env python3
"""What every phone heard in each phase of the session: report.py [BYHAND_DIR].
Reads the `mark` lines of timeline.txt (one phase starts at each) and each phone's
sndfile dumps (rec/dump-YYYY-MM-DD-HH-MM-SS-dec.wav: the decoded audio it received,
named by the second its call started, UTC); measures seconds 1-5 of each phase:
the RMS of the whole signal and of each party's tone (16-bit sample units;
caller 400 Hz, agent 1001 600 Hz, agent 1002 800 Hz, supervisor 3001 1000 Hz,
customer 9001 1200 Hz), for the phones that were in a call then."""
import calendar, glob, os, re, sys, time, wave
import numpy as np
B = sys.argv[1] if len(sys.argv) > 1 else "/tmp/byhand"
TONES = [("caller", 400), ("1001", 600), ("1002", 800), ("3001", 1000), ("9001", 1200)]
PHONES = ["caller", "a1001", "a1002", "s3001", "c9001"]

def dumps(phone):
    out = []
    for path in sorted(glob.glob(f"{B}/{phone}/rec/dump-*-dec.wav")):
        stamp = re.search(r"dump-(\d+-\d+-\d+-\d+-\d+-\d+)", path).group(1)
        start = calendar.timegm(time.strptime(stamp, "%Y-%m-%d-%H-%M-%S"))
        with wave.open(path) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
        out.append((start, rate, x))
    return out

def bands(s, rate):
    spec = np.abs(np.fft.rfft(s * np.hanning(len(s)))) ** 2
    freqs = np.fft.rfftfreq(len(s), 1 / rate)
    total, rms = spec.sum(), np.sqrt(np.mean(s ** 2))
    return rms, [rms * np.sqrt(spec[(freqs > f - 15) & (freqs < f + 15)].sum() / total) if total else 0 for _, f in TONES]

marks = [(float(l.split()[0]), l.split()[2]) for l in open(f"{B}/timeline.txt") if " mark " in l]
files = {p: dumps(p) for p in PHONES}
print(f"{'phase':<12} {'phone':<7} {'rms':>6} " + " ".join(f"{n:>6}" for n, _ in TONES))
for t, name in marks:
    a, b = t + 1, t + 5
    for p in PHONES:
        for start, rate, x in files[p]:
            end = min(b, start + len(x) / rate)  # a phase may end with the call
            if start <= a and end - a >= 2:
                rms, bs = bands(x[int((a - start) * rate):int((end - start) * rate)], rate)
                print(f"{name:<12} {p:<7} {rms:6.0f} " + " ".join(f"{v:6.0f}" for v in bs))
