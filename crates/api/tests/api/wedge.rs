//! The wedged connection (issue 13; sqlx issue 4393): a request dropped while its `BEGIN` is
//! in flight must not leave its pooled connection inside a transaction for the next borrower.
//!
//! The window is made wide and certain with a proxy between the pool and PostgreSQL that holds
//! every answer from the server for a while: a request cancelled half way through that wait
//! has sent `BEGIN` and not read its answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use thrive_api::db::{self, Identity};

use crate::helpers::TestDb;

const DELAY: Duration = Duration::from_millis(60);

/// A TCP proxy to `target` that, while `slow` is set, holds each chunk the server sends for
/// [`DELAY`] before passing it on.
async fn slow_proxy(target: SocketAddr, slow: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                let _ = server_write.shutdown().await;
            });
            let slow = slow.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if slow.load(Ordering::SeqCst) {
                        tokio::time::sleep(DELAY).await;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The `thrive_app` options of `db`, pointed at a slow proxy in front of its server.
async fn through_proxy(db: &TestDb, slow: Arc<AtomicBool>) -> PgConnectOptions {
    let options: PgConnectOptions = db.app.connect_options().as_ref().clone();
    let host = if options.get_host().starts_with('/') {
        "127.0.0.1".to_owned()
    } else {
        options.get_host().to_owned()
    };
    let target: SocketAddr = tokio::net::lookup_host((host.as_str(), options.get_port()))
        .await
        .expect("resolve the test server")
        .next()
        .expect("an address for the test server");
    let proxy = slow_proxy(target, slow).await;
    options.host("127.0.0.1").port(proxy.port())
}

/// Whether the next borrower of the pool's only connection finds itself inside a
/// transaction: two statements in a row see the same transaction id only inside one.
async fn next_borrower_in_transaction(pool: &PgPool) -> bool {
    let mut conn = pool.acquire().await.expect("next borrower");
    let first: i64 = sqlx::query_scalar("select pg_catalog.txid_current()")
        .fetch_one(&mut *conn)
        .await
        .expect("txid");
    let second: i64 = sqlx::query_scalar("select pg_catalog.txid_current()")
        .fetch_one(&mut *conn)
        .await
        .expect("txid");
    first == second
}

fn someone() -> Identity {
    Identity {
        user_id: Uuid::new_v4(),
        organization_id: Uuid::new_v4(),
    }
}

/// A plain sqlx pool of one connection, without the API's checks (nor sqlx's ping, so the
/// first answer the proxy holds is BEGIN's).
fn plain_pool(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

/// The API's pool of one connection.
fn api_pool(options: PgConnectOptions) -> PgPool {
    db::pool_with(
        options,
        1,
        Duration::from_secs(10),
        db::APP_IDLE_IN_TRANSACTION,
    )
}

/// Opens the pool's connection while the proxy is fast, so the cancelled call below spends
/// its time on the check and the `BEGIN`, not on connecting.
async fn warm(pool: &PgPool) {
    sqlx::query("select 1").execute(pool).await.expect("warm");
    // The connection goes back to the pool after a ping of its own: let that finish while the
    // proxy is still fast.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Cancels `begin` once its `BEGIN` is on the wire: the proxy holds each answer for DELAY;
/// the pool's check (when it has one) takes one answer, `BEGIN` the next.
async fn cancel_during_begin<F, T>(slow: &AtomicBool, begin: F)
where
    F: std::future::Future<Output = T>,
{
    slow.store(true, Ordering::SeqCst);
    let outcome = tokio::time::timeout(DELAY + DELAY / 2, begin).await;
    assert!(outcome.is_err(), "the call was expected to be cancelled");
    slow.store(false, Ordering::SeqCst);
}

/// The harness reaches the bug: sqlx's own `Pool::begin`, on a pool without the API's check,
/// cancelled during `BEGIN`, hands the next borrower a connection inside a transaction. (Should
/// an sqlx upgrade fix issue 4393 upstream, this test says so and can go.)
#[tokio::test]
async fn without_the_guards_a_cancelled_begin_wedges_the_connection() {
    let db = TestDb::new().await;
    let slow = Arc::new(AtomicBool::new(false));
    let pool = plain_pool(through_proxy(&db, slow.clone()).await);
    warm(&pool).await;
    slow.store(true, Ordering::SeqCst);
    let outcome = tokio::time::timeout(DELAY / 2, pool.begin()).await;
    assert!(outcome.is_err(), "the call was expected to be cancelled");
    slow.store(false, Ordering::SeqCst);
    assert!(
        next_borrower_in_transaction(&pool).await,
        "sqlx no longer leaves a cancelled BEGIN's connection inside a transaction (issue 4393 fixed upstream?)"
    );
}

/// The API's own begin runs `BEGIN` in a task of its own: cancelling the request does not
/// cancel it, and the finished, unwanted transaction is rolled back. Shown on a plain pool, so
/// the detached begin alone is what keeps the next borrower out of a transaction.
#[tokio::test]
async fn a_request_cancelled_inside_begin_leaves_no_transaction_behind() {
    let db = TestDb::new().await;
    let slow = Arc::new(AtomicBool::new(false));
    let pool = plain_pool(through_proxy(&db, slow.clone()).await);
    warm(&pool).await;
    slow.store(true, Ordering::SeqCst);
    let outcome = tokio::time::timeout(DELAY / 2, db::begin_as(&pool, someone())).await;
    assert!(outcome.is_err(), "the call was expected to be cancelled");
    slow.store(false, Ordering::SeqCst);
    assert!(!next_borrower_in_transaction(&pool).await);
}

/// The pool's check catches a connection left inside a transaction however it got there (here
/// by sqlx's own `Pool::begin`, cancelled): the next borrower gets a fresh connection.
#[tokio::test]
async fn the_pool_refuses_a_connection_left_inside_a_transaction() {
    let db = TestDb::new().await;
    let slow = Arc::new(AtomicBool::new(false));
    let pool = api_pool(through_proxy(&db, slow.clone()).await);
    warm(&pool).await;
    // The check's answer is held once, then BEGIN's: cancel while BEGIN's is held.
    cancel_during_begin(&slow, pool.begin()).await;
    assert!(!next_borrower_in_transaction(&pool).await);
    // Also a block opened by hand and never closed.
    {
        let mut conn = pool.acquire().await.expect("connection");
        sqlx::Executor::execute(&mut *conn, "begin")
            .await
            .expect("raw begin");
    }
    assert!(!next_borrower_in_transaction(&pool).await);
}

/// Cancellations at many moments of the API's begin on the API's pool: never a connection in
/// a transaction afterwards, in PostgreSQL's own view either.
#[tokio::test]
async fn cancellations_at_any_moment_leave_no_connection_idle_in_transaction() {
    let db = TestDb::new().await;
    let slow = Arc::new(AtomicBool::new(true));
    let pool = api_pool(through_proxy(&db, slow.clone()).await);
    for step in 0..12u64 {
        // From before the check has answered to after the settings have.
        let at = Duration::from_millis(5 + step * 20);
        let _ = tokio::time::timeout(at, db::begin_as(&pool, someone())).await;
    }
    slow.store(false, Ordering::SeqCst);
    assert!(!next_borrower_in_transaction(&pool).await);
    // Cancelled begins still finishing in their own tasks hold a transaction for a moment,
    // until it is rolled back; none may stay.
    let mut stuck: i64 = -1;
    for _ in 0..50 {
        stuck = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and usename = 'thrive_app'
                and state like 'idle in transaction%'",
        )
        .fetch_one(&db.admin)
        .await
        .expect("pg_stat_activity");
        if stuck == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stuck, 0);
    assert!(!next_borrower_in_transaction(&pool).await);
}

/// The last safety net is set on the API's connections.
#[tokio::test]
async fn the_api_pools_carry_an_idle_in_transaction_timeout() {
    let db = TestDb::new().await;
    let options: PgConnectOptions = db.app.connect_options().as_ref().clone();
    let pool = db::pool_with(
        options,
        1,
        Duration::from_secs(10),
        db::APP_IDLE_IN_TRANSACTION,
    );
    let timeout: String = sqlx::query_scalar("show idle_in_transaction_session_timeout")
        .fetch_one(&pool)
        .await
        .expect("show");
    assert_eq!(timeout, "5min");
}
