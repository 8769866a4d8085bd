//! Data exports: the whole organisation (CSV zip, Excel), inspection reports, the audit trail,
//! and one service user's record (subject access). Links the browser downloads, once a fresh
//! authentication is in hand: the exports need step-up, so a click first checks (asking the
//! person to confirm it is them if needed), then downloads.

use leptos::prelude::*;
use leptos::task::spawn_local;
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
                <li>{download(href.to_owned(), label.to_owned())}" — " {what}</li>
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
                                    <li>{download(format!("/api/service-users/{}/export.zip", su.id), format!("{} (zip)", su.display_name))}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    })}
                </Suspense>
            </section>
        </Show>
    }
}

/// A download link that first makes sure of a fresh authentication (the step-up dialog asks
/// for one if needed), then lets the browser download.
fn download(href: String, label: String) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let target = href.clone();
    let click = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let target = target.clone();
        spawn_local(async move {
            match api::ensure_stepped_up().await {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().assign(&target);
                    }
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <a href=href download on:click=click>{label}</a>
        {move || error.get().map(|e| view! { " " <span class="error" role="alert">{e}</span> })}
    }
}
