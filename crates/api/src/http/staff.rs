//! Inviting staff (staff.invite), editing a colleague's details (staff.update), and accepting an
//! invitation. Thrive sends no email: the manager hands the one-time link to the invitee, who
//! opens it and sets a password for a new account, or, already having an account, signs in as
//! usual and accepts with that session: no password of an existing account ever travels to the
//! acceptance routes, so they are no password oracle. The token is 256 random bits stored as its
//! SHA-256 only, valid for 7 days, used once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use thrive_domain::audit::{
    AcceptInvitation, AcceptInvitationSignedIn, Invitation, InvitationCreated, InvitationInfo,
    InviteStaff, UpdateStaff,
};
use thrive_domain::auth::normalise_email;
use thrive_domain::Permission;
use uuid::Uuid;

use super::auth::random_secret;
use super::extract::{secret_hash, AppJson, Caller, SessionToken};
use super::records::validate;
use super::routes::Routes;
use crate::error::{ApiError, Result, ResultExt};
use crate::limits::ClientAddr;
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
        .get(
            "/staff/locks",
            &[Permission::StaffView],
            "Members whose sign-in is locked after failed attempts, and until when",
            locks,
        )
        .delete(
            "/staff/{user_id}/lock",
            &[Permission::StaffReactivate],
            "Lift a member's sign-in lock (their failed attempts are forgiven)",
            lift_lock,
        )
        .put(
            "/staff/{user_id}",
            &[Permission::StaffUpdate],
            "Edit a colleague's display name",
            update,
        )
        .post(
            "/auth/invitation",
            &[],
            "What a usable invitation token is for: organisation, role and invitee",
            info,
        )
        .public()
        .post(
            "/auth/accept-invitation",
            &[],
            "Accept a staff invitation with its one-time token and a new account's password (an existing account signs in and accepts with its session)",
            accept,
        )
        .public()
        .post(
            "/auth/accept-invitation/signed-in",
            &[],
            "Accept a staff invitation addressed to the signed-in person",
            accept_signed_in,
        )
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
    let mut tx = caller.begin(&state).await?;
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
    let mut tx = caller.begin(&state).await?;
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
    let row = inserted
        .on_constraint("staff_invitations_organization_id_role_id_fkey", || {
            ApiError::field("role_id", "No such role in this organisation.")
        })
        .on_constraint("staff_invitations_pending_key", || {
            ApiError::field(
                "email",
                "There is already a pending invitation for this email: revoke it to invite again.",
            )
        })?;
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
    let mut tx = caller.begin(&state).await?;
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
    let mut tx = caller.begin(&state).await?;
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

/// A member's sign-in lock as administrators see it.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct MemberLock {
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub locked_until: time::OffsetDateTime,
    pub reason: String,
    /// Locked from everywhere, not only from the address that failed.
    pub whole_account: bool,
}

async fn locks(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<MemberLock>>> {
    let mut tx = caller.begin(&state).await?;
    let rows: Vec<MemberLock> = sqlx::query_as(
        "select user_id, locked_until, reason, whole_account from app.member_locks()",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

async fn lift_lock(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    let found: bool = sqlx::query_scalar("select app.lift_member_lock($1)")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    if !found {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    tracing::info!(%user_id, "sign-in lock lifted");
    Ok(StatusCode::NO_CONTENT)
}

fn invitation_gone() -> ApiError {
    ApiError::Refused("This invitation is not valid any more.".into())
}

/// A token's invitation, for the acceptance page. 409 for a token that cannot be used.
async fn info(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(input): AppJson<AcceptInvitationSignedIn>,
) -> Result<Json<InvitationInfo>> {
    state.guards.admit(address)?;
    let row: (Option<String>, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "select organization_name, role_name, email, display_name from auth.invitation_info($1, $2)",
    )
    .bind(secret_hash(&input.token))
    .bind(state.clock.now())
    .fetch_one(&state.auth_pool)
    .await?;
    match row {
        (Some(organization_name), Some(role_name), Some(email), Some(display_name)) => {
            Ok(Json(InvitationInfo {
                organization_name,
                role_name,
                email,
                display_name,
            }))
        }
        _ => Err(invitation_gone()),
    }
}

/// Accepting with a password, which is only ever a NEW account's password: it must pass the
/// policy and is hashed (on the bounded pool) for every request alike; the database creates the
/// account and membership when the email has no account, and for an email that has one changes
/// nothing and verifies nothing, giving the same answer. Either way the token's password use is
/// spent. An existing account joins through [`accept_signed_in`].
async fn accept(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    AppJson(input): AppJson<AcceptInvitation>,
) -> Result<StatusCode> {
    state.guards.admit(address)?;
    let password = SecretString::from(input.password);
    if let Some(first) = passwords::check_policy(&password).first() {
        return Err(ApiError::field("password", first.to_string()));
    }
    let hashed = state
        .guards
        .hashing
        .run(move || passwords::hash(&password))
        .await?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
    let usable: bool = sqlx::query_scalar("select auth.accept_invitation($1, $2, $3)")
        .bind(secret_hash(&input.token))
        .bind(hashed)
        .bind(state.clock.now())
        .fetch_one(&state.auth_pool)
        .await?;
    if !usable {
        return Err(invitation_gone());
    }
    tracing::info!("invitation's password use spent");
    Ok(StatusCode::NO_CONTENT)
}

/// Accepting as the signed-in person the invitation is addressed to: their session (checked in
/// the database, with the email) is the proof, so no password travels here.
async fn accept_signed_in(
    State(state): State<AppState>,
    SessionToken(session): SessionToken,
    AppJson(input): AppJson<AcceptInvitationSignedIn>,
) -> Result<StatusCode> {
    let joined: bool =
        sqlx::query_scalar("select auth.accept_invitation_with_session($1, $2, $3, $4)")
            .bind(secret_hash(&input.token))
            .bind(session)
            .bind(state.clock.now())
            .bind(state.auth.idle_timeout)
            .fetch_one(&state.auth_pool)
            .await?;
    if !joined {
        return Err(invitation_gone());
    }
    tracing::info!("invitation accepted with a session");
    Ok(StatusCode::NO_CONTENT)
}
