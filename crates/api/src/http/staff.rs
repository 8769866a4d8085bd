//! Inviting staff (staff.invite), editing a colleague's details (staff.update), and accepting an
//! invitation. Thrive sends no email: the manager hands the one-time link to the invitee, who
//! opens it and sets a password (or, already having an account, confirms theirs). The token is
//! 256 random bits stored as its SHA-256 only, valid for 7 days, used once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use thrive_domain::audit::{
    AcceptInvitation, Invitation, InvitationCreated, InviteStaff, UpdateStaff,
};
use thrive_domain::auth::normalise_email;
use thrive_domain::password::MAX_LENGTH;
use thrive_domain::Permission;
use uuid::Uuid;

use super::auth::random_secret;
use super::extract::{secret_hash, AppJson, Caller};
use super::records::validate;
use super::routes::Routes;
use crate::error::{ApiError, Result};
use crate::passwords;
use crate::startup::AppState;

/// How long an invitation stays valid.
pub const INVITATION_DAYS: i64 = 7;

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/staff/invitations",
            &[Permission::StaffView],
            "Invitations, newest first (tokens never shown)",
            list,
        )
        .post(
            "/staff/invitations",
            &[Permission::StaffInvite],
            "Invite a member of staff into a role: returns the one-time token once",
            invite,
        )
        .delete(
            "/staff/invitations/{id}",
            &[Permission::StaffInvite],
            "Revoke a pending invitation",
            revoke,
        )
        .put(
            "/staff/{user_id}",
            &[Permission::StaffUpdate],
            "Edit a colleague's display name",
            update,
        )
        .post(
            "/auth/accept-invitation",
            &[],
            "Accept a staff invitation with its one-time token and a password",
            accept,
        )
        .public()
}

const COLUMNS: &str = "i.id, i.email, i.display_name, i.role_id, r.name as role_name,
    to_char(i.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as created_at,
    to_char(i.expires_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as expires_at,
    to_char(i.accepted_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as accepted_at,
    to_char(i.revoked_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as revoked_at";

type Row = (
    Uuid,
    String,
    String,
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn invitation(r: Row) -> Invitation {
    Invitation {
        id: r.0,
        email: r.1,
        display_name: r.2,
        role_id: r.3,
        role_name: r.4,
        created_at: r.5,
        expires_at: r.6,
        accepted_at: r.7,
        revoked_at: r.8,
    }
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Invitation>>> {
    let mut tx = caller.begin_for(&state, Permission::StaffView).await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from staff_invitations i join roles r on r.id = i.role_id
          order by i.created_at desc, i.id limit 200"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(invitation).collect()))
}

async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<InviteStaff>,
) -> Result<(StatusCode, Json<InvitationCreated>)> {
    validate(&input)?;
    let email = normalise_email(&input.email)
        .ok_or_else(|| ApiError::field("email", "Enter an email address like name@example.org."))?;
    let mut tx = caller.begin_for(&state, Permission::StaffInvite).await?;
    let already: bool = sqlx::query_scalar(
        "select exists (select 1 from memberships m join users u on u.id = m.user_id
                         where u.email = $1 and m.organization_id = app.current_org())",
    )
    .bind(&email)
    .fetch_one(&mut *tx)
    .await?;
    if already {
        return Err(ApiError::field(
            "email",
            "This person is already a member of staff here.",
        ));
    }
    let token = random_secret();
    let inserted: std::result::Result<Row, sqlx::Error> = sqlx::query_as(&format!(
        "with i as (
            insert into staff_invitations (organization_id, email, display_name, role_id, token_hash, expires_at)
            values (app.current_org(), $1, $2, $3, $4, now() + make_interval(days => $5))
            returning id, email, display_name, role_id, created_at, expires_at, accepted_at, revoked_at)
         select {COLUMNS} from i join roles r on r.id = i.role_id"
    ))
    .bind(&email)
    .bind(input.display_name.trim())
    .bind(input.role_id)
    .bind(secret_hash(&token))
    .bind(INVITATION_DAYS as i32)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            return Err(ApiError::field(
                "role_id",
                "No such role in this organisation.",
            ))
        }
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(ApiError::field(
                "email",
                "There is already a pending invitation for this email: revoke it to invite again.",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            invitation: invitation(row),
            token,
        }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = caller.begin_for(&state, Permission::StaffInvite).await?;
    let done = sqlx::query("update staff_invitations set revoked_at = now() where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
    AppJson(input): AppJson<UpdateStaff>,
) -> Result<StatusCode> {
    validate(&input)?;
    let mut tx = caller.begin_for(&state, Permission::StaffUpdate).await?;
    let found: bool = sqlx::query_scalar("select app.update_staff_member($1, $2)")
        .bind(user_id)
        .bind(input.display_name.trim())
        .fetch_one(&mut *tx)
        .await?;
    if !found {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepting: for a new account the password must pass the policy; for an existing account it
/// must be that account's password. An unknown, expired, used or revoked token gets one answer.
async fn accept(
    State(state): State<AppState>,
    AppJson(input): AppJson<AcceptInvitation>,
) -> Result<StatusCode> {
    let now = state.clock.now();
    let token_hash = secret_hash(&input.token);
    let account: (Option<String>, Option<Uuid>) =
        sqlx::query_as("select email, existing_user from auth.invitation_account($1, $2)")
            .bind(&token_hash)
            .bind(now)
            .fetch_one(&state.pool)
            .await?;
    let account = account.0.map(|email| (email, account.1));
    let Some((email, existing)) = account else {
        return Err(ApiError::Refused(
            "This invitation is not valid any more.".into(),
        ));
    };
    let password = SecretString::from(input.password);
    let password_hash = match existing {
        None => {
            let problems = passwords::check_policy(&password);
            if let Some(first) = problems.first() {
                return Err(ApiError::field("password", first.to_string()));
            }
            let hashed = tokio::task::spawn_blocking(move || passwords::hash(&password))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
            Some(hashed)
        }
        Some(_) => {
            let stored: Option<String> =
                sqlx::query_scalar("select password_hash from auth.begin_login($1, $2)")
                    .bind(&email)
                    .bind(now)
                    .fetch_optional(&state.pool)
                    .await?
                    .flatten();
            let ok = tokio::task::spawn_blocking(move || {
                password.expose_secret().len() <= MAX_LENGTH
                    && passwords::verify(&password, stored.as_deref())
            })
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
            if !ok {
                tracing::info!("invitation refused: wrong password for the existing account");
                return Err(ApiError::InvalidCredentials);
            }
            None
        }
    };
    let mut tx = state.pool.begin().await?;
    let (user_id, organization_id): (Uuid, Uuid) =
        sqlx::query_as("select user_id, organization_id from auth.accept_invitation($1, $2, $3)")
            .bind(&token_hash)
            .bind(password_hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    tracing::info!(%user_id, %organization_id, "invitation accepted");
    Ok(StatusCode::NO_CONTENT)
}
