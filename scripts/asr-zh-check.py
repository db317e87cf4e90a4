#!/usr/bin/env python3
"""Mandarin recognition check without the Rust build: the model that
scripts/fetch-asr-model-zh.sh fetches, run through PyPI's `ctranslate2` with
the same steps as callcore-ivr's Whisper recognizer and tests/speech_asr_zh.rs
(espeak-ng `cmn-latn-pinyin` -> sox 8 kHz u-law and back -> 16 kHz log-mel ->
decode in `zh` with the prompt `以下是普通话的句子。`, beam 5). Prints each
sentence, the character error rate and the real-time factor.

    python3 -m venv /tmp/asr-venv && /tmp/asr-venv/bin/pip install ctranslate2 numpy tokenizers
    /tmp/asr-venv/bin/python scripts/asr-zh-check.py .cache/asr/whisper-base [NGRAM]

NGRAM is no_repeat_ngram_size (default 3, as the test; 0 = off).
"""
import os, subprocess, sys, tempfile, time, unicodedata, wave

import ctranslate2
import numpy as np
from tokenizers import Tokenizer

SENTENCES = ["我想查询一下我的账单", "我的信用卡丢了", "我家的网络连不上了",
             "请帮我转人工客服", "我要修改我的收货地址", "这个月的话费为什么这么高"]
PROMPT = "以下是普通话的句子。"


def mel_filters(sr=16000, n_fft=400, n_mels=80):
    """Slaney-style mel bank with Slaney normalisation (Whisper's)."""
    fsp, min_hz = 200 / 3, 1000.0
    min_mel, step = min_hz / fsp, np.log(6.4) / 27

    def hz_to_mel(f):
        return min_mel + np.log(f / min_hz) / step if f >= min_hz else f / fsp

    def mel_to_hz(m):
        return np.where(m >= min_mel, min_hz * np.exp(step * (m - min_mel)), fsp * m)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff, ramps = np.diff(mel_f), mel_f[:, None] - freqs[None, :]
    w = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        w[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    return w * (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]


BANK = mel_filters()


def log_mel(audio):
    a = np.zeros(480000, dtype=np.float32)
    a[:min(len(audio), 480000)] = audio[:480000]
    a = np.pad(a, 200, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = np.lib.stride_tricks.sliding_window_view(a, 400)[::160][:3000]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    m = np.log10(np.maximum(BANK @ power.T, 1e-10))
    return ((np.maximum(m, m.max() - 8) + 4) / 4).astype(np.float32)


def telephone(text, tmp):
    src, ulaw, out = (os.path.join(tmp, n) for n in ("a.wav", "a.ul.wav", "a16.wav"))
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "150", "-w", src, text], check=True)
    subprocess.run(["sox", src, "-r", "8000", "-c", "1", "-e", "u-law", ulaw], check=True)
    subprocess.run(["sox", ulaw, "-r", "16000", "-e", "signed", "-b", "16", out], check=True)
    with wave.open(out) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16) / 32768.0


def chars(s):
    return [c for c in s if not unicodedata.category(c).startswith("P") and not c.isspace()]


def distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[:], i
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
    return row[-1]


def main():
    model_dir = sys.argv[1]
    ngram = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    model = ctranslate2.models.Whisper(model_dir, device="cpu", intra_threads=2)
    prompt = ["<|startofprev|>"] + tok.encode(" " + PROMPT, add_special_tokens=False).tokens
    prompt += ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]
    errors = total = 0
    audio_s = decode_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for text in SENTENCES:
            audio = telephone(text, tmp)
            audio_s += len(audio) / 16000
            started = time.time()
            features = ctranslate2.StorageView.from_array(log_mel(audio)[None])
            result = model.generate(features, [prompt], beam_size=5, no_repeat_ngram_size=ngram)
            heard = tok.decode(result[0].sequences_ids[0])
            decode_s += time.time() - started
            e = distance(chars(text), chars(heard))
            errors, total = errors + e, total + len(chars(text))
            print(f"said {text}, heard {heard!r}: {e} errors")
    print(f"CER {errors / total:.3f} ({errors}/{total}), real-time factor {decode_s / audio_s:.2f}")


if __name__ == "__main__":
    main()
