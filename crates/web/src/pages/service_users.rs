//! "My service users": the people the signed-in member may see (the server decides who).

use leptos::prelude::*;
use thrive_domain::service_users::{ServiceUserStatus, ServiceUserSummary};

use crate::api;
use crate::route::{RecordTab, Route};
use crate::util;

fn status(s: ServiceUserStatus) -> &'static str {
    match s {
        ServiceUserStatus::Active => "Active",
        ServiceUserStatus::InHospital => "In hospital",
        ServiceUserStatus::Discharged => "Discharged",
        ServiceUserStatus::Deceased => "Deceased",
    }
}

/// The table of service users, each linking to their record.
#[component]
pub fn ServiceUsersTable(list: Vec<ServiceUserSummary>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="muted">"No service users are assigned to you yet."</p> }
            .into_any();
    }
    view! {
        <table data-testid="service-users">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Room / address"</th><th scope="col">"Status"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|su| view! {
                    <tr>
                        <td class="su-name"><a href=Route::record(su.id, RecordTab::Notes).href()>{su.display_name}</a></td>
                        <td>{su.room.unwrap_or_default()}</td>
                        <td>{status(su.status)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}

#[component]
pub fn ServiceUsersPage() -> impl IntoView {
    let people = LocalResource::new(api::service_users);
    view! {
        <h1>"Service users"</h1>
        <section class="card">
            <Suspense fallback=util::loading>
                {move || people.try_get().flatten().map(|result| match result {
                    Err(e) => util::error_view(&e),
                    Ok(list) => view! { <ServiceUsersTable list=list /> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
