//! The Thrive single-page app: sign-in (PKCE) and the caller's service users.

pub mod api;
pub mod pages;
pub mod pkce;

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::auth::Me;

use pages::service_users::ServiceUsersPage;
use pages::signin::SignInPage;

/// The app shell: shows sign-in until a session exists, then the signed-in pages.
#[component]
pub fn App() -> impl IntoView {
    let me = RwSignal::new(None::<Me>);
    let checked = RwSignal::new(false);
    spawn_local(async move {
        if let Ok(who) = api::me().await {
            me.set(Some(who));
        }
        checked.set(true);
    });
    let sign_out = move |_| {
        spawn_local(async move {
            let _ = api::logout().await;
            me.set(None);
        });
    };
    view! {
        <Show when=move || checked.get() fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || match me.get() {
                None => view! { <SignInPage on_signed_in=move |who| me.set(Some(who)) /> }.into_any(),
                Some(who) => view! {
                    <header class="top">
                        <h1>"Thrive"</h1>
                        <div class="who">
                            <span data-testid="signed-in-as">{format!("{} · {} · {}", who.display_name, who.role_name, who.organization_name)}</span>
                            <button class="secondary" on:click=sign_out>"Sign out"</button>
                        </div>
                    </header>
                    <main><ServiceUsersPage /></main>
                }.into_any(),
            }}
        </Show>
    }
}
