//! Uploads: body map evidence photos and the organisation logo. Bytes are checked and cleaned
//! by [`crate::images`], encrypted with the organisation's data key ([`crate::at_rest`]) and
//! stored in PostgreSQL under RLS; they are served only through these authenticated routes, by
//! the file's random id, never cached by shared caches.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::Caller;
use super::records;
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::images::{self, ImageProblem};
use crate::startup::AppState;

/// Upload routes get their own body limit (the API's JSON routes keep a small one).
pub const UPLOAD_BODY_LIMIT: usize = images::MAX_BYTES + 64 * 1024;

/// Routes taking uploaded bytes, mounted with [`UPLOAD_BODY_LIMIT`].
pub fn upload_routes() -> Routes {
    Routes::new()
        .post("/body-map-marks/{id}/photos", &[Permission::BodyMapPhotosUpload], "Upload an evidence photo for a body map mark (JPEG, PNG or WebP up to 10 MB; EXIF stripped)", upload_photo)
        .bytes()
        .put("/organisation/logo", &[Permission::OrganisationUploadLogo], "Replace the organisation's logo (JPEG, PNG or WebP; metadata stripped)", upload_logo)
        .bytes()
        .put(
            "/service-users/{id}/photo",
            &[Permission::ServiceUsersUpdate],
            "Replace a service user's profile photo (JPEG, PNG or WebP; metadata stripped)",
            upload_profile_photo,
        )
        .bytes()
}

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/service-users/{id}/photo",
            &[Permission::ServiceUsersView],
            "A service user's profile photo",
            profile_photo,
        )
        .get(
            "/body-map-marks/{id}/photos",
            &[Permission::BodyMapPhotosView],
            "List a body map mark's photos",
            list_photos,
        )
        .get(
            "/files/{id}",
            &[Permission::BodyMapPhotosView, Permission::ServiceUsersView],
            "A stored file's bytes",
            download,
        )
        .by_data()
        .delete(
            "/files/{id}",
            &[
                Permission::BodyMapPhotosDelete,
                Permission::ServiceUsersUpdate,
                Permission::OrganisationUploadLogo,
            ],
            "Delete a stored file",
            remove,
        )
        .by_data()
        .get("/organisation/logo", &[], "The organisation's logo", logo)
}

/// What the API says about a stored file.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredFile {
    pub id: Uuid,
    pub purpose: String,
    pub content_type: String,
    pub size: i32,
    pub width: i32,
    pub height: i32,
}

fn refused(problem: ImageProblem) -> ApiError {
    match problem {
        ImageProblem::TooLarge => ApiError::TooLarge(problem.to_string()),
        other => ApiError::field("file", other.to_string()),
    }
}

const META: &str = "id, purpose, content_type, size, width, height";

/// Checks and cleans uploaded bytes on the bounded image pool (429 when it is full), holding
/// no database connection or lock meanwhile: a decompression bomb costs one worker, never the
/// async runtime or the audit chain's lock.
async fn clean(state: &AppState, body: Bytes) -> Result<images::CleanImage> {
    state
        .guards
        .images
        .run(move || images::clean(&body))
        .await?
        .map_err(refused)
}

/// Stores a cleaned image for the caller's organisation, sealed under its data key (the id is
/// chosen here: it is part of what the ciphertext is bound to).
async fn store(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    caller: &Caller,
    purpose: &str,
    service_user: Option<Uuid>,
    mark: Option<Uuid>,
    clean: images::CleanImage,
) -> Result<StoredFile> {
    let sha = Sha256::digest(&clean.bytes).to_vec();
    let org = caller.identity.organization_id;
    let id = Uuid::new_v4();
    let size = clean.bytes.len();
    let keys = state.keys.clone();
    let plaintext = clean.bytes;
    // The key is read (or made) from its store: blocking I/O, off the request's thread.
    let (nonce, sealed) =
        tokio::task::spawn_blocking(move || keys.data_key(org)?.seal(org, id, &plaintext))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
    let file: StoredFile = sqlx::query_as(&format!(
        "insert into files (id, organization_id, purpose, service_user_id, body_map_mark_id, content_type, size, sha256, width, height, content, content_nonce)
         values ($10, app.current_org(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $11) returning {META}"
    ))
    .bind(purpose)
    .bind(service_user)
    .bind(mark)
    .bind(clean.content_type)
    .bind(size as i32)
    .bind(sha)
    .bind(clean.width as i32)
    .bind(clean.height as i32)
    .bind(&sealed)
    .bind(id)
    .bind(&nonce)
    .fetch_one(&mut *tx)
    .await?;
    Ok(file)
}

async fn upload_photo(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark): Path<Uuid>,
    body: Bytes,
) -> Result<(StatusCode, Json<StoredFile>)> {
    // Allowed and visible first (no decoding for those who may not upload), then the bytes
    // are cleaned outside any transaction, then stored.
    let mut tx = caller.begin(&state).await?;
    records::fetch::<thrive_domain::records::BodyMapMark>(&mut tx, &super::body_maps::TABLE, mark)
        .await?;
    tx.commit().await?;
    let image = clean(&state, body).await?;
    let mut tx = caller.begin(&state).await?;
    let mark_row: thrive_domain::records::BodyMapMark =
        records::fetch(&mut tx, &super::body_maps::TABLE, mark).await?;
    let file = store(
        &mut tx,
        &state,
        &caller,
        "body_map_photo",
        Some(mark_row.service_user_id),
        Some(mark),
        image,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(file)))
}

async fn list_photos(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark): Path<Uuid>,
) -> Result<Json<Vec<StoredFile>>> {
    let mut tx = caller.begin(&state).await?;
    let files: Vec<StoredFile> = sqlx::query_as(&format!(
        "select {META} from files where body_map_mark_id = $1 order by created_at, id"
    ))
    .bind(mark)
    .fetch_all(&mut *tx)
    .await?;
    let touched: Vec<Uuid> =
        sqlx::query_scalar("select service_user_id from body_map_marks where id = $1")
            .bind(mark)
            .fetch_all(&mut *tx)
            .await?;
    records::audit_read(
        &mut tx,
        caller.action()?,
        "files",
        &touched,
        Some(mark),
        serde_json::json!({"body_map_mark_id": mark}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(files))
}

fn image_response(content_type: String, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    response
}

/// A stored file's bytes. Photos need photos_view and the service user's visibility (RLS).
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let mut tx = caller.begin(&state).await?;
    let row: Option<StoredBytes> =
        sqlx::query_as(&format!("select {BYTES} from files where id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let viewed = match row.purpose.as_str() {
        "body_map_photo" => Some(Permission::BodyMapPhotosView),
        "service_user_photo" => Some(Permission::ServiceUsersView),
        _ => None,
    };
    if let Some(action) = viewed {
        caller.require(&mut tx, action).await?;
        let touched: Vec<Uuid> = row.service_user_id.into_iter().collect();
        records::audit_read(
            &mut tx,
            action,
            "files",
            &touched,
            Some(id),
            serde_json::Value::Null,
        )
        .await?;
    }
    tx.commit().await?;
    opened(&state, row).await
}

/// The columns of [`StoredBytes`].
const BYTES: &str =
    "purpose, content_type, organization_id, id, service_user_id, content, content_nonce";

/// A stored file's bytes as the table holds them: sealed, or plaintext from before encryption
/// at rest (no nonce; `thrive-api provision` seals those).
#[derive(sqlx::FromRow)]
struct StoredBytes {
    purpose: String,
    content_type: String,
    organization_id: Uuid,
    id: Uuid,
    service_user_id: Option<Uuid>,
    content: Vec<u8>,
    content_nonce: Option<Vec<u8>>,
}

/// The image response for a stored file, opened with its organisation's data key.
async fn opened(state: &AppState, row: StoredBytes) -> Result<Response> {
    let StoredBytes {
        content_type,
        organization_id: org,
        id,
        content,
        content_nonce,
        ..
    } = row;
    let bytes = match content_nonce {
        None => content,
        Some(nonce) => {
            let keys = state.keys.clone();
            tokio::task::spawn_blocking(move || {
                crate::at_rest::open_file(keys.as_ref(), org, id, &nonce, &content)
            })
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?
        }
    };
    Ok(image_response(content_type, bytes))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    let purpose: String = sqlx::query_scalar("select purpose from files where id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::NotFound)?;
    let action = match purpose.as_str() {
        "body_map_photo" => Permission::BodyMapPhotosDelete,
        "service_user_photo" => Permission::ServiceUsersUpdate,
        _ => Permission::OrganisationUploadLogo,
    };
    caller.require(&mut tx, action).await?;
    sqlx::query("delete from files where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the organisation's logo.
async fn upload_logo(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<StoredFile>)> {
    // The old logo's removal is audited, which takes the audit chain's lock: the image is
    // checked and cleaned before that, outside any transaction.
    caller.begin(&state).await?.commit().await?;
    let image = clean(&state, body).await?;
    let mut tx = caller.begin(&state).await?;
    sqlx::query("delete from files where purpose = 'organisation_logo'")
        .execute(&mut *tx)
        .await?;
    let file = store(
        &mut tx,
        &state,
        &caller,
        "organisation_logo",
        None,
        None,
        image,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// The logo: every member sees it (the app shows it in its header).
async fn logo(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    let mut tx = caller.begin(&state).await?;
    let row: Option<StoredBytes> = sqlx::query_as(&format!(
        "select {BYTES} from files
          where purpose = 'organisation_logo' order by created_at desc limit 1"
    ))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    opened(&state, row.ok_or(ApiError::NotFound)?).await
}

/// Replaces a service user's profile photo.
async fn upload_profile_photo(
    State(state): State<AppState>,
    caller: Caller,
    Path(service_user): Path<Uuid>,
    body: Bytes,
) -> Result<(StatusCode, Json<StoredFile>)> {
    let visible = |mut tx: sqlx::Transaction<'static, sqlx::Postgres>| async move {
        let found: Option<Uuid> = sqlx::query_scalar("select id from service_users where id = $1")
            .bind(service_user)
            .fetch_optional(&mut *tx)
            .await?;
        found.map(|_| tx).ok_or(ApiError::NotFound)
    };
    visible(caller.begin(&state).await?).await?.commit().await?;
    let image = clean(&state, body).await?;
    let mut tx = visible(caller.begin(&state).await?).await?;
    sqlx::query("delete from files where purpose = 'service_user_photo' and service_user_id = $1")
        .bind(service_user)
        .execute(&mut *tx)
        .await?;
    let file = store(
        &mut tx,
        &state,
        &caller,
        "service_user_photo",
        Some(service_user),
        None,
        image,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// A service user's profile photo: seen by whoever may see the service user (RLS).
async fn profile_photo(
    State(state): State<AppState>,
    caller: Caller,
    Path(service_user): Path<Uuid>,
) -> Result<Response> {
    let mut tx = caller.begin(&state).await?;
    let row: Option<StoredBytes> = sqlx::query_as(&format!(
        "select {BYTES} from files
          where purpose = 'service_user_photo' and service_user_id = $1"
    ))
    .bind(service_user)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    records::audit_read(
        &mut tx,
        caller.action()?,
        "files",
        &[service_user],
        None,
        serde_json::json!({"profile_photo": service_user}),
    )
    .await?;
    tx.commit().await?;
    opened(&state, row).await
}
