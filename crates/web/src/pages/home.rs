//! Home: for carers, their service users and today's tasks; for managers, what needs them
//! (notes awaiting sign-off, open incidents, overdue reviews) with two small charts.

use leptos::prelude::*;
use thrive_domain::home::{Dashboard, Today};
use thrive_domain::service_users::ServiceUserSummary;
use thrive_domain::Permission;

use super::service_users::ServiceUsersTable;
use crate::api;
use crate::components::chart::BarChart;
use crate::route::{RecordTab, Route};
use crate::session::Session;
use crate::util;

/// What a home page shows, from its one aggregate request.
#[derive(Clone)]
enum Home {
    Carer(Today),
    Manager(Dashboard),
}

impl Home {
    fn service_users(&self) -> Vec<ServiceUserSummary> {
        match self {
            Home::Carer(t) => t.service_users.clone(),
            Home::Manager(d) => d.service_users.clone(),
        }
    }
}

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
    let sees_people = session.can(Permission::ServiceUsersView);
    // One request for the whole home (issue 13): the aggregate carries the service-users card's
    // list beside the tasks or the dashboard, so a home is `/api/me` and this.
    let home = LocalResource::new(move || async move {
        if !sees_people {
            return None;
        }
        Some(if manager {
            api::get::<Dashboard>("/api/home/dashboard")
                .await
                .map(Home::Manager)
        } else {
            api::get::<Today>("/api/home/today").await.map(Home::Carer)
        })
    });
    let loaded = move || home.try_get().flatten().flatten();
    view! {
        <h1>{format!("Hello, {name}")}</h1>
        {manager.then(|| view! {
            <Suspense fallback=util::loading>
                {move || loaded().and_then(|r| r.ok()).and_then(|h| match h {
                    Home::Manager(d) => Some(view! { <ManagerDashboard d=d /> }),
                    Home::Carer(_) => None,
                })}
            </Suspense>
        })}
        <div class="grid-2">
            <Show when=move || sees_people>
                <section class="card" aria-labelledby="my-su">
                    <h2 id="my-su">{if manager { "Service users" } else { "My service users" }}</h2>
                    <Suspense fallback=util::loading>
                        {move || loaded().map(|r| match r {
                            Err(e) => util::error_view(&e),
                            Ok(h) => view! { <ServiceUsersTable list=h.service_users() /> }.into_any(),
                        })}
                    </Suspense>
                </section>
            </Show>
            {(!manager).then(|| view! {
                <section class="card" aria-labelledby="tasks">
                    <h2 id="tasks">"Today's tasks"</h2>
                    <Suspense fallback=util::loading>
                        {move || match loaded() {
                            None if sees_people => None,
                            Some(Err(e)) => Some(util::error_view(&e)),
                            Some(Ok(Home::Carer(t))) => Some(view! { <TodaysTasks today=t /> }.into_any()),
                            _ => Some(view! { <p class="muted">"Nothing due."</p> }.into_any()),
                        }}
                    </Suspense>
                </section>
            })}
        </div>
    }
}

#[derive(Clone)]
struct Task {
    time: String,
    what: String,
    href: String,
}

/// The carer's tasks, soonest first.
#[component]
fn TodaysTasks(today: Today) -> impl IntoView {
    let mut list: Vec<Task> = today
        .tasks
        .into_iter()
        .filter_map(|t| {
            let name = t.display_name;
            let su = t.service_user_id;
            match t.kind.as_str() {
                "dose" => Some(Task {
                    time: t.time.unwrap_or_default(),
                    what: format!(
                        "{name}: {} {} ({})",
                        t.drug.unwrap_or_default(),
                        t.dose.unwrap_or_default(),
                        util::label(t.route.as_deref().unwrap_or_default())
                    ),
                    href: Route::record(su, RecordTab::Medication).href(),
                }),
                "handover" => Some(Task {
                    time: t.at.as_deref().map(util::when_str).unwrap_or_default(),
                    what: format!(
                        "{name}: read and acknowledge the {} handover",
                        t.shift.unwrap_or_default()
                    ),
                    href: Route::record(su, RecordTab::Handovers).href(),
                }),
                "fluid_overdue" => Some(Task {
                    time: "Overdue".into(),
                    what: format!("{name}: fluid chart not updated in 4 hours"),
                    href: Route::record(su, RecordTab::Observations).href(),
                }),
                _ => None,
            }
        })
        .collect();
    list.sort_by(|a, b| a.time.cmp(&b.time));
    if list.is_empty() {
        return view! { <p class="muted">"Nothing due."</p> }.into_any();
    }
    view! {
        <ul class="tasks">
            {list.into_iter().map(|t| view! { <li><span class="time">{t.time}</span>" " <a href=t.href>{t.what}</a></li> }).collect_view()}
        </ul>
    }
    .into_any()
}

/// Exact counts and both series, computed in SQL under RLS (issue 13 item 3).
#[component]
fn ManagerDashboard(d: Dashboard) -> impl IntoView {
    let (submitted, open, overdue) = (d.awaiting_sign_off, d.open_incidents, d.overdue_reviews);
    // Incidents by week, the last six weeks (oldest first).
    let n = d.incidents_by_week.len();
    let weeks: Vec<(String, f64)> = d
        .incidents_by_week
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = n - 1 - i;
            (
                if w == 0 {
                    "this wk".into()
                } else {
                    format!("-{w} wk")
                },
                *c as f64,
            )
        })
        .collect();
    // Notes signed per day, the last seven days.
    let days: Vec<(String, f64)> = d
        .signed_off_by_day
        .iter()
        .map(|day| {
            let label = time::Date::parse(
                &day.date,
                &time::format_description::well_known::Iso8601::DATE,
            )
            .map(|dt| format!("{} {}", dt.day(), &format!("{:?}", dt.month())[..3]))
            .unwrap_or_else(|_| day.date.clone());
            (label, day.count as f64)
        })
        .collect();
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
}
