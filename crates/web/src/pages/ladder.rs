//! The Organisation Ladder editor: roles × actions, grouped by tool, with allow/deny toggles.
//! Nothing changes until "Save": the summary of what will change is shown first.

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::audit::{Role, SetPermissions};
use thrive_domain::{Permission, Tool};
use uuid::Uuid;

use crate::api;
use crate::session::Session;
use crate::util;

#[component]
pub fn LadderPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let roles = RwSignal::new(Vec::<Role>::new());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(None::<String>);
    // (role, action) → the new value, for toggles that differ from what is stored.
    let changes = RwSignal::new(BTreeMap::<(Uuid, Permission), bool>::new());
    let busy = RwSignal::new(false);
    let tool_filter = RwSignal::new(String::new());
    let load = move || {
        spawn_local(async move {
            match api::roles().await {
                Ok(r) => roles.set(r),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    load();
    let editable = move || session.can(Permission::RolesSetPermissions);
    let stored = move |role: Uuid, p: Permission| {
        roles.with(|rs| {
            rs.iter()
                .find(|r| r.id == role)
                .and_then(|r| r.permissions.get(p.key()).copied())
                .unwrap_or(false)
        })
    };
    let value = move |role: Uuid, p: Permission| {
        changes
            .with(|c| c.get(&(role, p)).copied())
            .unwrap_or_else(|| stored(role, p))
    };
    let toggle = move |role: Uuid, p: Permission, on: bool| {
        changes.update(|c| {
            if on == stored(role, p) {
                c.remove(&(role, p));
            } else {
                c.insert((role, p), on);
            }
        });
        saved.set(None);
    };
    let role_name = move |id: Uuid| {
        roles.with(|rs| {
            rs.iter()
                .find(|r| r.id == id)
                .map(|r| r.name.clone())
                .unwrap_or_default()
        })
    };
    let save = move |_| {
        let by_role: HashMap<Uuid, BTreeMap<Permission, bool>> = changes
            .get_untracked()
            .into_iter()
            .fold(HashMap::new(), |mut m, ((r, p), v)| {
                m.entry(r).or_default().insert(p, v);
                m
            });
        let count = changes.with_untracked(BTreeMap::len);
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            for (role, permissions) in by_role {
                let request = SetPermissions { permissions };
                if let Err(e) = api::set_permissions(role, &request).await {
                    error.set(Some(format!("{}: {e}", role_name(role))));
                    busy.set(false);
                    load();
                    return;
                }
                // The stored matrix takes the saved values in the same step as the pending
                // toggles go, so no checkbox shows the old value in between.
                roles.update(|rs| {
                    if let Some(r) = rs.iter_mut().find(|r| r.id == role) {
                        for (p, on) in &request.permissions {
                            r.permissions.insert(p.key().to_owned(), *on);
                        }
                    }
                });
                changes.update(|c| c.retain(|(r, _), _| *r != role));
            }
            saved.set(Some(format!(
                "Saved {count} change{}. Members see them on their next page load.",
                if count == 1 { "" } else { "s" }
            )));
            busy.set(false);
            load();
        });
    };

    view! {
        <h1>"Organisation Ladder"</h1>
        <p class="muted">"Each role's explicit allow or deny for every action. Changes apply when saved."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || saved.get().map(|m| view! { <p class="success" role="status">{m}</p> })}
        <Show when=move || !changes.with(BTreeMap::is_empty)>
            <section class="card summary" aria-labelledby="changes-title" data-testid="ladder-summary">
                <h2 id="changes-title">{move || format!("{} unsaved change{}", changes.with(BTreeMap::len), if changes.with(BTreeMap::len) == 1 { "" } else { "s" })}</h2>
                <ul>
                    {move || changes.get().into_iter().map(|((r, p), v)| view! {
                        <li>{format!("{}: {} — {} → {}", role_name(r), p.key(), if v { "deny" } else { "allow" }, if v { "allow" } else { "deny" })}</li>
                    }).collect_view()}
                </ul>
                <div class="row">
                    <button on:click=save disabled=move || busy.get()>"Save changes"</button>
                    <button class="ghost" on:click=move |_| changes.set(BTreeMap::new())>"Discard changes"</button>
                </div>
            </section>
        </Show>
        <div class="filter">
            <label for="ladder-tool">"Show tool"</label>
            <select id="ladder-tool" on:change=move |ev| tool_filter.set(event_target_value(&ev))>
                <option value="">"All tools"</option>
                {Tool::ALL.iter().map(|t| view! { <option value=t.label()>{t.label()}</option> }).collect_view()}
            </select>
        </div>
        <div class="table-wrap">
            <table class="ladder" data-testid="ladder">
                <caption class="sr-only">"Roles and the actions they are allowed"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Action"</th>
                        {move || roles.get().into_iter().map(|r| view! { <th scope="col">{r.name}<br/><span class="small muted">{format!("{} members", r.members)}</span></th> }).collect_view()}
                    </tr>
                </thead>
                {move || {
                    let rs = roles.get();
                    let filter = tool_filter.get();
                    Tool::ALL.iter().filter(|t| filter.is_empty() || t.label() == filter).map(|&tool| {
                        let rs = rs.clone();
                        view! {
                            <tbody>
                                <tr class="group"><th scope="colgroup" colspan=rs.len() + 1>{tool.label()}</th></tr>
                                {Permission::for_tool(tool).map(|p| {
                                    let rs = rs.clone();
                                    view! {
                                        <tr>
                                            <th scope="row"><span class="action-key">{p.key()}</span><br/><span class="small muted">{p.description()}</span></th>
                                            {rs.into_iter().map(|r| {
                                                let role = r.id;
                                                let label = format!("{} may {}", r.name, p.key());
                                                view! {
                                                    <td class=move || if changes.with(|c| c.contains_key(&(role, p))) { "changed" } else { "" }>
                                                        <input type="checkbox" aria-label=label disabled=move || !editable()
                                                            prop:checked=move || value(role, p)
                                                            on:change=move |ev| toggle(role, p, event_target_checked(&ev)) />
                                                    </td>
                                                }
                                            }).collect_view()}
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        }
                    }).collect_view()
                }}
            </table>
        </div>
        {move || roles.with(Vec::is_empty).then(util::loading)}
    }
}
