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
///
/// The `BEGIN` and the settings run in a task of their own, so a request dropped halfway (a
/// client disconnecting, a timeout) cannot cancel them between sending `BEGIN` and reading its
/// answer. sqlx 0.8.6 would then return the connection to the pool inside a transaction that
/// nothing rolls back (sqlx issue 4393). Detached, the task finishes; if nobody is left to
/// take the transaction, dropping it queues the `ROLLBACK` as usual.
pub async fn begin_as(
    pool: &PgPool,
    who: Identity,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_detached(pool, who, false).await
}

/// [`begin_as`] for a long read: one consistent, read-only snapshot (repeatable read), so an
/// export's tables agree with each other however long it streams.
pub async fn begin_snapshot_as(
    pool: &PgPool,
    who: Identity,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_detached(pool, who, true).await
}

async fn begin_detached(
    pool: &PgPool,
    who: Identity,
    snapshot: bool,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        let mut tx = pool.begin().await?;
        if snapshot {
            sqlx::query("set transaction isolation level repeatable read, read only")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true)",
        )
        .bind(who.user_id.to_string())
        .bind(who.organization_id.to_string())
        .execute(&mut *tx)
        .await?;
        Ok::<_, sqlx::Error>(tx)
    });
    match task.await {
        Ok(result) => result,
        Err(join) => {
            tracing::error!(error = %join, "the task opening a transaction failed");
            Err(sqlx::Error::WorkerCrashed)
        }
    }
}

/// How long a session may sit idle inside a transaction before PostgreSQL ends it: the last
/// safety net should a connection ever be left inside one. The data role's exports stream for
/// a while between statements, so it gets minutes; the sign-in role never holds a transaction.
pub const APP_IDLE_IN_TRANSACTION: &str = "5min";
pub const AUTH_IDLE_IN_TRANSACTION: &str = "1min";

/// Whether a pooled connection may be handed out: it answers, and it is not inside a
/// transaction block. Sent as a simple query (a `&str` without arguments), which PostgreSQL
/// runs as its own implicit transaction starting with the statement, so `now()` equals
/// `statement_timestamp()` exactly; inside a block left open, `now()` is the older `BEGIN`'s
/// time. An aborted block answers with an error. Either way the connection is closed (which
/// rolls the block back) and the pool opens a fresh one.
pub async fn fit_for_reuse(conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    use sqlx::{Executor, Row};
    let row = conn
        .fetch_one("select pg_catalog.now() = pg_catalog.statement_timestamp()")
        .await?;
    let outside_transaction: bool = row.try_get(0)?;
    if !outside_transaction {
        tracing::warn!("a pooled connection was inside a transaction: closed instead of reused");
    }
    Ok(outside_transaction)
}

/// A pool of `size` connections with the checks above: each connection is tested before it
/// is handed out (a stale one after a database restart, or one inside a transaction, is
/// replaced), and carries `idle_in_transaction_session_timeout`.
pub fn pool_with(
    options: PgConnectOptions,
    size: u32,
    acquire_timeout: Duration,
    idle_in_transaction: &str,
) -> PgPool {
    let options = options
        .application_name("thrive-api")
        .options([("idle_in_transaction_session_timeout", idle_in_transaction)]);
    PgPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        // fit_for_reuse is a round trip of its own, so the bare ping is not needed as well.
        .test_before_acquire(false)
        .before_acquire(|conn, _meta| Box::pin(fit_for_reuse(conn)))
        .connect_lazy_with(options)
}

/// The API's pool from a URL (as `thrive_app`, or `thrive_auth` for the sign-in pool).
pub fn connect_lazy(
    url: &str,
    size: u32,
    acquire_timeout: Duration,
    idle_in_transaction: &str,
) -> Result<PgPool, sqlx::Error> {
    Ok(pool_with(
        PgConnectOptions::from_str(url)?,
        size,
        acquire_timeout,
        idle_in_transaction,
    ))
}
