//! The audit log viewer: five filters (staff member, service user, date range, action, tool),
//! newest first with "older entries" paging, each change shown field by field as old → new, and
//! an export of exactly the filtered view.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use thrive_domain::audit::AuditEntry;
use thrive_domain::records::AiContribution;
use thrive_domain::{Permission, Tool};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::api::{self, enc};
use crate::session::Session;
use crate::util;

fn tool_key(t: Tool) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A changed field's value as a person reads it: a colleague's or service user's id as their
/// name, a timestamp in local time, nothing as "—".
fn show(v: Option<&Value>, known: &HashMap<String, String>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) => {
            if let Some(name) = known.get(s) {
                name.clone()
            } else if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
                util::when(t)
            } else {
                s.clone()
            }
        }
        Some(other) => other.to_string(),
    }
}

/// The contributions of Aayu a change added to a note (`ai_provenance`: the list only grows),
/// each as a person reads it: task, model and its sha256, engine, and what was flagged.
fn provenance_added(change: &Value) -> Vec<String> {
    let list = |k: &str| {
        change
            .get(k)
            .and_then(|v| serde_json::from_value::<Vec<AiContribution>>(v.clone()).ok())
            .unwrap_or_default()
    };
    let old = list("old");
    list("new")
        .into_iter()
        .skip(old.len())
        .map(|c| {
            let flagged = if c.flagged.is_empty() {
                "nothing flagged".to_owned()
            } else {
                let spans: Vec<String> = c
                    .flagged
                    .iter()
                    .map(|f| format!("\"{}\" ({})", f.text, f.reason))
                    .collect();
                format!("flagged: {}", spans.join("; "))
            };
            format!(
                "Aayu {}: model {} (sha256 {}), engine {}; {}",
                c.task.key(),
                c.model,
                c.model_sha256,
                c.engine,
                flagged
            )
        })
        .collect()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let staff_filter = RwSignal::new(String::new());
    let su_filter = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let tool = RwSignal::new(String::new());
    let entries = RwSignal::new(Vec::<AuditEntry>::new());
    let next = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);
    let names = RwSignal::new(HashMap::<Uuid, String>::new());
    let staff = RwSignal::new(Vec::<(Uuid, String)>::new());
    let people = RwSignal::new(Vec::<(Uuid, String)>::new());
    let staff_too = session.can(Permission::StaffView);
    spawn_local(async move {
        if let Ok(list) = api::service_users().await {
            people.set(
                list.iter()
                    .map(|s| (s.id, s.display_name.clone()))
                    .collect(),
            );
        }
        if staff_too {
            if let Ok(list) = api::staff().await {
                staff.set(
                    list.iter()
                        .map(|s| (s.user_id, s.display_name.clone()))
                        .collect(),
                );
            }
        }
        names.set(super::review::names(false).await);
    });

    let query = move || {
        let mut q: Vec<String> = Vec::new();
        let mut add = |k: &str, v: String| {
            if !v.is_empty() {
                q.push(format!("{k}={}", enc(&v)));
            }
        };
        add("actor_user_id", staff_filter.get_untracked());
        add("service_user_id", su_filter.get_untracked());
        add(
            "from",
            util::from_local_input(&from.get_untracked())
                .map(util::rfc3339)
                .unwrap_or_default(),
        );
        // "To" a date means to the end of that day.
        add(
            "to",
            util::from_local_input(&to.get_untracked())
                .map(|t| util::rfc3339(t + time::Duration::days(1)))
                .unwrap_or_default(),
        );
        add("action", action.get_untracked());
        add("tool", tool.get_untracked());
        q.join("&")
    };
    let fetch = move |more: bool| {
        let mut q = query();
        if more {
            if let Some(n) = next.get_untracked() {
                q.push_str(&format!("&before={n}"));
            }
        }
        loading.set(true);
        error.set(None);
        spawn_local(async move {
            match api::audit(&format!("{q}&limit=50")).await {
                Ok(page) => {
                    if more {
                        entries.update(|e| e.extend(page.items));
                    } else {
                        entries.set(page.items);
                    }
                    next.set(page.next);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            loading.set(false);
        });
    };
    fetch(false);

    let select = |id: &'static str,
                  label: &'static str,
                  signal: RwSignal<String>,
                  options: Signal<Vec<(String, String)>>| {
        view! {
            <div class="filter">
                <label for=id>{label}</label>
                <select id=id on:change=move |ev| signal.set(event_target_value(&ev))>
                    <option value="">"Any"</option>
                    {move || options.get().into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                </select>
            </div>
        }
    };
    let staff_opts = Signal::derive(move || {
        staff
            .get()
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect()
    });
    let people_opts = Signal::derive(move || {
        people
            .get()
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect()
    });
    let action_opts = Signal::derive(|| {
        let mut v: Vec<(String, String)> = Permission::ALL
            .iter()
            .map(|p| (p.key().to_owned(), p.key().to_owned()))
            .collect();
        for table in [
            "care_notes",
            "incidents",
            "care_plans",
            "risk_assessments",
            "observations",
            "service_users",
        ] {
            for op in ["insert", "update", "delete"] {
                v.push((format!("{table}.{op}"), format!("{table}.{op}")));
            }
        }
        v
    });
    let tool_opts = Signal::derive(|| {
        Tool::ALL
            .iter()
            .map(|t| (tool_key(*t), t.label().to_owned()))
            .collect()
    });

    view! {
        <h1>"Audit log"</h1>
        <form class="card filters" aria-label="Audit filters" on:submit=move |ev| { ev.prevent_default(); fetch(false); }>
            {select("audit-staff", "Staff member", staff_filter, staff_opts)}
            {select("audit-su", "Service user", su_filter, people_opts)}
            <div class="filter">
                <label for="audit-from">"From"</label>
                <input id="audit-from" type="date" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev)) />
            </div>
            <div class="filter">
                <label for="audit-to">"To"</label>
                <input id="audit-to" type="date" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
            </div>
            {select("audit-action", "Action", action, action_opts)}
            {select("audit-tool", "Tool", tool, tool_opts)}
            <div class="filter actions">
                <button type="submit">"Show entries"</button>
                <Show when=move || session.can(Permission::AuditExport)>
                    <a class="button secondary-btn" href=move || { staff_filter.track(); su_filter.track(); from.track(); to.track(); action.track(); tool.track(); format!("/api/audit/export.csv?{}", query()) } download="audit.csv">"Export this view (CSV)"</a>
                </Show>
            </div>
        </form>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <div class="table-wrap" tabindex="0" role="region" aria-label="Audit entries">
            <table data-testid="audit-entries">
                <caption class="sr-only">"Audit entries, newest first"</caption>
                <thead><tr>
                    <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                    <th scope="col">"Service user"</th><th scope="col">"Changes (old → new)"</th>
                </tr></thead>
                <tbody>
                    {move || {
                        let names = names.get();
                        let known: HashMap<String, String> = staff.get().into_iter()
                            .chain(names.iter().map(|(id, n)| (*id, n.clone())))
                            .map(|(id, n)| (id.to_string(), n))
                            .collect();
                        entries.get().into_iter().map(|e| {
                            let who = format!("{} ({})", e.actor_name.clone().unwrap_or_else(|| "system".into()), e.actor_role.clone().unwrap_or_default());
                            let su = e.service_user_id.map(|id| names.get(&id).cloned().unwrap_or_else(|| id.to_string())).unwrap_or_default();
                            let changes: Vec<(String, String, String)> = match &e.changes {
                                Value::Object(map) => map.iter().filter(|(k, _)| k.as_str() != "ai_provenance").map(|(k, v)| (k.clone(), show(v.get("old"), &known), show(v.get("new"), &known))).collect(),
                                _ => Vec::new(),
                            };
                            let provenance = e.changes.get("ai_provenance").map(provenance_added).unwrap_or_default();
                            view! {
                                <tr data-action=e.action.clone()>
                                    <td>{util::when_str(&e.at)}</td>
                                    <td>{who}</td>
                                    <td><code>{e.action.clone()}</code><br/><span class="small muted">{format!("{} · {}", e.tool, e.operation)}</span></td>
                                    <td>{su}</td>
                                    <td>
                                        <ul class="changes">
                                            {changes.into_iter().map(|(field, old, new)| view! {
                                                <li><span class="field">{field}</span>": " <del>{old}</del>" → " <ins>{new}</ins></li>
                                            }).collect_view()}
                                            {provenance.into_iter().map(|p| view! {
                                                <li data-testid="provenance"><span class="field">"ai_provenance"</span>": + " <ins>{p}</ins></li>
                                            }).collect_view()}
                                        </ul>
                                    </td>
                                </tr>
                            }
                        }).collect_view()
                    }}
                </tbody>
            </table>
        </div>
        {move || (entries.with(Vec::is_empty) && !loading.get()).then(|| view! { <p class="muted">"No entries match these filters."</p> })}
        <Show when=move || next.get().is_some()>
            <button class="secondary-btn" disabled=move || loading.get() on:click=move |_| fetch(true)>"Older entries"</button>
        </Show>
    }
}
