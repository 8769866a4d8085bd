//! The step-up prompt: shown when the server answers `step_up_required` (exports, ladder
//! changes, deactivation, closure need a fresh authentication). The person confirms with their
//! password, a second-factor code or a passkey, and what they were doing carries on (the
//! refused request is sent again; see `api::send`); cancelling gives the refusal back.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::auth::StepUpRequest;

use crate::api;
use crate::session::Session;

#[component]
pub fn StepUpDialog() -> impl IntoView {
    let session = expect_context::<Session>();
    let secret = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let value = secret.get_untracked();
        // Six digits (or a recovery code's shape) is a code; anything else a password.
        let is_code = value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
            || (value.len() == 14 && value.matches('-').count() == 2);
        let request = if is_code {
            StepUpRequest {
                password: None,
                code: Some(value),
            }
        } else {
            StepUpRequest {
                password: Some(value),
                code: None,
            }
        };
        spawn_local(async move {
            match api::step_up(&request).await {
                Ok(()) => {
                    secret.set(String::new());
                    crate::session::step_up_finished(true);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let with_passkey = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::step_up_passkey().await {
                Ok(()) => crate::session::step_up_finished(true),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let cancel = move |_| {
        secret.set(String::new());
        error.set(None);
        crate::session::step_up_finished(false);
    };
    view! {
        <Show when=move || session.step_up.get()>
            <div class="backdrop">
                <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="step-up-title"
                    data-testid="step-up" on:submit=submit>
                    <h2 id="step-up-title">"Confirm it is you"</h2>
                    <p>"This needs a fresh confirmation: enter your password, or a code from your authenticator app."</p>
                    <label for="step-up-secret">"Password or code"</label>
                    <input id="step-up-secret" type="password" autocomplete="current-password" required
                        prop:value=move || secret.get() on:input=move |ev| secret.set(event_target_value(&ev)) />
                    <p class="error" role="alert">{move || error.get()}</p>
                    <button type="submit" disabled=move || busy.get()>"Confirm"</button>
                    {crate::passkey::supported().then(|| view! {
                        <button type="button" class="secondary" disabled=move || busy.get() on:click=with_passkey>"Use a passkey"</button>
                    })}
                    <button type="button" class="ghost" on:click=cancel>"Cancel"</button>
                </form>
            </div>
        </Show>
    }
}
