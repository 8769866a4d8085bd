//! Backups and point-in-time recovery of the private cluster with pgBackRest: WAL archived
//! continuously, full and incremental backups, 7 days of retention, the repository where
//! `THRIVE_BACKUP_REPO` says (default `target/thrive/backups`).
//!
//! `cargo xtask backup [--full | --incr]` backs up the run's cluster; `cargo xtask restore
//! --to TIME` restores it, as it was at TIME, into a fresh cluster beside it and checks every
//! organisation's audit chain there. The restore drill (`cargo xtask test` runs it) proves the
//! whole path on a cluster of its own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::postgres::{write_private, Cluster};
use crate::tls::LocalTls;
use crate::{state_dir, status, step};

pub const PGBACKREST: &str = "pgbackrest";
/// The one stanza (pgBackRest's name for a cluster's backups) per repository.
pub const STANZA: &str = "thrive";

/// The run cluster's backup repository: `THRIVE_BACKUP_REPO` (a path; a mounted volume or
/// another disk in a real deployment) or `target/thrive/backups`.
pub fn repository() -> PathBuf {
    std::env::var_os("THRIVE_BACKUP_REPO")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("backups"))
}

/// Writes the cluster's pgBackRest configuration (`<dir>/pgbackrest.conf`) and makes the
/// repository, log and lock directories; returns the configuration's path.
pub fn configure(
    dir: &Path,
    data: &Path,
    sockets: &Path,
    port: u16,
    repo: &Path,
    as_postgres: bool,
) -> Result<PathBuf> {
    let work = dir.join("pgbackrest");
    let conf = dir.join("pgbackrest.conf");
    for d in [
        repo.to_path_buf(),
        work.join("log"),
        work.join("lock"),
        work.join("spool"),
    ] {
        fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700))?;
    }
    write_private(
        &conf,
        format!(
            "# Written by cargo xtask (xtask/src/backup.rs).\n\
             [global]\n\
             repo1-path={repo}\n\
             # Point-in-time recovery for 7 days: full backups (and the WAL after them) are\n\
             # kept until the next full backup is 7 days old.\n\
             repo1-retention-full-type=time\n\
             repo1-retention-full=7\n\
             compress-type=zst\n\
             start-fast=y\n\
             log-path={work}/log\n\
             lock-path={work}/lock\n\
             spool-path={work}/spool\n\
             log-level-console=warn\n\
             log-level-file=info\n\
             \n\
             [{STANZA}]\n\
             pg1-path={data}\n\
             pg1-port={port}\n\
             pg1-socket-path={sockets}\n\
             pg1-user=thrive_admin\n\
             pg1-database=postgres\n",
            repo = repo.display(),
            work = work.display(),
            data = data.display(),
            sockets = sockets.display(),
        )
        .as_bytes(),
    )?;
    if as_postgres {
        status(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(repo)
                .arg(&work)
                .arg(&conf),
        )?;
        // The postgres user must pass through the repository's parents.
        let mut p = repo.to_path_buf();
        while let Some(parent) = p.parent().map(Path::to_path_buf) {
            if parent.as_os_str().is_empty() || parent == p {
                break;
            }
            let mode = fs::metadata(&parent)?.permissions().mode();
            if mode & 0o001 == 0 {
                fs::set_permissions(&parent, fs::Permissions::from_mode(mode | 0o001))?;
            }
            p = parent;
        }
    }
    Ok(conf)
}

/// `pgbackrest` for the cluster in `dir`, as the user PostgreSQL runs as, with the
/// administrator's password in its environment (it connects over the local socket).
fn pgbackrest(cluster: &Cluster, dir: &Path) -> Result<Command> {
    let (_, _, _, as_postgres) = cluster
        .server()
        .context("pgBackRest backs up the private cluster only")?;
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", PGBACKREST]);
        c
    } else {
        Command::new(PGBACKREST)
    };
    cmd.arg(format!(
        "--config={}",
        dir.join("pgbackrest.conf").display()
    ))
    .arg(format!("--stanza={STANZA}"))
    .env("PGPASSWORD", &cluster.secrets.admin);
    Ok(cmd)
}

/// Creates the stanza (idempotent) and checks that WAL reaches the repository.
fn ensure_stanza(cluster: &Cluster, dir: &Path) -> Result<()> {
    status(pgbackrest(cluster, dir)?.arg("stanza-create"))?;
    status(pgbackrest(cluster, dir)?.arg("check"))
}

/// One backup (`full` or `incr`; pgBackRest makes a full one when there is none yet).
fn take_backup(cluster: &Cluster, dir: &Path, kind: &str) -> Result<Duration> {
    let started = Instant::now();
    status(pgbackrest(cluster, dir)?.args(["backup", &format!("--type={kind}")]))?;
    Ok(started.elapsed())
}

/// Bytes under `path` (the repository's size on disk).
fn size_of(path: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(meta) = fs::symlink_metadata(p) else {
            return 0;
        };
        if meta.is_dir() {
            fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| walk(&e.path()))
                .sum()
        } else {
            meta.len()
        }
    }
    walk(path)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Restores the stanza in `from_dir`'s repository, as it was at `target`, into a fresh
/// cluster in `into`, started on `port` (recovery finished, promoted). The new cluster
/// archives nothing (it must not write into the source's repository).
fn restore_into(
    source: &Cluster,
    from_dir: &Path,
    target: &str,
    into: &Path,
    port: u16,
    tls: &LocalTls,
) -> Result<(Cluster, Duration)> {
    let started = Instant::now();
    let (_, _, _, as_postgres) = source.server().context("a private cluster")?;
    if into.exists() {
        bail!("{} exists: restore into a fresh directory", into.display());
    }
    fs::create_dir_all(into)?;
    // The restored cluster has the source's roles and passwords.
    fs::copy(&source.secrets_path, into.join("secrets.env"))?;
    fs::set_permissions(into.join("secrets.env"), fs::Permissions::from_mode(0o600))?;
    let data = into.join("pgdata");
    fs::create_dir_all(&data)?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
    fs::set_permissions(
        into,
        fs::Permissions::from_mode(if as_postgres { 0o711 } else { 0o700 }),
    )?;
    if as_postgres {
        status(Command::new("chown").arg("postgres:postgres").arg(&data))?;
    }
    status(pgbackrest(source, from_dir)?.args([
        "restore",
        &format!("--pg1-path={}", data.display()),
        "--type=time",
        &format!("--target={target}"),
        "--target-action=promote",
        "--archive-mode=off",
    ]))?;
    let restored = Cluster::private(into, port, false, tls, None)?;
    // Connections open once the restored state is consistent; wait for the promotion.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let in_recovery = restored.psql_on("postgres", "select pg_is_in_recovery()");
        if matches!(in_recovery.as_deref(), Ok("f")) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the restored cluster did not finish recovery: {in_recovery:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok((restored, started.elapsed()))
}

/// `thrive-api verify-audit` on `database` of `cluster`: every organisation's chain.
fn verify_audit(api: &Path, cluster: &Cluster, database: &str) -> Result<String> {
    let out = Command::new(api)
        .args(["verify-audit", "--database", database])
        .env("THRIVE_ADMIN_URL", &cluster.admin_url)
        .output()
        .context("running thrive-api verify-audit")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "the audit chains do not verify:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text)
}

/// `cargo xtask backup [--full | --incr]`: one backup of the run's cluster.
pub fn backup(cluster: &Cluster, args: &[String]) -> Result<()> {
    let kind = match args.first().map(String::as_str) {
        None | Some("--incr") => "incr",
        Some("--full") => "full",
        Some(other) => bail!("unknown argument {other}: cargo xtask backup [--full | --incr]"),
    };
    let dir = cluster
        .private_dir()
        .context("cargo xtask backup backs up the private cluster; see the README for an external PostgreSQL")?
        .to_path_buf();
    ensure_stanza(cluster, &dir)?;
    let took = take_backup(cluster, &dir, kind)?;
    status(pgbackrest(cluster, &dir)?.arg("info"))?;
    println!(
        "{kind} backup in {took:.1?}; repository {} now holds {:.1} MiB",
        repository().display(),
        mib(size_of(&repository()))
    );
    Ok(())
}

/// `cargo xtask restore --to TIME [--port PORT]`: the run's cluster as it was at TIME, in a
/// fresh cluster under target/thrive/restored-<seconds>; every audit chain is checked there.
pub fn restore(api: &Path, cluster: &Cluster, tls: &LocalTls, args: &[String]) -> Result<()> {
    let mut target = None;
    let mut port = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--to" => target = it.next().cloned(),
            "--port" => port = it.next().and_then(|p| p.parse().ok()),
            other => bail!("unknown argument {other}: cargo xtask restore --to TIME [--port PORT]"),
        }
    }
    let target =
        target.context("cargo xtask restore --to 'YYYY-MM-DD HH:MM:SS+00' [--port PORT]")?;
    let dir = cluster
        .private_dir()
        .context("cargo xtask restore restores the private cluster's backups")?
        .to_path_buf();
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let into = state_dir().join(format!("restored-{seconds}"));
    let port = match port {
        Some(p) => p,
        None => crate::free_port()?,
    };
    let (restored, took) = restore_into(cluster, &dir, &target, &into, port, tls)?;
    print!("{}", verify_audit(api, &restored, "thrive")?);
    // As root the cluster runs as `postgres`, and pg_ctl refuses root.
    let as_owner = if crate::tools::is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    println!(
        "restored to {target} in {took:.1?}: a cluster in {} on port {port} (same roles and \
         passwords as the run's; stop it with {as_owner}pg_ctl stop -D {}/pgdata)",
        into.display(),
        into.display()
    );
    Ok(())
}

/// The restore drill: back up, write, note the time, write more and purge an organisation,
/// restore to the noted time into a new cluster; the earlier rows are there, the later ones
/// are not, every audit chain verifies, and the purged organisation's photos cannot be
/// opened (its key was destroyed) while the other organisation's can.
pub fn drill(api: &Path, tls: &LocalTls) -> Result<()> {
    step("Restore drill (pgBackRest: backup, point-in-time restore, crypto-shredding)");
    let started = Instant::now();
    let dir = state_dir().join("drill");
    let restored_dir = state_dir().join("drill-restored");
    for d in [&dir, &restored_dir] {
        stop_leftover(d);
        if d.exists() {
            fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    // Configured as the run's cluster is: durable, archiving.
    let cluster = Cluster::private(
        &dir,
        crate::free_port()?,
        false,
        tls,
        Some(&dir.join("repo")),
    )?;
    let result = drill_steps(api, tls, &cluster, &dir, &restored_dir);
    let _ = cluster.stop_if_private();
    result?;
    for d in [&dir, &restored_dir] {
        let _ = fs::remove_dir_all(d);
    }
    println!("restore drill passed in {:.1?}", started.elapsed());
    Ok(())
}

/// A cluster left running by an interrupted drill.
fn stop_leftover(dir: &Path) {
    let data = dir.join("pgdata");
    if data.join("postmaster.pid").exists() {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin").join("pg_ctl"))
            .find(|p| p.exists());
        if let Some(pg_ctl) = bin {
            let mut cmd = if crate::tools::is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(pg_ctl);
                c
            } else {
                Command::new(pg_ctl)
            };
            let _ = cmd
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&data)
                .output();
        }
    }
}

fn drill_steps(
    api: &Path,
    tls: &LocalTls,
    cluster: &Cluster,
    dir: &Path,
    restored_dir: &Path,
) -> Result<()> {
    // The embedded cluster is durable (issue 10, finding 5).
    for setting in ["fsync", "full_page_writes", "synchronous_commit"] {
        let value = cluster.psql_on("postgres", &format!("show {setting}"))?;
        if value != "on" {
            bail!("the embedded cluster runs with {setting}={value}");
        }
    }
    crate::provision(api, cluster, "thrive", true)?;
    ensure_stanza(cluster, dir)?;
    let full = take_backup(cluster, dir, "full")?;
    let db = |sql: &str| cluster.psql_on("thrive", sql);
    db("insert into organizations (name) values ('Drill: written before the mark')")?;
    let incr = take_backup(cluster, dir, "incr")?;
    db("insert into organizations (name) values ('Drill: also before the mark')")?;
    // The commits above are strictly earlier than the mark, those below strictly later.
    std::thread::sleep(Duration::from_millis(1100));
    let mark = db("select to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")?;
    std::thread::sleep(Duration::from_millis(1100));
    db("insert into organizations (name) values ('Drill: written after the mark')")?;
    // Riverside is closed and purged after the mark: its data key is destroyed.
    db(
        "begin; set local session_replication_role = replica; \
        update organizations o set closure_requested_at = now() - interval '31 days', \
               closure_requested_by = (select m.user_id from memberships m \
                                        where m.organization_id = o.id limit 1), \
               purge_after = now() - interval '1 day' where o.name = 'Riverside Home Care'; commit",
    )?;
    let purge = Command::new(api)
        .args(["purge-closed", "--database", "thrive"])
        .env("THRIVE_ADMIN_URL", &cluster.admin_url)
        .env("THRIVE_MASTER_KEY", &cluster.secrets.master)
        .env("THRIVE_KEYS_DIR", cluster.keys_dir())
        .output()
        .context("running thrive-api purge-closed")?;
    let purged = String::from_utf8_lossy(&purge.stdout).into_owned();
    if !purge.status.success() || !purged.contains("Riverside Home Care") {
        bail!(
            "purge-closed did not purge Riverside:\n{purged}{}",
            String::from_utf8_lossy(&purge.stderr)
        );
    }
    // Close the WAL segment holding the mark and wait until it is in the repository.
    db("select pg_switch_wal()")?;
    status(pgbackrest(cluster, dir)?.arg("check"))?;
    let repo_bytes = size_of(&dir.join("repo"));

    let (restored, restore_took) =
        restore_into(cluster, dir, &mark, restored_dir, crate::free_port()?, tls)?;
    let checks = (|| -> Result<()> {
        let rdb = |sql: &str| restored.psql_on("thrive", sql);
        let names = rdb("select string_agg(name, '|' order by name) from organizations")?;
        for (name, present) in [
            ("Drill: written before the mark", true),
            ("Drill: also before the mark", true),
            ("Drill: written after the mark", false),
            ("Riverside Home Care", true),
            ("Meadowbank Care Home", true),
        ] {
            if names.split('|').any(|n| n == name) != present {
                bail!(
                    "restored to {mark}: `{name}` should be {}: {names}",
                    if present { "there" } else { "absent" }
                );
            }
        }
        let audit = verify_audit(api, &restored, "thrive")?;
        let files = Command::new(api)
            .args(["verify-files", "--database", "thrive"])
            .env("THRIVE_ADMIN_URL", &restored.admin_url)
            .env("THRIVE_MASTER_KEY", &cluster.secrets.master)
            // The key store is the live one, outside every backup: Riverside's key is gone.
            .env("THRIVE_KEYS_DIR", cluster.keys_dir())
            .output()
            .context("running thrive-api verify-files")?;
        let files = String::from_utf8_lossy(&files.stdout).into_owned();
        let line = |org: &str| files.lines().find(|l| l.contains(org)).map(str::to_owned);
        let counts = |l: &str| -> Vec<u64> {
            l.split('\t')
                .filter_map(|f| f.split(' ').next().and_then(|n| n.parse().ok()))
                .collect()
        };
        let river = line("Riverside Home Care").context("no files of Riverside in the backup")?;
        let meadow =
            line("Meadowbank Care Home").context("no files of Meadowbank in the backup")?;
        // [open, unreadable, plaintext]
        match (counts(&river).as_slice(), counts(&meadow).as_slice()) {
            ([0, r, 0], [m, 0, 0]) if *r > 0 && *m > 0 => {}
            _ => bail!("crypto-shredding: expected Riverside's files unreadable and Meadowbank's readable:\n{files}"),
        }
        print!("{audit}{files}");
        Ok(())
    })();
    let _ = restored.stop_if_private();
    checks?;
    println!(
        "backup: full {full:.1?}, incremental {incr:.1?}; repository {:.1} MiB; \
         point-in-time restore to {mark} in {restore_took:.1?}",
        mib(repo_bytes)
    );
    Ok(())
}
