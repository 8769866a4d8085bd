//! The database edge: the connection pool, and transactions that carry the caller's identity
//! into PostgreSQL so Row Level Security can do the isolating.

pub mod purge;
pub mod seed;
pub mod setup;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// Who is calling, as established from their session. Only these two settings ever reach
/// PostgreSQL; the policies check that the user is an active member of the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

/// Open a transaction and set the caller for it, transaction-local (`is_local = true`), in one
/// round trip. When the transaction ends the settings end with it, so a pooled connection never
/// carries one request's identity into the next.
pub async fn begin_as(
    pool: &PgPool,
    who: Identity,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true)")
        .bind(who.user_id.to_string())
        .bind(who.organization_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// [`begin_as`] for a long read: one consistent, read-only snapshot (repeatable read), so an
/// export's tables agree with each other however long it streams.
pub async fn begin_snapshot_as(
    pool: &PgPool,
    who: Identity,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true)")
        .bind(who.user_id.to_string())
        .bind(who.organization_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The API's pool, connecting as `thrive_app`. Connections are checked before use so a stale
/// connection after a database restart is replaced rather than handed to a request.
pub fn connect_lazy(
    url: &str,
    size: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("thrive-api");
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(true)
        .connect_lazy_with(options))
}
