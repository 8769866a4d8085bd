#!/usr/bin/env bash
# Runs the tiny-model engine tests (tests/engine.rs) compiled to wasm32, in node, with
# wasm-bindgen-test-runner (install: cargo install wasm-bindgen-cli --version 0.2.130).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# The same flags as scripts/wasm-bench.sh, so the two share one build of the dependencies.
RUSTFLAGS="${RUSTFLAGS:--C target-feature=+simd128}" \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --manifest-path "$REPO_ROOT/Cargo.toml" -p aayu-wasm \
    --target wasm32-unknown-unknown --release --test engine "$@"
