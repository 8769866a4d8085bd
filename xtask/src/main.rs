//! `cargo xtask run` builds and starts Thrive; `cargo xtask test` runs every test;
//! `cargo xtask fetch-model` fetches Aayu's development model; `cargo xtask bench-browser` runs
//! the side-by-side browser benchmark (Aayu against wllama) on it.
//!
//! Both install what they need (Debian packages, the wasm32 target, Trunk, wasm-bindgen-cli,
//! the e2e suite's npm packages) idempotently, and both start a private PostgreSQL cluster
//! under `target/thrive/` unless `DATABASE_URL` names an administrator connection to use.

mod aayu;
mod backup;
mod bench;
mod checkpoints;
mod postgres;
mod tls;
mod tools;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use postgres::Cluster;

const USAGE: &str = "usage: cargo xtask run | cargo xtask test [e2e [FILE.test.js…] | \
                     rust [CARGO TEST ARGS…] | backup] | cargo xtask fetch-model | \
                     cargo xtask bench-browser | cargo xtask bench-api | \
                     cargo xtask backup [--full | --incr] | cargo xtask restore --to TIME [--port PORT]";

/// What `cargo xtask test` runs: everything, only the browser tests (optionally some files), or
/// only the native Rust tests with extra `cargo test` arguments (a package, a test, a filter).
enum Scope<'a> {
    All,
    E2e(&'a [String]),
    Rust(&'a [String]),
    /// Only the restore drill (`backup::drill`).
    Backup,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run(),
        Some("test") => test(&args[1..]),
        Some("fetch-model") => aayu::fetch_model(),
        Some("bench-browser") => aayu::bench_browser(&args[1..]),
        Some("bench-api") => bench::bench_api(&args[1..]),
        Some("backup") => backup_run(&args[1..]),
        Some("restore") => restore_run(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's build output: `CARGO_TARGET_DIR` when set (relative to the workspace), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

pub fn state_dir() -> PathBuf {
    root().join("target").join("thrive")
}

/// Run a command to completion, failing with its name when it fails.
pub fn status(cmd: &mut Command) -> Result<()> {
    // The program and its arguments only: the environment carries the test cluster's passwords,
    // which must not land in a CI log.
    let shown = format!(
        "{:?} {:?}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>()
    );
    let st = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !st.success() {
        bail!("{shown} failed with {st}");
    }
    Ok(())
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Where the database comes from: the caller's `DATABASE_URL` (an administrator connection),
/// or a private cluster under target/thrive/<name>.
fn database(name: &str, port: u16, tls: &tls::LocalTls) -> Result<Cluster> {
    let port = std::env::var("THRIVE_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(port);
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Cluster::external(&url, &state_dir().join(name)),
        // The run's cluster archives its WAL for point-in-time recovery (`cargo xtask backup`).
        _ if name == "run" => Cluster::private(
            &state_dir().join(name),
            port,
            false,
            tls,
            Some(&backup::repository()),
        ),
        // The test cluster is a throwaway: fsync off (see `Cluster::private`).
        _ => Cluster::private(&state_dir().join(name), port, true, tls, None),
    }
}

/// The local CA and server certificate (made once, under target/thrive/tls).
fn local_tls() -> Result<tls::LocalTls> {
    tls::ensure(&state_dir().join("tls"))
}

fn build_api(release: bool) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["build", "-p", "thrive-api", "--bin", "thrive-api"]);
    if release {
        cmd.arg("--release");
    }
    status(&mut cmd)?;
    Ok(target_dir()
        .join(if release { "release" } else { "debug" })
        .join("thrive-api"))
}

/// The SPA (Trunk), then Aayu's worker and page into `<dist>/aayu/` (Trunk replaces the dist
/// directory, so the worker goes in after it).
fn build_web(dist: &Path) -> Result<()> {
    build_spa(dist)?;
    aayu::build_worker(dist)?;
    precompress(dist)
}

/// Writes a gzip copy beside every text and wasm file of the dist (`thrive-api` serves it to
/// browsers that accept gzip; the files themselves stay for those that do not), and prints
/// what the app and the assistant cost to download.
fn precompress(dist: &Path) -> Result<()> {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(&path, found)?;
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("wasm" | "js" | "mjs" | "css" | "html" | "svg" | "json")
            ) {
                found.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dist, &mut files)?;
    // (raw, gzipped) for the SPA and for the assistant (fetched only when Aayu is first used).
    let (mut app, mut aayu) = ((0u64, 0u64), (0u64, 0u64));
    for path in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&bytes)?;
        let gz = gz.finish()?;
        let mut name = path.clone().into_os_string();
        name.push(".gz");
        std::fs::write(&name, &gz).with_context(|| format!("writing {name:?}"))?;
        let part = if path.starts_with(dist.join("aayu")) {
            &mut aayu
        } else {
            &mut app
        };
        part.0 += bytes.len() as u64;
        part.1 += gz.len() as u64;
    }
    let kib = |n: u64| n as f64 / 1024.0;
    println!(
        "web app: {:.0} KiB ({:.0} KiB gzipped); Aayu's page and worker, loaded on first use: {:.0} KiB ({:.0} KiB gzipped)",
        kib(app.0),
        kib(app.1),
        kib(aayu.0),
        kib(aayu.1)
    );
    Ok(())
}

fn build_spa(dist: &Path) -> Result<()> {
    let mut cmd = Command::new(tools::cargo_bin("trunk"));
    cmd.current_dir(root()).arg("build");
    // `THRIVE_SPA_DEBUG=1`: a debug build, whose reactive panics name where the signal was
    // made and where it was read. Slower and larger; for chasing a bug, never for CI.
    let release = std::env::var_os("THRIVE_SPA_DEBUG").is_none_or(|v| v.is_empty() || v == "0");
    if release {
        // The `web` profile (Cargo.toml): every crate optimised for size, one LTO unit.
        cmd.args(["--release", "--cargo-profile", "web"]);
    }
    cmd.arg("--dist")
        .arg(dist)
        // Use the wasm-bindgen we installed; Trunk must never download its own.
        .env("TRUNK_TOOLS_WASM_BINDGEN", tools::WASM_BINDGEN_VERSION)
        .env("TRUNK_OFFLINE", "true");
    if release {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(bindgen_without_names()?).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths)?);
    }
    status(&mut cmd)
}

/// A directory holding a `wasm-bindgen` that runs ours with `--remove-name-section`: the
/// `name` custom section (function names for stack traces) is about a third of the SPA's wasm.
/// `strip = "symbols"` in the profile would also drop the `target_features` section
/// wasm-bindgen reads, Debian's wasm-opt is too old for wasm-bindgen's output, and Trunk has no
/// switch for the flag; Trunk takes the first `wasm-bindgen` on its PATH whose `--version`
/// matches, so this wrapper goes first on Trunk's PATH.
fn bindgen_without_names() -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = target_dir().join("thrive").join("bindgen-no-names");
    std::fs::create_dir_all(&dir)?;
    let real = tools::cargo_bin("wasm-bindgen");
    let real = real.display().to_string().replace('\'', "'\\''");
    let script = dir.join("wasm-bindgen");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in --version|-V) exec '{real}' \"$@\";; esac\nexec '{real}' --remove-name-section \"$@\"\n"
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// `thrive-api provision`: every secret in its environment, none among its arguments.
fn provision_command(api: &Path, cluster: &Cluster, database: &str, seed: bool) -> Command {
    let mut cmd = Command::new(api);
    cmd.args(["provision", "--database", database])
        .env("THRIVE_ADMIN_URL", &cluster.admin_url)
        .env("THRIVE_OWNER_PASSWORD", &cluster.secrets.owner)
        .env("THRIVE_APP_PASSWORD", &cluster.secrets.app)
        .env("THRIVE_AUTH_PASSWORD", &cluster.secrets.auth)
        .env("THRIVE_DEMO_PASSWORD", &cluster.secrets.demo)
        .env("THRIVE_MASTER_KEY", &cluster.secrets.master)
        .env("THRIVE_KEYS_DIR", cluster.keys_dir());
    if seed {
        cmd.arg("--seed-demo");
    }
    cmd
}

pub fn provision(api: &Path, cluster: &Cluster, database: &str, seed: bool) -> Result<Vec<String>> {
    let mut cmd = provision_command(api, cluster, database, seed);
    let out = cmd.output().context("running thrive-api provision")?;
    if !out.status.success() {
        bail!(
            "thrive-api provision failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("demo-login\t").map(str::to_owned))
        .collect())
}

/// `thrive-api serve` over HTTPS with the local certificate.
fn serve_command(
    api: &Path,
    cluster: &Cluster,
    database: &str,
    addr: &str,
    dist: &Path,
    models: &Path,
    tls: &tls::LocalTls,
) -> Command {
    let mut cmd = Command::new(api);
    cmd.arg("serve")
        .env("DATABASE_URL", cluster.app_url(database))
        .env("THRIVE_AUTH_DATABASE_URL", cluster.auth_url(database))
        .env("THRIVE_ADDR", addr)
        .env("THRIVE_STATIC_DIR", dist)
        .env("THRIVE_MODELS_DIR", models)
        .env("THRIVE_TLS_CERT", &tls.cert)
        .env("THRIVE_TLS_KEY", &tls.key)
        .env("THRIVE_MASTER_KEY", &cluster.secrets.master)
        .env("THRIVE_KEYS_DIR", cluster.keys_dir());
    cmd
}

/// The address a browser uses: the certificate names `localhost`, not the bound IP.
fn https_url(addr: &str) -> String {
    let port = addr.rsplit_once(':').map_or("443", |(_, p)| p);
    format!("https://localhost:{port}")
}

fn run() -> Result<()> {
    let started = Instant::now();
    step("Checking tools");
    tools::ensure_for_run()?;
    let tls = local_tls()?;
    step("Starting PostgreSQL");
    let cluster = database("run", 54329, &tls)?;
    // A release build, as deployed (issue 13): the debug build is several times slower.
    // THRIVE_API_DEBUG=1 serves the debug build instead, for a quicker edit-and-run loop.
    let release = std::env::var_os("THRIVE_API_DEBUG").is_none_or(|v| v.is_empty() || v == "0");
    step(if release {
        "Building the API (release)"
    } else {
        "Building the API (debug, THRIVE_API_DEBUG)"
    });
    let api = build_api(release)?;
    step("Migrating and seeding the demo organisations");
    let logins = provision(&api, &cluster, "thrive", true)?;
    step("Signing the audit chains (then every 5 minutes)");
    checkpoints::checkpoint_once(&api, &cluster.admin_url, "thrive")?;
    let audit_public_key = checkpoints::public_key(&api)?;
    checkpoints::schedule(api.clone(), &cluster, "thrive");
    step("Building the web app");
    let dist = state_dir().join("dist");
    build_web(&dist)?;
    let models = std::env::var_os("THRIVE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models"));

    let addr = std::env::var("THRIVE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let url = https_url(&addr);
    println!(
        "\nThrive is starting at {url}/  (ready in {:.0?})",
        started.elapsed()
    );
    println!(
        "TLS 1.3 with a local CA made for this machine: trust {} in your browser, or expect \
         its warning (the key's SPKI sha256 is {})",
        tls.ca.display(),
        tls.spki_sha256
    );
    println!(
        "Demo sign-ins — password for every account: {}",
        cluster.secrets.demo
    );
    println!("  (kept in {})", cluster.secrets_path.display());
    for login in &logins {
        let cols: Vec<&str> = login.split('\t').collect();
        if let [org, role, email, name, assigned] = cols[..] {
            let assigned = if assigned.is_empty() {
                String::new()
            } else {
                format!("  assigned: {assigned}")
            };
            println!("  {org:<22} {role:<19} {email:<28} {name}{assigned}");
        }
    }
    println!(
        "Aayu, the in-browser assistant: {url}/aayu/ (sign in first; models from {}{})",
        models.display(),
        if models.exists() {
            ""
        } else {
            " — empty: run `cargo xtask fetch-model`"
        }
    );
    println!("Press Ctrl-C to stop. PostgreSQL keeps running for a fast restart.\n");
    let (_, checkpoint_dir) = checkpoints::paths();
    let mut server = serve_command(&api, &cluster, "thrive", &addr, &dist, &models, &tls)
        .env("THRIVE_AUDIT_CHECKPOINTS", checkpoint_dir)
        .env("THRIVE_AUDIT_PUBLIC_KEY", audit_public_key)
        .spawn()
        .context("starting thrive-api")?;
    let st = server.wait()?;
    if !st.success() {
        bail!("thrive-api exited with {st}");
    }
    Ok(())
}

/// The restore drill on a cluster of its own (it needs PostgreSQL's server programs here, so
/// it is skipped when the tests use an external server).
fn restore_drill(api: &Path, tls: &tls::LocalTls) -> Result<()> {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("note: the restore drill needs a private cluster; skipped with DATABASE_URL");
        return Ok(());
    }
    backup::drill(api, tls)
}

/// `cargo xtask backup`: a backup of the run's private cluster (started if it is not).
fn backup_run(args: &[String]) -> Result<()> {
    tools::ensure_apt(&["postgresql", "pgbackrest"])?;
    let tls = local_tls()?;
    let cluster = database("run", 54329, &tls)?;
    backup::backup(&cluster, args)
}

/// `cargo xtask restore --to TIME`: the run's cluster at TIME, in a fresh cluster.
fn restore_run(args: &[String]) -> Result<()> {
    tools::ensure_apt(&["postgresql", "pgbackrest"])?;
    let tls = local_tls()?;
    let cluster = database("run", 54329, &tls)?;
    let api = build_api(false)?;
    backup::restore(&api, &cluster, &tls, args)
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_http(addr: &str, server: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(st) = server.try_wait()? {
            bail!("thrive-api exited early with {st}");
        }
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("thrive-api did not start listening on {addr}")
}

/// Every suite; `test e2e [files…]` runs only the browser tests (all, or the named files), for
/// a quicker loop while working on the web app. CI runs the whole of `cargo xtask test`.
fn test(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let scope = match args.split_first() {
        None => Scope::All,
        Some((first, rest)) if first == "e2e" => Scope::E2e(rest),
        Some((first, rest)) if first == "rust" => Scope::Rust(rest),
        Some((first, [])) if first == "backup" => Scope::Backup,
        Some(_) => bail!("{USAGE}"),
    };
    step("Checking tools");
    tools::ensure_for_test()?;
    let tls = local_tls()?;
    step("Starting the test PostgreSQL cluster");
    let cluster = database("test", 54339, &tls)?;
    // Whatever fails, the private cluster is stopped so the next run can start it again.
    let result = suites(&cluster, &scope, &tls);
    cluster.stop_if_private()?;
    result?;
    println!("\nAll test suites passed in {:.0?}.", started.elapsed());
    Ok(())
}

fn suites(cluster: &Cluster, scope: &Scope, tls: &tls::LocalTls) -> Result<()> {
    cluster.drop_databases_like("thrive_test_%")?;
    step("Building the API");
    let api = build_api(false)?;
    step("Preparing the migrated template database");
    cluster.drop_database("thrive_test_template")?;
    provision(&api, cluster, "thrive_test_template", false)?;

    let e2e_files = match scope {
        Scope::All => {
            rust_suites(cluster, &[])?;
            restore_drill(&api, tls)?;
            &[][..]
        }
        Scope::Rust(extra) => return rust_suites(cluster, extra),
        Scope::Backup => return restore_drill(&api, tls),
        Scope::E2e(files) => files,
    };

    step("Browser end-to-end tests (headless Chromium)");
    let dist = state_dir().join("dist-e2e");
    build_web(&dist)?;
    // The tiny test models (good, truncated, corrupt, wrong architecture), in small chunks so
    // the browser tests see a download of several Range requests.
    let models = state_dir().join("e2e-models");
    aayu::write_test_models(&models)?;
    cluster.drop_database("thrive_e2e")?;
    let logins = provision(&api, cluster, "thrive_e2e", true)?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let artifacts = root().join("target").join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let log = std::fs::File::create(artifacts.join("server.log"))?;
    let mut server = serve_command(&api, cluster, "thrive_e2e", &addr, &dist, &models, tls)
        .env(
            "THRIVE_MODEL_CHUNK_BYTES",
            aayu::E2E_CHUNK_BYTES.to_string(),
        )
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting thrive-api for e2e")?;
    let result = wait_for_http(&addr, &mut server).and_then(|()| {
        let mut cmd = Command::new("node");
        cmd.current_dir(root().join("e2e"))
            .args(["--test", "--test-concurrency=1"])
            .args(e2e_files)
            .env("THRIVE_URL", https_url(&addr))
            // Chromium trusts exactly the server's key (never every certificate); node's
            // fetch trusts the local CA.
            .env("THRIVE_TLS_SPKI", &tls.spki_sha256)
            .env("NODE_EXTRA_CA_CERTS", &tls.ca)
            .env("THRIVE_DEMO_PASSWORD", &cluster.secrets.demo)
            .env("THRIVE_DEMO_LOGINS", logins.join("\n"))
            .env("THRIVE_ARTIFACTS", &artifacts)
            .env(
                "THRIVE_E2E_DATABASE_URL",
                cluster.admin_url_for("thrive_e2e"),
            );
        status(&mut cmd)
    });
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The Rust suites: unit and database integration tests, then the wasm32 ones. With `extra`
/// arguments, only the native tests, narrowed by them (`-p thrive-api --test api sign_in`).
fn rust_suites(cluster: &Cluster, extra: &[String]) -> Result<()> {
    step("Unit and database integration tests");
    // The reference tests read `AAYU_MODEL` when set, else models/.
    let model = std::env::var_os("AAYU_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models").join(aayu::DEV_MODEL));
    if !model.exists() {
        // cargo test hides a passing test's output, so the skip is said here.
        eprintln!(
            "note: {} is absent, so the Aayu reference tests against llama.cpp skip \
             (cargo xtask fetch-model brings it)",
            model.display()
        );
    }
    let mut cmd = cargo();
    cmd.current_dir(root()).arg("test");
    if extra.is_empty() {
        cmd.args(["--workspace", "--exclude", "thrive-web"]);
    } else {
        cmd.args(extra);
    }
    cmd.env("THRIVE_TEST_ADMIN_URL", &cluster.admin_url)
        .env("THRIVE_TEST_OWNER_PASSWORD", &cluster.secrets.owner)
        .env("THRIVE_TEST_APP_PASSWORD", &cluster.secrets.app)
        .env("THRIVE_TEST_AUTH_PASSWORD", &cluster.secrets.auth)
        .env("THRIVE_TEST_TEMPLATE", "thrive_test_template");
    if let Some(dir) = cluster.private_dir() {
        // The operations tests check the private cluster's files and settings.
        cmd.env("THRIVE_TEST_CLUSTER_DIR", dir);
    }
    status(&mut cmd)?;
    if !extra.is_empty() {
        return Ok(());
    }

    step("wasm tests (crates/domain compiled to wasm32, run by wasm-bindgen-test-runner)");
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args([
            "test",
            "-p",
            "thrive-domain",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            tools::cargo_bin("wasm-bindgen-test-runner"),
        );
    status(&mut cmd)?;

    step("wasm tests for the Aayu engine (tiny model, wasm32 + simd128, in node)");
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args([
            "test",
            "-p",
            "aayu-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--release",
            "--test",
            "engine",
        ])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-C target-feature=+simd128",
        )
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            tools::cargo_bin("wasm-bindgen-test-runner"),
        );
    status(&mut cmd)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_reaches_a_command_line() {
        let dir = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
        let cluster = Cluster::external(
            "postgres://thrive_admin:admin-secret-1234@127.0.0.1:5432/postgres",
            &dir,
        )
        .expect("cluster");
        let secrets = [
            "admin-secret-1234",
            cluster.secrets.owner.as_str(),
            cluster.secrets.app.as_str(),
            cluster.secrets.auth.as_str(),
            cluster.secrets.demo.as_str(),
            cluster.secrets.master.as_str(),
        ];
        let mut psql = Command::new("psql");
        let url = cluster.libpq_admin(&mut psql);
        psql.arg("-d").arg(url);
        let commands = [
            provision_command(Path::new("thrive-api"), &cluster, "thrive", true),
            serve_command(
                Path::new("thrive-api"),
                &cluster,
                "thrive",
                "127.0.0.1:0",
                Path::new("dist"),
                Path::new("models"),
                &tls::LocalTls {
                    ca: "ca.pem".into(),
                    cert: "server.pem".into(),
                    key: "server-key.pem".into(),
                    spki_sha256: String::new(),
                },
            ),
            psql,
        ];
        for cmd in &commands {
            for arg in cmd.get_args() {
                let arg = arg.to_string_lossy();
                for secret in secrets {
                    assert!(
                        !arg.contains(secret),
                        "{:?} has a secret in {arg}",
                        cmd.get_program()
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
