//! A private PostgreSQL cluster under target/thrive/<name>, or the caller's own server.
//!
//! The private cluster listens on 127.0.0.1 only, with scram-sha-256 passwords for every role.
//! Passwords are generated once and kept in `secrets.env` (mode 0600) beside the data, so a
//! second run reuses the cluster and starts in seconds.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use rand::distributions::{Alphanumeric, DistString};

use crate::status;
use crate::tools::is_root;

#[derive(Debug, Clone)]
pub struct Secrets {
    pub admin: String,
    pub owner: String,
    pub app: String,
    /// `thrive_auth`, the sign-in routes' role.
    pub auth: String,
    /// The password of every demo account.
    pub demo: String,
}

impl Secrets {
    fn load_or_create(path: &Path) -> Result<Self> {
        let random = || Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        if let Ok(text) = fs::read_to_string(path) {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_owned))
                    .with_context(|| format!("{k} missing from {}", path.display()))
            };
            let secrets = Self {
                admin: get("ADMIN")?,
                owner: get("OWNER")?,
                app: get("APP")?,
                // Clusters made before thrive_auth existed get its password now.
                auth: get("AUTH").unwrap_or_else(|_| random()),
                demo: get("DEMO")?,
            };
            if get("AUTH").is_err() {
                secrets.write(path)?;
            }
            return Ok(secrets);
        }
        // Demo password: meets the policy (upper, lower, digit, symbol, ≥12) and is not breached.
        let demo = format!("Thrive-{}-{}!7a", &random()[..6], &random()[..6]);
        let secrets = Self {
            admin: random(),
            owner: random(),
            app: random(),
            auth: random(),
            demo,
        };
        secrets.write(path)?;
        Ok(secrets)
    }

    fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        // Created 0600 before any secret is written to it.
        let mut options = fs::OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        drop(options.write(true).create(true).truncate(true).open(path)?);
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        fs::write(
            path,
            format!(
                "ADMIN={}\nOWNER={}\nAPP={}\nAUTH={}\nDEMO={}\n",
                self.admin, self.owner, self.app, self.auth, self.demo
            ),
        )?;
        Ok(())
    }
}

pub struct Cluster {
    pub admin_url: String,
    pub secrets: Secrets,
    pub secrets_path: PathBuf,
    host: String,
    port: u16,
    private: Option<PrivateCluster>,
}

struct PrivateCluster {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
}

fn pg_bindir() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .context("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
}

impl PrivateCluster {
    /// PostgreSQL refuses to run as root; as root we run it as the `postgres` system user.
    fn cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn running(&self) -> bool {
        self.cmd("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.data)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

impl Cluster {
    pub fn private(dir: &Path, port: u16) -> Result<Self> {
        let port = std::env::var("THRIVE_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(port);
        let secrets_path = dir.join("secrets.env");
        let secrets = Secrets::load_or_create(&secrets_path)?;
        let as_postgres = is_root();
        let pc = PrivateCluster {
            bin: pg_bindir()?,
            data: dir.join("pgdata"),
            as_postgres,
        };
        let sockets = dir.join("sockets");
        if !pc.data.join("PG_VERSION").exists() {
            eprintln!(
                "creating a private PostgreSQL cluster in {}",
                pc.data.display()
            );
            fs::create_dir_all(&pc.data)?;
            fs::create_dir_all(&sockets)?;
            let pwfile = dir.join("admin.pw");
            fs::write(&pwfile, &secrets.admin)?;
            if as_postgres {
                status(
                    Command::new("chown")
                        .args(["-R", "postgres:postgres"])
                        .arg(&pc.data)
                        .arg(&sockets)
                        .arg(&pwfile),
                )?;
                // The postgres user must be able to reach the data directory.
                let mut p = dir.to_path_buf();
                while let Some(parent) = p.parent().map(Path::to_path_buf) {
                    let mode = fs::metadata(&p)?.permissions().mode();
                    if mode & 0o001 == 0 {
                        fs::set_permissions(&p, fs::Permissions::from_mode(mode | 0o001))?;
                    }
                    if parent.as_os_str().is_empty() || parent == p {
                        break;
                    }
                    p = parent;
                }
            }
            let init = pc
                .cmd("initdb")
                .args(["-D"])
                .arg(&pc.data)
                .args([
                    "-U",
                    "thrive_admin",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output()
                .context("running initdb")?;
            let _ = fs::remove_file(&pwfile);
            if !init.status.success() {
                let _ = fs::remove_dir_all(&pc.data);
                bail!("initdb failed:\n{}", String::from_utf8_lossy(&init.stderr));
            }
        }
        if !pc.running() {
            let log = dir.join("postgres.log");
            if as_postgres && !log.exists() {
                fs::write(&log, "")?;
                status(Command::new("chown").arg("postgres:postgres").arg(&log))?;
            }
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c fsync=off -c shared_buffers=128MB",
                sockets.display()
            );
            status(
                pc.cmd("pg_ctl")
                    .args(["start", "-w", "-t", "60", "-D"])
                    .arg(&pc.data)
                    .args(["-l"])
                    .arg(&log)
                    .args(["-o", &opts]),
            )
            .with_context(|| format!("starting PostgreSQL (log: {})", log.display()))?;
        }
        let admin_url = format!(
            "postgres://thrive_admin:{}@127.0.0.1:{port}/postgres",
            secrets.admin
        );
        Ok(Self {
            admin_url,
            secrets,
            secrets_path,
            host: "127.0.0.1".into(),
            port,
            private: Some(pc),
        })
    }

    /// Use the caller's server: `url` must be an administrator connection (it creates roles).
    pub fn external(url: &str, dir: &Path) -> Result<Self> {
        let secrets_path = dir.join("secrets.env");
        let secrets = Secrets::load_or_create(&secrets_path)?;
        let after_scheme = url
            .split_once("://")
            .map(|(_, r)| r)
            .context("DATABASE_URL must be a postgres:// URL")?;
        let host_part = after_scheme
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(after_scheme);
        let host_port = host_part.split(['/', '?']).next().unwrap_or("localhost");
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(5432)),
            None => (host_port.to_owned(), 5432),
        };
        Ok(Self {
            admin_url: url.to_owned(),
            secrets,
            secrets_path,
            host,
            port,
            private: None,
        })
    }

    /// The administrator's connection to `database` (the browser tests use it to age a
    /// session's authentication, as the Rust tests move their clock).
    pub fn admin_url_for(&self, database: &str) -> String {
        let (base, query) = match self.admin_url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (self.admin_url.as_str(), None),
        };
        let host_start = base
            .rfind('@')
            .or_else(|| base.find("://").map(|i| i + 2))
            .unwrap_or(0);
        let host_end = base[host_start..]
            .find('/')
            .map_or(base.len(), |i| host_start + i);
        let mut url = format!("{}/{database}", &base[..host_end]);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// The sign-in routes' connection to `database`, as thrive_auth.
    pub fn auth_url(&self, database: &str) -> String {
        format!(
            "postgres://thrive_auth:{}@{}:{}/{database}",
            self.secrets.auth, self.host, self.port
        )
    }

    /// The API's connection to `database`, as thrive_app.
    pub fn app_url(&self, database: &str) -> String {
        format!(
            "postgres://thrive_app:{}@{}:{}/{database}",
            self.secrets.app, self.host, self.port
        )
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.admin_url,
                "-c",
                sql,
            ])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.psql(&format!("drop database if exists \"{name}\" with (force)"))?;
        Ok(())
    }

    /// Databases left by earlier test runs that stopped before cleaning up.
    pub fn drop_databases_like(&self, pattern: &str) -> Result<()> {
        let names = self.psql(&format!(
            "select datname from pg_database where datname like '{pattern}'"
        ))?;
        for name in names.lines().filter(|n| !n.is_empty()) {
            self.drop_database(name)?;
        }
        Ok(())
    }

    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }

    /// Restarts the private cluster (fast shutdown: sessions are ended, committed work kept);
    /// `pg_ctl` reuses the options it was started with. Nothing for an external server.
    pub fn restart_if_private(&self) -> Result<()> {
        if let Some(pc) = &self.private {
            status(
                pc.cmd("pg_ctl")
                    .args(["restart", "-w", "-t", "60", "-m", "fast", "-D"])
                    .arg(&pc.data)
                    .stdout(std::process::Stdio::null()),
            )?;
        }
        Ok(())
    }

    pub fn stop_if_private(&self) -> Result<()> {
        if let Some(pc) = &self.private {
            status(
                pc.cmd("pg_ctl")
                    .args(["stop", "-m", "fast", "-D"])
                    .arg(&pc.data),
            )?;
        }
        Ok(())
    }
}
