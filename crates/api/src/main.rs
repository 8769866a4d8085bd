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
           THRIVE_MODELS_DIR, THRIVE_MODEL_CHUNK_BYTES,
           THRIVE_MASTER_KEY (base64, 32 bytes) and THRIVE_KEYS_DIR (the wrapped data keys),
           THRIVE_TLS_CERT and THRIVE_TLS_KEY (PEM; HTTPS, TLS 1.3), THRIVE_TLS_ALLOW_1_2=1,
           THRIVE_HTTP_REDIRECT_ADDR (plain HTTP answered with a redirect to HTTPS),
           THRIVE_BEHIND_TLS_PROXY=1 (no TLS here, but a TLS proxy in front: HSTS is sent)
  The administrator commands below connect with THRIVE_ADMIN_URL (an administrator's
  postgres:// URL, from the environment so its password never shows in `ps`); `--admin-url`
  is accepted only without a password in it (then PGPASSWORD or ~/.pgpass supplies one).
  thrive-api provision --database NAME [--seed-demo]
      env: THRIVE_OWNER_PASSWORD, THRIVE_APP_PASSWORD, THRIVE_AUTH_PASSWORD, THRIVE_DEMO_PASSWORD (with --seed-demo)
      Creates the roles and the database if missing and applies migrations as thrive_owner.
  thrive-api verify-audit --database NAME [--checkpoints DIR] [--key FILE | --public-key HEX]
      env: THRIVE_AUDIT_CHECKPOINTS, THRIVE_AUDIT_KEY
      Recomputes every organisation's audit hash chain in Rust from the rows and checks it
      against the signed checkpoints; exits 1 naming the first entry that no longer matches.
  thrive-api audit-checkpoint --database NAME [--checkpoints DIR] [--key FILE]
      env: THRIVE_AUDIT_CHECKPOINTS, THRIVE_AUDIT_KEY
      Verifies each organisation's chain since its last checkpoint and appends a new one, its
      head signed with the Ed25519 key in FILE (created 0600 if missing), to DIR.
  thrive-api audit-public-key --key FILE
      Prints the checkpoint key's public half (hex), for THRIVE_AUDIT_PUBLIC_KEY.
  serve also reads THRIVE_AUDIT_CHECKPOINTS and THRIVE_AUDIT_PUBLIC_KEY (receipts, verification).
  thrive-api purge-closed --database NAME [--dry-run]
      Deletes every organisation whose closure was requested and whose retention period has
      ended, leaving a tombstone in purged_organizations, and destroys its data key (env:
      THRIVE_MASTER_KEY, THRIVE_KEYS_DIR), so its files in every backup become unreadable;
      --dry-run only lists them.
  thrive-api verify-files --database NAME
      env: THRIVE_MASTER_KEY, THRIVE_KEYS_DIR. Tries to open every stored file with its
      organisation's key and prints, per organisation, how many open and how many cannot
      (a purged organisation's files in a restored backup: all of them).";

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
        Some("verify-files") => verify_files(&args[1..]).await,
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

/// The administrator connection and `--database`, the arguments of the administrator commands.
/// The URL comes from `THRIVE_ADMIN_URL`; a `--admin-url` carrying a password is refused, since
/// every user of the machine can read a process's arguments (`ps`).
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
    let admin_url = match admin_url {
        Some(url) => {
            if url_has_password(&url) {
                bail!(
                    "--admin-url must not carry a password (any user can read command lines with `ps`): \
                     set THRIVE_ADMIN_URL instead, or PGPASSWORD / a ~/.pgpass entry"
                );
            }
            url
        }
        None => std::env::var("THRIVE_ADMIN_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .context("THRIVE_ADMIN_URL must name an administrator connection")?,
    };
    Ok((admin_url, database.context("--database is required")?))
}

/// Whether a postgres:// URL has a password, in its user part or as a `password=` parameter.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let userinfo = authority
        .split('/')
        .next()
        .and_then(|hostpart| hostpart.rsplit_once('@'))
        .map(|(user, _)| user);
    userinfo.is_some_and(|u| u.contains(':'))
        || query
            .split('&')
            .any(|kv| kv.to_ascii_lowercase().starts_with("password="))
}

/// Purges the organisations whose retention period after a closure request has ended.
async fn purge_closed(args: &[String]) -> Result<()> {
    let dry_run = args.iter().any(|a| a == "--dry-run");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--dry-run").cloned().collect();
    let (admin_url, database) = admin_args(&rest, None)?;
    // The keys are destroyed with the rows: without the key store, nothing is purged.
    let keys = if dry_run {
        None
    } else {
        Some(thrive_api::at_rest::from_env().context(
            "purging destroys the organisations' data keys: THRIVE_MASTER_KEY and THRIVE_KEYS_DIR must be set",
        )?)
    };
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
    let purged =
        thrive_api::db::purge::purge_due(&mut conn, time::OffsetDateTime::now_utc(), dry_run)
            .await?;
    if let Some(keys) = &keys {
        // Every purged organisation's key, including any left by a purge that stopped between
        // its commit and this step: their files, here and in every backup, become unreadable.
        let shredded = thrive_api::db::purge::destroy_purged_keys(&mut conn, keys).await?;
        if shredded > 0 {
            println!("destroyed the data keys of {shredded} purged organisation(s)");
        }
    }
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

/// Opens every stored file with its organisation's data key and reports, per organisation,
/// how many opened, how many could not, and how many are still plaintext.
async fn verify_files(args: &[String]) -> Result<()> {
    let (admin_url, database) = admin_args(args, None)?;
    let keys = thrive_api::at_rest::from_env()?;
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
    type Row = (uuid::Uuid, String, uuid::Uuid, Vec<u8>, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "select f.organization_id, o.name, f.id, f.content, f.content_nonce
           from files f join organizations o on o.id = f.organization_id order by o.name, f.id",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut tally: std::collections::BTreeMap<(String, uuid::Uuid), [u64; 3]> =
        std::collections::BTreeMap::new();
    for (org, name, id, content, nonce) in rows {
        let counts = tally.entry((name, org)).or_default();
        match nonce {
            None => counts[2] += 1,
            Some(nonce) => match thrive_api::at_rest::open_file(&keys, org, id, &nonce, &content) {
                Ok(_) => counts[0] += 1,
                Err(_) => counts[1] += 1,
            },
        }
    }
    for ((name, org), [opened, unreadable, plaintext]) in tally {
        println!(
            "files\t{org}\t{name}\t{opened} open\t{unreadable} unreadable\t{plaintext} plaintext"
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
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    if seed_demo {
        let mut conn =
            sqlx::PgConnection::connect_with(&options.clone().database(&database)).await?;
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
    // Files stored before encryption at rest (and the demo's seeded photos) are sealed now.
    match thrive_api::at_rest::from_env() {
        Ok(keys) => {
            let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
            let sealed = thrive_api::at_rest::seal_plaintext_files(&mut conn, &keys).await?;
            if sealed > 0 {
                eprintln!("sealed {sealed} stored file(s) with their organisations' keys");
            }
        }
        Err(e) => eprintln!("note: stored files are not sealed now ({e:#})"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::url_has_password;

    #[test]
    fn a_password_in_the_admin_url_is_noticed_wherever_it_is() {
        assert!(url_has_password("postgres://admin:secret@db:5432/postgres"));
        assert!(url_has_password(
            "postgresql://admin@db/postgres?password=secret"
        ));
        assert!(url_has_password(
            "postgres://admin@db/postgres?sslmode=verify-full&Password=x"
        ));
        assert!(!url_has_password("postgres://admin@db:5432/postgres"));
        assert!(!url_has_password(
            "postgres://db/postgres?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        ));
    }
}
