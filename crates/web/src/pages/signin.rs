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
    // After the password, for an account with a second factor: (token, PKCE verifier).
    let factor = RwSignal::new(None::<(String, String)>);
    let code = RwSignal::new(String::new());
    let done_factor = on_signed_in.clone();
    let submit_code = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some((token, verifier)) = factor.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let done = done_factor.clone();
        spawn_local(async move {
            match api::second_factor(token, code.get_untracked(), verifier).await {
                Ok(me) => {
                    factor.set(None);
                    code.set(String::new());
                    done(me);
                }
                Err(e) => {
                    // The token is spent by any attempt: start again from the password.
                    factor.set(None);
                    code.set(String::new());
                    error.set(Some(e.to_string()));
                }
            }
            busy.set(false);
        });
    };
    let done_passkey = on_signed_in.clone();
    let use_passkey = move |_| {
        let Some((token, verifier)) = factor.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let done = done_passkey.clone();
        spawn_local(async move {
            match api::second_factor_passkey(token, verifier).await {
                Ok(me) => {
                    factor.set(None);
                    done(me);
                }
                Err(e) => {
                    // The token may be spent: start again from the password.
                    factor.set(None);
                    error.set(Some(e.to_string()));
                }
            }
            busy.set(false);
        });
    };
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
                Ok(api::SignIn::Done(me)) => {
                    password.set(String::new());
                    done(me);
                }
                Ok(api::SignIn::SecondFactor { token, verifier }) => {
                    password.set(String::new());
                    factor.set(Some((token, verifier)));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let password_form = move || {
        let submit = submit.clone();
        view! {
            <form class="card signin" on:submit=submit>
                <h1>"Sign in to Thrive"</h1>
                {move || notice.get().map(|n| view! { <p class="notice" role="status" data-testid="signed-out-notice">{n}</p> })}
                {crate::session::pending_invitation().map(|_| view! {
                    <p class="notice" role="status" data-testid="joining-notice">"Signing in also accepts your invitation."</p>
                })}
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
                <p class="error" role="alert">{move || error.get()}</p>
            </form>
        }
    };
    let code_form = move || {
        let submit_code = submit_code.clone();
        let use_passkey = use_passkey.clone();
        view! {
            <form class="card signin" on:submit=submit_code>
                <h1>"Second step"</h1>
                {crate::passkey::supported().then(|| view! {
                    <p>"Use your passkey, or enter a code below."</p>
                    <button type="button" disabled=move || busy.get() on:click=use_passkey>"Use a passkey"</button>
                })}
                <p>"Enter the 6-digit code from your authenticator app, or one of your recovery codes."</p>
                <label for="otp">"Code"</label>
                <input id="otp" name="otp" type="text" autocomplete="one-time-code" required
                    prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev)) />
                <button type="submit" disabled=move || busy.get()>"Continue"</button>
                <p class="error" role="alert">{move || error.get()}</p>
            </form>
        }
    };
    view! {
        <main>
            {move || if factor.with(Option::is_some) {
                code_form().into_any()
            } else {
                password_form().into_any()
            }}
        </main>
    }
}
