//! `cargo xtask bench-api`: the API under load, on a realistic tenant set (issue 13).
//!
//! 1. Seeds `thrive_bench` in the test cluster once (reused afterwards): `ORGS` organisations
//!    with the default ladder, 100 service users and 14 staff each (carers assigned 10 people),
//!    and a year of care notes, observations and medication doses for every service user. The
//!    bulk rows go in with triggers off (`session_replication_role = replica`, consistent by
//!    construction), so the seed takes a couple of minutes rather than an hour of audit chains.
//! 2. Starts the release build of the API and mints signed-in sessions in `auth.sessions` (the
//!    rows a sign-in writes) for a manager and a carer of each of 16 organisations.
//! 3. Drives `wrk` (Debian package) at 64 connections, one endpoint at a time, rotating over
//!    the sessions; prints req/s, p50 and p99 beside the figures issue 13 measured before.
//! 4. Runs the service-user list query with `pgbench`, as `thrive_app` under RLS and as the
//!    administrator (RLS bypassed) with the same rows, side by side.
//! 5. The restart drill: PostgreSQL restarted in the middle of a write load; writes
//!    acknowledged against writes found, errors, and the time to the first write after.
//! 6. The disconnect drill: clients dropping requests at random moments beside acknowledged
//!    writers; connections left idle in a transaction (must be 0) and writes found.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::Rng;

use crate::postgres::Cluster;
use crate::{build_api, database, free_port, provision, serve_command, state_dir, step, tools};

const DATABASE: &str = "thrive_bench";
const SESSION_COOKIE: &str = "__Host-thrive_session";
const CONNECTIONS: u32 = 64;

/// Organisations seeded (THRIVE_BENCH_ORGS, default 20), 100 service users each.
fn orgs() -> u32 {
    std::env::var("THRIVE_BENCH_ORGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| (16..=200).contains(&n))
        .unwrap_or(20)
}

/// Seconds per wrk run (THRIVE_BENCH_SECONDS, default 10).
fn seconds() -> u64 {
    std::env::var("THRIVE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| (2..=300).contains(&n))
        .unwrap_or(10)
}

/// The administrator connection's parts, handed to psql and pgbench through the environment
/// (never on a command line).
struct Admin {
    host: String,
    port: String,
    user: String,
    password: String,
}

impl Admin {
    fn from_url(url: &str) -> Result<Self> {
        let rest = url.split_once("://").map(|(_, r)| r).context("admin url")?;
        let (userinfo, hostpart) = rest.rsplit_once('@').context("admin url without a user")?;
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let host_port = hostpart.split(['/', '?']).next().unwrap_or("127.0.0.1");
        let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
        Ok(Self {
            host: host.to_owned(),
            port: port.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    fn env(&self, cmd: &mut Command, user: &str, password: &str) {
        cmd.env("PGHOST", &self.host)
            .env("PGPORT", &self.port)
            .env("PGUSER", user)
            .env("PGPASSWORD", password)
            .env("PGDATABASE", DATABASE);
    }

    /// Runs `sql` on the bench database as the administrator; returns psql's unaligned output.
    fn psql(&self, sql: &str) -> Result<String> {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-f", "-"]);
        self.env(&mut cmd, &self.user, &self.password);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running psql")?;
        child
            .stdin
            .take()
            .context("psql stdin")?
            .write_all(sql.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub fn bench_api(_args: &[String]) -> Result<()> {
    step("Checking tools (postgresql, wrk)");
    tools::ensure_apt(&["postgresql", "wrk"])?;
    step("Starting the test PostgreSQL cluster");
    let tls = crate::local_tls()?;
    let cluster = database("test", 54339, &tls)?;
    let result = bench(&cluster, &tls);
    // Like `test`: the private cluster is stopped, so the next run starts it cleanly.
    cluster.stop_if_private()?;
    result
}

fn bench(cluster: &Cluster, tls: &crate::tls::LocalTls) -> Result<()> {
    let admin = Admin::from_url(&cluster.admin_url)?;
    step("Building the API (release)");
    let api = build_api(true)?;
    step("Migrating the bench database");
    if let Err(e) = provision(&api, cluster, DATABASE, true) {
        // The bench database is disposable: one made by an older build (a migration since
        // edited) is dropped and seeded again.
        eprintln!("{e:#}\ndropping {DATABASE} and starting it afresh");
        cluster.drop_database(DATABASE)?;
        provision(&api, cluster, DATABASE, true)?;
    }
    let orgs = orgs();
    let seeded: i64 = admin
        .psql("select count(*) from organizations where name like 'Bench %'")?
        .trim()
        .parse()
        .unwrap_or(0);
    if seeded != i64::from(orgs) {
        step(&format!(
            "Seeding {orgs} organisations × 100 service users with a year of records"
        ));
        if seeded != 0 {
            bail!(
                "{DATABASE} holds {seeded} bench organisations, not {orgs}: drop it \
                 (psql: drop database {DATABASE}) or set THRIVE_BENCH_ORGS={seeded}"
            );
        }
        let started = Instant::now();
        admin.psql(&seed_sql(orgs))?;
        println!("seeded in {:.0?}", started.elapsed());
    }
    println!("{}", admin.psql(COUNTS_SQL)?.trim_end());

    let dir = state_dir().join("bench");
    fs::create_dir_all(&dir)?;
    let sessions = mint_sessions(&admin)?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let dist = dir.join("empty-static");
    fs::create_dir_all(&dist)?;
    let log = fs::File::create(dir.join("server.log"))?;
    // Plain HTTP to the API (wrk's load, comparable with the earlier figures); the API's own
    // connections to PostgreSQL are TLS as always.
    let mut server = serve_command(&api, cluster, DATABASE, &addr, &dist, &dist, tls)
        .env_remove("THRIVE_TLS_CERT")
        .env_remove("THRIVE_TLS_KEY")
        .env("THRIVE_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting thrive-api")?;
    let result = (|| -> Result<()> {
        crate::wait_for_http(&addr, &mut server)?;
        load(&addr, &sessions, &dir)?;
        rls_against_bypass(&admin, cluster)?;
        if cluster_data_dir(cluster).is_some() {
            restart_drill(&addr, &sessions, &admin, cluster)?;
        } else {
            println!("\nRestart drill skipped: DATABASE_URL names a server this command does not manage.");
        }
        disconnect_drill(&addr, &sessions, &admin)?;
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

const COUNTS_SQL: &str = "select format('bench data: %s organisations, %s service users, %s staff, %s care notes, %s observations, %s medication doses',
    (select count(*) from organizations where name like 'Bench %'),
    (select count(*) from service_users), (select count(*) from memberships),
    (select count(*) from care_notes), (select count(*) from observations),
    (select count(*) from medication_administrations))";

/// The seed, in SQL: organisations copy the default ladder of the first demo organisation
/// (seeded by `provision --seed-demo` from the domain's catalogue), staff share the demo
/// accounts' password hash.
fn seed_sql(orgs: u32) -> String {
    format!(
        r#"
set session_replication_role = replica;
begin;
create temporary table ladder as
    select r.id as role_id, r.name, r.description
      from roles r join organizations o on o.id = r.organization_id
     where o.name = 'Meadowbank Care Home';
insert into organizations (name) select format('Bench %s', lpad(g::text, 3, '0')) from generate_series(1, {orgs}) g;
create temporary table bench_orgs as
    select id, row_number() over (order by name) as n from organizations where name like 'Bench %';
insert into roles (organization_id, name, description)
    select o.id, l.name, l.description from bench_orgs o cross join ladder l;
insert into role_permissions (organization_id, role_id, permission_key, allowed)
    select r.organization_id, r.id, rp.permission_key, rp.allowed
      from roles r join bench_orgs o on o.id = r.organization_id
      join ladder l on l.name = r.name
      join role_permissions rp on rp.role_id = l.role_id;
-- Staff: an administrator, a registered manager, two senior carers and ten carers each.
create temporary table staff_plan (kind text, role_name text, count int);
insert into staff_plan values
    ('admin', 'Administrator', 1), ('manager', 'Registered Manager', 1),
    ('senior', 'Senior Carer', 2), ('carer', 'Carer', 10);
insert into users (email, display_name)
    select format('%s%s@bench%s.example', p.kind, i, o.n), format('%s %s of bench %s', initcap(p.kind), i, o.n)
      from bench_orgs o cross join staff_plan p cross join lateral generate_series(1, p.count) i;
insert into auth.credentials (user_id, password_hash)
    select u.id, (select c.password_hash from auth.credentials c join users d on d.id = c.user_id
                   where d.email = 'manager@meadowbank.example')
      from users u where u.email like '%@bench%.example';
insert into memberships (organization_id, user_id, role_id)
    select o.id, u.id, r.id
      from bench_orgs o cross join staff_plan p cross join lateral generate_series(1, p.count) i
      join users u on u.email = format('%s%s@bench%s.example', p.kind, i, o.n)
      join roles r on r.organization_id = o.id and r.name = p.role_name;
insert into service_users (organization_id, given_name, family_name, room, date_of_birth)
    select o.id, format('Resident%s', i), format('Family%s', lpad(i::text, 3, '0')), format('Room %s', i),
           date '1930-01-01' + (i * 97) % 9000
      from bench_orgs o cross join generate_series(1, 100) i;
-- Each carer looks after ten residents.
insert into staff_assignments (organization_id, user_id, service_user_id)
    select su.organization_id, u.id, su.id
      from bench_orgs o
      join lateral (select s.id, s.organization_id, row_number() over (order by s.family_name) - 1 as k
                      from service_users s where s.organization_id = o.id) su on true
      join users u on u.email = format('carer%s@bench%s.example', su.k / 10 + 1, o.n);
-- A year of records for everyone: a care note and an observation a day, a prescription taken
-- twice a day.
insert into care_notes (organization_id, service_user_id, category, occurred_at, body, status, author_id)
    select s.organization_id, s.id, (array['personal_care','nutrition','mobility','wellbeing','sleep'])[1 + d % 5],
           now() - make_interval(days => d, hours => 3),
           'Settled day; ate well and enjoyed the afternoon music session. Skin intact; no concerns raised.',
           case when d > 2 then 'signed_off' else 'submitted' end,
           (select m.user_id from memberships m join roles r on r.id = m.role_id
             where m.organization_id = s.organization_id and r.name = 'Senior Carer' limit 1)
      from service_users s join bench_orgs o on o.id = s.organization_id
      cross join generate_series(0, 364) d;
insert into observations (organization_id, service_user_id, kind, observed_at, data)
    select s.organization_id, s.id, 'fluid', now() - make_interval(days => d, hours => 5),
           jsonb_build_object('kind', 'fluid', 'millilitres', 150 + d % 100, 'fluid', 'tea')
      from service_users s join bench_orgs o on o.id = s.organization_id
      cross join generate_series(0, 364) d;
insert into prescriptions (organization_id, service_user_id, drug, dose, route, schedule, times, start_date, prescriber)
    select s.organization_id, s.id, 'Paracetamol 500 mg tablets', 'Two tablets', 'oral', 'Twice a day',
           '{{08:00,20:00}}', current_date - 365, 'Dr A. Patel'
      from service_users s join bench_orgs o on o.id = s.organization_id;
insert into medication_administrations (organization_id, service_user_id, prescription_id, scheduled_for, outcome, dose_given)
    select p.organization_id, p.service_user_id, p.id,
           date_trunc('day', now()) - make_interval(days => d) + t, 'given', 'Two tablets'
      from prescriptions p join bench_orgs o on o.id = p.organization_id
      cross join generate_series(1, 364) d cross join unnest(array[interval '8 hours', interval '20 hours']) t;
commit;
set session_replication_role = default;
analyze;
"#
    )
}

/// A signed-in session: its cookie value, role, and a service user it may see.
struct Session {
    token: String,
    role: String,
    service_user: String,
}

/// Sessions for a manager and a carer of each of the first 16 organisations, written as a
/// sign-in writes them (only the token's SHA-256 is stored). Earlier bench sessions are
/// revoked first.
fn mint_sessions(admin: &Admin) -> Result<Vec<Session>> {
    let out = admin.psql(
        r#"
update auth.sessions set revoked_at = now()
 where revoked_at is null and user_id in (select id from users where email like '%@bench%.example');
with who as (
    select m.id as membership_id, m.user_id, m.organization_id,
           case when u.email like 'manager%' then 'manager' else 'carer' end as role
      from memberships m join users u on u.id = m.user_id
      join organizations o on o.id = m.organization_id
     where (u.email like 'manager1@%' or u.email like 'carer1@%')
       and o.name in (select name from organizations where name like 'Bench %' order by name limit 16)
), tokens as (
    select w.*, rtrim(translate(encode(gen_random_bytes(32), 'base64'), '+/', '-_'), '=') as token
      from who w
), inserted as (
    insert into auth.sessions (token_hash, user_id, membership_id, created_at, last_seen_at,
                               absolute_expires_at, authenticated_at)
    select sha256(convert_to(t.token, 'UTF8')), t.user_id, t.membership_id, now(), now(),
           now() + interval '8 hours', now()
      from tokens t
    returning 1
)
select t.token, t.role,
       coalesce((select a.service_user_id from staff_assignments a where a.user_id = t.user_id limit 1),
                (select s.id from service_users s where s.organization_id = t.organization_id limit 1))
  from tokens t, (select count(*) from inserted) i;
"#,
    )?;
    let sessions: Vec<Session> = out
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').collect();
            match cols[..] {
                [token, role, su] if token.len() == 43 => Some(Session {
                    token: token.to_owned(),
                    role: role.to_owned(),
                    service_user: su.to_owned(),
                }),
                _ => None,
            }
        })
        .collect();
    if sessions.len() < 2 {
        bail!("minting bench sessions failed");
    }
    println!(
        "signed in {} sessions ({} managers, {} carers)",
        sessions.len(),
        sessions.iter().filter(|s| s.role == "manager").count(),
        sessions.iter().filter(|s| s.role == "carer").count()
    );
    Ok(sessions)
}

/// What wrk reports for one endpoint.
#[derive(Default, Clone)]
struct Figures {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
    errors: u64,
}

/// wrk's Lua: each request picks the next (cookie, path) pair of this thread's list.
fn wrk_script(dir: &Path, name: &str, requests: &[(String, String)]) -> Result<PathBuf> {
    let mut lua = String::from("local reqs = {\n");
    for (cookie, path) in requests {
        lua.push_str(&format!(
            "  {{ path = \"{path}\", cookie = \"{SESSION_COOKIE}={cookie}\" }},\n"
        ));
    }
    lua.push_str(
        "}\nlocal i = 0\n\
         function setup(thread) thread:set(\"offset\", math.random(#reqs)) end\n\
         request = function()\n  i = i + 1\n  local r = reqs[((i + (offset or 0)) % #reqs) + 1]\n  \
         return wrk.format(\"GET\", r.path, { [\"Cookie\"] = r.cookie })\nend\n",
    );
    let path = dir.join(format!("{name}.lua"));
    // The script holds live session tokens: readable by this user only.
    fs::write(&path, "")?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    fs::write(&path, lua)?;
    Ok(path)
}

fn wrk(addr: &str, path: &str, script: Option<&Path>) -> Result<Figures> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{CONNECTIONS}"),
        &format!("-d{}s", seconds()),
        "--latency",
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(format!("http://{addr}{path}"));
    let out = cmd.output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut f = Figures::default();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            f.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            f.p50 = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("99%") {
            f.p99 = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            f.non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            f.errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    Ok(f)
}

/// The read mix, one endpoint at a time, beside issue 13's figures from before the work.
fn load(addr: &str, sessions: &[Session], dir: &Path) -> Result<()> {
    step(&format!(
        "Load: wrk, {CONNECTIONS} connections, {} s per endpoint, {} sessions",
        seconds(),
        sessions.len()
    ));
    let managers: Vec<&Session> = sessions.iter().filter(|s| s.role == "manager").collect();
    let carers: Vec<&Session> = sessions.iter().filter(|s| s.role == "carer").collect();
    let pairs = |who: &[&Session], path: fn(&Session) -> String| -> Vec<(String, String)> {
        who.iter().map(|s| (s.token.clone(), path(s))).collect()
    };
    fn me(_: &Session) -> String {
        "/api/me".into()
    }
    fn list(_: &Session) -> String {
        "/api/service-users".into()
    }
    fn notes(s: &Session) -> String {
        format!("/api/care-notes?service_user_id={}", s.service_user)
    }
    // (label, requests, issue 13's figures from before)
    type Run<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let runs: Vec<Run> = vec![
        (
            "/api/health (no database)",
            vec![],
            "63,357 req/s, p50 0.9 ms, p99 3.5 ms",
        ),
        (
            "/api/me",
            pairs(&managers, me),
            "167 req/s, p50 372 ms, p99 492 ms",
        ),
        (
            "/api/service-users (manager: 100 rows)",
            pairs(&managers, list),
            "101 req/s (6 rows), p50 615 ms, p99 787 ms",
        ),
        (
            "/api/service-users (carer: 10 rows)",
            pairs(&carers, list),
            "-",
        ),
        (
            "/api/care-notes?service_user_id=… (first page)",
            pairs(&managers, notes),
            "316 req/s, p50 200 ms, p99 270 ms",
        ),
    ];
    let mut rows = Vec::new();
    for (i, (label, requests, before)) in runs.iter().enumerate() {
        let figures = if requests.is_empty() {
            wrk(addr, "/api/health", None)?
        } else {
            let script = wrk_script(dir, &format!("mix{i}"), requests)?;
            let f = wrk(addr, "/", Some(&script));
            let _ = fs::remove_file(&script);
            f?
        };
        rows.push((label.to_string(), figures, before.to_string()));
    }
    println!(
        "\n| endpoint | req/s | p50 | p99 | non-2xx | socket errors | before (issue 13, demo data) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, f, before) in &rows {
        println!(
            "| {label} | {:.0} | {} | {} | {} | {} | {before} |",
            f.rps, f.p50, f.p99, f.non_2xx, f.errors
        );
    }
    Ok(())
}

/// The service-user list query under RLS as `thrive_app`, and as the administrator (RLS
/// bypassed) filtered to the same organisation: the same rows, side by side.
fn rls_against_bypass(admin: &Admin, cluster: &Cluster) -> Result<()> {
    let who = admin.psql(
        "select m.user_id || '|' || m.organization_id from memberships m join users u on u.id = m.user_id
          where u.email = 'manager1@bench1.example'",
    )?;
    let (user, org) = who.trim().split_once('|').context("bench manager")?;
    step("The list query: thrive_app under RLS against a bypass role (pgbench, 8 clients)");
    let dir = state_dir().join("bench");
    let list =
        "select id, given_name, family_name, preferred_name, room, status from service_users";
    let order = "order by family_name, given_name, id limit 500";
    let rls = dir.join("rls.sql");
    fs::write(
        &rls,
        format!(
            "begin;\nselect set_config('app.user_id', '{user}', true), set_config('app.org_id', '{org}', true);\n\
             {list} {order};\ncommit;\n"
        ),
    )?;
    let bypass = dir.join("bypass.sql");
    fs::write(
        &bypass,
        // The same transaction, settings included; only the policies are not applied.
        format!(
            "begin;\nselect set_config('app.user_id', '{user}', true), set_config('app.org_id', '{org}', true);\n\
             {list} where organization_id = '{org}' {order};\ncommit;\n"
        ),
    )?;
    let pgbench = |script: &Path, user: &str, password: &str| -> Result<(f64, f64)> {
        let mut cmd = Command::new(pg_tool("pgbench")?);
        cmd.args(["-n", "-M", "prepared", "-c", "8", "-j", "2", "-T"])
            .arg(seconds().to_string())
            .arg("-f")
            .arg(script);
        admin.env(&mut cmd, user, password);
        let out = cmd.output().context("running pgbench")?;
        if !out.status.success() {
            bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |prefix: &str| -> f64 {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0.0)
        };
        Ok((field("tps ="), field("latency average =")))
    };
    let (rls_tps, rls_ms) = pgbench(&rls, "thrive_app", &cluster.secrets.app)?;
    let (bypass_tps, bypass_ms) = pgbench(&bypass, &admin.user, &admin.password)?;
    println!("\n| the list query (100 rows) | transactions/s | mean latency |");
    println!("|---|---|---|");
    println!("| thrive_app under RLS | {rls_tps:.0} | {rls_ms:.3} ms |");
    println!("| administrator, RLS bypassed | {bypass_tps:.0} | {bypass_ms:.3} ms |");
    if bypass_tps > 0.0 {
        println!(
            "RLS costs {:.1}% of the bypass role's throughput (the bar: within 15%)",
            (1.0 - rls_tps / bypass_tps) * 100.0
        );
    }
    Ok(())
}

fn pg_tool(name: &str) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .with_context(|| format!("{name} not found under /usr/lib/postgresql"))
}

fn cluster_data_dir(cluster: &Cluster) -> Option<PathBuf> {
    cluster
        .is_private()
        .then(|| state_dir().join("test").join("pgdata"))
}

/// One HTTP/1.1 request on a fresh connection; the status code and body.
fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {SESSION_COOKIE}={token}\r\n\
         X-Requested-With: thrive\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status line")?;
    Ok((status, response))
}

/// The id of a created record in a JSON response.
fn created_id(response: &str) -> Option<String> {
    let at = response.find("\"id\":\"")? + 6;
    response.get(at..at + 36).map(str::to_owned)
}

/// Writers: each thread posts care notes until `stop`; acknowledged ids and errors (with the
/// time since `t0`) are collected.
struct Writes {
    acked: Mutex<Vec<String>>,
    errors: Mutex<Vec<Duration>>,
}

fn writers(
    addr: &str,
    sessions: &[Session],
    threads: usize,
    t0: Instant,
    stop: &Arc<AtomicBool>,
    writes: &Arc<Writes>,
    occurred_at: &str,
) -> Vec<std::thread::JoinHandle<()>> {
    let managers: Vec<(String, String)> = sessions
        .iter()
        .filter(|s| s.role == "manager")
        .map(|s| (s.token.clone(), s.service_user.clone()))
        .collect();
    (0..threads)
        .map(|t| {
            let (token, su) = managers[t % managers.len()].clone();
            let addr = addr.to_owned();
            let stop = stop.clone();
            let writes = writes.clone();
            let body = format!(
                r#"{{"category":"other","occurred_at":"{occurred_at}","body":"Bench drill write from writer {t}."}}"#
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let path = format!("/api/service-users/{su}/care-notes");
                    match http(&addr, "POST", &path, &token, &body) {
                        Ok((201, response)) => {
                            if let Some(id) = created_id(&response) {
                                if let Ok(mut acked) = writes.acked.lock() {
                                    acked.push(id);
                                }
                            }
                        }
                        _ => {
                            if let Ok(mut errors) = writes.errors.lock() {
                                errors.push(t0.elapsed());
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect()
}

fn found(admin: &Admin, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = ids
        .iter()
        .filter(|id| id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let n = admin.psql(&format!(
        "select count(*) from care_notes where id = any(array[{list}]::uuid[])"
    ))?;
    Ok(n.trim().parse().unwrap_or(0))
}

fn occurred_at(admin: &Admin) -> Result<String> {
    Ok(admin
        .psql("select to_char((now() - interval '1 minute') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")?
        .trim()
        .to_owned())
}

/// PostgreSQL restarted (fast shutdown) in the middle of a write load.
fn restart_drill(addr: &str, sessions: &[Session], admin: &Admin, cluster: &Cluster) -> Result<()> {
    step("Restart drill: PostgreSQL restarted during a write load (8 writers)");
    let writes = Arc::new(Writes {
        acked: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let when = occurred_at(admin)?;
    let handles = writers(addr, sessions, 8, t0, &stop, &writes, &when);
    std::thread::sleep(Duration::from_secs(3));
    let before_restart = writes.acked.lock().map(|a| a.len()).unwrap_or(0);
    let restart_at = t0.elapsed();
    cluster.restart_if_private()?;
    let restarted_at = t0.elapsed();
    // Until the first write acknowledged after the restart, then a little more load.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut recovered = None;
    while Instant::now() < deadline {
        let n = writes.acked.lock().map(|a| a.len()).unwrap_or(0);
        if n > before_restart + 8 {
            recovered = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    let acked = writes.acked.lock().map(|a| a.clone()).unwrap_or_default();
    let errors = writes.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let present = found(admin, &acked)?;
    println!("\n| restart drill | |\n|---|---|");
    println!("| writes acknowledged (201) | {} |", acked.len());
    println!("| acknowledged writes found afterwards | {present} |");
    println!("| errors (failed or refused writes) | {} |", errors.len());
    if let (Some(first), Some(last)) = (errors.first(), errors.last()) {
        println!(
            "| errors between | {:.2} s and {:.2} s (restart began {:.2} s, PostgreSQL back {:.2} s) |",
            first.as_secs_f64(),
            last.as_secs_f64(),
            restart_at.as_secs_f64(),
            restarted_at.as_secs_f64()
        );
    }
    match recovered {
        Some(at) => println!(
            "| recovery: restart begun → writes acknowledged again | {:.2} s |",
            (at - restart_at).as_secs_f64()
        ),
        None => println!("| recovery | NOT within 60 s |"),
    }
    if present != acked.len() {
        bail!(
            "{} acknowledged writes are missing after the restart",
            acked.len() - present
        );
    }
    Ok(())
}

/// Clients dropping their requests at random moments beside acknowledged writers; then no
/// connection may be idle in a transaction and every acknowledged write must be there.
fn disconnect_drill(addr: &str, sessions: &[Session], admin: &Admin) -> Result<()> {
    step("Disconnect drill: 24 clients dropping requests at random moments, 4 writers");
    let writes = Arc::new(Writes {
        acked: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let when = occurred_at(admin)?;
    let mut handles = writers(addr, sessions, 4, t0, &stop, &writes, &when);
    let dropped = Arc::new(AtomicU64::new(0));
    for t in 0..24usize {
        let s = &sessions[t % sessions.len()];
        let (token, su) = (s.token.clone(), s.service_user.clone());
        let addr = addr.to_owned();
        let stop = stop.clone();
        let dropped = dropped.clone();
        let when = when.clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            while !stop.load(Ordering::SeqCst) {
                let Ok(mut conn) = TcpStream::connect(&addr) else {
                    continue;
                };
                let (method, path, body) = match rng.gen_range(0..3) {
                    0 => ("GET", "/api/service-users".to_owned(), String::new()),
                    1 => (
                        "GET",
                        format!("/api/care-notes?service_user_id={su}"),
                        String::new(),
                    ),
                    _ => (
                        "POST",
                        format!("/api/service-users/{su}/care-notes"),
                        format!(
                            r#"{{"category":"other","occurred_at":"{when}","body":"Dropped request."}}"#
                        ),
                    ),
                };
                let _ = write!(
                    conn,
                    "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {SESSION_COOKIE}={token}\r\n\
                     X-Requested-With: thrive\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                // Gone after 0–3 ms: before, during or after the request's BEGIN.
                std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
                let _ = conn.shutdown(std::net::Shutdown::Both);
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(seconds()));
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    // Let requests already cancelled finish rolling back, then look.
    std::thread::sleep(Duration::from_secs(2));
    let stuck: i64 = admin
        .psql(&format!(
            "select count(*) from pg_stat_activity where datname = '{DATABASE}' and state like 'idle in transaction%'"
        ))?
        .trim()
        .parse()
        .unwrap_or(-1);
    let locks: i64 = admin
        .psql(&format!(
            "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
              where a.datname = '{DATABASE}' and a.state like 'idle in transaction%'"
        ))?
        .trim()
        .parse()
        .unwrap_or(-1);
    let acked = writes.acked.lock().map(|a| a.clone()).unwrap_or_default();
    let errors = writes.errors.lock().map(|e| e.len()).unwrap_or(0);
    let present = found(admin, &acked)?;
    println!("\n| disconnect drill | |\n|---|---|");
    println!(
        "| requests dropped by their clients | {} |",
        dropped.load(Ordering::Relaxed)
    );
    println!("| writes acknowledged (201) | {} |", acked.len());
    println!("| acknowledged writes found | {present} |");
    println!("| writer errors | {errors} |");
    println!("| connections idle in a transaction afterwards | {stuck} |");
    println!("| locks held by them | {locks} |");
    if stuck != 0 || present != acked.len() {
        bail!("the disconnect drill failed");
    }
    Ok(())
}
