//! Downloads: the organisation's data (CSV zip or XLSX workbook), one service user's record
//! (subject access request), the audit trail as filtered in the viewer, and the inspection
//! report. Each names its own action, and each is audited (in a transaction committed before
//! the first byte is sent) as an `export` entry saying who took what.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thrive_domain::Permission;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::audit::{query_entries, AuditQuery};
use super::extract::Caller;
use super::routes::Routes;
use crate::db;
use crate::error::{ApiError, Result};
use crate::export::{self, Format, Scope};
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/exports/organisation.zip", &[Permission::ExportOrganisationCsv], "Everything the organisation owns as CSV, one file per table, zipped with the photos (streamed, audited)", organisation_csv)
        .get("/exports/organisation.xlsx", &[Permission::ExportOrganisationXlsx], "Everything the organisation owns as one Excel workbook, a sheet per table (streamed, audited)", organisation_xlsx)
        .get("/exports/inspection-report.csv", &[Permission::ExportAuditedReports], "Inspection summary, one line per service user (audited)", inspection_report)
        .get("/service-users/{id}/export.zip", &[Permission::ServiceUsersExport], "One service user's whole record, for a subject access request (streamed, audited)", service_user)
        .get("/audit/export.csv", &[Permission::AuditExport], "The audit trail as filtered in the viewer, as CSV (audited)", audit_csv)
}

/// Audits the export (after the route's action is checked) in its own committed transaction, then opens the
/// read-only snapshot the export streams from.
async fn audited_snapshot(
    state: &AppState,
    caller: &Caller,
    what: &str,
    service_user: Option<Uuid>,
    details: serde_json::Value,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = caller.begin(state).await?;
    if let Some(id) = service_user {
        let visible: Option<Uuid> =
            sqlx::query_scalar("select id from service_users where id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if visible.is_none() {
            return Err(ApiError::NotFound);
        }
    }
    sqlx::query("select app.audit_export($1, $2, $3)")
        .bind(what)
        .bind(service_user)
        .bind(details)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(db::begin_snapshot_as(&state.pool, caller.identity).await?)
}

fn download(body: Body, content_type: &'static str, filename: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

fn today() -> String {
    let d = OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn organisation(state: AppState, caller: Caller, format: Format) -> Result<Response> {
    let what = match format {
        Format::CsvZip => "organisation_csv",
        Format::Xlsx => "organisation_xlsx",
    };
    let tx = audited_snapshot(
        &state,
        &caller,
        what,
        None,
        json!({ "format": format.extension() }),
    )
    .await?;
    let body = export::stream(tx, Scope::Organisation, format, state.keys.clone());
    Ok(download(
        body,
        format.content_type(),
        format!("thrive-organisation-{}.{}", today(), format.extension()),
    ))
}

async fn organisation_csv(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    organisation(state, caller, Format::CsvZip).await
}

async fn organisation_xlsx(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    organisation(state, caller, Format::Xlsx).await
}

async fn service_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let tx = audited_snapshot(
        &state,
        &caller,
        "service_user",
        Some(id),
        json!({ "format": "zip", "purpose": "subject access request" }),
    )
    .await?;
    let body = export::stream(
        tx,
        Scope::ServiceUser(id),
        Format::CsvZip,
        state.keys.clone(),
    );
    Ok(download(
        body,
        Format::CsvZip.content_type(),
        format!("thrive-service-user-{id}-{}.zip", today()),
    ))
}

/// Sends CSV lines from a task; an error part-way ends the body with an error.
fn csv_body<F>(produce: F) -> Body
where
    F: FnOnce(mpsc::Sender<io::Result<Bytes>>) -> futures_util_free::BoxFuture + Send + 'static,
{
    let (out, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    tokio::spawn(produce(out));
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A boxed, sendable future without pulling in a futures crate for one alias.
mod futures_util_free {
    pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// One CSV line, by the same writer as the organisation export (see [`export::csv_line`]).
fn csv_line<'a>(cells: impl IntoIterator<Item = Option<&'a str>>) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    export::csv_line(&mut line, cells)?;
    Ok(line)
}

/// The audit trail as the viewer filters it (the same five filters), newest first, as CSV.
async fn audit_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Response> {
    let details = json!({
        "format": "csv",
        "filters": {
            "actor_user_id": q.actor_user_id, "service_user_id": q.service_user_id,
            "from": q.from.map(|t| t.to_string()), "to": q.to.map(|t| t.to_string()),
            "action": q.action, "tool": q.tool,
        }
    });
    let mut tx = audited_snapshot(&state, &caller, "audit", None, details).await?;
    let body = csv_body(move |out| {
        Box::pin(async move {
            let header = csv_line(
                [
                    "seq",
                    "at",
                    "actor_user_id",
                    "actor_name",
                    "actor_role",
                    "tool",
                    "action",
                    "operation",
                    "table_name",
                    "record_id",
                    "service_user_id",
                    "changes",
                ]
                .map(Some),
            );
            if out.send(header.map(Bytes::from)).await.is_err() {
                return;
            }
            let mut page_query = AuditQuery {
                limit: Some(500),
                ..q
            };
            loop {
                let page = match query_entries(&mut tx, &page_query).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::error!(error = ?e, "audit export failed part-way");
                        let _ = out.send(Err(io::Error::other("export failed"))).await;
                        return;
                    }
                };
                let mut chunk = Vec::new();
                let written = page.items.iter().try_for_each(|e| {
                    let (seq, actor, record, su, changes) = (
                        e.seq.to_string(),
                        e.actor_user_id.map(|u| u.to_string()),
                        e.record_id.map(|u| u.to_string()),
                        e.service_user_id.map(|u| u.to_string()),
                        e.changes.to_string(),
                    );
                    export::csv_line(
                        &mut chunk,
                        [
                            Some(seq.as_str()),
                            Some(e.at.as_str()),
                            actor.as_deref(),
                            e.actor_name.as_deref(),
                            e.actor_role.as_deref(),
                            Some(e.tool.as_str()),
                            Some(e.action.as_str()),
                            Some(e.operation.as_str()),
                            Some(e.table_name.as_str()),
                            record.as_deref(),
                            su.as_deref(),
                            Some(changes.as_str()),
                        ],
                    )
                });
                if out
                    .send(written.map(|()| Bytes::from(chunk)))
                    .await
                    .is_err()
                {
                    return;
                }
                match page.next.and_then(|n| n.parse::<i64>().ok()) {
                    Some(before) => page_query.before = Some(before),
                    None => break,
                }
            }
            let _ = tx.commit().await;
        })
    });
    Ok(download(
        body,
        "text/csv; charset=utf-8",
        format!("thrive-audit-{}.csv", today()),
    ))
}

/// What an inspector asks for first, one line per service user the caller can see: notes
/// awaiting sign-off, incidents open and notifiable, care plan and risk reviews overdue, and
/// the latest NEWS2 score.
async fn inspection_report(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    let mut tx = audited_snapshot(
        &state,
        &caller,
        "report",
        None,
        json!({ "format": "csv", "report": "inspection summary" }),
    )
    .await?;
    let rows: Vec<Vec<Option<String>>> = sqlx::query_scalar(
        "select array[
                s.family_name || ', ' || s.given_name, s.status::text,
                (select count(*) from care_notes n where n.service_user_id = s.id and n.status = 'submitted')::text,
                (select count(*) from care_notes n where n.service_user_id = s.id and n.status = 'signed_off')::text,
                (select count(*) from incidents i where i.service_user_id = s.id and i.status <> 'closed')::text,
                (select count(*) from incidents i where i.service_user_id = s.id and i.notifiable)::text,
                (select count(*) from care_plans p where p.service_user_id = s.id and p.status <> 'archived'
                    and p.review_date < current_date)::text,
                (select count(*) from risk_assessments r where r.service_user_id = s.id and r.status <> 'archived'
                    and r.review_date < current_date)::text,
                (select o.news2::text from observations o where o.service_user_id = s.id and o.news2 is not null
                  order by o.observed_at desc limit 1)
            ]::text[]
           from service_users s order by s.family_name, s.given_name, s.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut csv = csv_line(
        [
            "service_user",
            "status",
            "notes_awaiting_sign_off",
            "notes_signed_off",
            "incidents_open",
            "incidents_notifiable",
            "care_plan_reviews_overdue",
            "risk_reviews_overdue",
            "latest_news2",
        ]
        .map(Some),
    )
    .map_err(|e| ApiError::Internal(e.into()))?;
    for row in &rows {
        export::csv_line(&mut csv, row.iter().map(Option::as_deref))
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    Ok(download(
        Body::from(csv),
        "text/csv; charset=utf-8",
        format!("thrive-inspection-report-{}.csv", today()),
    ))
}
