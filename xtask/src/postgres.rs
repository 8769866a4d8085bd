//! A private PostgreSQL cluster under target/thrive/<name>, or the caller's own server.
//!
//! The private cluster listens on 127.0.0.1 only, with scram-sha-256 passwords for every role.
//! Passwords are generated once and kept in `secrets.env` (mode 0600) beside the data, so a
//! second run reuses the cluster and starts in seconds. No password is ever put on a command
//! line (`ps` shows those to every user): commands get them through their environment.
//!
//! The cluster is durable (`fsync` and `full_page_writes` on); its directory, data and log are
//! readable by their owner only.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use rand::distributions::{Alphanumeric, DistString};

use crate::status;
use crate::tls::LocalTls;
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
    /// The master key wrapping the organisations' data keys (base64 of 32 bytes).
    pub master: String,
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
                // Clusters made before encryption at rest get a master key now.
                master: get("MASTER").unwrap_or_else(|_| master_key()),
            };
            if get("AUTH").is_err() || get("MASTER").is_err() {
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
            master: master_key(),
        };
        secrets.write(path)?;
        Ok(secrets)
    }

    fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        write_private(
            path,
            format!(
                "ADMIN={}\nOWNER={}\nAPP={}\nAUTH={}\nDEMO={}\nMASTER={}\n",
                self.admin, self.owner, self.app, self.auth, self.demo, self.master
            )
            .as_bytes(),
        )
    }
}

/// 32 random bytes, base64: a master key for the data keys.
fn master_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Writes `bytes` to a file that is 0600 before anything is written to it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // An older file keeps its mode through `open`; narrow it before writing.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    Ok(())
}

pub struct Cluster {
    pub admin_url: String,
    pub secrets: Secrets,
    pub secrets_path: PathBuf,
    host: String,
    port: u16,
    /// The query string every role's URL carries (`sslmode=verify-full&sslrootcert=…`).
    params: String,
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

    /// Whether the running server's command line (`pg_ctl status` shows it) has every option.
    fn started_with(&self, options: &[&str]) -> bool {
        self.cmd("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.data)
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout);
                options.iter().all(|opt| text.contains(opt))
            })
            .unwrap_or(false)
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
    /// `throwaway`: the test cluster, rebuilt from nothing whenever it breaks, runs with
    /// `fsync` off (its shutdown checkpoint after a test run took minutes with it on, on the
    /// 2-core machine). Every other private cluster (the run's, the restore drill's, a restored
    /// one) is durable: `fsync`, `full_page_writes` and `synchronous_commit` on.
    ///
    /// The cluster accepts TCP connections over TLS 1.3 only (`hostssl` lines and nothing
    /// else in pg_hba.conf), with `tls`'s server certificate; every URL it hands out verifies
    /// the server against the local CA (`verify-full`).
    ///
    /// With `archive` (a pgBackRest repository), WAL is archived there (`crate::backup`).
    pub fn private(
        dir: &Path,
        port: u16,
        throwaway: bool,
        tls: &LocalTls,
        archive: Option<&Path>,
    ) -> Result<Self> {
        let secrets_path = dir.join("secrets.env");
        let secrets = Secrets::load_or_create(&secrets_path)?;
        let as_postgres = is_root();
        let pc = PrivateCluster {
            bin: pg_bindir()?,
            data: dir.join("pgdata"),
            as_postgres,
        };
        let sockets = dir.join("sockets");
        fs::create_dir_all(dir)?;
        // Only its owner lists the cluster's directory; as root, the postgres user may pass
        // through it to the data directory, the sockets and the log (owned by postgres).
        fs::set_permissions(
            dir,
            fs::Permissions::from_mode(if as_postgres { 0o711 } else { 0o700 }),
        )?;
        fs::create_dir_all(&sockets)?;
        if as_postgres {
            status(Command::new("chown").arg("postgres:postgres").arg(&sockets))?;
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
        if !pc.data.join("PG_VERSION").exists() {
            eprintln!(
                "creating a private PostgreSQL cluster in {}",
                pc.data.display()
            );
            fs::create_dir_all(&pc.data)?;
            let pwfile = dir.join("admin.pw");
            write_private(&pwfile, secrets.admin.as_bytes())?;
            if as_postgres {
                status(
                    Command::new("chown")
                        .args(["-R", "postgres:postgres"])
                        .arg(&pc.data)
                        .arg(&pwfile),
                )?;
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
        // The server's own copy of the certificate and key: PostgreSQL wants its key 0600 and
        // owned by the user it runs as.
        let (pg_cert, pg_key) = (dir.join("server.pem"), dir.join("server-key.pem"));
        fs::copy(&tls.cert, &pg_cert)?;
        write_private(&pg_key, &fs::read(&tls.key)?)?;
        // Local socket and TLS-only TCP: a plain TCP connection finds no pg_hba line.
        let hba = pc.data.join("pg_hba.conf");
        fs::write(
            &hba,
            "# Written by cargo xtask: TCP connections must use TLS.\n\
             local    all all               scram-sha-256\n\
             hostssl  all all 127.0.0.1/32  scram-sha-256\n\
             hostssl  all all ::1/128       scram-sha-256\n",
        )?;
        fs::set_permissions(&hba, fs::Permissions::from_mode(0o600))?;
        if as_postgres {
            status(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&pg_cert)
                    .arg(&pg_key)
                    .arg(&hba),
            )?;
        }
        let fsync = if throwaway { "off" } else { "on" };
        let fsync_option = format!("fsync={fsync}");
        let mut wanted = vec![
            fsync_option.as_str(),
            "ssl=on",
            "ssl_min_protocol_version=TLSv1.3",
        ];
        let mut archiving = String::new();
        if let Some(repo) = archive {
            let conf = crate::backup::configure(dir, &pc.data, &sockets, port, repo, as_postgres)?;
            // pg_ctl hands these options to a shell: the command is double-quoted.
            archiving = format!(
                " -c wal_level=replica -c archive_mode=on -c archive_timeout=60 \
                 -c \"archive_command={} --config={} --stanza={} archive-push %p\"",
                crate::backup::PGBACKREST,
                conf.display(),
                crate::backup::STANZA
            );
            wanted.push("archive_mode=on");
        }
        if pc.running() && !pc.started_with(&wanted) {
            // Started by an older xtask (no TLS, fsync off): restart it with today's options.
            status(
                pc.cmd("pg_ctl")
                    .args(["stop", "-m", "fast", "-D"])
                    .arg(&pc.data),
            )?;
        }
        if !pc.running() {
            let log = dir.join("postgres.log");
            // The log names users, databases and failed statements: its owner's eyes only.
            if !log.exists() {
                write_private(&log, b"")?;
            }
            fs::set_permissions(&log, fs::Permissions::from_mode(0o600))?;
            if as_postgres {
                status(Command::new("chown").arg("postgres:postgres").arg(&log))?;
            }
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 \
                 -c fsync={fsync} -c full_page_writes=on -c synchronous_commit={fsync} -c shared_buffers=128MB \
                 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c ssl_min_protocol_version=TLSv1.3{archiving}",
                sockets.display(),
                pg_cert.display(),
                pg_key.display(),
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
        let params = tls.verify_full_params();
        let admin_url = format!(
            "postgres://thrive_admin:{}@127.0.0.1:{port}/postgres?{params}",
            secrets.admin
        );
        Ok(Self {
            admin_url,
            secrets,
            secrets_path,
            host: "127.0.0.1".into(),
            port,
            params,
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
        // The caller's TLS settings (sslmode, sslrootcert) apply to every role's connection.
        let params = url.split_once('?').map_or("", |(_, q)| q).to_owned();
        Ok(Self {
            admin_url: url.to_owned(),
            secrets,
            secrets_path,
            host,
            port,
            params,
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
            "postgres://thrive_auth:{}@{}:{}/{database}?{}",
            self.secrets.auth, self.host, self.port, self.params
        )
    }

    /// The API's connection to `database`, as thrive_app.
    pub fn app_url(&self, database: &str) -> String {
        format!(
            "postgres://thrive_app:{}@{}:{}/{database}?{}",
            self.secrets.app, self.host, self.port, self.params
        )
    }

    /// The administrator connection for libpq's tools: the URL without its password on the
    /// command line, the password in `PGPASSWORD`.
    pub fn libpq_admin(&self, cmd: &mut Command) -> String {
        let (url, password) = split_password(&self.admin_url);
        if let Some(password) = password {
            cmd.env("PGPASSWORD", password);
        }
        url
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let mut cmd = Command::new("psql");
        let url = self.libpq_admin(&mut cmd);
        let out = cmd
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &url,
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

    /// Where the organisations' wrapped data keys are kept (beside the secrets, not in the
    /// database, so a purge that destroys one reaches every backup).
    pub fn keys_dir(&self) -> PathBuf {
        self.secrets_path
            .parent()
            .map_or_else(|| PathBuf::from("keys"), |d| d.join("keys"))
    }

    /// The private cluster's server: its data directory, socket directory, port and whether
    /// its tools run as the `postgres` user. `None` for an external server.
    pub fn server(&self) -> Option<(&Path, PathBuf, u16, bool)> {
        let pc = self.private.as_ref()?;
        let sockets = pc.data.parent()?.join("sockets");
        Some((&pc.data, sockets, self.port, pc.as_postgres))
    }

    /// A PostgreSQL server tool (`pg_ctl`, …) of the private cluster, as the user it runs as.
    pub fn server_tool(&self, tool: &str) -> Option<Command> {
        self.private.as_ref().map(|pc| pc.cmd(tool))
    }

    /// Runs `sql` as the administrator on `database` and returns psql's unaligned output.
    pub fn psql_on(&self, database: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new("psql");
        let url = self.libpq_admin(&mut cmd);
        let url = with_database(&url, database);
        let out = cmd
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &url,
                "-c",
                sql,
            ])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The private cluster's directory (its data, log and secrets); `None` for an external one.
    pub fn private_dir(&self) -> Option<&Path> {
        self.private.as_ref().and_then(|pc| pc.data.parent())
    }

    pub fn stop_if_private(&self) -> Result<()> {
        if let Some(pc) = &self.private {
            // A durable cluster's shutdown checkpoint can take a while on a busy disk.
            status(
                pc.cmd("pg_ctl")
                    .args(["stop", "-m", "fast", "-t", "300", "-D"])
                    .arg(&pc.data),
            )?;
        }
        Ok(())
    }
}

/// The same URL naming another database.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Splits the password out of a postgres:// URL (percent-decoded), so the rest can go on a
/// command line and the password into the environment.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{scheme}://{user}@{host}{tail}"),
        Some(percent_decode(password)),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url_and_the_rest_stays() {
        assert_eq!(
            split_password("postgres://admin:p%40ss@127.0.0.1:5432/postgres?sslmode=verify-full"),
            (
                "postgres://admin@127.0.0.1:5432/postgres?sslmode=verify-full".to_owned(),
                Some("p@ss".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://admin@db/postgres"),
            ("postgres://admin@db/postgres".to_owned(), None)
        );
        assert_eq!(
            super::with_database("postgres://a@h:1/postgres?sslmode=verify-full", "thrive"),
            "postgres://a@h:1/thrive?sslmode=verify-full"
        );
    }
}
