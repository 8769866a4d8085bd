//! Care notes on a service user's record: the list, and the note editor (draft, edit, submit)
//! with Aayu beside it. Validation uses the domain's `Validate`, so the messages are the
//! server's own. Unsaved work is kept on this device until it is saved or submitted.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::records::{AiAssistance, CareNote, CareNoteInput, NoteCategory, NoteStatus};
use thrive_domain::validation::{FieldErrors, Validate};
use thrive_domain::Permission;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::components::aayu_panel::AayuPanel;
use crate::route::{NoteOpen, RecordTab, Route};
use crate::session::{self, LocalDraft, Session};
use crate::util::{self, FieldError};

pub fn status_label(s: NoteStatus) -> &'static str {
    match s {
        NoteStatus::Draft => "Draft",
        NoteStatus::Submitted => "Awaiting sign-off",
        NoteStatus::Returned => "Returned",
        NoteStatus::SignedOff => "Signed off",
    }
}

pub fn assistance_label(a: AiAssistance) -> &'static str {
    match a {
        AiAssistance::None => "No",
        AiAssistance::Drafted => "Drafted with Aayu",
        AiAssistance::Rewritten => "Rewritten with Aayu",
        AiAssistance::Checked => "Checked by Aayu",
    }
}

fn category_from(key: &str) -> NoteCategory {
    NoteCategory::ALL
        .iter()
        .copied()
        .find(|c| c.key() == key)
        .unwrap_or(NoteCategory::Other)
}

fn assistance_from(key: &str) -> AiAssistance {
    AiAssistance::ALL
        .iter()
        .copied()
        .find(|c| c.key() == key)
        .unwrap_or(AiAssistance::None)
}

#[component]
pub fn NotesTab(
    su_id: Uuid,
    su_name: String,
    /// The name Aayu's prompts call the person by (preferred, else given).
    su_person: String,
    open: NoteOpen,
) -> impl IntoView {
    match open {
        NoteOpen::List => view! { <NotesList su_id=su_id /> }.into_any(),
        NoteOpen::New => {
            view! { <NoteEditor su_id=su_id su_name=su_name su_person=su_person note=None /> }
                .into_any()
        }
        NoteOpen::Note(n) => {
            let note = LocalResource::new(move || async move {
                api::get::<CareNote>(&format!("/api/care-notes/{n}")).await
            });
            view! {
                <Suspense fallback=util::loading>
                    {move || note.try_get().flatten().map(|r| match r {
                        Err(e) => util::error_view(&e),
                        Ok(n) => view! { <NoteEditor su_id=su_id su_name=su_name.clone() su_person=su_person.clone() note=Some(n) /> }.into_any(),
                    })}
                </Suspense>
            }.into_any()
        }
    }
}

#[component]
fn NotesList(su_id: Uuid) -> impl IntoView {
    let session = expect_context::<Session>();
    let notes = LocalResource::new(move || async move {
        api::care_notes(&format!("service_user_id={su_id}&limit=50")).await
    });
    view! {
        <div class="row spread">
            <h2>"Care notes"</h2>
            <Show when=move || session.can(Permission::CareNotesCreate)>
                <a class="button" href=Route::Record { id: su_id, tab: RecordTab::Notes, note: NoteOpen::New }.href()>"New care note"</a>
            </Show>
        </div>
        <Suspense fallback=util::loading>
            {move || notes.try_get().flatten().map(|r| match r {
                Err(e) => util::error_view(&e),
                Ok(page) if page.items.is_empty() => view! { <p class="muted">"No care notes yet."</p> }.into_any(),
                Ok(page) => view! {
                    <table data-testid="notes">
                        <thead><tr>
                            <th scope="col">"When"</th><th scope="col">"Category"</th><th scope="col">"Status"</th>
                            <th scope="col">"Aayu"</th><th scope="col">"Note"</th>
                        </tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|n| {
                                let excerpt: String = n.body.chars().take(90).collect();
                                view! {
                                    <tr>
                                        <td>{util::when(n.occurred_at)}</td>
                                        <td>{util::label(n.category.key())}</td>
                                        <td><span class=format!("badge {}", n.status.key())>{status_label(n.status)}</span></td>
                                        <td>{assistance_label(n.ai_assistance)}</td>
                                        <td><a href=Route::Record { id: su_id, tab: RecordTab::Notes, note: NoteOpen::Note(n.id) }.href()>{excerpt}</a></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

/// The editor for a new note (`note: None`) or an existing one (read-only unless it is a draft
/// or returned note the member may edit).
#[component]
fn NoteEditor(
    su_id: Uuid,
    su_name: String,
    su_person: String,
    note: Option<CareNote>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let user = session.user_id();
    let editable = match &note {
        None => session.can(Permission::CareNotesCreate),
        Some(n) => {
            matches!(n.status, NoteStatus::Draft | NoteStatus::Returned)
                && session.can(Permission::CareNotesUpdateDraft)
        }
    };
    let note_id = RwSignal::new(note.as_ref().map(|n| n.id));
    let category = RwSignal::new(
        note.as_ref()
            .map(|n| n.category)
            .unwrap_or(NoteCategory::PersonalCare),
    );
    let occurred = RwSignal::new(util::to_local_input(
        note.as_ref()
            .map(|n| n.occurred_at)
            .unwrap_or_else(util::now),
    ));
    let body = RwSignal::new(note.as_ref().map(|n| n.body.clone()).unwrap_or_default());
    let assistance = RwSignal::new(
        note.as_ref()
            .map(|n| n.ai_assistance)
            .unwrap_or(AiAssistance::None),
    );
    let provenance = RwSignal::new(
        note.as_ref()
            .map(|n| n.ai_provenance.clone())
            .unwrap_or_default(),
    );
    let restored = RwSignal::new(false);

    // Unsaved work from this device (kept after an idle sign-out) comes back.
    if editable {
        if let Some(d) = user.and_then(session::load_draft) {
            if d.service_user_id == su_id && d.note_id == note_id.get_untracked() {
                category.set(category_from(&d.category));
                occurred.set(d.occurred_at);
                body.set(d.body);
                assistance.set(assistance_from(&d.ai_assistance));
                // Saved contributions stay; unsaved ones come back with the text.
                if d.ai_provenance.starts_with(&provenance.get_untracked()) {
                    provenance.set(d.ai_provenance);
                }
                restored.set(true);
            }
        }
    }
    let name_for_draft = su_name.clone();
    let keep_locally = move || {
        let Some(u) = user else { return };
        session::save_draft(
            u,
            &LocalDraft {
                service_user_id: su_id,
                service_user_name: name_for_draft.clone(),
                note_id: note_id.get_untracked(),
                category: category.get_untracked().key().into(),
                occurred_at: occurred.get_untracked(),
                body: body.get_untracked(),
                ai_assistance: assistance.get_untracked().key().into(),
                ai_provenance: provenance.get_untracked(),
                saved_at: session::now_ms(),
            },
        );
    };
    // Aayu's accepted text changes `body` without a keystroke: keep that too.
    let keep = keep_locally.clone();
    Effect::new(move |first: Option<()>| {
        body.track();
        assistance.track();
        provenance.track();
        if first.is_some() && editable {
            keep();
        }
    });

    let local_errors = RwSignal::new(None::<FieldErrors>);
    let server_error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let saved_message = RwSignal::new(None::<String>);

    let input = move || CareNoteInput {
        category: category.get_untracked(),
        occurred_at: util::from_local_input(&occurred.get_untracked()).unwrap_or_else(util::now),
        body: body.get_untracked(),
        ai_assistance: assistance.get_untracked(),
        ai_provenance: provenance.get_untracked(),
    };

    let save = move |then_submit: bool| {
        if busy.get_untracked() {
            return;
        }
        let data = input();
        server_error.set(None);
        saved_message.set(None);
        if let Err(e) = data.validate() {
            local_errors.set(Some(e));
            return;
        }
        local_errors.set(None);
        busy.set(true);
        spawn_local(async move {
            let saved = match note_id.get_untracked() {
                None => api::create_note(su_id, &data).await,
                Some(id) => api::update_note(id, &data).await,
            };
            let result = match saved {
                Ok(n) if then_submit => api::note_action(n.id, "submit").await.map(|n| (n, true)),
                Ok(n) => Ok((n, false)),
                Err(e) => Err(e),
            };
            busy.set(false);
            match result {
                Ok((n, submitted)) => {
                    if let Some(u) = user {
                        session::discard_draft(u);
                    }
                    note_id.set(Some(n.id));
                    if submitted {
                        session::set_hash(&Route::record(su_id, RecordTab::Notes).href());
                    } else {
                        saved_message.set(Some(format!(
                            "Draft saved at {}.",
                            util::when(n.updated_at)
                        )));
                    }
                }
                Err(e) => server_error.set(Some(e)),
            }
        });
    };

    let body_messages = Signal::derive(move || {
        util::messages(
            local_errors.get().as_ref(),
            server_error.get().as_ref(),
            "body",
        )
    });
    let readonly_note = note.clone();

    view! {
        <p><a href=Route::record(su_id, RecordTab::Notes).href()>"← All care notes"</a></p>
        {if !editable {
            let n = readonly_note.clone();
            view! {
                <article class="card note" data-testid="note-view">
                    {n.map(|n| view! {
                        <h2>{format!("{} · {}", util::label(n.category.key()), util::when(n.occurred_at))}</h2>
                        <p><span class=format!("badge {}", n.status.key())>{status_label(n.status)}</span>
                           " · Aayu: " {assistance_label(n.ai_assistance)}</p>
                        <p class="note-body">{n.body.clone()}</p>
                        {n.review_comment.clone().map(|c| view! { <p class="notice">{format!("Manager's comment: {c}")}</p> })}
                    })}
                </article>
            }.into_any()
        } else {
            view! {
                <div class="editor-grid">
                    <form class="card" on:submit=move |ev| { ev.prevent_default(); save(true); } novalidate>
                        <h2>{move || if note_id.get().is_some() { "Edit care note" } else { "New care note" }}</h2>
                        {move || restored.get().then(|| view! { <p class="notice" role="status">"Your unsaved changes from this device were restored."</p> })}
                        {readonly_note.as_ref().and_then(|n| n.review_comment.clone()).map(|c| view! { <p class="notice">{format!("Returned by a manager: {c}")}</p> })}
                        <label for="note-category">"Category"</label>
                        <select id="note-category" on:change=move |ev| { category.set(category_from(&event_target_value(&ev))); keep_locally(); }>
                            {NoteCategory::ALL.iter().map(|c| view! {
                                <option value=c.key() selected=move || category.get() == *c>{util::label(c.key())}</option>
                            }).collect_view()}
                        </select>
                        <label for="note-when">"When it happened"</label>
                        <input id="note-when" type="datetime-local" prop:value=move || occurred.get()
                            on:input=move |ev| { occurred.set(event_target_value(&ev)); } />
                        <label for="note-body">"Note"</label>
                        <p class="hint" id="note-body-hint">"Type what happened, or rough points for Aayu to draft from."</p>
                        <textarea id="note-body" rows="10" aria-describedby="note-body-hint note-body-error"
                            aria-invalid=move || (!body_messages.get().is_empty()).then_some("true")
                            prop:value=move || body.get()
                            on:input=move |ev| {
                                body.set(event_target_value(&ev));
                                // Once a save showed the rules, they follow the typing.
                                if local_errors.with_untracked(Option::is_some) {
                                    local_errors.set(input().validate().err());
                                }
                            }></textarea>
                        <FieldError id="note-body-error" messages=body_messages />
                        <p data-testid="ai-assistance">"Assisted by Aayu: " {move || assistance_label(assistance.get())}</p>
                        {move || server_error.get().filter(|e| e.status() != Some(422)).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                        {move || saved_message.get().map(|m| view! { <p class="success" role="status">{m}</p> })}
                        <div class="row">
                            <button type="button" class="secondary-btn" disabled=move || busy.get() on:click=move |_| save(false)>"Save draft"</button>
                            <Show when=move || session.can(Permission::CareNotesSubmit)>
                                <button type="submit" disabled=move || busy.get()>"Submit for sign-off"</button>
                            </Show>
                        </div>
                    </form>
                    <Show when=move || session.can(Permission::AssistantUse)>
                        <AayuPanel service_user_id=su_id person=su_person.clone() category=category
                            occurred=occurred body=body assistance=assistance provenance=provenance />
                    </Show>
                </div>
            }.into_any()
        }}
    }
}
