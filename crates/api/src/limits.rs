//! Bounded work and rate limits for what anyone can ask of the server without a session.
//!
//! * [`BoundedPool`]: CPU- and memory-heavy work (argon2id at 19 MiB a hash, image decoding)
//!   runs on the blocking pool, at most `workers` at once, with at most `queue` more waiting;
//!   beyond that the request is answered 429 with Retry-After at once, before any work or
//!   database round trip. The permits travel with the blocking task, so a client that goes away
//!   does not free a slot while its hash is still being computed.
//! * Sign-in rates per client address and from everyone together, from `governor` (GCRA), in
//!   memory per instance: the first, cheap line. What must hold across instances (failures per
//!   account and per address, locks) is counted in PostgreSQL (`auth.begin_login`).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::AuthSettings;
use crate::error::ApiError;
use crate::startup::AppState;

/// How long a client turned away by a full pool is asked to wait.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// At most `workers` jobs at once on the blocking pool, `queue` more waiting, the rest refused.
#[derive(Clone)]
pub struct BoundedPool {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    workers: usize,
    capacity: usize,
}

/// A place in a [`BoundedPool`]: taken before any work starts, so a refusal costs nothing.
pub struct Ticket {
    admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl BoundedPool {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        BoundedPool {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
            workers,
            capacity: workers + queue,
        }
    }

    /// Jobs running now, and jobs admitted but waiting for a worker (for the metrics).
    pub fn load(&self) -> (usize, usize) {
        let running = self
            .workers
            .saturating_sub(self.running.available_permits());
        let admitted = self
            .capacity
            .saturating_sub(self.admitted.available_permits());
        (running, admitted.saturating_sub(running))
    }

    /// A place, or 429 when the workers and the queue are all taken.
    pub fn admit(&self) -> Result<Ticket, ApiError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests(BUSY_RETRY))?;
        Ok(Ticket {
            admitted,
            running: self.running.clone(),
        })
    }

    /// [`BoundedPool::admit`], then [`Ticket::run`].
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.admit()?.run(job).await
    }
}

impl Ticket {
    /// Waits for a worker, then runs `job` on the blocking pool.
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::TooManyRequests(BUSY_RETRY))?;
        let admitted = self.admitted;
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            job()
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a blocking job failed: {e}")))
    }
}

/// The limits in force, shared by every request.
#[derive(Clone)]
pub struct Guards {
    /// argon2id verifications and hashes.
    pub hashing: BoundedPool,
    /// Image decoding (uploads).
    pub images: BoundedPool,
    by_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    everyone: Arc<DefaultDirectRateLimiter>,
    client_ip_header: Option<String>,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Guards {
    pub fn new(settings: &AuthSettings) -> Self {
        let image_workers = (settings.hash_workers / 2).max(1);
        Guards {
            hashing: BoundedPool::new(settings.hash_workers, settings.hash_queue),
            images: BoundedPool::new(image_workers, image_workers * 2),
            by_address: Arc::new(RateLimiter::keyed(
                Quota::per_minute(nonzero(settings.address_per_minute))
                    .allow_burst(nonzero(settings.address_burst)),
            )),
            everyone: Arc::new(RateLimiter::direct(
                Quota::per_second(nonzero(settings.global_per_second))
                    .allow_burst(nonzero(settings.global_burst)),
            )),
            client_ip_header: settings.client_ip_header.clone(),
        }
    }

    /// One sign-in-like request from `address`: 429 with the wait when over a limit.
    pub fn admit(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        if let Some(ip) = address {
            if let Err(not_until) = self.by_address.check_key(&ip) {
                tracing::info!(%ip, "sign-in rate limit for one address reached");
                return Err(ApiError::TooManyRequests(
                    not_until.wait_time_from(clock.now()),
                ));
            }
        }
        if let Err(not_until) = self.everyone.check() {
            tracing::warn!("global sign-in rate limit reached");
            return Err(ApiError::TooManyRequests(
                not_until.wait_time_from(clock.now()),
            ));
        }
        Ok(())
    }

    /// Forgets addresses not seen lately (run periodically).
    pub fn housekeep(&self) {
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }
}

/// The client's address: the connection's peer, or the last address in the header a trusted
/// proxy sets (`THRIVE_CLIENT_IP_HEADER`). `None` when neither is known.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(header) = &state.guards.client_ip_header {
            let from_proxy = parts
                .headers
                .get_all(header.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back();
            if from_proxy.is_some() {
                return Ok(ClientAddr(from_proxy));
            }
        }
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_refuses_at_once_and_frees_its_places() {
        let pool = BoundedPool::new(1, 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let first = pool.admit().expect("a worker");
        let running = tokio::spawn(first.run(move || rx.recv().is_ok()));
        let second = pool.admit().expect("the queue");
        assert!(matches!(pool.admit(), Err(ApiError::TooManyRequests(_))));
        tx.send(()).expect("release");
        assert!(running.await.expect("join").expect("ran"));
        assert_eq!(second.run(|| 7).await.expect("ran"), 7);
        assert!(pool.admit().is_ok(), "every place is free again");
    }

    #[test]
    fn one_address_over_its_burst_is_refused_with_a_wait_another_is_not() {
        let settings = AuthSettings {
            address_burst: 3,
            address_per_minute: 1,
            ..AuthSettings::default()
        };
        let guards = Guards::new(&settings);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            guards.admit(Some(a)).expect("within the burst");
        }
        match guards.admit(Some(a)) {
            Err(ApiError::TooManyRequests(wait)) => assert!(wait > Duration::ZERO),
            other => panic!("expected 429, got {other:?}"),
        }
        guards.admit(Some(b)).expect("another address");
    }
}
