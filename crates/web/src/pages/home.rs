//! Home: for carers, their service users and today's tasks; for managers, what needs them
//! (notes awaiting sign-off, open incidents, overdue reviews) with two small charts.

use leptos::prelude::*;
use serde_json::Value;
use thrive_domain::records::{CareNote, Handover, Page, Prescription};
use thrive_domain::service_users::ServiceUserSummary;
use thrive_domain::Permission;
use time::OffsetDateTime;

use super::service_users::ServiceUsersTable;
use crate::api;
use crate::components::chart::BarChart;
use crate::route::{RecordTab, Route};
use crate::session::Session;
use crate::util;

#[component]
pub fn HomePage() -> impl IntoView {
    let session = expect_context::<Session>();
    let name = session.me.with_untracked(|m| {
        m.as_ref()
            .map(|m| m.display_name.clone())
            .unwrap_or_default()
    });
    let manager =
        session.can(Permission::CareNotesSignOff) || session.can(Permission::IncidentsClose);
    let people = LocalResource::new(api::service_users);
    view! {
        <h1>{format!("Hello, {name}")}</h1>
        {manager.then(|| view! { <ManagerDashboard /> })}
        <div class="grid-2">
            <Show when=move || session.can(Permission::ServiceUsersView)>
                <section class="card" aria-labelledby="my-su">
                    <h2 id="my-su">{if manager { "Service users" } else { "My service users" }}</h2>
                    <Suspense fallback=util::loading>
                        {move || people.try_get().flatten().map(|r| match r {
                            Err(e) => util::error_view(&e),
                            Ok(list) => view! { <ServiceUsersTable list=list /> }.into_any(),
                        })}
                    </Suspense>
                </section>
            </Show>
            {(!manager).then(|| view! { <TodaysTasks /> })}
        </div>
    }
}

#[derive(Clone)]
struct Task {
    time: String,
    what: String,
    href: String,
}

#[component]
fn TodaysTasks() -> impl IntoView {
    let session = expect_context::<Session>();
    let meds = session.can(Permission::MedicationView);
    let handovers = session.can(Permission::HandoversView);
    let obs = session.can(Permission::ObservationsView);
    let tasks = LocalResource::new(move || async move {
        let people: Vec<ServiceUserSummary> = api::service_users().await.unwrap_or_default();
        let mut out = Vec::new();
        let since = util::now() - time::Duration::hours(24);
        for su in people.iter().take(12) {
            if meds {
                let url = format!(
                    "/api/prescriptions?service_user_id={}&status=active&limit=50",
                    su.id
                );
                if let Ok(p) = api::get::<Page<Prescription>>(&url).await {
                    for rx in p.items {
                        for t in &rx.times {
                            out.push(Task {
                                time: t.clone(),
                                what: format!(
                                    "{}: {} {} ({})",
                                    su.display_name,
                                    rx.drug,
                                    rx.dose,
                                    util::label(rx.route.key())
                                ),
                                href: Route::record(su.id, RecordTab::Medication).href(),
                            });
                        }
                    }
                }
            }
            if handovers {
                let url = format!("/api/handovers?service_user_id={}&limit=5", su.id);
                if let Ok(p) = api::get::<Page<Handover>>(&url).await {
                    for h in p.items.into_iter().filter(|h| h.created_at >= since) {
                        out.push(Task {
                            time: util::when(h.created_at),
                            what: format!(
                                "{}: read and acknowledge the {} handover",
                                su.display_name,
                                h.shift.key()
                            ),
                            href: Route::record(su.id, RecordTab::Handovers).href(),
                        });
                    }
                }
            }
            if obs {
                let url = format!(
                    "/api/observations?service_user_id={}&kind=fluid&limit=1",
                    su.id
                );
                let last: Option<OffsetDateTime> = api::get::<Page<Value>>(&url)
                    .await
                    .ok()
                    .and_then(|p| p.items.into_iter().next())
                    .and_then(|v| {
                        v.get("observed_at")
                            .and_then(Value::as_str)
                            .map(|s| util::from_ms(js_sys::Date::parse(s)))
                    });
                if last.is_none_or(|t| t < util::now() - time::Duration::hours(4)) {
                    out.push(Task {
                        time: "Overdue".into(),
                        what: format!("{}: fluid chart not updated in 4 hours", su.display_name),
                        href: Route::record(su.id, RecordTab::Observations).href(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.time.cmp(&b.time));
        out
    });
    view! {
        <section class="card" aria-labelledby="tasks">
            <h2 id="tasks">"Today's tasks"</h2>
            <Suspense fallback=util::loading>
                {move || tasks.try_get().flatten().map(|list| if list.is_empty() {
                    view! { <p class="muted">"Nothing due."</p> }.into_any()
                } else {
                    view! {
                        <ul class="tasks">
                            {list.into_iter().map(|t| view! { <li><span class="time">{t.time}</span>" " <a href=t.href>{t.what}</a></li> }).collect_view()}
                        </ul>
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}

fn day_key(t: OffsetDateTime) -> (i32, u8, u8) {
    (t.year(), t.month() as u8, t.day())
}

#[component]
fn ManagerDashboard() -> impl IntoView {
    let data = LocalResource::new(|| async {
        let submitted = api::care_notes("status=submitted&limit=200")
            .await
            .map(|p| p.items.len())
            .unwrap_or(0);
        let incidents: Vec<Value> = api::get::<Page<Value>>("/api/incidents?limit=200")
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        let signed: Vec<CareNote> = api::care_notes("status=signed_off&limit=200")
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        let today = util::now().date();
        let mut overdue = 0;
        for endpoint in ["care-plans", "risk-assessments"] {
            if let Ok(p) =
                api::get::<Page<Value>>(&format!("/api/{endpoint}?status=active&limit=200")).await
            {
                overdue += p
                    .items
                    .iter()
                    .filter(|v| {
                        v.get("review_date")
                            .and_then(Value::as_str)
                            .and_then(|d| {
                                time::Date::parse(
                                    d,
                                    &time::format_description::well_known::Iso8601::DATE,
                                )
                                .ok()
                            })
                            .is_some_and(|d| d < today)
                    })
                    .count();
            }
        }
        (submitted, incidents, signed, overdue)
    });
    view! {
        <Suspense fallback=util::loading>
            {move || data.try_get().flatten().map(|(submitted, incidents, signed, overdue)| {
                let open = incidents.iter().filter(|i| i.get("status").and_then(Value::as_str) != Some("closed")).count();
                let now = util::now();
                // Incidents by week, the last six weeks (oldest first).
                let weeks: Vec<(String, f64)> = (0..6).rev().map(|w| {
                    let end = now - time::Duration::weeks(w);
                    let start = end - time::Duration::weeks(1);
                    let n = incidents.iter().filter(|i| i.get("occurred_at").and_then(Value::as_str).map(|s| util::from_ms(js_sys::Date::parse(s))).is_some_and(|t| t > start && t <= end)).count();
                    (if w == 0 { "this wk".into() } else { format!("-{w} wk") }, n as f64)
                }).collect();
                // Notes signed per day, the last seven days.
                let days: Vec<(String, f64)> = (0..7).rev().map(|d| {
                    let day = now - time::Duration::days(d);
                    let n = signed.iter().filter(|n| n.reviewed_at.is_some_and(|t| day_key(t.to_offset(now.offset())) == day_key(day))).count();
                    (format!("{} {}", day.day(), &format!("{:?}", day.month())[..3]), n as f64)
                }).collect();
                view! {
                    <div class="stats">
                        <a class="stat card" href=Route::Review.href()><span class="num" data-testid="awaiting-count">{submitted}</span>" notes awaiting sign-off"</a>
                        <div class="stat card"><span class="num">{open}</span>" open incidents"</div>
                        <div class="stat card"><span class="num">{overdue}</span>" overdue care-plan and risk reviews"</div>
                    </div>
                    <div class="grid-2">
                        <section class="card"><BarChart title="Incidents by week".into() data=weeks /></section>
                        <section class="card"><BarChart title="Notes signed off per day".into() data=days /></section>
                    </div>
                }
            })}
        </Suspense>
    }
}
