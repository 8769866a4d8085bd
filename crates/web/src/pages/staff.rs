//! Staff and assignments: who works here and in which role, invitations, and which staff are
//! assigned to which service users.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};
use thrive_domain::audit::{InvitationCreated, InviteStaff, MoveToRole, Role, StaffMember};
use thrive_domain::service_users::{
    AssignStaffRequest, AssignmentsOverview, ServiceUserAssignments,
};
use thrive_domain::validation::{FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::session::Session;
use crate::util::{self, FieldError};

#[component]
pub fn StaffPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let version = RwSignal::new(0u32);
    let data = LocalResource::new(move || {
        version.track();
        async move {
            let staff = api::staff().await;
            let roles = api::roles().await.unwrap_or_default();
            (staff, roles)
        }
    });
    let message = RwSignal::new(None::<Result<String, String>>);
    let act = move |fut: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Value, ApiError>>>,
    >,
                    ok: String| {
        spawn_local(async move {
            match fut.await {
                Ok(_) => {
                    message.set(Some(Ok(ok)));
                    version.update(|v| *v += 1);
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    view! {
        <h1>"Staff"</h1>
        {move || message.get().map(|m| match m {
            Ok(t) => view! { <p class="success" role="status">{t}</p> }.into_any(),
            Err(t) => view! { <p class="error" role="alert">{t}</p> }.into_any(),
        })}
        <Show when=move || session.can(Permission::StaffInvite)>
            <InviteForm roles=Signal::derive(move || data.try_get().flatten().map(|(_, r)| r).unwrap_or_default()) />
        </Show>
        <Suspense fallback=util::loading>
            {move || data.try_get().flatten().map(|(staff, roles)| match staff {
                Err(e) => util::error_view(&e),
                Ok(list) => view! {
                    <div class="table-wrap card">
                        <table data-testid="staff">
                            <thead><tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Access"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|m: StaffMember| {
                                    let uid = m.user_id;
                                    let select_id = format!("role-{uid}");
                                    let roles = roles.clone();
                                    view! {
                                        <tr>
                                            <td>{m.display_name.clone()}</td>
                                            <td>{m.email.clone()}</td>
                                            <td>
                                                {if session.can(Permission::RolesAssignMembers) {
                                                    view! {
                                                        <label class="sr-only" for=select_id.clone()>{format!("Role of {}", m.display_name)}</label>
                                                        <select id=select_id on:change=move |ev| {
                                                            if let Ok(role_id) = Uuid::parse_str(&event_target_value(&ev)) {
                                                                act(Box::pin(async move { api::put::<Value>(&format!("/api/staff/{uid}/role"), &MoveToRole { role_id }).await }), "Role changed.".into());
                                                            }
                                                        }>
                                                            {roles.into_iter().map(|r: Role| view! { <option value=r.id.to_string() selected=r.id == m.role_id>{r.name}</option> }).collect_view()}
                                                        </select>
                                                    }.into_any()
                                                } else { view! { {m.role_name.clone()} }.into_any() }}
                                            </td>
                                            <td>
                                                {if m.active {
                                                    view! {
                                                        "Active "
                                                        <Show when=move || session.can(Permission::StaffDeactivate)>
                                                            <button class="ghost small-btn" on:click=move |_| act(Box::pin(async move { api::post::<Value>(&format!("/api/staff/{uid}/deactivate"), &json!({})).await }), "Access removed.".into())>"Deactivate"</button>
                                                        </Show>
                                                    }.into_any()
                                                } else {
                                                    view! {
                                                        "Deactivated "
                                                        <Show when=move || session.can(Permission::StaffReactivate)>
                                                            <button class="ghost small-btn" on:click=move |_| act(Box::pin(async move { api::post::<Value>(&format!("/api/staff/{uid}/reactivate"), &json!({})).await }), "Access restored.".into())>"Reactivate"</button>
                                                        </Show>
                                                    }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Suspense>
        <Show when=move || session.can(Permission::AssignmentsView)>
            <Assignments />
        </Show>
    }
}

#[component]
fn InviteForm(roles: Signal<Vec<Role>>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let local = RwSignal::new(None::<FieldErrors>);
    let server = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let role_id = Uuid::parse_str(&role.get_untracked())
            .ok()
            .or_else(|| roles.get_untracked().first().map(|r| r.id));
        let Some(role_id) = role_id else { return };
        let input = InviteStaff {
            email: email.get_untracked(),
            display_name: name.get_untracked(),
            role_id,
        };
        server.set(None);
        created.set(None);
        if let Err(e) = input.validate() {
            local.set(Some(e));
            return;
        }
        local.set(None);
        spawn_local(async move {
            match api::post::<InvitationCreated>("/api/staff/invitations", &input).await {
                Ok(c) => created.set(Some(format!("Invitation created for {}. Give them this one-time code (it is not shown again): {}", c.invitation.email, c.token))),
                Err(e) => server.set(Some(e)),
            }
        });
    };
    let msgs = move |f: &'static str| {
        Signal::derive(move || util::messages(local.get().as_ref(), server.get().as_ref(), f))
    };
    view! {
        <details class="card">
            <summary>"Invite a member of staff"</summary>
            <form on:submit=submit novalidate>
                <label for="invite-email">"Email"</label>
                <input id="invite-email" type="email" prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) aria-describedby="invite-email-error" />
                <FieldError id="invite-email-error" messages=msgs("email") />
                <label for="invite-name">"Name"</label>
                <input id="invite-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) aria-describedby="invite-name-error" />
                <FieldError id="invite-name-error" messages=msgs("display_name") />
                <label for="invite-role">"Role"</label>
                <select id="invite-role" on:change=move |ev| role.set(event_target_value(&ev))>
                    {move || roles.get().into_iter().map(|r| view! { <option value=r.id.to_string()>{r.name}</option> }).collect_view()}
                </select>
                {move || server.get().filter(|e| e.status() != Some(422)).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                {move || created.get().map(|m| view! { <p class="success" role="status">{m}</p> })}
                <button type="submit">"Send invitation"</button>
            </form>
        </details>
    }
}

#[component]
fn Assignments() -> impl IntoView {
    let session = expect_context::<Session>();
    let version = RwSignal::new(0u32);
    // One request for the screen (issue 13): every visible service user with their assigned
    // staff, and the staff names, aggregated under RLS by the API.
    let data = LocalResource::new(move || {
        version.track();
        api::get::<AssignmentsOverview>("/api/assignments")
    });
    let error = RwSignal::new(None::<String>);
    view! {
        <h2>"Assignments"</h2>
        <p class="muted">"Staff without “see every service user” see only the people assigned to them."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <Suspense fallback=util::loading>
            {move || data.try_get().flatten().map(|r| match r {
                Err(e) => util::error_view(&e),
                Ok(AssignmentsOverview { service_users: rows, staff }) => view! {
                <div class="table-wrap card">
                    <table data-testid="assignments">
                        <thead><tr><th scope="col">"Service user"</th><th scope="col">"Assigned staff"</th><th scope="col">"Assign"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|ServiceUserAssignments { service_user: su, assigned }| {
                                let su_id = su.id;
                                let sel = format!("assign-{su_id}");
                                let staff_all = staff.clone();
                                let names: Vec<(Uuid, String)> = assigned.iter().map(|a| (*a, staff.iter().find(|s| s.user_id == *a).map(|s| s.display_name.clone()).unwrap_or_else(|| a.to_string()))).collect();
                                view! {
                                    <tr>
                                        <td>{su.display_name.clone()}</td>
                                        <td>
                                            {names.into_iter().map(|(uid, n)| view! {
                                                <span class="chip">{n.clone()}
                                                    <Show when=move || session.can(Permission::AssignmentsDelete)>
                                                        <button class="ghost small-btn" aria-label=format!("Unassign {n}") on:click=move |_| {
                                                            spawn_local(async move {
                                                                match api::delete(&format!("/api/service-users/{su_id}/assignments/{uid}")).await {
                                                                    Ok(()) => version.update(|v| *v += 1),
                                                                    Err(e) => error.set(Some(e.to_string())),
                                                                }
                                                            });
                                                        }>"×"</button>
                                                    </Show>
                                                </span>
                                            }).collect_view()}
                                        </td>
                                        <td>
                                            <Show when=move || session.can(Permission::AssignmentsCreate)>
                                                <label class="sr-only" for=sel.clone()>{format!("Assign staff to {}", su.display_name)}</label>
                                                <select id=sel.clone() on:change=move |ev| {
                                                    if let Ok(user_id) = Uuid::parse_str(&event_target_value(&ev)) {
                                                        spawn_local(async move {
                                                            match api::post::<Value>(&format!("/api/service-users/{su_id}/assignments"), &AssignStaffRequest { user_id }).await {
                                                                Ok(_) => version.update(|v| *v += 1),
                                                                Err(e) => error.set(Some(e.to_string())),
                                                            }
                                                        });
                                                    }
                                                }>
                                                    <option value="">"Choose…"</option>
                                                    {staff_all.clone().into_iter().map(|s| view! { <option value=s.user_id.to_string()>{s.display_name}</option> }).collect_view()}
                                                </select>
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any(),
            })}
        </Suspense>
    }
}
