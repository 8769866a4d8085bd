//! `thrive-api serve` runs the API and SPA; `thrive-api provision` prepares a database.

use anyhow::{bail, Context, Result};
use secrecy::SecretString;
use sqlx::Connection;
use std::path::PathBuf;
use thrive_api::checkpoints::{self, CheckpointKey, CheckpointStore, DirectoryStore, Outcome};
use thrive_api::config::Config;
use thrive_api::db::{seed, setup};
use thrive_api::startup::Application;
use thrive_api::telemetry;

const USAGE: &str = "usage:
  thrive-api serve
      env: DATABASE_URL (as thrive_app), THRIVE_AUTH_DATABASE_URL (as thrive_auth), THRIVE_ADDR, THRIVE_STATIC_DIR, THRIVE_LOG,
           THRIVE_MODELS_DIR, THRIVE_MODEL_CHUNK_BYTES
  thrive-api provision --admin-url URL --database NAME [--seed-demo]
      env: THRIVE_OWNER_PASSWORD, THRIVE_APP_PASSWORD, THRIVE_AUTH_PASSWORD, THRIVE_DEMO_PASSWORD (with --seed-demo)
      Creates the roles and the database if missing and applies migrations as thrive_owner.
  thrive-api verify-audit --admin-url URL --database NAME [--checkpoints DIR] [--key FILE | --public-key HEX]
      env: THRIVE_AUDIT_CHECKPOINTS, THRIVE_AUDIT_KEY
      Recomputes every organisation's audit hash chain in Rust from the rows and checks it
      against the signed checkpoints; exits 1 naming the first entry that no longer matches.
  thrive-api audit-checkpoint --admin-url URL --database NAME [--checkpoints DIR] [--key FILE]
      env: THRIVE_AUDIT_CHECKPOINTS, THRIVE_AUDIT_KEY
      Verifies each organisation's chain since its last checkpoint and appends a new one, its
      head signed with the Ed25519 key in FILE (created 0600 if missing), to DIR.
  thrive-api audit-public-key --key FILE
      Prints the checkpoint key's public half (hex), for THRIVE_AUDIT_PUBLIC_KEY.
  serve also reads THRIVE_AUDIT_CHECKPOINTS and THRIVE_AUDIT_PUBLIC_KEY (receipts, verification).
  thrive-api purge-closed --admin-url URL --database NAME [--dry-run]
      Deletes every organisation whose closure was requested and whose retention period has
      ended, leaving a tombstone in purged_organizations; --dry-run only lists them.";

fn secret_env(name: &str) -> Result<SecretString> {
    Ok(std::env::var(name)
        .with_context(|| format!("{name} must be set"))?
        .into())
}

#[tokio::main]
async fn main() -> Result<()> {
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            let config = Config::from_env()?;
            let app = Application::build(&config).await?;
            tracing::info!(addr = ?app.local_addr(), "Thrive is listening");
            app.run_until_stopped().await
        }
        Some("provision") => provision(&args[1..]).await,
        Some("verify-audit") => verify_audit(&args[1..]).await,
        Some("audit-checkpoint") => audit_checkpoint(&args[1..]).await,
        Some("audit-public-key") => {
            let opts = checkpoint_args(&args[1..]);
            let key = CheckpointKey::load_or_create(
                &opts
                    .key
                    .context("--key FILE (or THRIVE_AUDIT_KEY) is required")?,
            )?;
            println!("{}", hex::encode(key.verifying_key().as_bytes()));
            Ok(())
        }
        Some("purge-closed") => purge_closed(&args[1..]).await,
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

/// `--admin-url` and `--database`, the arguments of the administrator commands.
fn admin_args(args: &[String], seed_demo: Option<&mut bool>) -> Result<(String, String)> {
    let mut admin_url = None;
    let mut database = None;
    let mut seed = seed_demo;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--admin-url" => admin_url = it.next().cloned(),
            "--database" => database = it.next().cloned(),
            "--seed-demo" if seed.is_some() => {
                if let Some(flag) = seed.as_deref_mut() {
                    *flag = true;
                }
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok((
        admin_url.context("--admin-url is required")?,
        database.context("--database is required")?,
    ))
}

/// Purges the organisations whose retention period after a closure request has ended.
async fn purge_closed(args: &[String]) -> Result<()> {
    let dry_run = args.iter().any(|a| a == "--dry-run");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--dry-run").cloned().collect();
    let (admin_url, database) = admin_args(&rest, None)?;
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
    let purged =
        thrive_api::db::purge::purge_due(&mut conn, time::OffsetDateTime::now_utc(), dry_run)
            .await?;
    if purged.is_empty() {
        println!("No organisation is due for purging.");
    }
    for p in purged {
        let verb = if dry_run { "due" } else { "purged" };
        println!(
            "{verb}\t{}\t{}\t{} audit entries\t{}",
            p.id,
            p.name,
            p.audit_entries,
            serde_json::Value::Object(p.rows_deleted)
        );
    }
    Ok(())
}

/// The checkpoint options (`--checkpoints`, `--key`, `--public-key`, with environment
/// fallbacks), taken out of `args`; the rest are returned for [`admin_args`].
struct CheckpointArgs {
    store: Option<PathBuf>,
    key: Option<PathBuf>,
    public_key: Option<String>,
    rest: Vec<String>,
}

fn checkpoint_args(args: &[String]) -> CheckpointArgs {
    let mut out = CheckpointArgs {
        store: std::env::var_os("THRIVE_AUDIT_CHECKPOINTS").map(PathBuf::from),
        key: std::env::var_os("THRIVE_AUDIT_KEY").map(PathBuf::from),
        public_key: None,
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--checkpoints" => out.store = it.next().map(PathBuf::from),
            "--key" => out.key = it.next().map(PathBuf::from),
            "--public-key" => out.public_key = it.next().cloned(),
            _ => out.rest.push(arg.clone()),
        }
    }
    out
}

/// An administrator connection to the Thrive database.
async fn admin_connection(admin_url: &str, database: &str) -> Result<sqlx::PgConnection> {
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    Ok(sqlx::PgConnection::connect_with(&options.database(database)).await?)
}

/// Recomputes every organisation's chain in Rust from the rows (an administrator connection
/// sees every organisation's entries; it only reads the audit tables, with a pinned search
/// path, and runs no function a database login defined) and checks it against the signed
/// checkpoints.
async fn verify_audit(args: &[String]) -> Result<()> {
    let opts = checkpoint_args(args);
    let (admin_url, database) = admin_args(&opts.rest, None)?;
    let store = opts.store.map(DirectoryStore::new);
    let trusted = match (&opts.public_key, &opts.key) {
        (Some(hex), _) => Some(checkpoints::parse_public_key(hex)?),
        (None, Some(path)) => Some(CheckpointKey::load_or_create(path)?.verifying_key()),
        (None, None) => None,
    };
    if store.is_some() && trusted.is_none() {
        bail!("checking checkpoints needs the trusted key: --key FILE or --public-key HEX");
    }
    let mut conn = admin_connection(&admin_url, &database).await?;
    let results = checkpoints::verify_all(
        &mut conn,
        store.as_ref().map(|s| s as &dyn CheckpointStore),
        trusted.as_ref(),
    )
    .await?;
    let mut broken = 0;
    for (org, v) in results {
        match (v.first_broken_seq, v.problem) {
            (Some(seq), Some(problem)) => {
                broken += 1;
                println!("BROKEN\t{org}\tfirst broken entry {seq}: {problem}");
            }
            (None, Some(problem)) => {
                broken += 1;
                println!("BROKEN\t{org}\t{problem}");
            }
            _ => println!("ok\t{org}\t{} entries", v.entries),
        }
    }
    if broken > 0 {
        bail!("{broken} audit chain(s) broken");
    }
    Ok(())
}

/// Signs every organisation's chain head after verifying it since its last checkpoint.
async fn audit_checkpoint(args: &[String]) -> Result<()> {
    let opts = checkpoint_args(args);
    let (admin_url, database) = admin_args(&opts.rest, None)?;
    let store = DirectoryStore::new(
        opts.store
            .context("--checkpoints DIR (or THRIVE_AUDIT_CHECKPOINTS) is required")?,
    );
    let key = CheckpointKey::load_or_create(
        &opts
            .key
            .context("--key FILE (or THRIVE_AUDIT_KEY) is required")?,
    )?;
    let mut conn = admin_connection(&admin_url, &database).await?;
    let results =
        checkpoints::checkpoint_all(&mut conn, &store, &key, time::OffsetDateTime::now_utc())
            .await?;
    let mut broken = 0;
    for (org, outcome) in results {
        match outcome {
            Outcome::Signed { seq } => println!("signed\t{org}\tentry {seq}"),
            Outcome::Unchanged { seq } => println!("unchanged\t{org}\tentry {seq}"),
            Outcome::Broken(v) => {
                broken += 1;
                println!(
                    "BROKEN\t{org}\tfirst broken entry {}: {}",
                    v.first_broken_seq.unwrap_or_default(),
                    v.problem.unwrap_or_default()
                );
            }
        }
    }
    if broken > 0 {
        bail!("{broken} audit chain(s) broken: not signed");
    }
    Ok(())
}

async fn provision(args: &[String]) -> Result<()> {
    let mut seed_demo = false;
    let (admin_url, database) = admin_args(args, Some(&mut seed_demo))?;
    let passwords = setup::RolePasswords {
        owner: secret_env("THRIVE_OWNER_PASSWORD")?,
        app: secret_env("THRIVE_APP_PASSWORD")?,
        auth: secret_env("THRIVE_AUTH_PASSWORD")?,
    };
    setup::provision(&admin_url, &database, &passwords).await?;
    if seed_demo {
        let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
        let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
        let logins = seed::seed_demo(&mut conn, &secret_env("THRIVE_DEMO_PASSWORD")?).await?;
        for login in logins {
            // Machine-readable for the xtask; the password itself is never printed here.
            println!(
                "demo-login\t{}\t{}\t{}\t{}\t{}",
                login.organization,
                login.role,
                login.email,
                login.display_name,
                login.assigned.join(", ")
            );
        }
    }
    Ok(())
}
