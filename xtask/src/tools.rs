//! Installing what the two commands need, idempotently: Debian packages (when root), the
//! wasm32 target, Trunk and wasm-bindgen-cli from crates.io, and the e2e npm packages.
//! Nothing is downloaded from anywhere but those package registries.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{root, status};

/// Must equal the `wasm-bindgen` crate version pinned in crates/web/Cargo.toml.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// Trunk 0.22 needs a newer rustc than the stable toolchain here.
pub const TRUNK_VERSION: &str = "0.21.14";

pub fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin").join(name)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "these Debian packages are missing: {}\ninstall them with: sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    status(Command::new("apt-get").args(["update", "-qq"]))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") {
        status(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn version_of(bin: &PathBuf) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ensure_cargo_install(krate: &str, bin: &str, version: &str) -> Result<()> {
    let path = cargo_bin(bin);
    if version_of(&path).is_some_and(|v| v.contains(version)) {
        return Ok(());
    }
    eprintln!("installing {krate} {version} from crates.io (once; takes a few minutes)");
    let locked = Command::new("cargo")
        .args(["install", krate, "--version", version, "--locked"])
        .status()?;
    if !locked.success() {
        // The crates mirror can lag; resolve afresh if the lock file's versions are missing.
        status(Command::new("cargo").args(["install", krate, "--version", version]))?;
    }
    Ok(())
}

fn ensure_web_tools() -> Result<()> {
    ensure_wasm_target()?;
    ensure_cargo_install("wasm-bindgen-cli", "wasm-bindgen", WASM_BINDGEN_VERSION)?;
    ensure_cargo_install("trunk", "trunk", TRUNK_VERSION)
}

/// What building the API needs beyond Rust: OpenSSL's headers (webauthn-rs, for passkeys).
const BUILD_PACKAGES: [&str; 2] = ["libssl-dev", "pkg-config"];

pub fn ensure_for_run() -> Result<()> {
    if std::env::var_os("DATABASE_URL").is_none() {
        // pgBackRest archives the private cluster's WAL (`cargo xtask backup`).
        ensure_apt(&["postgresql", "pgbackrest"])?;
    }
    ensure_apt(&BUILD_PACKAGES)?;
    ensure_web_tools()
}

pub fn ensure_for_test() -> Result<()> {
    if std::env::var_os("DATABASE_URL").is_none() {
        // pgBackRest: the restore drill.
        ensure_apt(&["postgresql", "pgbackrest"])?;
    }
    let mut packages = vec!["chromium"];
    packages.extend(BUILD_PACKAGES);
    // Node.js may come from elsewhere than Debian; install Debian's only when there is none.
    if Command::new("node").arg("--version").output().is_err() {
        packages.extend(["nodejs", "npm"]);
    }
    ensure_apt(&packages)?;
    ensure_web_tools()?;
    let e2e = root().join("e2e");
    let modules = e2e.join("node_modules");
    // @wllama/wllama is for the browser benchmark only (its wasm is served from node_modules).
    if !modules.join("playwright-core").exists() || !modules.join("@wllama").join("wllama").exists()
    {
        // Only the library: the browser is Debian's chromium, never a downloaded one.
        status(
            Command::new("npm")
                .current_dir(&e2e)
                .args(["ci", "--no-audit", "--no-fund"])
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
        )?;
    }
    Ok(())
}
