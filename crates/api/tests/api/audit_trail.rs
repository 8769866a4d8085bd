//! Issue 10, finding 1: the audit trail against the owner login and a superuser. The trail
//! belongs to `thrive_audit`, a role nobody can log in as; the chain is recomputed in Rust; and
//! signed checkpoints kept outside the database name an entry a superuser rewrote and
//! re-chained.

use std::os::unix::fs::PermissionsExt;

use ed25519_dalek::{Signature, Verifier as _};
use thrive_api::audit_chain::{self, Entry, ENTRY_COLUMNS};
use thrive_api::checkpoints::{self, Outcome};
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};

fn code(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Finding 1, as reported: the `thrive_owner` login (its password is in the run's secrets)
/// disables the append-only trigger and forced RLS, edits an entry and re-chains. Every step is
/// refused now: the tables, the schema and the functions belong to `thrive_audit`.
#[tokio::test]
async fn the_owner_login_cannot_disable_the_guards_or_rewrite_an_entry() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let attempts = [
        "alter table audit.audit_log disable trigger audit_log_append_only",
        "alter table audit.audit_log disable trigger user",
        "alter table audit.audit_log no force row level security",
        "alter table audit.audit_heads disable row level security",
        "update audit.audit_log set changes = '{}', actor_role = 'nobody' where seq = 3",
        "update audit.audit_heads set seq = 2",
        "delete from audit.audit_log",
        "truncate audit.audit_log",
        "drop table audit.audit_log",
        "alter table audit.audit_log owner to thrive_owner",
        "create table audit.shadow (id int)",
        "create or replace function audit.refuse() returns trigger language plpgsql as $$ begin return null; end $$",
        "alter function audit.append(uuid, uuid, uuid, text, text, text, text, text, uuid, uuid, jsonb) owner to thrive_owner",
        "drop schema audit cascade",
        "set role thrive_audit",
        "grant thrive_audit to thrive_owner",
    ];
    for sql in attempts {
        let mut tx = app.db.owner.begin().await.expect("begin");
        let err = sqlx::query(sql).execute(&mut *tx).await.expect_err(sql);
        assert_eq!(code(&err).as_deref(), Some("42501"), "{sql}: {err}");
    }
    // Nor through thrive_definer, the role the owner login can become (it owns the wrappers
    // in `app` that call audit.append).
    let mut tx = app.db.owner.begin().await.expect("begin");
    sqlx::query("set local role thrive_definer")
        .execute(&mut *tx)
        .await
        .expect("the owner login may act as thrive_definer");
    let err = sqlx::query("update audit.audit_log set action = 'x'")
        .execute(&mut *tx)
        .await
        .expect_err("definer update");
    assert_eq!(code(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);

    // Everything in the schema is thrive_audit's, and no role can become thrive_audit.
    let foreign: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
          where c.relnamespace = 'audit'::regnamespace and c.relowner <> 'thrive_audit'::regrole
         union all
         select p.proname::text from pg_proc p
          where p.pronamespace = 'audit'::regnamespace and p.proowner <> 'thrive_audit'::regrole
         union all
         select 'schema' from pg_namespace n
          where n.nspname = 'audit' and n.nspowner <> 'thrive_audit'::regrole",
    )
    .fetch_all(&app.db.admin)
    .await
    .expect("catalogue");
    assert_eq!(foreign, Vec::<String>::new());
    let (login, members): (bool, i64) = sqlx::query_as(
        "select r.rolcanlogin, (select count(*) from pg_auth_members m where m.roleid = r.oid)
           from pg_roles r where r.rolname = 'thrive_audit'",
    )
    .fetch_one(&app.db.admin)
    .await
    .expect("role");
    assert!(!login && members == 0, "login {login}, members {members}");
    // The API role cannot append either.
    let mut tx = as_app_with(&app.db.app, Some(world.a.user("admin")), Some(world.a.id())).await;
    let err = sqlx::query(
        "select audit.append($1, null, null, null, 't', 'a', 'insert', 't', null, null, '{}')",
    )
    .bind(world.a.id())
    .execute(&mut *tx)
    .await
    .expect_err("append as thrive_app");
    assert_eq!(code(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);

    let chains = app.verify_audit().await;
    assert!(chains.iter().all(|(_, v)| v.intact()), "{chains:?}");
}

/// The owner login can replace the helpers in `app` (it is a member of their owner). Code it
/// plants there runs inside an audit write, but as thrive_definer, never as the audit owner:
/// it cannot touch the trail.
#[tokio::test]
async fn code_the_owner_login_plants_in_app_never_runs_with_the_audit_owners_rights() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    sqlx::raw_sql(
        "create or replace function app.caller_membership(out membership_id uuid, out user_id uuid,
                                                          out organization_id uuid, out role_id uuid)
         language plpgsql security definer set search_path = pg_catalog as $$
         begin
             update audit.audit_log set action = 'rewritten';
         end $$",
    )
    .execute(&app.db.owner)
    .await
    .expect("the owner login may replace app helpers");
    // An audit write, which resolves the caller through the planted helper.
    let mut tx = app.db.owner.begin().await.expect("begin");
    let err =
        sqlx::query("select app.audit_append($1, 'staff', 'users', 'update', null, null, '{}')")
            .bind(world.a.id())
            .execute(&mut *tx)
            .await
            .expect_err("the planted code is refused");
    assert_eq!(code(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);
    let rewritten: i64 =
        sqlx::query_scalar("select count(*) from audit.audit_log where action = 'rewritten'")
            .fetch_one(&app.db.admin)
            .await
            .expect("count");
    assert_eq!(rewritten, 0);
}

/// Rewrites entry `seq` of `org` as a superuser would: triggers off, the entry edited, every
/// later hash recomputed (in Rust, the way the verifier computes them) and the head moved.
async fn superuser_rewrites_and_rechains(app: &TestApp, org: Uuid, seq: i64) {
    let mut conn = app.db.admin_conn().await;
    sqlx::raw_sql("begin; alter table audit.audit_log disable trigger audit_log_append_only")
        .execute(&mut *conn)
        .await
        .expect("disable");
    let mut entries: Vec<Entry> = sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from audit.audit_log where organization_id = $1 and seq >= $2 - 1 order by seq"
    ))
    .bind(org)
    .bind(seq)
    .fetch_all(&mut *conn)
    .await
    .expect("entries");
    entries[1].changes = r#"{"body": {"new": "nothing happened"}}"#.to_owned();
    for i in 1..entries.len() {
        entries[i].prev_hash = entries[i - 1].hash.clone();
        entries[i].hash = audit_chain::entry_hash(&entries[i]);
        let e = &entries[i];
        sqlx::query(
            "update audit.audit_log set changes = $3::jsonb, prev_hash = $4, hash = $5
              where organization_id = $1 and seq = $2",
        )
        .bind(org)
        .bind(e.seq)
        .bind(&e.changes)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(&mut *conn)
        .await
        .expect("rewrite");
    }
    let last = entries.last().expect("last");
    sqlx::query("update audit.audit_heads set hash = $2 where organization_id = $1")
        .bind(org)
        .bind(&last.hash)
        .execute(&mut *conn)
        .await
        .expect("head");
    sqlx::raw_sql("alter table audit.audit_log enable trigger audit_log_append_only; commit")
        .execute(&mut *conn)
        .await
        .expect("enable");
}

/// Must-show 2: a superuser rewrites an entry and re-chains everything after it, so the chain
/// agrees with itself; the signed checkpoints, kept outside the database, name the entry.
#[tokio::test]
async fn a_superusers_rewritten_and_rechained_entry_is_named_by_the_signed_checkpoints() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let signed = app.audit_checkpoint().await;
    assert!(
        signed
            .iter()
            .any(|(org, o)| *org == world.a.id() && matches!(o, Outcome::Signed { .. })),
        "{signed:?}"
    );
    // Nothing new: nothing to sign.
    assert!(app
        .audit_checkpoint()
        .await
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Unchanged { .. })));

    superuser_rewrites_and_rechains(&app, world.a.id(), 42).await;

    // The chain on its own is consistent again …
    let mut conn = app.db.admin_conn().await;
    let alone = audit_chain::verify_organisation(&mut conn, world.a.id(), Vec::new())
        .await
        .expect("verify");
    assert!(alone.intact(), "the re-chain is consistent: {alone:?}");
    drop(conn);
    // … but not with what was signed: verify-audit names entry 42.
    let chains = app.verify_audit().await;
    let a = &chains
        .iter()
        .find(|(org, _)| *org == world.a.id())
        .expect("a")
        .1;
    assert_eq!(a.first_broken_seq, Some(42), "{a:?}");
    assert!(
        a.problem
            .as_deref()
            .unwrap_or_default()
            .contains("checkpoint"),
        "{a:?}"
    );
    let b = &chains
        .iter()
        .find(|(org, _)| *org == world.b.id())
        .expect("b")
        .1;
    assert!(b.intact(), "{b:?}");
    // The API's verification says the same to the organisation's administrator.
    let admin = app.sign_in(world.a.email("admin")).await;
    let v = app
        .expect(200, "GET", "/api/audit/verify", &admin, None)
        .await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_broken_seq"], 42, "{v}");
    // And the checkpointer refuses to sign the rewritten chain.
    let again = app.audit_checkpoint().await;
    assert!(
        again
            .iter()
            .any(|(org, o)| *org == world.a.id() && matches!(o, Outcome::Broken(_))),
        "{again:?}"
    );
}

/// The receipt: the organisation's latest signed head, verifiable with the public key alone;
/// only for those allowed to verify the trail. The key file is 0600, and a readable one is
/// refused.
#[tokio::test]
async fn the_latest_checkpoint_is_a_receipt_anyone_can_check_and_only_auditors_download() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    app.expect(404, "GET", "/api/audit/checkpoint", &admin, None)
        .await;
    app.audit_checkpoint().await;
    let receipt = app
        .expect(200, "GET", "/api/audit/checkpoint", &admin, None)
        .await;
    let head: i64 =
        sqlx::query_scalar("select seq from audit.audit_heads where organization_id = $1")
            .bind(world.a.id())
            .fetch_one(&app.db.admin)
            .await
            .expect("head");
    assert_eq!(receipt["seq"], head, "{receipt}");
    assert_eq!(receipt["organization_id"], world.a.id().to_string());
    let key = checkpoints::parse_public_key(receipt["public_key"].as_str().expect("key"))
        .expect("public key");
    let sig: [u8; 64] = hex::decode(receipt["signature"].as_str().expect("signature"))
        .expect("hex")
        .try_into()
        .expect("64 bytes");
    let message = receipt["message"].as_str().expect("message");
    key.verify(message.as_bytes(), &Signature::from_bytes(&sig))
        .expect("the signature verifies");
    assert!(key
        .verify(
            message.replace("seq=", "seq=1").as_bytes(),
            &Signature::from_bytes(&sig)
        )
        .is_err());

    let carer = app.sign_in(world.a.email("carer1")).await;
    app.expect(403, "GET", "/api/audit/checkpoint", &carer, None)
        .await;

    let mode = std::fs::metadata(app.checkpoints.join("key"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::set_permissions(
        app.checkpoints.join("key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    assert!(checkpoints::CheckpointKey::load_or_create(&app.checkpoints.join("key")).is_err());
}

/// A checkpoint store someone edited (here: a hash in the recorded list) no longer verifies
/// with the trusted key; verification reports it instead of trusting it.
#[tokio::test]
async fn an_edited_checkpoint_store_is_reported_not_trusted() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    app.audit_checkpoint().await;
    let file = app
        .checkpoints
        .join("store")
        .join(format!("{}.jsonl", world.a.id()));
    let text = std::fs::read_to_string(&file).expect("store");
    let mut cp: checkpoints::SignedCheckpoint =
        serde_json::from_str(text.lines().next().expect("line")).expect("json");
    cp.hashes[10] = "00".repeat(32);
    std::fs::write(
        &file,
        format!("{}\n", serde_json::to_string(&cp).expect("json")),
    )
    .expect("write");
    let chains = app.verify_audit().await;
    let a = &chains
        .iter()
        .find(|(org, _)| *org == world.a.id())
        .expect("a")
        .1;
    assert!(
        a.problem
            .as_deref()
            .unwrap_or_default()
            .contains("does not verify"),
        "{a:?}"
    );
    let admin = app.sign_in(world.a.email("admin")).await;
    let v = app
        .expect(200, "GET", "/api/audit/verify", &admin, None)
        .await;
    assert_eq!(v["intact"], false, "{v}");
}

/// Issue 10, finding 1, replayed as it was reported and against whichever schema holds the
/// trail (so the same test runs on the code the issue was filed against): the `thrive_owner`
/// login, in one transaction, disables the append-only triggers and forced RLS, edits an
/// entry's `changes` and `actor_role`, recomputes every `prev_hash`/`hash` with the database's
/// own hash function and moves the chain head. Either a step is refused, or verification names
/// the organisation's chain as broken; "every entry intact" after a rewrite is the failure.
#[tokio::test]
async fn the_owner_logins_rewrite_and_rechain_as_reported_is_refused_or_named() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let org = world.a.id();
    let attack = format!(
        "set local search_path = audit, public, app, pg_catalog;
         alter table audit_log disable trigger user;
         alter table audit_log no force row level security;
         alter table audit_heads disable trigger user;
         alter table audit_heads no force row level security;
         update audit_log set changes = '{{}}'::jsonb, actor_role = 'nobody'
          where organization_id = '{org}' and seq = 2;
         do $$
         declare e audit_log; prev bytea := '\\x'::bytea;
         begin
             for e in select * from audit_log where organization_id = '{org}' order by seq loop
                 e.prev_hash := prev;
                 e.hash := app.audit_entry_hash(e);
                 update audit_log set prev_hash = e.prev_hash, hash = e.hash
                  where organization_id = e.organization_id and seq = e.seq;
                 prev := e.hash;
             end loop;
             update audit_heads set hash = prev where organization_id = '{org}';
         end $$;"
    );
    let mut tx = app.db.owner.begin().await.expect("begin");
    match sqlx::raw_sql(&attack).execute(&mut *tx).await {
        Err(err) => {
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned());
            assert_eq!(
                code.as_deref(),
                Some("42501"),
                "refused, as not permitted: {err}"
            );
            drop(tx);
            let chains = app.verify_audit().await;
            assert!(chains.iter().all(|(_, v)| v.intact()), "{chains:?}");
        }
        Ok(_) => {
            tx.commit().await.expect("commit");
            let chains = app.verify_audit().await;
            let (_, mine) = chains.iter().find(|(o, _)| *o == org).expect("org's chain");
            assert!(
                !mine.intact(),
                "the owner login rewrote and re-chained an entry and verification found every entry intact"
            );
        }
    }
}
