//! The one mechanism every clinical tool's handlers use: validate, open the caller's
//! transaction (which checks the route's action), then insert / update / read / list / delete a row of the tool's
//! table through PostgreSQL's own JSON ↔ row mapping (`jsonb_populate_record`, `to_jsonb`).
//!
//! Which rows a caller sees is RLS's business (organisation, the tool's view action, patient
//! assignment); which change needs which action is the table's guard trigger's business. The
//! route table names the action too, for a clear 403 before any SQL runs.
//!
//! SQL text here is built only from the `'static` identifiers in [`Table`] and from JSON keys
//! that our own typed structs produced (checked against a strict pattern); every value is a
//! bind parameter.

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;
use thrive_domain::records::Page;
use thrive_domain::validation::Validate;
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::Caller;
use crate::error::{ApiError, Result};
use crate::startup::AppState;

/// A tool's table, as the generic handlers see it.
pub struct Table {
    pub name: &'static str,
    /// The column lists are ordered by, newest first (then `id`).
    pub order_by: &'static str,
    /// Columns a list may be filtered on by equality (`?status=submitted`).
    pub filters: &'static [&'static str],
}

/// List parameters: an optional service user, the table's filters, a keyset cursor (the id of
/// the last row of the previous page) and a page size.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub service_user_id: Option<Uuid>,
    pub before: Option<Uuid>,
    pub limit: Option<i64>,
    #[serde(flatten)]
    pub filters: std::collections::HashMap<String, String>,
}

const MAX_PAGE: i64 = 200;
const DEFAULT_PAGE: i64 = 50;

pub fn validate(input: &impl Validate) -> Result<()> {
    input.validate().map_err(ApiError::Validation)
}

fn object(value: impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(value).map_err(|e| ApiError::Internal(e.into()))? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "record input is not an object"
        ))),
    }
}

fn column_list(fields: &Map<String, Value>) -> Result<String> {
    let mut columns = Vec::with_capacity(fields.len());
    for key in fields.keys() {
        let ok = !key.is_empty()
            && key.len() <= 63
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !key.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "unexpected column name {key:?}"
            )));
        }
        columns.push(format!("\"{key}\""));
    }
    Ok(columns.join(", "))
}

/// A row as PostgreSQL's `to_jsonb` gave it, as the record type. A mismatch is our bug (500).
fn decode<R: DeserializeOwned>(row: Value) -> Result<R> {
    serde_json::from_value(row)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("decoding a row: {e}")))
}

/// Whether the caller can see this service user (RLS decides). Unknown, other organisations'
/// and unassigned service users are all simply not found.
pub async fn service_user_visible(tx: &mut PgConnection, id: Uuid) -> Result<()> {
    let seen: bool =
        sqlx::query_scalar("select exists (select 1 from service_users where id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Inserts `fields` (plus the caller's organisation and the service user) into `table`.
pub async fn insert<R: DeserializeOwned>(
    tx: &mut PgConnection,
    table: &Table,
    service_user_id: Uuid,
    fields: impl Serialize,
) -> Result<R> {
    service_user_visible(tx, service_user_id).await?;
    let mut fields = object(fields)?;
    fields.insert(
        "service_user_id".into(),
        Value::String(service_user_id.to_string()),
    );
    let columns = column_list(&fields)?;
    let sql = format!(
        "insert into {t} (organization_id, {columns})
         select app.current_org(), {columns} from jsonb_populate_record(null::{t}, $1)
         returning to_jsonb({t}.*)",
        t = table.name
    );
    let row: Value = sqlx::query_scalar(&sql)
        .bind(Json(Value::Object(fields)))
        .fetch_one(&mut *tx)
        .await?;
    decode(row)
}

/// Sets `fields` on the row `id`. Not visible → 404.
pub async fn update<R: DeserializeOwned>(
    tx: &mut PgConnection,
    table: &Table,
    id: Uuid,
    fields: impl Serialize,
) -> Result<R> {
    let fields = object(fields)?;
    let columns = column_list(&fields)?;
    let sql = format!(
        "update {t} set ({columns}) = (select {columns} from jsonb_populate_record(null::{t}, $1))
         where id = $2
         returning to_jsonb({t}.*)",
        t = table.name
    );
    let row: Option<Value> = sqlx::query_scalar(&sql)
        .bind(Json(Value::Object(fields)))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    decode(row.ok_or(ApiError::NotFound)?)
}

pub async fn fetch<R: DeserializeOwned>(
    tx: &mut PgConnection,
    table: &Table,
    id: Uuid,
) -> Result<R> {
    let sql = format!("select to_jsonb(t.*) from {} t where t.id = $1", table.name);
    let row: Option<Value> = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    decode(row.ok_or(ApiError::NotFound)?)
}

pub async fn delete(tx: &mut PgConnection, table: &Table, id: Uuid) -> Result<()> {
    let sql = format!("delete from {} where id = $1", table.name);
    let done = sqlx::query(&sql).bind(id).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// One page, newest first, keyset-paginated on (`order_by`, `id`).
pub async fn list<R: DeserializeOwned>(
    tx: &mut PgConnection,
    table: &Table,
    query: &ListQuery,
) -> Result<Page<R>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut sql = format!(
        "select to_jsonb(t.*), t.id from {} t where true",
        table.name
    );
    let mut binds: Vec<String> = Vec::new();
    for (key, value) in &query.filters {
        let Some(column) = table.filters.iter().find(|c| **c == key.as_str()) else {
            return Err(ApiError::BadRequest(format!(
                "Unknown filter. Lists of this kind filter on: {}.",
                table.filters.join(", ")
            )));
        };
        binds.push(value.clone());
        sql.push_str(&format!(" and t.{column}::text = ${}", binds.len()));
    }
    // Conditions only for what was asked: a generic plan of "($1 is null or column = $1)"
    // cannot use the (organisation, service user, time) index and sorts the whole
    // organisation's rows for every page.
    let mut next = binds.len();
    if query.service_user_id.is_some() {
        next += 1;
        sql.push_str(&format!(" and t.service_user_id = ${next}::uuid"));
    }
    if query.before.is_some() {
        next += 1;
        sql.push_str(&format!(
            " and (t.{o}, t.id) < (select c.{o}, c.id from {t} c where c.id = ${next}::uuid)",
            o = table.order_by,
            t = table.name,
        ));
    }
    next += 1;
    sql.push_str(&format!(
        " order by t.{o} desc, t.id desc limit ${next}",
        o = table.order_by,
    ));
    let mut q = sqlx::query_as::<_, (Value, Uuid)>(&sql);
    for value in binds {
        q = q.bind(value);
    }
    if let Some(service_user) = query.service_user_id {
        q = q.bind(service_user);
    }
    if let Some(before) = query.before {
        q = q.bind(before);
    }
    let rows = q.bind(limit + 1).fetch_all(&mut *tx).await?;
    let more = rows.len() as i64 > limit;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = None;
    for (row, id) in rows.into_iter().take(limit as usize) {
        items.push(decode(row)?);
        last = Some(id);
    }
    Ok(Page {
        items,
        next: if more {
            last.map(|id| id.to_string())
        } else {
            None
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Whole handlers: begin as the caller (which checks the route's action), do one thing, commit.

pub async fn index<R: DeserializeOwned + Serialize>(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    query: &ListQuery,
) -> Result<axum::Json<Page<R>>> {
    let mut tx = caller.begin(state).await?;
    let page = list(&mut tx, table, query).await?;
    let touched: Vec<Uuid> = page.items.iter().filter_map(service_user_of).collect();
    let detail = serde_json::json!({
        "service_user_id": query.service_user_id,
        "before": query.before,
        "limit": query.limit,
        "filters": query.filters,
        "rows": page.items.len(),
    });
    audit_read(
        &mut tx,
        caller.action()?,
        table.name,
        &touched,
        None,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(page))
}

/// The `service_user_id` of a record, as it serialises.
fn service_user_of<R: Serialize>(row: &R) -> Option<Uuid> {
    serde_json::to_value(row)
        .ok()?
        .get("service_user_id")?
        .as_str()?
        .parse()
        .ok()
}

/// The read audit (issue 10, finding 4): one entry per request that read clinical data, naming
/// the view `action` (its tool), the table, the record (when one) and the service users it
/// touched; the same read by the same person within five minutes is collapsed into the first
/// entry (`app.audit_read`). Every read path calls this, in the request's own transaction, so
/// a read that is answered is a read that is recorded.
pub async fn audit_read(
    tx: &mut PgConnection,
    action: Permission,
    table: &str,
    service_users: &[Uuid],
    record: Option<Uuid>,
    detail: Value,
) -> Result<()> {
    sqlx::query("select app.audit_read($1, $2, $3, $4, $5)")
        .bind(action.key())
        .bind(table)
        .bind(service_users)
        .bind(record)
        .bind(Json(detail))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn show<R: DeserializeOwned + Serialize>(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    id: Uuid,
) -> Result<axum::Json<R>> {
    let mut tx = caller.begin(state).await?;
    let row: R = fetch(&mut tx, table, id).await?;
    let touched: Vec<Uuid> = service_user_of(&row).into_iter().collect();
    audit_read(
        &mut tx,
        caller.action()?,
        table.name,
        &touched,
        Some(id),
        Value::Null,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(row))
}

pub async fn create_in<R: DeserializeOwned + Serialize>(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    service_user_id: Uuid,
    fields: impl Serialize,
) -> Result<(StatusCode, axum::Json<R>)> {
    let mut tx = caller.begin(state).await?;
    let row = insert(&mut tx, table, service_user_id, fields).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(row)))
}

pub async fn change<R: DeserializeOwned + Serialize>(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    id: Uuid,
    fields: impl Serialize,
) -> Result<axum::Json<R>> {
    let mut tx = caller.begin(state).await?;
    let row = update(&mut tx, table, id, fields).await?;
    tx.commit().await?;
    Ok(axum::Json(row))
}

/// Amends a signed-off record: inserts a new draft version copying `copied` (static column
/// names) from record `id`, naming it and the reason. The guard trigger checks that `id` is
/// signed off and the reason given, numbers the version and, for a care plan, copies its
/// sections; signing the amendment off archives the version it amends.
pub async fn amend<R: DeserializeOwned + Serialize>(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    id: Uuid,
    reason: &str,
    copied: &'static str,
) -> Result<(StatusCode, axum::Json<R>)> {
    let mut tx = caller.begin(state).await?;
    let sql = format!(
        "insert into {t} (organization_id, service_user_id, {copied}, amends_id, amendment_reason)
         select o.organization_id, o.service_user_id, {copied_o}, o.id, $2 from {t} o where o.id = $1
         returning to_jsonb({t}.*)",
        t = table.name,
        copied_o = copied
            .split(',')
            .map(|c| format!("o.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let row: Option<Value> = sqlx::query_scalar(&sql)
        .bind(id)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
    let row = decode(row.ok_or(ApiError::NotFound)?)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(row)))
}

pub async fn remove(
    state: &AppState,
    caller: &Caller,
    table: &Table,
    id: Uuid,
) -> Result<StatusCode> {
    let mut tx = caller.begin(state).await?;
    delete(&mut tx, table, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
