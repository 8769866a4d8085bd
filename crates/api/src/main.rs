//! `thrive-api serve` runs the API and SPA; `thrive-api provision` prepares a database.

use anyhow::{bail, Context, Result};
use secrecy::SecretString;
use sqlx::Connection;
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
  thrive-api verify-audit --admin-url URL --database NAME
      Recomputes every organisation's audit hash chain; exits 1 naming the first broken entry.
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

/// Runs `app.audit_verify` for every organisation from an administrator connection (which sees
/// every organisation's entries), and reports each chain.
async fn verify_audit(args: &[String]) -> Result<()> {
    let (admin_url, database) = admin_args(args, None)?;
    let options: sqlx::postgres::PgConnectOptions = admin_url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options.database(&database)).await?;
    type Chain = (uuid::Uuid, String, i64, Option<i64>, Option<String>);
    let rows: Vec<Chain> = sqlx::query_as(
        "select o.id, o.name, v.entries, v.first_broken_seq, v.problem
           from organizations o cross join lateral app.audit_verify(o.id) v order by o.name",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut broken = 0;
    for (id, name, entries, first, problem) in rows {
        match (first, problem) {
            (Some(seq), Some(problem)) => {
                broken += 1;
                println!("BROKEN\t{id}\t{name}\tfirst broken entry {seq}: {problem}");
            }
            _ => println!("ok\t{id}\t{name}\t{entries} entries"),
        }
    }
    if broken > 0 {
        bail!("{broken} audit chain(s) broken");
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
