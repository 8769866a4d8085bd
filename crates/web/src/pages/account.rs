//! The person's own account: second factors. Setting up an authenticator app shows the secret
//! (to type in, or as an otpauth link) once, then, after a code confirms it, ten recovery codes
//! once. Members of a role that needs a second factor are sent here until they have one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::auth::TotpEnrolment;

use crate::api;
use crate::util::{error_view, loading};

#[component]
pub fn AccountPage() -> impl IntoView {
    let status = LocalResource::new(api::mfa_status);
    let enrolment = RwSignal::new(None::<TotpEnrolment>);
    let recovery = RwSignal::new(None::<Vec<String>>);
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let start = move |_| {
        error.set(None);
        spawn_local(async move {
            match api::totp_enrol().await {
                Ok(e) => enrolment.set(Some(e)),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        spawn_local(async move {
            match api::totp_confirm(code.get_untracked()).await {
                Ok(r) => {
                    enrolment.set(None);
                    code.set(String::new());
                    recovery.set(Some(r.recovery_codes));
                    status.refetch();
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <h1>"Your account"</h1>
        <section class="card" aria-labelledby="mfa-title">
            <h2 id="mfa-title">"Second factor"</h2>
            <Suspense fallback=loading>
                {move || status.get().map(|s| match s {
                    Ok(s) if s.totp => view! {
                        <p data-testid="mfa-on">{format!("An authenticator app is set up. Recovery codes left: {}.", s.recovery_codes_left)}</p>
                    }.into_any(),
                    Ok(_) => view! {
                        <p data-testid="mfa-off">"No second factor yet. Set up an authenticator app (such as Microsoft or Google Authenticator)."</p>
                        <Show when=move || enrolment.with(Option::is_none) && recovery.with(Option::is_none)>
                            <button on:click=start>"Set up an authenticator app"</button>
                        </Show>
                    }.into_any(),
                    Err(e) => error_view(&e),
                })}
            </Suspense>
            {move || enrolment.get().map(|e| view! {
                <form on:submit=confirm>
                    <p>"Add this key to your authenticator app, then enter the code it shows."</p>
                    <p><code data-testid="totp-secret">{e.secret.clone()}</code></p>
                    <p class="muted"><a href=e.otpauth_url.clone()>"Open in an authenticator app on this device"</a></p>
                    <label for="totp-code">"Code from the app"</label>
                    <input id="totp-code" type="text" inputmode="numeric" autocomplete="one-time-code" required
                        prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev)) />
                    <button type="submit">"Confirm"</button>
                </form>
            })}
            {move || recovery.get().map(|codes| view! {
                <div role="status">
                    <p>"Your recovery codes. Each works once instead of a code. Keep them somewhere safe: they are not shown again."</p>
                    <ul data-testid="recovery-codes">{codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}</ul>
                </div>
            })}
            <p class="error" role="alert">{move || error.get()}</p>
        </section>
    }
}
