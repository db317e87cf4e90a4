#!/usr/bin/env python3
"""Compare what a recognition session was given (CALLCORE_ASR_DUMP_DIR's
<pid>-<n>-stream.wav / -u<k>.wav) with the audio the caller sent (raw 8 kHz
u-law, as spoken_menu writes it): where the source sits in the dump, how much
of its head and tail is missing, level and per-band spectrum differences, and
how many samples match exactly.

    python3 scripts/asr-dump-compare.py SOURCE.ul DUMP.wav
"""
import sys, wave
import numpy as np

def ulaw_decode(b):
    b = ~b.astype(np.int32) & 0xFF
    sign, exp, man = b & 0x80, (b >> 4) & 7, b & 0x0F
    mag = (((man << 3) + 0x84) << exp) - 0x84
    return np.where(sign != 0, -mag, mag).astype(np.float64)

def read_wav(p):
    w = wave.open(p)
    return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)

def speech_span(x, thr=300.0):
    """First and last 20 ms frame whose RMS is at least thr (in samples)."""
    f = x[: len(x) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((f ** 2).mean(1)) >= thr)
    return (loud[0] * 160, (loud[-1] + 1) * 160) if len(loud) else (0, 0)

def bands(x):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    edges = [0, 300, 600, 1200, 2400, 3400, 4000]
    fr = np.fft.rfftfreq(len(x), 1 / 8000)
    return [10 * np.log10(spec[(fr >= a) & (fr < b)].sum() + 1e-9) for a, b in zip(edges, edges[1:])]

def main(src_path, dump_path):
    src = ulaw_decode(np.frombuffer(open(src_path, "rb").read(), dtype=np.uint8))
    dump = read_wav(dump_path)
    s0, s1 = speech_span(src)
    speech = src[s0:s1]
    # where the source's speech sits in the dump (cross-correlation)
    n = len(dump) + len(speech)
    nfft = 1 << (n - 1).bit_length()
    cc = np.fft.irfft(np.fft.rfft(dump, nfft) * np.conj(np.fft.rfft(speech, nfft)), nfft)
    lag = int(np.argmax(cc[: len(dump)])) if len(dump) else 0
    # samples of the source speech present in the dump at that lag
    lo, hi = max(0, -lag), min(len(speech), len(dump) - lag)
    seg = dump[lag + lo: lag + hi]
    ref = speech[lo:hi]
    exact = float(np.mean(seg == ref)) if len(ref) else 0.0
    err = seg - ref
    snr = 10 * np.log10((ref ** 2).sum() / max((err ** 2).sum(), 1e-9)) if len(ref) else 0
    d0, d1 = speech_span(dump)
    print(f"{dump_path}: dump {len(dump)/8:.0f} ms, source speech {len(speech)/8:.0f} ms "
          f"found at {lag/8:.0f} ms; head missing {lo/8:.0f} ms, tail missing "
          f"{(len(speech)-hi)/8:.0f} ms; before speech in dump {d0/8:.0f} ms, after {(len(dump)-d1)/8:.0f} ms; "
          f"exact samples {exact:.3f}, SNR vs source {snr:.1f} dB; "
          f"level dump/source {20*np.log10((np.sqrt((seg**2).mean())+1e-9)/(np.sqrt((ref**2).mean())+1e-9)):+.1f} dB; "
          f"bands dB (dump-source) {[round(a-b,1) for a,b in zip(bands(seg), bands(ref))] if len(ref)>256 else []}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
