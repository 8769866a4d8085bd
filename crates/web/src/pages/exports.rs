//! Data exports: the whole organisation (CSV zip, Excel), inspection reports, the audit trail,
//! and one service user's record (subject access). Plain links: the browser downloads them.

use leptos::prelude::*;
use thrive_domain::Permission;

use crate::api;
use crate::session::Session;
use crate::util;

#[component]
pub fn ExportsPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let people = LocalResource::new(api::service_users);
    let link = move |p: Permission, href: &'static str, label: &'static str, what: &'static str| {
        session.can(p).then(|| {
            view! {
                <li><a href=href download>{label}</a>" — " {what}</li>
            }
        })
    };
    view! {
        <h1>"Exports"</h1>
        <section class="card">
            <h2>"Organisation"</h2>
            <ul class="links">
                {link(Permission::ExportOrganisationCsv, "/api/exports/organisation.zip", "All data (CSV files, zip)", "every table of the organisation")}
                {link(Permission::ExportOrganisationXlsx, "/api/exports/organisation.xlsx", "All data (Excel workbook)", "one sheet per table")}
                {link(Permission::ExportAuditedReports, "/api/exports/inspection-report.csv", "Inspection report (CSV)", "for a regulator's visit")}
                {link(Permission::AuditExport, "/api/audit/export.csv", "Audit trail (CSV)", "every entry; filter it on the audit log page")}
            </ul>
        </section>
        <Show when=move || session.can(Permission::ServiceUsersExport)>
            <section class="card">
                <h2>"One person's record (subject access request)"</h2>
                <Suspense fallback=util::loading>
                    {move || people.try_get().flatten().map(|r| match r {
                        Err(e) => util::error_view(&e),
                        Ok(list) => view! {
                            <ul class="links">
                                {list.into_iter().map(|su| view! {
                                    <li><a href=format!("/api/service-users/{}/export.zip", su.id) download>{format!("{} (zip)", su.display_name)}</a></li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    })}
                </Suspense>
            </section>
        </Show>
    }
}
