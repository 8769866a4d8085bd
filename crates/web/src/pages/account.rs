//! The person's own account: second factors. Setting up an authenticator app shows the secret
//! (to type in, or as an otpauth link) once, then, after a code confirms it, ten recovery codes
//! once. Passkeys (this device's or a security key) can be added, listed and removed; adding
//! and removing need a fresh authentication. Members of a role that needs a second factor are
//! sent here until they have one.

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
        <PasskeysSection />
        <PasswordSection />
        <OrganisationsSection />
    }
}

/// The person's passkeys: add one (named, e.g. "Ward laptop"), list, remove.
#[component]
fn PasskeysSection() -> impl IntoView {
    let list = LocalResource::new(api::passkeys);
    let name = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            match api::passkey_enrol(name.get_untracked()).await {
                Ok(p) => {
                    name.set(String::new());
                    message.set(Some(format!("Passkey \u{201c}{}\u{201d} added.", p.name)));
                    list.refetch();
                }
                Err(e) => message.set(Some(
                    e.field("name")
                        .first()
                        .cloned()
                        .unwrap_or_else(|| e.to_string()),
                )),
            }
            busy.set(false);
        });
    };
    let remove = move |id: uuid::Uuid| {
        message.set(None);
        spawn_local(async move {
            match api::passkey_remove(id).await {
                Ok(()) => {
                    message.set(Some("Passkey removed.".into()));
                    list.refetch();
                }
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="passkeys-title">
            <h2 id="passkeys-title">"Passkeys"</h2>
            <p>"A passkey is a second factor kept by this device (its fingerprint reader, face or PIN) or by a security key."</p>
            <Suspense fallback=loading>
                {move || list.get().map(|r| match r {
                    Ok(keys) if keys.is_empty() => view! { <p data-testid="passkeys-none">"No passkeys yet."</p> }.into_any(),
                    Ok(keys) => view! {
                        <ul data-testid="passkeys">
                            {keys.into_iter().map(|k| {
                                let id = k.id;
                                let used = k.last_used_at.map(|t| format!("last used {}", crate::util::when(t)))
                                    .unwrap_or_else(|| "not used yet".into());
                                let label = format!("Remove passkey {}", k.name);
                                view! {
                                    <li>
                                        <strong>{k.name.clone()}</strong>" — added " {crate::util::when(k.created_at)} ", " {used} " "
                                        <button class="secondary" aria-label=label on:click=move |_| remove(id)>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => error_view(&e),
                })}
            </Suspense>
            {crate::passkey::supported().then(|| view! {
                <form on:submit=add>
                    <label for="passkey-name">"Name for a new passkey"</label>
                    <input id="passkey-name" type="text" maxlength="100" required placeholder="Ward laptop"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    <button type="submit" disabled=move || busy.get()>"Add a passkey"</button>
                </form>
            })}
            <p role="status">{move || message.get()}</p>
        </section>
    }
}

/// Change password, and sign out everywhere.
#[component]
fn PasswordSection() -> impl IntoView {
    let session = expect_context::<crate::session::Session>();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        message.set(None);
        spawn_local(async move {
            let body = serde_json::json!({"current_password": current.get_untracked(), "new_password": new.get_untracked()});
            match api::post::<serde_json::Value>("/api/account/password", &body).await {
                Ok(_) => {
                    current.set(String::new());
                    new.set(String::new());
                    message.set(Some(
                        "Password changed. Your other sessions have ended.".into(),
                    ));
                }
                Err(e) => message.set(Some(
                    e.field("new_password")
                        .first()
                        .cloned()
                        .unwrap_or_else(|| e.to_string()),
                )),
            }
        });
    };
    let everywhere = move |_| {
        spawn_local(async move {
            let _ = api::post_empty::<serde_json::Value>("/api/auth/logout-everywhere").await;
            crate::session::clear_drafts();
            session.me.set(None);
            crate::session::set_hash("#/");
        });
    };
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <form on:submit=change>
                <label for="current-password">"Current password"</label>
                <input id="current-password" type="password" autocomplete="current-password" required
                    prop:value=move || current.get() on:input=move |ev| current.set(event_target_value(&ev)) />
                <label for="new-password">"New password"</label>
                <input id="new-password" type="password" autocomplete="new-password" required
                    prop:value=move || new.get() on:input=move |ev| new.set(event_target_value(&ev)) />
                <button type="submit">"Change password"</button>
            </form>
            <p role="status">{move || message.get()}</p>
            <button class="secondary" on:click=everywhere>"Sign out everywhere"</button>
        </section>
    }
}

#[derive(Clone, serde::Deserialize)]
struct OrganisationChoice {
    organization_id: uuid::Uuid,
    name: String,
}

/// For people who work in several organisations: where to work now.
#[component]
fn OrganisationsSection() -> impl IntoView {
    let session = expect_context::<crate::session::Session>();
    let orgs =
        LocalResource::new(|| api::get::<Vec<OrganisationChoice>>("/api/auth/organisations"));
    let current = move || session.me.with(|m| m.as_ref().map(|m| m.organization_id));
    view! {
        <Suspense fallback=loading>
            {move || orgs.get().and_then(Result::ok).filter(|o| o.len() > 1).map(|o| view! {
                <section class="card" aria-labelledby="orgs-title">
                    <h2 id="orgs-title">"Your organisations"</h2>
                    <ul>
                        {o.into_iter().map(|org| {
                            let id = org.organization_id;
                            view! {
                                <li>
                                    {org.name.clone()}
                                    <Show when=move || current() != Some(id) fallback=|| view! { " (now)" }>
                                        " "
                                        <button class="secondary" on:click=move |_| {
                                            spawn_local(async move {
                                                let body = serde_json::json!({"organization_id": id});
                                                if api::post::<serde_json::Value>("/api/auth/switch-organisation", &body).await.is_ok() {
                                                    if let Ok(me) = api::me().await {
                                                        session.signed_in(me);
                                                        crate::session::set_hash("#/");
                                                    }
                                                }
                                            });
                                        }>{format!("Work in {}", org.name)}</button>
                                    </Show>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
            })}
        </Suspense>
    }
}
