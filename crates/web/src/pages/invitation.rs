//! Accepting a staff invitation from the link a manager handed over (`#/invitation/<token>`:
//! the token stays in the fragment, so it never reaches a server log or a Referer). New to
//! Thrive: choose a password. Already have an account: sign in as usual from here (the sign-in
//! carries the invitation and joins, even with no membership anywhere else), or, signed in
//! already, join with that session. A password is never sent to an invitation route for an
//! existing account.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use thrive_domain::audit::InvitationInfo;
use thrive_domain::password::check_rules;

use crate::api;
use crate::session::Session;

fn token() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .and_then(|h| h.strip_prefix("#/invitation/").map(str::to_owned))
        .unwrap_or_default()
}

#[component]
pub fn InvitationPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let info = LocalResource::new(|| async {
        api::post::<InvitationInfo>("/api/auth/invitation", &json!({"token": token()})).await
    });
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let candidate = password.get_untracked();
        if let Some(problem) = check_rules(&candidate).first() {
            error.set(Some(problem.to_string()));
            return;
        }
        error.set(None);
        spawn_local(async move {
            let body = json!({"token": token(), "password": candidate});
            match api::post::<serde_json::Value>("/api/auth/accept-invitation", &body).await {
                Ok(_) => {
                    password.set(String::new());
                    done.set(Some("Done. If this was a new account it is ready: sign in with your email and the password you chose. If you already had a Thrive account, your password has not changed: sign in with it and open this link again to join.".into()));
                }
                Err(e) => error.set(Some(match e.field("password").first() {
                    Some(m) => m.clone(),
                    None => e.to_string(),
                })),
            }
        });
    };
    let join = move |_| {
        error.set(None);
        spawn_local(async move {
            let body = json!({"token": token()});
            match api::post::<serde_json::Value>("/api/auth/accept-invitation/signed-in", &body)
                .await
            {
                Ok(_) => done.set(Some(
                    "You have joined. Choose the organisation from \"Your account\" to work there."
                        .into(),
                )),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <main>
            <section class="card signin" aria-labelledby="invitation-title">
                <h1 id="invitation-title">"Your invitation to Thrive"</h1>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || info.get().map(|i| match i {
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(i) => view! {
                            <p data-testid="invitation-info">{format!("{} invites {} ({}) to join as {}.", i.organization_name, i.display_name, i.email, i.role_name)}</p>
                            {move || done.get().map(|d| view! { <p class="notice" role="status">{d}</p> })}
                            <Show when=move || done.with(Option::is_none)>
                                <Show when=move || session.me.with(Option::is_some) fallback=move || view! {
                                    <form on:submit=create>
                                        <h2>"New to Thrive? Choose a password"</h2>
                                        <p class="muted">"At least 12 characters with upper and lower case, a digit and a symbol."</p>
                                        <label for="invite-password">"New password"</label>
                                        <input id="invite-password" type="password" autocomplete="new-password" required
                                            prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                                        <button type="submit">"Create my account"</button>
                                    </form>
                                    <h2>"Already have a Thrive account?"</h2>
                                    <p>"Sign in as usual: signing in accepts the invitation."</p>
                                    <button class="secondary" on:click=move |_| crate::session::sign_in_to_accept(&token())>"Sign in to join"</button>
                                }>
                                    <button on:click=join>"Join with my account"</button>
                                </Show>
                            </Show>
                        }.into_any(),
                    })}
                </Suspense>
                <p class="error" role="alert">{move || error.get()}</p>
            </section>
        </main>
    }
}
