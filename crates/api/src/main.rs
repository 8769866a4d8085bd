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
      env: DATABASE_URL (as thrive_app), THRIVE_ADDR, THRIVE_STATIC_DIR, THRIVE_LOG
  thrive-api provision --admin-url URL --database NAME [--seed-demo]
      env: THRIVE_OWNER_PASSWORD, THRIVE_APP_PASSWORD, THRIVE_DEMO_PASSWORD (with --seed-demo)
      Creates the roles and the database if missing and applies migrations as thrive_owner.";

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
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

async fn provision(args: &[String]) -> Result<()> {
    let mut admin_url = None;
    let mut database = None;
    let mut seed_demo = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--admin-url" => admin_url = it.next().cloned(),
            "--database" => database = it.next().cloned(),
            "--seed-demo" => seed_demo = true,
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let admin_url = admin_url.context("--admin-url is required")?;
    let database = database.context("--database is required")?;
    let passwords = setup::RolePasswords {
        owner: secret_env("THRIVE_OWNER_PASSWORD")?,
        app: secret_env("THRIVE_APP_PASSWORD")?,
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
