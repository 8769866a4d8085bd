//! Purging closed organisations: the last step of closure (see README, "Closing an
//! organisation"). Run by the operator from a cluster administrator connection with
//! `thrive-api purge-closed`.
//!
//! An organisation whose administrator requested closure is purged once its `purge_after` has
//! passed: every row it owns is deleted, with the audit trail (the organisation's export is the
//! record it keeps), and accounts left with no organisation are deleted with their credentials.
//! A tombstone in `purged_organizations` keeps the name, the dates, the number of audit entries
//! and the chain's last hash, and how many rows each table lost; no personal data.
//!
//! The audit trail refuses deletes, even the owner's, by triggers; the purge is the one
//! deliberate exception. In one transaction it disables user triggers on the tables it touches
//! (`ALTER TABLE … DISABLE TRIGGER USER`, which takes a lock that makes every other writer of
//! those tables wait), deletes, and enables them again before committing, so no other session
//! ever runs with the triggers off.

use serde_json::{Map, Value};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

/// One organisation purged (or, in a dry run, due).
#[derive(Debug, Clone)]
pub struct Purged {
    pub id: Uuid,
    pub name: String,
    pub rows_deleted: Map<String, Value>,
    pub audit_entries: i64,
}

/// The public tables holding an `organization_id`, each counted before the purge.
async fn organisation_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
          where n.nspname = 'public' and c.relkind = 'r' and c.relname <> 'purged_organizations'
          order by 1",
    )
    .fetch_all(conn)
    .await
}

/// Every table with triggers of its own (not the internal ones behind foreign keys).
async fn triggered_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct format('%I.%I', n.nspname, c.relname)
           from pg_trigger t join pg_class c on c.oid = t.tgrelid
           join pg_namespace n on n.oid = c.relnamespace
          where not t.tgisinternal and n.nspname in ('public', 'auth', 'audit')
          order by 1",
    )
    .fetch_all(conn)
    .await
}

/// Purges every organisation whose retention period has ended by `now`. With `dry_run`, only
/// says which would go and what they hold.
pub async fn purge_due(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Vec<Purged>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    type Due = (Uuid, String);
    let due: Vec<Due> = sqlx::query_as(
        "select id, name from organizations
          where purge_after is not null and purge_after <= $1 order by purge_after for update",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let tables = organisation_tables(&mut tx).await?;
    let triggered = triggered_tables(&mut tx).await?;
    if !dry_run {
        for t in &triggered {
            // Names come from the catalogue, quoted by format('%I').
            sqlx::query(&format!("alter table {t} disable trigger user"))
                .execute(&mut *tx)
                .await?;
        }
    }
    let mut purged = Vec::new();
    for (id, name) in due {
        let mut rows_deleted = Map::new();
        for t in &tables {
            let n: i64 = sqlx::query_scalar(&format!(
                "select count(*) from public.\"{}\" where organization_id = $1",
                t.replace('"', "\"\"")
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if n > 0 {
                rows_deleted.insert(t.clone(), Value::from(n));
            }
        }
        let audit_entries: i64 =
            sqlx::query_scalar("select count(*) from audit.audit_log where organization_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if audit_entries > 0 {
            rows_deleted.insert("audit_log".to_owned(), Value::from(audit_entries));
        }
        if !dry_run {
            let members: Vec<Uuid> =
                sqlx::query_scalar("select user_id from memberships where organization_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query(
                "insert into purged_organizations
                        (id, name, created_at, closure_requested_at, purge_after, purged_at,
                         audit_entries, audit_head_hash, rows_deleted)
                 select o.id, o.name, o.created_at, o.closure_requested_at, o.purge_after, $2, $3,
                        (select h.hash from audit.audit_heads h where h.organization_id = o.id), $4
                   from organizations o where o.id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(audit_entries)
            .bind(Value::Object(rows_deleted.clone()))
            .execute(&mut *tx)
            .await?;
            // Everything the organisation owns references it (directly or through its service
            // users, roles and memberships) with ON DELETE CASCADE.
            sqlx::query("delete from organizations where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let accounts = sqlx::query(
                "delete from users u where u.id = any($1)
                    and not exists (select 1 from memberships m where m.user_id = u.id)",
            )
            .bind(&members)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            rows_deleted.insert("users".into(), Value::from(accounts));
        }
        purged.push(Purged {
            id,
            name,
            rows_deleted,
            audit_entries,
        });
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        for t in &triggered {
            sqlx::query(&format!("alter table {t} enable trigger user"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(purged)
}

/// Destroys the data key of every purged organisation (the tombstones) that still has one;
/// returns how many were destroyed. Idempotent: run after every purge.
pub async fn destroy_purged_keys(
    conn: &mut PgConnection,
    keys: &dyn crate::at_rest::KeyProvider,
) -> anyhow::Result<usize> {
    let purged: Vec<Uuid> = sqlx::query_scalar("select id from purged_organizations")
        .fetch_all(&mut *conn)
        .await?;
    let mut destroyed = 0;
    for org in purged {
        if keys.existing_key(org).is_ok_and(|k| k.is_some()) {
            destroyed += 1;
        }
        keys.destroy(org)?;
    }
    Ok(destroyed)
}
