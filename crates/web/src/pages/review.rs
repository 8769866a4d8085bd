//! The manager's review queue: submitted notes to read, then sign off or return with a comment.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::records::{CareNote, ReturnNote};
use thrive_domain::validation::Validate;
use thrive_domain::Permission;
use uuid::Uuid;

use super::notes::assistance_label;
use crate::api;
use crate::route::{NoteOpen, RecordTab, Route};
use crate::session::Session;
use crate::util;

/// Names for ids: service users always, staff when the role may see the staff list.
pub async fn names(staff_too: bool) -> HashMap<Uuid, String> {
    let mut map = HashMap::new();
    if let Ok(list) = api::service_users().await {
        map.extend(list.into_iter().map(|s| (s.id, s.display_name)));
    }
    if staff_too {
        if let Ok(list) = api::staff().await {
            map.extend(list.into_iter().map(|s| (s.user_id, s.display_name)));
        }
    }
    map
}

#[component]
pub fn ReviewPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let version = RwSignal::new(0u32);
    let staff_too = session.can(Permission::StaffView);
    let data = LocalResource::new(move || {
        version.track();
        async move {
            let notes = api::care_notes("status=submitted&limit=100").await;
            (notes, names(staff_too).await)
        }
    });
    view! {
        <h1>"Review queue"</h1>
        <p class="muted">"Care notes submitted for sign-off, newest first."</p>
        <Suspense fallback=util::loading>
            {move || data.try_get().flatten().map(|(notes, names)| match notes {
                Err(e) => util::error_view(&e),
                Ok(p) if p.items.is_empty() => view! { <p class="card" data-testid="review-empty">"Nothing is waiting for sign-off."</p> }.into_any(),
                Ok(p) => p.items.into_iter().map(|n| {
                    let su = names.get(&n.service_user_id).cloned().unwrap_or_else(|| "Service user".into());
                    let author = n.author_id.and_then(|a| names.get(&a).cloned()).unwrap_or_else(|| "a colleague".into());
                    view! { <ReviewItem note=n su=su author=author on_done=move || version.update(|v| *v += 1) /> }
                }).collect_view().into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn ReviewItem(
    note: CareNote,
    su: String,
    author: String,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let id = note.id;
    let comment = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let comment_error = RwSignal::new(Vec::<String>::new());
    let busy = RwSignal::new(false);
    let done1 = on_done.clone();
    let sign_off = move |_| {
        busy.set(true);
        let done = done1.clone();
        spawn_local(async move {
            match api::note_action(id, "sign-off").await {
                Ok(_) => done(),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let give_back = move |_| {
        let input = ReturnNote {
            review_comment: comment.get_untracked(),
        };
        if let Err(e) = input.validate() {
            comment_error.set(e.get("review_comment").cloned().unwrap_or_default());
            return;
        }
        comment_error.set(Vec::new());
        busy.set(true);
        let done = on_done.clone();
        spawn_local(async move {
            match api::return_note(id, input.review_comment).await {
                Ok(_) => done(),
                Err(e) => {
                    comment_error.set(e.field("review_comment"));
                    error.set(Some(e.to_string()));
                }
            }
            busy.set(false);
        });
    };
    let comment_id = format!("comment-{id}");
    let heading = format!("{su} · {}", util::label(note.category.key()));
    view! {
        <article class="card review-item" data-testid="review-item" aria-label=heading.clone()>
            <h2><a href=Route::Record { id: note.service_user_id, tab: RecordTab::Notes, note: NoteOpen::Note(id) }.href()>{heading.clone()}</a></h2>
            <p class="muted">{format!("By {author} · happened {} · submitted {}", util::when(note.occurred_at), note.submitted_at.map(util::when).unwrap_or_default())}
                " · Aayu: " {assistance_label(note.ai_assistance)}</p>
            <p class="note-body">{note.body.clone()}</p>
            <div class="row">
                <Show when=move || session.can(Permission::CareNotesSignOff)>
                    <button disabled=move || busy.get() on:click=sign_off.clone()>"Sign off"</button>
                </Show>
            </div>
            <Show when=move || session.can(Permission::CareNotesReturn)>
                <label for=comment_id.clone()>"Comment for the author"</label>
                <textarea id=comment_id.clone() rows="2" prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
                <p class="field-error" role="alert">{move || comment_error.get().join(" ")}</p>
                <button class="secondary-btn" disabled=move || busy.get() on:click=give_back.clone()>"Return to author"</button>
            </Show>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </article>
    }
}
