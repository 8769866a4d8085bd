//! The other clinical tools' tabs: the profile, a list per tool (newest first), and the
//! incident report form (validated by the domain's rules before sending).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use thrive_domain::records::{IncidentCategory, IncidentInput, Page, ServiceUser, Severity};
use thrive_domain::validation::{FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::route::RecordTab;
use crate::session::Session;
use crate::util::{self, FieldError};

#[component]
pub fn ProfileTab(su: ServiceUser) -> impl IntoView {
    let rows: Vec<(&'static str, String)> = vec![
        (
            "Preferred name",
            su.preferred_name.clone().unwrap_or_default(),
        ),
        (
            "Date of birth",
            su.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("Room", su.room.clone().unwrap_or_default()),
        ("NHS number", su.nhs_number.clone().unwrap_or_default()),
        ("Address", su.address.clone().unwrap_or_default()),
        ("Allergies", su.allergies.clone().unwrap_or_default()),
        (
            "Next of kin",
            [
                su.next_of_kin_name.clone(),
                su.next_of_kin_relationship.clone(),
                su.next_of_kin_phone.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        ),
        (
            "GP",
            [
                su.gp_name.clone(),
                su.gp_practice.clone(),
                su.gp_phone.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        ),
    ];
    view! {
        <h2>"Profile"</h2>
        <dl class="profile card">
            {rows.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{if v.is_empty() { "—".to_owned() } else { v }}</dd> }).collect_view()}
        </dl>
    }
}

/// The list endpoint and the columns shown for each tool.
fn columns(tab: RecordTab) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match tab {
        RecordTab::CarePlans => (
            "care-plans",
            &[
                ("title", "Title"),
                ("status", "Status"),
                ("review_date", "Review by"),
            ],
        ),
        RecordTab::Risks => (
            "risk-assessments",
            &[
                ("kind", "Assessment"),
                ("score", "Score"),
                ("level", "Level"),
                ("status", "Status"),
                ("review_date", "Review by"),
            ],
        ),
        RecordTab::Incidents => (
            "incidents",
            &[
                ("occurred_at", "When"),
                ("category", "Category"),
                ("severity", "Severity"),
                ("status", "Status"),
                ("description", "What happened"),
            ],
        ),
        RecordTab::Observations => (
            "observations",
            &[
                ("observed_at", "When"),
                ("data", "Observation"),
                ("news2", "NEWS2"),
            ],
        ),
        RecordTab::Handovers => (
            "handovers",
            &[
                ("created_at", "When"),
                ("shift", "Shift"),
                ("summary", "Summary"),
            ],
        ),
        RecordTab::Medication => (
            "prescriptions",
            &[
                ("drug", "Medicine"),
                ("dose", "Dose"),
                ("route", "Route"),
                ("schedule", "When"),
                ("status", "Status"),
            ],
        ),
        _ => ("", &[]),
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) => {
            if s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') {
                util::when_str(s)
            } else if s.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                util::label(s)
            } else {
                s.chars().take(120).collect()
            }
        }
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{}: {}", util::label(k), cell(Some(v))))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

#[component]
pub fn ToolTab(su_id: Uuid, tab: RecordTab) -> impl IntoView {
    let session = expect_context::<Session>();
    let (endpoint, cols) = columns(tab);
    let version = RwSignal::new(0u32);
    let rows = LocalResource::new(move || {
        version.track();
        async move {
            api::get::<Page<Value>>(&format!("/api/{endpoint}?service_user_id={su_id}&limit=50"))
                .await
        }
    });
    view! {
        <h2>{tab.label()}</h2>
        {(tab == RecordTab::Incidents && session.can(Permission::IncidentsReport))
            .then(|| view! { <IncidentForm su_id=su_id on_saved=move || version.update(|v| *v += 1) /> })}
        <Suspense fallback=util::loading>
            {move || rows.try_get().flatten().map(|r| match r {
                Err(e) => util::error_view(&e),
                Ok(page) if page.items.is_empty() => view! { <p class="muted">"Nothing recorded yet."</p> }.into_any(),
                Ok(page) => view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=tab.label()>
                        <table>
                            <thead><tr>{cols.iter().map(|(_, l)| view! { <th scope="col">{*l}</th> }).collect_view()}</tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|item| view! {
                                    <tr>{cols.iter().map(|(k, _)| view! { <td>{cell(item.get(*k))}</td> }).collect_view()}</tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn IncidentForm(su_id: Uuid, on_saved: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let open = RwSignal::new(false);
    let occurred = RwSignal::new(util::to_local_input(util::now()));
    let location = RwSignal::new(String::new());
    let category = RwSignal::new(IncidentCategory::Fall);
    let severity = RwSignal::new(Severity::NoHarm);
    let description = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let local = RwSignal::new(None::<FieldErrors>);
    let server = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = IncidentInput {
            occurred_at: util::from_local_input(&occurred.get_untracked())
                .unwrap_or_else(util::now),
            location: location.get_untracked(),
            category: category.get_untracked(),
            severity: severity.get_untracked(),
            description: description.get_untracked(),
            injuries: String::new(),
            witnesses: String::new(),
            immediate_action: action.get_untracked(),
        };
        server.set(None);
        if let Err(e) = input.validate() {
            local.set(Some(e));
            return;
        }
        local.set(None);
        let done = on_saved.clone();
        spawn_local(async move {
            match api::post::<Value>(&format!("/api/service-users/{su_id}/incidents"), &input).await
            {
                Ok(_) => {
                    open.set(false);
                    location.set(String::new());
                    description.set(String::new());
                    action.set(String::new());
                    done();
                }
                Err(e) => server.set(Some(e)),
            }
        });
    };
    let msgs = move |f: &'static str| {
        Signal::derive(move || util::messages(local.get().as_ref(), server.get().as_ref(), f))
    };
    view! {
        <Show when=move || open.get() fallback=move || view! { <button on:click=move |_| open.set(true)>"Report an incident"</button> }>
            <form class="card" on:submit=submit.clone() novalidate>
                <h3>"Report an incident"</h3>
                <label for="inc-when">"When"</label>
                <input id="inc-when" type="datetime-local" prop:value=move || occurred.get() on:input=move |ev| occurred.set(event_target_value(&ev)) />
                <label for="inc-location">"Where"</label>
                <input id="inc-location" prop:value=move || location.get() on:input=move |ev| location.set(event_target_value(&ev)) aria-describedby="inc-location-error" />
                <FieldError id="inc-location-error" messages=msgs("location") />
                <label for="inc-category">"Category"</label>
                <select id="inc-category" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if let Some(c) = IncidentCategory::ALL.iter().find(|c| c.key() == v) { category.set(*c); }
                }>
                    {IncidentCategory::ALL.iter().map(|c| view! { <option value=c.key()>{util::label(c.key())}</option> }).collect_view()}
                </select>
                <label for="inc-severity">"Severity"</label>
                <select id="inc-severity" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if let Some(c) = Severity::ALL.iter().find(|c| c.key() == v) { severity.set(*c); }
                }>
                    {Severity::ALL.iter().map(|c| view! { <option value=c.key()>{util::label(c.key())}</option> }).collect_view()}
                </select>
                <label for="inc-description">"What happened"</label>
                <textarea id="inc-description" rows="4" prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev)) aria-describedby="inc-description-error"></textarea>
                <FieldError id="inc-description-error" messages=msgs("description") />
                <label for="inc-action">"Immediate action taken"</label>
                <textarea id="inc-action" rows="2" prop:value=move || action.get() on:input=move |ev| action.set(event_target_value(&ev))></textarea>
                {move || server.get().filter(|e| e.status() != Some(422)).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                <div class="row">
                    <button type="submit">"Save report"</button>
                    <button type="button" class="ghost" on:click=move |_| open.set(false)>"Cancel"</button>
                </div>
            </form>
        </Show>
    }
}
