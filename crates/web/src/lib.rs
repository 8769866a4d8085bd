//! The Thrive single-page app: sign-in (PKCE), the signed-in shell with a navigation that shows
//! only what the member's role allows, and one module per screen.

pub mod aayu;
pub mod api;
pub mod components;
pub mod pages;
pub mod passkey;
pub mod pkce;
pub mod route;
pub mod session;
pub mod util;

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::Permission;

use pages::signin::SignInPage;
use route::Route;
use session::Session;

fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    Route::parse(&hash)
}

/// The app shell: sign-in until a session exists, then the signed-in pages.
#[component]
pub fn App() -> impl IntoView {
    let session = Session::new();
    provide_context(session);
    provide_context(aayu::Aayu::new());
    // One hash listener for the app's lifetime (the shell comes and goes with the session).
    let route = RwSignal::new(current_route());
    provide_context(route);
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        route.set(current_route());
        // Move focus to the new page, for keyboard and screen reader users.
        if let Some(main) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("main"))
        {
            let _ = main.unchecked_into_html().focus();
        }
    });
    let checked = RwSignal::new(false);
    spawn_local(async move {
        if let Ok(who) = api::me().await {
            session.signed_in(who);
        }
        checked.set(true);
    });
    // The idle clock: a JS interval (so a test's fake clock drives it), activity from the DOM.
    let _ = set_interval_with_handle(move || session.tick(), std::time::Duration::from_secs(1));
    let _ = window_event_listener(leptos::ev::keydown, |_| session::user_activity());
    let _ = window_event_listener(leptos::ev::pointerdown, |_| session::user_activity());

    view! {
        <Show when=move || checked.get() fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || if route.get() == Route::Invitation {
                // Reachable signed in or not: the invitee may have no account yet.
                view! { <pages::invitation::InvitationPage /> }.into_any()
            } else if session.me.with(Option::is_some) {
                view! { <Shell /> }.into_any()
            } else {
                view! {
                    <SignInPage on_signed_in=move |who| session.signed_in(who) notice=session.notice />
                }.into_any()
            }}
        </Show>
    }
}

struct NavItem {
    route: Route,
    label: &'static str,
    allowed: fn(&Session) -> bool,
}

const NAV: &[NavItem] = &[
    NavItem {
        route: Route::Home,
        label: "Home",
        allowed: |_| true,
    },
    NavItem {
        route: Route::ServiceUsers,
        label: "Service users",
        allowed: |s| s.can(Permission::ServiceUsersView),
    },
    NavItem {
        route: Route::Review,
        label: "Review queue",
        allowed: |s| s.can(Permission::CareNotesSignOff) || s.can(Permission::CareNotesReturn),
    },
    NavItem {
        route: Route::Audit,
        label: "Audit log",
        allowed: |s| s.can(Permission::AuditView),
    },
    NavItem {
        route: Route::Ladder,
        label: "Organisation Ladder",
        allowed: |s| s.can(Permission::RolesView),
    },
    NavItem {
        route: Route::Staff,
        label: "Staff",
        allowed: |s| s.can(Permission::StaffView),
    },
    NavItem {
        route: Route::Organisation,
        label: "Organisation",
        allowed: |s| s.can(Permission::OrganisationView),
    },
    NavItem {
        route: Route::Exports,
        label: "Exports",
        allowed: |s| {
            s.can(Permission::ExportOrganisationCsv)
                || s.can(Permission::ExportOrganisationXlsx)
                || s.can(Permission::ExportAuditedReports)
                || s.can(Permission::AuditExport)
        },
    },
    NavItem {
        route: Route::Assistant,
        label: "Aayu model",
        allowed: |s| s.can(Permission::AssistantUse) || s.can(Permission::AssistantDownloadModel),
    },
];

fn section(route: Route) -> Route {
    match route {
        Route::Record { .. } => Route::ServiceUsers,
        r => r,
    }
}

/// The signed-in layout: header, navigation, the current page, the idle warning.
#[component]
fn Shell() -> impl IntoView {
    let session = expect_context::<Session>();
    let route = expect_context::<RwSignal<Route>>();
    let who = move || {
        session
            .me
            .with(|m| {
                m.as_ref().map(|m| {
                    format!(
                        "{} · {} · {}",
                        m.display_name, m.role_name, m.organization_name
                    )
                })
            })
            .unwrap_or_default()
    };
    view! {
        <a class="skip" href="#main" on:click=|ev| {
            ev.prevent_default();
            if let Some(main) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("main")) {
                let _ = main.unchecked_into_html().focus();
            }
        }>"Skip to content"</a>
        <header class="top">
            <span class="brand">"Thrive"</span>
            <div class="who">
                <span data-testid="signed-in-as">{who}</span>
                <a href="#/account">"Your account"</a>
                <button class="secondary" on:click=move |_| session.sign_out()>"Sign out"</button>
            </div>
        </header>
        <div class="layout">
            <nav aria-label="Main">
                <ul>
                    {NAV.iter().map(|item| {
                        let target = item.route;
                        let allowed = item.allowed;
                        let label = item.label;
                        view! {
                            <Show when=move || allowed(&session)>
                                <li>
                                    <a href=target.href()
                                        aria-current=move || (section(route.get()) == target).then_some("page")>
                                        {label}
                                    </a>
                                </li>
                            </Show>
                        }
                    }).collect_view()}
                </ul>
            </nav>
            <main id="main" tabindex="-1">
                {move || session.notice_in_app.get().map(|n| view! {
                    <p class="notice" role="status" data-testid="app-notice">{n}
                        <button class="ghost" on:click=move |_| session.notice_in_app.set(None)>"Dismiss"</button>
                    </p>
                })}
                <components::draft_offer::DraftOffer />
                {move || pages::page(route.get())}
            </main>
        </div>
        <components::idle::IdleWarning />
        <components::step_up::StepUpDialog />
    }
}

trait UncheckedHtml {
    fn unchecked_into_html(self) -> web_sys::HtmlElement;
}

impl UncheckedHtml for web_sys::Element {
    fn unchecked_into_html(self) -> web_sys::HtmlElement {
        use wasm_bindgen::JsCast;
        self.unchecked_into()
    }
}
