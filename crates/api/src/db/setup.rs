//! Provisioning a database for Thrive from an administrator connection: the cluster roles, the
//! database, the audit trail's home (owned by the NOLOGIN `thrive_audit`, set up by the
//! administrator because the migration login must not be able to alter it: see `audit.sql`),
//! and the migrations (run as `thrive_owner`, never as a superuser, so every other object is
//! owned by the owner role and subject to its FORCEd policies).

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Passwords for the login roles.
#[derive(Debug, Clone)]
pub struct RolePasswords {
    pub owner: SecretString,
    pub app: SecretString,
    /// `thrive_auth`: the sign-in, session and invitation routes.
    pub auth: SecretString,
}

/// Create or update the roles (idempotent) and set their passwords. Needs a superuser or a
/// role with CREATEROLE.
pub async fn ensure_roles(admin: &mut PgConnection, passwords: &RolePasswords) -> Result<()> {
    admin
        .execute(include_str!("roles.sql"))
        .await
        .context("creating the thrive roles")?;
    for (role, password) in [
        ("thrive_owner", &passwords.owner),
        ("thrive_app", &passwords.app),
        ("thrive_auth", &passwords.auth),
    ] {
        // ALTER ROLE takes no bind parameters; quote with format(%L) server-side instead of
        // splicing the secret into SQL text ourselves.
        let statement: String =
            sqlx::query_scalar("select format('alter role %I password %L', $1::text, $2::text)")
                .bind(role)
                .bind(password.expose_secret())
                .fetch_one(&mut *admin)
                .await?;
        admin
            .execute(statement.as_str())
            .await
            .with_context(|| format!("setting the {role} password"))?;
    }
    Ok(())
}

/// Create `database` owned by thrive_owner if it does not exist, and lock it down so only the
/// Thrive roles can connect.
pub async fn ensure_database(admin: &mut PgConnection, database: &str) -> Result<()> {
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(database)
            .fetch_one(&mut *admin)
            .await?;
    if !exists {
        let create: String =
            sqlx::query_scalar("select format('create database %I owner thrive_owner', $1::text)")
                .bind(database)
                .fetch_one(&mut *admin)
                .await?;
        admin
            .execute(create.as_str())
            .await
            .context("creating the database")?;
    }
    let grants: String = sqlx::query_scalar(
        "select format('revoke all on database %1$I from public; grant connect, temporary on database %1$I to thrive_app; grant connect on database %1$I to thrive_auth', $1::text)",
    )
    .bind(database)
    .fetch_one(&mut *admin)
    .await?;
    admin.execute(grants.as_str()).await?;
    Ok(())
}

/// Create or update schema `audit` (owned by `thrive_audit`) and move the audit tables into it.
/// Connected to the Thrive database as an administrator; idempotent. Provisioning runs it before
/// the migrations (they call `audit.append`) and after them (a fresh database's tables are
/// created by migration 0004).
pub async fn ensure_audit_owner(admin: &mut PgConnection) -> Result<()> {
    admin
        .execute(include_str!("audit.sql"))
        .await
        .context("setting up the audit schema")?;
    Ok(())
}

/// Apply pending migrations, connected as thrive_owner.
pub async fn migrate(owner: &mut PgConnection) -> Result<()> {
    MIGRATOR.run(owner).await.context("applying migrations")?;
    Ok(())
}

/// Everything a fresh or existing database needs: roles, database, migrations.
pub async fn provision(admin_url: &str, database: &str, passwords: &RolePasswords) -> Result<()> {
    let admin_options: PgConnectOptions = admin_url.parse().context("parsing the admin URL")?;
    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .context("connecting as the database administrator")?;
    ensure_roles(&mut admin, passwords).await?;
    ensure_database(&mut admin, database).await?;
    admin.close().await?;
    let mut admin = PgConnection::connect_with(&admin_options.clone().database(database))
        .await
        .context("connecting to the database as the administrator")?;
    ensure_audit_owner(&mut admin).await?;
    let mut owner = PgConnection::connect_with(&role_options(
        &admin_options,
        database,
        "thrive_owner",
        &passwords.owner,
    ))
    .await
    .context("connecting as thrive_owner")?;
    migrate(&mut owner).await?;
    owner.close().await?;
    ensure_audit_owner(&mut admin).await?;
    admin.close().await?;
    Ok(())
}

/// Connection options for `role` on `database`, on the same server as `base`.
pub fn role_options(
    base: &PgConnectOptions,
    database: &str,
    role: &str,
    password: &SecretString,
) -> PgConnectOptions {
    base.clone()
        .database(database)
        .username(role)
        .password(password.expose_secret())
}
