//! The body map: a front and back figure drawn in SVG; a click places a mark (stored as
//! fractions of the figure's size), described in a form, with evidence photos uploaded per mark.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use thrive_domain::records::{BodyMapMark, BodyMapMarkInput, BodySide, Page};
use thrive_domain::validation::{FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::session::Session;
use crate::util::{self, FieldError};

#[derive(Debug, Clone, Deserialize)]
struct StoredFile {
    id: Uuid,
}

const W: f64 = 160.0;
const H: f64 = 360.0;

/// A simple human outline (head, torso, arms, legs) in a 160 × 360 box.
fn figure() -> impl IntoView {
    view! {
        <g class="figure">
            <circle cx="80" cy="36" r="26"></circle>
            <rect x="50" y="66" width="60" height="120" rx="18"></rect>
            <rect x="22" y="72" width="22" height="118" rx="10"></rect>
            <rect x="116" y="72" width="22" height="118" rx="10"></rect>
            <rect x="52" y="182" width="24" height="160" rx="10"></rect>
            <rect x="84" y="182" width="24" height="160" rx="10"></rect>
        </g>
    }
}

#[component]
pub fn BodyMapTab(su_id: Uuid) -> impl IntoView {
    let session = expect_context::<Session>();
    let version = RwSignal::new(0u32);
    let marks = LocalResource::new(move || {
        version.track();
        async move {
            api::get::<Page<BodyMapMark>>(&format!(
                "/api/body-map-marks?service_user_id={su_id}&limit=200"
            ))
            .await
        }
    });
    let pending = RwSignal::new(None::<(BodySide, f32, f32)>);
    let region = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let local = RwSignal::new(None::<FieldErrors>);
    let server = RwSignal::new(None::<ApiError>);
    let can_create = move || session.can(Permission::BodyMapsCreate);

    let place = move |side: BodySide, ev: leptos::ev::MouseEvent| {
        if !can_create() {
            return;
        }
        let Some(target) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let rect = target.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return;
        }
        let x = ((f64::from(ev.client_x()) - rect.left()) / rect.width()).clamp(0.0, 1.0) as f32;
        let y = ((f64::from(ev.client_y()) - rect.top()) / rect.height()).clamp(0.0, 1.0) as f32;
        pending.set(Some((side, x, y)));
    };

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some((side, x, y)) = pending.get_untracked() else {
            return;
        };
        let input = BodyMapMarkInput {
            side,
            region: region.get_untracked(),
            x,
            y,
            description: description.get_untracked(),
            size: String::new(),
            observed_at: util::now(),
        };
        server.set(None);
        if let Err(e) = input.validate() {
            local.set(Some(e));
            return;
        }
        local.set(None);
        spawn_local(async move {
            match api::post::<BodyMapMark>(
                &format!("/api/service-users/{su_id}/body-map-marks"),
                &input,
            )
            .await
            {
                Ok(_) => {
                    pending.set(None);
                    region.set(String::new());
                    description.set(String::new());
                    version.update(|v| *v += 1);
                }
                Err(e) => server.set(Some(e)),
            }
        });
    };

    let side_svg = move |side: BodySide, title: &'static str| {
        view! {
            <figure class="body-figure">
                <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("{title} of the body; marks shown as dots")
                    on:click=move |ev| place(side, ev)>
                    {figure()}
                    {move || marks.try_get().flatten().and_then(|r| r.ok()).map(|p| p.items.into_iter().filter(|m| m.side == side).map(|m| view! {
                        <circle class="mark" cx=f64::from(m.x) * W cy=f64::from(m.y) * H r="6"><title>{format!("{}: {}", m.region, m.description)}</title></circle>
                    }).collect_view())}
                    {move || pending.get().filter(|(s, _, _)| *s == side).map(|(_, x, y)| view! {
                        <circle class="mark pending" cx=f64::from(x) * W cy=f64::from(y) * H r="7"></circle>
                    })}
                </svg>
                <figcaption>{title}</figcaption>
            </figure>
        }
    };

    view! {
        <h2>"Body map"</h2>
        <Show when=can_create>
            <p class="hint">"Click the figure where the mark is, then describe it."</p>
        </Show>
        <div class="body-map">
            {side_svg(BodySide::Front, "Front")}
            {side_svg(BodySide::Back, "Back")}
            <Show when=move || pending.get().is_some()>
                <form class="card" on:submit=save novalidate>
                    <h3>"New mark"</h3>
                    <label for="mark-region">"Body region"</label>
                    <input id="mark-region" prop:value=move || region.get() on:input=move |ev| region.set(event_target_value(&ev)) aria-describedby="mark-region-error" />
                    <FieldError id="mark-region-error" messages=Signal::derive(move || util::messages(local.get().as_ref(), server.get().as_ref(), "region")) />
                    <label for="mark-description">"Description"</label>
                    <textarea id="mark-description" rows="3" prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev)) aria-describedby="mark-description-error"></textarea>
                    <FieldError id="mark-description-error" messages=Signal::derive(move || util::messages(local.get().as_ref(), server.get().as_ref(), "description")) />
                    {move || server.get().filter(|e| e.status() != Some(422)).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                    <div class="row">
                        <button type="submit">"Save mark"</button>
                        <button type="button" class="ghost" on:click=move |_| pending.set(None)>"Cancel"</button>
                    </div>
                </form>
            </Show>
        </div>
        <Suspense fallback=util::loading>
            {move || marks.try_get().flatten().map(|r| match r {
                Err(e) => util::error_view(&e),
                Ok(p) => view! {
                    <ul class="marks">
                        {p.items.into_iter().map(|m| view! { <MarkItem mark=m /> }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn MarkItem(mark: BodyMapMark) -> impl IntoView {
    let session = expect_context::<Session>();
    let id = mark.id;
    let message = RwSignal::new(None::<Result<String, String>>);
    let photos = RwSignal::new(Vec::<Uuid>::new());
    if session.can(Permission::BodyMapPhotosView) {
        spawn_local(async move {
            if let Ok(list) =
                api::get::<Vec<StoredFile>>(&format!("/api/body-map-marks/{id}/photos")).await
            {
                photos.set(list.into_iter().map(|f| f.id).collect());
            }
        });
    }
    let input_id = format!("photo-{id}");
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
            match api::upload::<StoredFile>(
                "POST",
                &format!("/api/body-map-marks/{id}/photos"),
                &file,
            )
            .await
            {
                Ok(f) => {
                    photos.update(|p| p.push(f.id));
                    message.set(Some(Ok("Photo uploaded (location data removed).".into())));
                }
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    view! {
        <li class="card">
            <strong>{format!("{} ({})", mark.region, util::label(mark.side.key()))}</strong>
            " · " {util::when(mark.observed_at)}
            <p>{mark.description.clone()}</p>
            <div class="photos">
                {move || photos.get().into_iter().map(|p| view! { <img src=format!("/api/files/{p}") alt=format!("Evidence photo of {}", mark.region) width="120" /> }).collect_view()}
            </div>
            <Show when=move || session.can(Permission::BodyMapPhotosUpload)>
                <label for=input_id.clone()>"Add a photo"</label>
                <input id=input_id.clone() type="file" accept="image/jpeg,image/png,image/webp" on:change=upload />
            </Show>
            {move || message.get().map(|m| match m {
                Ok(t) => view! { <p class="success" role="status">{t}</p> }.into_any(),
                Err(t) => view! { <p class="error" role="alert">{t}</p> }.into_any(),
            })}
        </li>
    }
}
