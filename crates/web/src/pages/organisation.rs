//! Organisation settings: the name and the logo (uploaded as an image; the server re-encodes
//! it, dropping any metadata).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thrive_domain::Permission;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::session::Session;
use crate::util::{self, FieldError};

#[derive(Debug, Clone, Deserialize)]
struct Organisation {
    name: String,
    closure_requested_at: Option<String>,
    purge_after: Option<String>,
}

#[derive(Serialize)]
struct OrganisationInput {
    name: String,
}

#[component]
pub fn OrganisationPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let org = LocalResource::new(|| api::get::<Organisation>("/api/organisation"));
    let name = RwSignal::new(String::new());
    let server = RwSignal::new(None::<ApiError>);
    let local = RwSignal::new(Vec::<String>::new());
    let saved = RwSignal::new(None::<String>);
    let logo_version = RwSignal::new(0u32);
    let logo_message = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move || {
        if let Some(Ok(o)) = org.try_get().flatten() {
            name.set(o.name);
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked();
        // The same rule the server applies (required, at most 200 characters).
        let mut check = thrive_domain::validation::Check::new();
        check.text("name", &n, 200);
        if let Err(e) = check.finish() {
            local.set(e.get("name").cloned().unwrap_or_default());
            return;
        }
        local.set(Vec::new());
        spawn_local(async move {
            match api::put::<Value>("/api/organisation", &OrganisationInput { name: n }).await {
                Ok(_) => saved.set(Some("Saved.".into())),
                Err(e) => server.set(Some(e)),
            }
        });
    };
    let upload = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        spawn_local(async move {
            match api::upload::<Value>("PUT", "/api/organisation/logo", &file).await {
                Ok(_) => {
                    logo_message.set(Some(Ok("Logo uploaded.".into())));
                    logo_version.update(|v| *v += 1);
                }
                Err(e) => logo_message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let messages = Signal::derive(move || {
        let l = local.get();
        if l.is_empty() {
            server.get().map(|e| e.field("name")).unwrap_or_default()
        } else {
            l
        }
    });
    view! {
        <h1>"Organisation"</h1>
        <Suspense fallback=util::loading>
            {move || org.try_get().flatten().map(|r| match r {
                Err(e) => util::error_view(&e),
                Ok(o) => view! {
                    {o.closure_requested_at.clone().map(|c| view! { <p class="notice">{format!("Closure requested on {}; data will be purged after {}.", util::when_str(&c), o.purge_after.clone().map(|p| util::when_str(&p)).unwrap_or_default())}</p> })}
                }.into_any(),
            })}
        </Suspense>
        <form class="card" on:submit=save novalidate>
            <h2>"Details"</h2>
            <label for="org-name">"Organisation name"</label>
            <input id="org-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))
                disabled=move || !session.can(Permission::OrganisationUpdate) aria-describedby="org-name-error" />
            <FieldError id="org-name-error" messages=messages />
            {move || server.get().filter(|e| e.status() != Some(422)).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            {move || saved.get().map(|m| view! { <p class="success" role="status">{m}</p> })}
            <Show when=move || session.can(Permission::OrganisationUpdate)>
                <button type="submit">"Save"</button>
            </Show>
        </form>
        <section class="card">
            <h2>"Logo"</h2>
            {move || view! { <img class="logo" src=format!("/api/organisation/logo?v={}", logo_version.get()) alt="The organisation's logo" /> }}
            <Show when=move || session.can(Permission::OrganisationUploadLogo)>
                <label for="logo-file">"Upload a new logo (JPEG, PNG or WebP, up to 10 MB)"</label>
                <input id="logo-file" type="file" accept="image/jpeg,image/png,image/webp" on:change=upload />
            </Show>
            {move || logo_message.get().map(|m| match m {
                Ok(t) => view! { <p class="success" role="status">{t}</p> }.into_any(),
                Err(t) => view! { <p class="error" role="alert">{t}</p> }.into_any(),
            })}
        </section>
    }
}
