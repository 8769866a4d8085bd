//! A service user's record: a header and one tab per clinical tool the member's role may read.

use leptos::prelude::*;
use thrive_domain::records::ServiceUser;
use thrive_domain::Permission;
use uuid::Uuid;

use crate::api;
use crate::route::{NoteOpen, RecordTab, Route};
use crate::session::Session;
use crate::util;

/// The action that opens each tab.
pub fn tab_permission(tab: RecordTab) -> Permission {
    match tab {
        RecordTab::Profile => Permission::ServiceUsersView,
        RecordTab::Notes => Permission::CareNotesView,
        RecordTab::CarePlans => Permission::CarePlansView,
        RecordTab::Risks => Permission::RiskAssessmentsView,
        RecordTab::Incidents => Permission::IncidentsView,
        RecordTab::BodyMap => Permission::BodyMapsView,
        RecordTab::Observations => Permission::ObservationsView,
        RecordTab::Handovers => Permission::HandoversView,
        RecordTab::Medication => Permission::MedicationView,
    }
}

pub fn full_name(su: &ServiceUser) -> String {
    format!("{} {}", su.given_name, su.family_name)
}

#[component]
pub fn RecordPage(id: Uuid, tab: RecordTab, note: NoteOpen) -> impl IntoView {
    let session = expect_context::<Session>();
    let person = LocalResource::new(move || api::service_user(id));
    view! {
        <Suspense fallback=util::loading>
            {move || person.try_get().flatten().map(|result| match result {
                Err(e) => view! {
                    <h1>"Service user"</h1>
                    {util::error_view(&e)}
                    <p><a href="#/service-users">"Back to service users"</a></p>
                }.into_any(),
                Ok(su) => {
                    let name = full_name(&su);
                    let tabs: Vec<RecordTab> = RecordTab::ALL.into_iter()
                        .filter(|t| session.can(tab_permission(*t)))
                        .collect();
                    let allowed = tabs.contains(&tab);
                    view! {
                        <h1>{name.clone()}</h1>
                        <p class="muted">
                            {su.room.clone().unwrap_or_default()}
                            {su.allergies.clone().filter(|a| !a.is_empty()).map(|a| view! { <strong class="allergy">{format!(" · Allergies: {a}")}</strong> })}
                        </p>
                        <nav class="tabs" aria-label="Record sections" data-testid="record-tabs">
                            {tabs.into_iter().map(|t| view! {
                                <a href=Route::record(id, t).href() aria-current=(t == tab).then_some("page")>{t.label()}</a>
                            }).collect_view()}
                        </nav>
                        <section class="tab-panel" aria-label=tab.label()>
                            {if !allowed {
                                view! { <p class="error" role="alert">"Your role does not include this part of the record."</p> }.into_any()
                            } else {
                                match tab {
                                    RecordTab::Notes => {
                                        let person = su.preferred_name.clone().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| su.given_name.clone());
                                        view! { <super::notes::NotesTab su_id=id su_name=name.clone() su_person=person open=note /> }.into_any()
                                    }
                                    RecordTab::Profile => view! { <super::tools::ProfileTab su=su.clone() /> }.into_any(),
                                    RecordTab::BodyMap => view! { <super::body_map::BodyMapTab su_id=id /> }.into_any(),
                                    other => view! { <super::tools::ToolTab su_id=id tab=other /> }.into_any(),
                                }
                            }}
                        </section>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}
