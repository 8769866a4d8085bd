#!/usr/bin/env bash
# Builds the engine for wasm32 with SIMD128, generates the JS glue with wasm-bindgen, and runs
# scripts/wasm-bench.mjs in node: single-threaded wasm figures for the development model, plus
# the llama.cpp reference checks.
#
# Usage: crates/aayu-wasm/scripts/wasm-bench.sh [MODEL] [TOKENS]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
MODEL="${1:-$REPO_ROOT/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}"
TOKENS="${2:-32}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
PKG="$TARGET_DIR/aayu-node-pkg"

RUSTFLAGS="-C target-feature=+simd128" cargo build --manifest-path "$REPO_ROOT/Cargo.toml" \
    -p aayu-wasm --release --target wasm32-unknown-unknown --lib
wasm-bindgen --target nodejs --out-dir "$PKG" \
    "$TARGET_DIR/wasm32-unknown-unknown/release/aayu.wasm"
node "$REPO_ROOT/crates/aayu-wasm/scripts/wasm-bench.mjs" "$PKG" "$MODEL" "$TOKENS" \
    --reference "$REPO_ROOT/crates/aayu-wasm/tests/data/reference.json"
