//! The audit trail: filtered, keyset-paginated reads (audit.view) and chain verification
//! (audit.verify). Entries are written only by the database's triggers.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use sqlx::postgres::PgArguments;
use sqlx::Arguments;
use thrive_domain::audit::{AuditCheckpointReceipt, AuditEntry, AuditVerification};
use thrive_domain::records::Page;
use thrive_domain::Permission;
use time::OffsetDateTime;
use uuid::Uuid;

use super::extract::Caller;
use super::routes::Routes;
use crate::audit_chain;
use crate::error::{ApiError, Result};
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/audit", &[Permission::AuditView], "The audit trail, filtered by staff member, service user, date range, action and tool (keyset pages)", list)
        .get("/audit/verify", &[Permission::AuditVerify], "Recompute the organisation's audit hash chain and check it against the signed checkpoints; report the first entry that no longer matches", verify)
        .get("/audit/checkpoint", &[Permission::AuditVerify], "The organisation's latest signed audit checkpoint (Ed25519), as a receipt to keep", checkpoint)
}

/// The five filters (staff member, service user, date range, action, tool), a cursor (the
/// `seq` of the last entry of the previous page) and a page size.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor_user_id: Option<Uuid>,
    pub service_user_id: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
    pub action: Option<String>,
    pub tool: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    at: String,
    actor_user_id: Option<Uuid>,
    actor_name: Option<String>,
    actor_role: Option<String>,
    tool: String,
    action: String,
    operation: String,
    table_name: String,
    record_id: Option<Uuid>,
    service_user_id: Option<Uuid>,
    changes: serde_json::Value,
}

/// Newest first. Only the filters given are in the SQL (each a bind parameter), so every
/// filtered page is one range scan of the matching (organization_id, column, seq) index.
pub async fn query_entries(
    tx: &mut sqlx::PgConnection,
    q: &AuditQuery,
) -> Result<Page<AuditEntry>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut sql = String::from(
        "select a.seq, to_char(a.at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as at,
                a.actor_user_id,
                -- The name the actor had when the entry was written, read from the trail.
                app.actor_name_at(a.organization_id, a.actor_user_id, a.seq) as actor_name,
                a.actor_role, a.tool, a.action,
                a.operation, a.table_name, a.record_id, a.service_user_id, a.changes
           from audit.audit_log a
          where a.organization_id = app.current_org()",
    );
    let mut args = PgArguments::default();
    let mut n = 0;
    let mut filter = |sql: &mut String, clause: &str| {
        n += 1;
        sql.push_str(&clause.replace('$', &format!("${n}")));
    };
    let bad = |e: sqlx::error::BoxDynError| ApiError::Internal(anyhow::anyhow!("binding: {e}"));
    if let Some(v) = q.actor_user_id {
        filter(&mut sql, " and a.actor_user_id = $");
        args.add(v).map_err(bad)?;
    }
    if let Some(v) = q.service_user_id {
        filter(&mut sql, " and a.service_user_id = $");
        args.add(v).map_err(bad)?;
    }
    // Entries are numbered in time order (appends serialise on the chain head), so a date range
    // is also a seq range: found with two probes of the (organization_id, at) index, it keeps
    // the page a backward scan of the seq-ordered index instead of a filter over every entry.
    if let Some(v) = q.from {
        filter(&mut sql, " and a.at >= $");
        args.add(v).map_err(bad)?;
        filter(
            &mut sql,
            " and a.seq >= coalesce((select s.seq from audit.audit_log s where s.organization_id = app.current_org()
                 and s.at >= $ order by s.at limit 1), 9223372036854775807)",
        );
        args.add(v).map_err(bad)?;
    }
    if let Some(v) = q.to {
        filter(&mut sql, " and a.at < $");
        args.add(v).map_err(bad)?;
        filter(
            &mut sql,
            " and a.seq <= coalesce((select s.seq from audit.audit_log s where s.organization_id = app.current_org()
                 and s.at < $ order by s.at desc limit 1), 0)",
        );
        args.add(v).map_err(bad)?;
    }
    if let Some(v) = &q.action {
        filter(&mut sql, " and a.action = $");
        args.add(v.clone()).map_err(bad)?;
    }
    if let Some(v) = &q.tool {
        filter(&mut sql, " and a.tool = $");
        args.add(v.clone()).map_err(bad)?;
    }
    if let Some(v) = q.before {
        filter(&mut sql, " and a.seq < $");
        args.add(v).map_err(bad)?;
    }
    filter(&mut sql, " order by a.seq desc limit $");
    args.add(limit + 1).map_err(bad)?;
    let rows: Vec<Row> = sqlx::query_as_with(&sql, args).fetch_all(&mut *tx).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEntry {
            seq: r.seq,
            at: r.at,
            actor_user_id: r.actor_user_id,
            actor_name: r.actor_name,
            actor_role: r.actor_role,
            tool: r.tool,
            action: r.action,
            operation: r.operation,
            table_name: r.table_name,
            record_id: r.record_id,
            service_user_id: r.service_user_id,
            changes: r.changes,
        })
        .collect();
    let next = if more {
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>> {
    let mut tx = caller.begin(&state).await?;
    let page = query_entries(&mut tx, &q).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// Recomputes the chain in Rust from the rows the caller may read (under RLS), against the
/// hashes of the signed checkpoints that verify with the trusted key.
async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Json<AuditVerification>> {
    let org = caller.identity.organization_id;
    let anchor = state.audit.clone();
    let checkpoints = tokio::task::spawn_blocking(move || anchor.verified(org))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut tx = caller.begin(&state).await?;
    let v = match checkpoints {
        Ok(cps) => {
            let expected = cps.iter().flat_map(|cp| cp.expected()).collect();
            audit_chain::verify_organisation(&mut tx, org, expected).await?
        }
        // A checkpoint that does not verify is itself a finding, not a server error.
        Err(e) => audit_chain::Verification {
            entries: 0,
            first_broken_seq: None,
            problem: Some(e.to_string()),
        },
    };
    tx.commit().await?;
    Ok(Json(AuditVerification {
        entries: v.entries,
        intact: v.problem.is_none(),
        first_broken_seq: v.first_broken_seq,
        problem: v.problem,
    }))
}

/// The latest signed checkpoint of the caller's organisation: its chain head (entry number and
/// hash), when it was signed, the public key and the signature over `message`. 404 before the
/// first checkpoint or where checkpoints are not configured.
async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AuditCheckpointReceipt>> {
    // The route's permission, checked in the database like every other.
    let tx = caller.begin(&state).await?;
    tx.commit().await?;
    let org = caller.identity.organization_id;
    let Some(store) = state.audit.store.clone() else {
        return Err(ApiError::NotFound);
    };
    let latest = tokio::task::spawn_blocking(move || store.latest(org))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(AuditCheckpointReceipt {
        organization_id: latest.organization_id,
        seq: latest.seq,
        hash: latest.hash.clone(),
        signed_at: latest.signed_at,
        public_key: latest.public_key.clone(),
        signature: latest.signature.clone(),
        message: latest.message(),
    }))
}
