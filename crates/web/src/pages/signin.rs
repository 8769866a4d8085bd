//! The sign-in screen.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::auth::Me;

use crate::api;

/// Email and password form; on success calls `on_signed_in` with the new identity.
#[component]
pub fn SignInPage(
    on_signed_in: impl Fn(Me) + Clone + Send + Sync + 'static,
    /// Why the last session ended, if it did.
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let done = on_signed_in.clone();
        spawn_local(async move {
            match api::sign_in(email.get_untracked(), password.get_untracked()).await {
                Ok(me) => {
                    password.set(String::new());
                    done(me);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <main>
            <form class="card signin" on:submit=submit>
                <h1>"Sign in to Thrive"</h1>
                {move || notice.get().map(|n| view! { <p class="notice" role="status" data-testid="signed-out-notice">{n}</p> })}
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
                <p class="error" role="alert">{move || error.get()}</p>
            </form>
        </main>
    }
}
