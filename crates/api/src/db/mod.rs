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
/// round trip: `BEGIN` and the settings go to PostgreSQL as one simple-query message. When the
/// transaction ends the settings end with it, so a pooled connection never carries one
/// request's identity into the next. (The identifiers are `Uuid`s, written by their `Display`
/// as 36 characters of hex and dashes: nothing of the caller's reaches the SQL text.)
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

/// The one message that opens a request's transaction and names its caller.
fn begin_statement(who: Identity, snapshot: bool) -> String {
    let begin = if snapshot {
        "begin isolation level repeatable read, read only"
    } else {
        "begin"
    };
    format!(
        "{begin}; select pg_catalog.set_config('app.user_id', '{}', true), \
         pg_catalog.set_config('app.org_id', '{}', true)",
        who.user_id, who.organization_id
    )
}

async fn begin_detached(
    pool: &PgPool,
    who: Identity,
    snapshot: bool,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    let task = tokio::spawn(async move { pool.begin_with(begin_statement(who, snapshot)).await });
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

/// A connection idle in the pool for longer than this is checked again before it is handed
/// out (the server may have ended it meanwhile: a restart, a terminated backend). One in
/// steady use was checked as it came back moments ago, so it is not asked again.
pub const RECHECK_IDLE_AFTER: Duration = Duration::from_millis(100);

/// A pool of `size` connections with the checks above: each connection is checked as it comes
/// back to the pool, so one left inside a transaction (or an aborted one) is closed there and
/// never handed out; one that sat idle for a while is checked again before reuse (a stale one
/// after a database restart is replaced). Connections carry
/// `idle_in_transaction_session_timeout`.
///
/// Checking on return rather than on every borrow keeps the check off the request's path:
/// under load a request's connection comes straight from the previous request, already
/// checked, and the request pays no round trip for it.
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
        .after_release(|conn, _meta| Box::pin(fit_for_reuse(conn)))
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < RECHECK_IDLE_AFTER {
                    return Ok(true);
                }
                fit_for_reuse(conn).await
            })
        })
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
