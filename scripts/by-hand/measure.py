#!/usr/bin/env python3
"""What a phone heard, window by window: measure.py WAV T0 T1 [T0 T1 ...]
(epoch seconds). The WAV is baresip's sndfile dump of the decoded audio; its start
time is in its name (dump-YYYY-MM-DD-HH-MM-SS-dec.wav, UTC, to the second). Prints, per window, the RMS of the
whole signal and of each party's tone (16-bit sample units: caller 400 Hz, agent
1001 600 Hz, agent 1002 800 Hz, supervisor 1000 Hz, customer 9001 1200 Hz)."""
import calendar, os, re, sys, time, wave
import numpy as np
TONES = {"caller": 400, "1001": 600, "1002": 800, "sup": 1000, "cust": 1200}
path = sys.argv[1]
with wave.open(path) as w:
    rate = w.getframerate()
    x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
stamp = re.search(r"dump-(\d+-\d+-\d+-\d+-\d+-\d+)", path).group(1)
start = calendar.timegm(time.strptime(stamp, "%Y-%m-%d-%H-%M-%S"))
t = sys.argv[2:]
for a, b in zip(t[0::2], t[1::2]):
    s = x[max(0, int((float(a) - start) * rate)):max(0, int((float(b) - start) * rate))]
    if len(s) < rate // 2:
        print(f"{os.path.basename(path)} {float(a)-start:6.1f}-{float(b)-start:6.1f}s: too short"); continue
    spec = np.fft.rfft(s * np.hanning(len(s)))
    freqs = np.fft.rfftfreq(len(s), 1 / rate)
    total = np.sum(np.abs(spec) ** 2)
    rms = np.sqrt(np.mean(s ** 2))
    bands = []
    for name, f in TONES.items():
        e = np.sum(np.abs(spec[(freqs > f - 15) & (freqs < f + 15)]) ** 2)
        bands.append(f"{name} {rms * np.sqrt(e / total) if total else 0:6.0f}")
    print(f"{os.path.basename(path)} {float(a)-start:6.1f}-{float(b)-start:6.1f}s: rms {rms:6.0f} | " + "  ".join(bands))
