//! Care notes: draft → submitted → signed off (or returned with a comment); amendments of a
//! signed note are new versions. The lifecycle is enforced by the table's guard trigger; these
//! handlers name the action and shape the change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use thrive_domain::records::{AmendNote, CareNote, CareNoteInput, Page, ReturnNote};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::{self, validate, ListQuery, Table};
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub const TABLE: Table = Table {
    name: "care_notes",
    order_by: "occurred_at",
    filters: &["status", "category", "author_id"],
};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/care-notes",
            &[Permission::CareNotesView],
            "List care notes (filtered, keyset pages)",
            list,
        )
        .post(
            "/service-users/{id}/care-notes",
            &[Permission::CareNotesCreate],
            "Create a care note for a service user",
            create,
        )
        .get(
            "/care-notes/{id}",
            &[Permission::CareNotesView],
            "Read one care note",
            show,
        )
        .put(
            "/care-notes/{id}",
            &[Permission::CareNotesUpdateDraft],
            "Edit a care note",
            edit,
        )
        .delete(
            "/care-notes/{id}",
            &[Permission::CareNotesDeleteDraft],
            "Delete a care note",
            remove,
        )
        .post(
            "/care-notes/{id}/submit",
            &[Permission::CareNotesSubmit],
            "Submit a care note for sign-off",
            submit,
        )
        .post(
            "/care-notes/{id}/sign-off",
            &[Permission::CareNotesSignOff],
            "Sign off a care note",
            sign_off,
        )
        .post(
            "/care-notes/{id}/return",
            &[Permission::CareNotesReturn],
            "Return a submitted note to its author with a comment",
            return_note,
        )
        .post(
            "/care-notes/{id}/amend",
            &[Permission::CareNotesAmend],
            "A new version of a signed-off note, submitted for sign-off",
            amend,
        )
}

type One = Result<Json<CareNote>>;

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<CareNote>>> {
    records::index(&s, &c, &TABLE, &q).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(service_user): Path<Uuid>,
    AppJson(input): AppJson<CareNoteInput>,
) -> Result<(StatusCode, Json<CareNote>)> {
    validate(&input)?;
    records::create_in(&s, &c, &TABLE, service_user, &input).await
}

async fn show(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::show(&s, &c, &TABLE, id).await
}

async fn edit(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<CareNoteInput>,
) -> One {
    validate(&input)?;
    records::change(&s, &c, &TABLE, id, &input).await
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> Result<StatusCode> {
    records::remove(&s, &c, &TABLE, id).await
}

async fn submit(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::change(&s, &c, &TABLE, id, json!({"status": "submitted"})).await
}

async fn sign_off(State(s): State<AppState>, c: Caller, Path(id): Path<Uuid>) -> One {
    records::change(&s, &c, &TABLE, id, json!({"status": "signed_off"})).await
}

async fn return_note(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<ReturnNote>,
) -> One {
    validate(&input)?;
    let fields = json!({"status": "returned", "review_comment": input.review_comment});
    records::change(&s, &c, &TABLE, id, fields).await
}

/// A new version of a signed-off note, submitted for sign-off; the signed note stays as it was.
async fn amend(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<AmendNote>,
) -> Result<(StatusCode, Json<CareNote>)> {
    validate(&input)?;
    let mut tx = c.begin(&s).await?;
    let original: CareNote = records::fetch(&mut tx, &TABLE, id).await?;
    let mut fields = json!(input);
    fields["amends_id"] = json!(original.id);
    let note = records::insert(&mut tx, &TABLE, original.service_user_id, fields).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(note)))
}
