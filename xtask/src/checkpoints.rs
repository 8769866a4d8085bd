//! The audit checkpointer for `cargo xtask run`: `thrive-api audit-checkpoint` right after
//! provisioning and then every five minutes, signing each organisation's audit chain head with
//! a key kept under the build directory (never in the database), into a directory the API
//! serves receipts from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::postgres::Cluster;

const EVERY: Duration = Duration::from_secs(5 * 60);

/// The key file (0600, created on first use) and the checkpoint directory.
pub fn paths() -> (PathBuf, PathBuf) {
    let dir = crate::state_dir();
    (
        dir.join("audit-checkpoint.key"),
        dir.join("audit-checkpoints"),
    )
}

fn command(api: &Path, admin_url: &str, database: &str, sub: &str) -> Command {
    let (key, store) = paths();
    let mut cmd = Command::new(api);
    // The administrator URL carries a password: through the environment, never on the command
    // line where `ps` shows it.
    cmd.args([sub, "--database", database])
        .env("THRIVE_ADMIN_URL", admin_url)
        .env("THRIVE_AUDIT_KEY", key)
        .env("THRIVE_AUDIT_CHECKPOINTS", store);
    cmd
}

/// Signs every chain head once; fails when a chain no longer verifies.
pub fn checkpoint_once(api: &Path, admin_url: &str, database: &str) -> Result<()> {
    let out = command(api, admin_url, database, "audit-checkpoint")
        .output()
        .context("running thrive-api audit-checkpoint")?;
    if !out.status.success() {
        bail!(
            "thrive-api audit-checkpoint failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The public key the API checks checkpoints with (hex).
pub fn public_key(api: &Path) -> Result<String> {
    let (key, _) = paths();
    let out = Command::new(api)
        .args(["audit-public-key", "--key"])
        .arg(key)
        .output()
        .context("running thrive-api audit-public-key")?;
    if !out.status.success() {
        bail!(
            "thrive-api audit-public-key failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs the checkpointer every five minutes on a background thread for as long as the run
/// lasts; a broken chain is reported loudly, not hidden.
pub fn schedule(api: PathBuf, cluster: &Cluster, database: &str) {
    let admin_url = cluster.admin_url.clone();
    let database = database.to_owned();
    std::thread::spawn(move || loop {
        std::thread::sleep(EVERY);
        if let Err(e) = checkpoint_once(&api, &admin_url, &database) {
            eprintln!("audit checkpoint: {e:#}");
        }
    });
}
