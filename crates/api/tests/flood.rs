//! Issue 9, must-show 2: a flood of 200 concurrent unknown-email sign-ins against the running
//! server. Before, every one ran a 19 MiB argon2 on the blocking pool: 150 took the server from
//! about 2 GB to 4.9 GB resident and a legitimate sign-in meanwhile took 5.4 s. Now argon2 runs
//! on a bounded pool with a short queue, and the flood gets 429s.
//!
//! Its own test binary, so the process's resident memory is the server's alone (cargo runs test
//! binaries one at a time). `cargo xtask test` runs it with the rest; `cargo test -p thrive-api
//! --test flood -- --nocapture` prints the figures. Times are printed, never asserted.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::{pkce_pair, TestApp, World, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use thrive_api::config::AuthSettings;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

struct Flood {
    ok: usize,
    refused: usize,
    limited: usize,
    other: usize,
    peak_growth_mib: f64,
    legit_status: StatusCode,
    legit_tries: usize,
    legit_secs: f64,
    flood_secs: f64,
}

async fn flood(app: &TestApp, legit_email: &str) -> Flood {
    let before = resident_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(resident_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let started = Instant::now();
    let (_, challenge) = pkce_pair();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (http, url) = (app.http.clone(), app.url("/api/auth/authorize"));
        let body = json!({"email": format!("flood{i}@nowhere.example"), "password": "Flood-Password-123!",
                          "code_challenge": challenge, "code_challenge_method": "S256"});
        requests.spawn(async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
                .ok()
        });
    }
    // A legitimate sign-in in the middle of the flood, honouring Retry-After as the SPA would.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let legit_started = Instant::now();
    let mut legit_tries = 0;
    let legit_status = loop {
        legit_tries += 1;
        let resp = app.authorize(legit_email, PASSWORD, &challenge).await;
        if resp.status() != StatusCode::TOO_MANY_REQUESTS || legit_tries >= 60 {
            break resp.status();
        }
        let wait = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    };
    let legit_secs = legit_started.elapsed().as_secs_f64();
    let (mut ok, mut refused, mut limited, mut other) = (0, 0, 0, 0);
    while let Some(done) = requests.join_next().await {
        match done.ok().flatten() {
            Some(StatusCode::OK) => ok += 1,
            Some(StatusCode::UNAUTHORIZED) => refused += 1,
            Some(StatusCode::TOO_MANY_REQUESTS) => limited += 1,
            _ => other += 1,
        }
    }
    let flood_secs = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    Flood {
        ok,
        refused,
        limited,
        other,
        peak_growth_mib: (peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / 1024.0,
        legit_status,
        legit_tries,
        legit_secs,
        flood_secs,
    }
}

fn report(label: &str, f: &Flood) {
    println!(
        "flood ({label}): 200 concurrent unknown-email sign-ins → {} refused (401), {} turned away (429), {} ok, {} other, in {:.2} s; \
         peak resident growth {:.1} MiB; a legitimate sign-in during it answered {} after {} tr{} in {:.2} s",
        f.refused, f.limited, f.ok, f.other, f.flood_secs, f.peak_growth_mib, f.legit_status,
        f.legit_tries, if f.legit_tries == 1 { "y" } else { "ies" }, f.legit_secs
    );
}

#[tokio::test]
async fn a_flood_of_unknown_email_sign_ins_is_bounded_and_a_real_sign_in_gets_through() {
    // As if the 200 came from 200 addresses: only the bounded hashing pool stands in the way.
    let app = TestApp::spawn_with_auth(AuthSettings {
        address_burst: 10_000,
        address_per_minute: 10_000,
        global_burst: 10_000,
        global_per_second: 10_000,
        ..AuthSettings::default()
    })
    .await;
    let world = World::seed(&app.db).await;
    let settings = AuthSettings::default();
    println!(
        "hashing pool: {} workers, {} waiting at most",
        settings.hash_workers, settings.hash_queue
    );
    let f = flood(&app, world.a.email("admin")).await;
    report("many addresses", &f);
    assert!(f.peak_growth_mib < 300.0, "{:.1} MiB", f.peak_growth_mib);
    assert_eq!(f.other, 0);
    assert!(
        f.legit_status == StatusCode::OK || f.limited > 0,
        "a legitimate sign-in answers during the flood, or the flood gets 429s"
    );
    assert_eq!(f.legit_status, StatusCode::OK);

    // From one address with the default limits: the per-address rate limit answers first.
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let f = flood(&app, world.a.email("admin")).await;
    report("one address, default limits", &f);
    assert!(f.limited >= 150, "{}", f.limited);
    assert!(f.peak_growth_mib < 300.0, "{:.1} MiB", f.peak_growth_mib);
}
