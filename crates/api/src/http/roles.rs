//! The Organisation Ladder: roles with an explicit allow/deny per action, and which role each
//! member of staff holds. Guards live in the database (0006_ladder.sql): the last member able
//! to manage roles keeps that ability; a role someone holds cannot be removed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::BTreeMap;
use thrive_domain::audit::{MoveToRole, Role, RoleInput, SetPermissions, StaffMember};
use thrive_domain::Permission;
use uuid::Uuid;

use super::extract::{AppJson, Caller};
use super::records::validate;
use super::routes::Routes;
use crate::error::{ApiError, Result, ResultExt};
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/roles",
            &[Permission::RolesView],
            "Roles with their allow/deny for every action",
            list,
        )
        .post(
            "/roles",
            &[Permission::RolesCreate],
            "A new role starts with every action explicitly denied",
            create,
        )
        .put(
            "/roles/{id}",
            &[Permission::RolesUpdate],
            "Rename a role",
            rename,
        )
        .delete(
            "/roles/{id}",
            &[Permission::RolesDelete],
            "Removing a role someone holds (active or not) is refused",
            remove,
        )
        .put(
            "/roles/{id}/permissions",
            &[Permission::RolesSetPermissions],
            "Set a role's allow/deny for actions",
            set_permissions,
        )
        .put(
            "/roles/{id}/mfa",
            &[Permission::RolesUpdate],
            "Whether members of a role must have a second factor",
            set_mfa_required,
        )
        .get(
            "/staff",
            &[Permission::StaffView],
            "Staff and their roles",
            staff,
        )
        .put(
            "/staff/{user_id}/role",
            &[Permission::RolesAssignMembers],
            "Move a member of staff to another role",
            move_to_role,
        )
        .post(
            "/staff/{user_id}/deactivate",
            &[Permission::StaffDeactivate],
            "Deactivate a member of staff",
            deactivate,
        )
        .post(
            "/staff/{user_id}/reactivate",
            &[Permission::StaffReactivate],
            "Reactivate a member of staff",
            reactivate,
        )
}

async fn load_roles(tx: &mut sqlx::PgConnection) -> Result<Vec<Role>> {
    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "select r.id, r.name, r.description,
                (select count(*) from memberships m where m.role_id = r.id and m.active)
           from roles r order by r.name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let grants: Vec<(Uuid, String, bool)> =
        sqlx::query_as("select role_id, permission_key, allowed from role_permissions")
            .fetch_all(&mut *tx)
            .await?;
    let mut by_role: BTreeMap<Uuid, BTreeMap<String, bool>> = BTreeMap::new();
    for (role, key, allowed) in grants {
        by_role.entry(role).or_default().insert(key, allowed);
    }
    Ok(rows
        .into_iter()
        .map(|(id, name, description, members)| {
            let mut permissions = by_role.remove(&id).unwrap_or_default();
            // Every action is listed; a missing row is a deny.
            for p in Permission::ALL {
                permissions.entry(p.key().to_owned()).or_insert(false);
            }
            Role {
                id,
                name,
                description,
                members,
                permissions,
            }
        })
        .collect())
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Role>>> {
    let mut tx = caller.begin(&state).await?;
    let roles = load_roles(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(roles))
}

async fn find_role(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<Role> {
    load_roles(tx)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound)
}

/// Role names are unique within an organisation (migration 0001).
const NAME_KEY: &str = "roles_organization_id_name_key";

fn name_taken() -> ApiError {
    ApiError::field("name", "Another role has this name.")
}

/// A membership's role must be one of its organisation's (migration 0001).
const MEMBERSHIP_ROLE_FKEY: &str = "memberships_organization_id_role_id_fkey";

/// A new role starts with every action explicitly denied.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<RoleInput>,
) -> Result<(StatusCode, Json<Role>)> {
    validate(&input)?;
    let mut tx = caller.begin(&state).await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into roles (organization_id, name, description) values (app.current_org(), $1, $2) returning id",
    )
    .bind(input.name.trim())
    .bind(&input.description)
    .fetch_one(&mut *tx)
    .await
    .on_constraint(NAME_KEY, name_taken)?;
    // Explicit denies need roles.set_permissions to write; without it the role simply has no
    // rows, which reads as deny everywhere.
    if sqlx::query_scalar::<_, bool>("select app.has_permission('roles.set_permissions')")
        .fetch_one(&mut *tx)
        .await?
    {
        let keys: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
        sqlx::query(
            "insert into role_permissions (organization_id, role_id, permission_key, allowed)
             select app.current_org(), $1, k, false from unnest($2::text[]) as k",
        )
        .bind(id)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    }
    let role = find_role(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(role)))
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<RoleInput>,
) -> Result<Json<Role>> {
    validate(&input)?;
    let mut tx = caller.begin(&state).await?;
    let done = sqlx::query("update roles set name = $2, description = $3 where id = $1")
        .bind(id)
        .bind(input.name.trim())
        .bind(&input.description)
        .execute(&mut *tx)
        .await
        .on_constraint(NAME_KEY, name_taken)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    let role = find_role(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(role))
}

/// Removing a role someone holds (active or not) is refused: move them first.
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    let done = sqlx::query("delete from roles where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .on_constraint(MEMBERSHIP_ROLE_FKEY, || {
            ApiError::Conflict(
                "This role is held by members of staff. Move them to another role first.",
            )
        })?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    // The deferred ladder guard runs at commit; its refusal is a 409 in its own words.
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<SetPermissions>,
) -> Result<Json<Role>> {
    let mut tx = caller.begin(&state).await?;
    find_role(&mut tx, id).await?;
    let keys: Vec<&str> = input.permissions.keys().map(|p| p.key()).collect();
    let allowed: Vec<bool> = input.permissions.values().copied().collect();
    sqlx::query(
        "insert into role_permissions (organization_id, role_id, permission_key, allowed)
         select app.current_org(), $1, k, a from unnest($2::text[], $3::bool[]) as t(k, a)
         on conflict (role_id, permission_key) do update set allowed = excluded.allowed
         where role_permissions.allowed is distinct from excluded.allowed",
    )
    .bind(id)
    .bind(&keys)
    .bind(&allowed)
    .execute(&mut *tx)
    .await?;
    let role = find_role(&mut tx, id).await?;
    // The deferred ladder guard runs at commit; its refusal is a 409 in its own words.
    tx.commit().await?;
    Ok(Json(role))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaRequired {
    required: bool,
}

async fn set_mfa_required(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    AppJson(input): AppJson<MfaRequired>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(&state).await?;
    let done = sqlx::query("update roles set mfa_required = $2 where id = $1")
        .bind(id)
        .bind(input.required)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn staff(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<StaffMember>>> {
    let mut tx = caller.begin(&state).await?;
    let rows: Vec<(Uuid, String, String, Uuid, String, bool)> = sqlx::query_as(
        "select u.id, u.email, u.display_name, r.id, r.name, m.active
           from memberships m join users u on u.id = m.user_id join roles r on r.id = m.role_id
          order by u.display_name, u.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(user_id, email, display_name, role_id, role_name, active)| StaffMember {
                    user_id,
                    email,
                    display_name,
                    role_id,
                    role_name,
                    active,
                },
            )
            .collect(),
    ))
}

async fn update_membership(
    state: &AppState,
    caller: &Caller,
    user_id: Uuid,
    role_id: Option<Uuid>,
    active: Option<bool>,
) -> Result<StatusCode> {
    let mut tx = caller.begin(state).await?;
    // Unchanged columns are left as they are; the guard and the audit see only the change.
    let done = sqlx::query(
        "update memberships set role_id = coalesce($2, role_id), active = coalesce($3, active)
          where user_id = $1 and organization_id = app.current_org()",
    )
    .bind(user_id)
    .bind(role_id)
    .bind(active)
    .execute(&mut *tx)
    .await
    .on_constraint(MEMBERSHIP_ROLE_FKEY, || {
        ApiError::field("role_id", "No such role in this organisation.")
    })?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    // The deferred ladder guard runs at commit; its refusal is a 409 in its own words.
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_to_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
    AppJson(input): AppJson<MoveToRole>,
) -> Result<StatusCode> {
    update_membership(&state, &caller, user_id, Some(input.role_id), None).await
}

async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Result<StatusCode> {
    update_membership(&state, &caller, user_id, None, Some(false)).await
}

async fn reactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Result<StatusCode> {
    update_membership(&state, &caller, user_id, None, Some(true)).await
}
