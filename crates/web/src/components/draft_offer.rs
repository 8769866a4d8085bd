//! After signing in: an unsaved note kept on this device is offered back.

use leptos::prelude::*;

use crate::route::{NoteOpen, RecordTab, Route};
use crate::session::{self, Session};

#[component]
pub fn DraftOffer() -> impl IntoView {
    let s = expect_context::<Session>();
    let dismissed = RwSignal::new(false);
    let draft = move || {
        if dismissed.get() {
            return None;
        }
        let user = s.me.with(|m| m.as_ref().map(|m| m.user_id))?;
        // Not while that very draft is open in the editor.
        let d = session::load_draft(user)?;
        (!d.body.trim().is_empty()).then_some(d)
    };
    view! {
        {move || draft().map(|d| {
            let open = Route::Record {
                id: d.service_user_id,
                tab: RecordTab::Notes,
                note: d.note_id.map(NoteOpen::Note).unwrap_or(NoteOpen::New),
            };
            view! {
                <section class="notice" role="region" aria-label="Unsaved note" data-testid="draft-offer">
                    <p>{format!("You have an unsaved care note for {} from {}.", d.service_user_name, crate::util::when_ms(d.saved_at))}</p>
                    <a class="button" href=open.href() on:click=move |_| dismissed.set(true)>"Continue the note"</a>
                    <button class="ghost" on:click=move |_| {
                        if let Some(u) = s.user_id() { session::discard_draft(u); }
                        dismissed.set(true);
                    }>"Discard it"</button>
                </section>
            }
        })}
    }
}
