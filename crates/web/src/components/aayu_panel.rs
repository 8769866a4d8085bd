//! Aayu in the note editor: draft from rough points, professional tone, summarise the last
//! 24 hours, check for missing facts. The prompt is built from what the app knows by
//! `thrive_domain::assistant` (the builder `aayu-bench prompt` prints). The reply streams into
//! a preview, can be stopped, and is fact-checked when it ends: numbers, times, doses,
//! medicines and names that are not in the points or the record are highlighted with a reason.
//! It reaches the note only when the clinician accepts it, which marks the note as AI-assisted
//! and records the contribution (task, model and sha256, engine, what was flagged).
//! Nothing leaves the browser: the model runs in a Web Worker on this device.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::assistant::{self, CareContext, Flag, RecordNote, Shaping};
use thrive_domain::records::{AiAssistance, AiContribution, FlaggedSpan, NoteCategory};
use thrive_domain::validation::clean_text;
use thrive_domain::Permission;
use uuid::Uuid;

use crate::aayu::{self, Aayu};
use crate::session::Session;
use crate::util;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Draft,
    Rewrite,
    Summarise,
    Check,
}

impl Task {
    fn button(self) -> &'static str {
        match self {
            Task::Draft => "Draft from my points",
            Task::Rewrite => "Professional tone",
            Task::Summarise => "Summarise last 24 h",
            Task::Check => "Check for missing facts",
        }
    }

    fn permission(self) -> Permission {
        match self {
            Task::Draft | Task::Rewrite => Permission::AssistantDraftNotes,
            Task::Summarise => Permission::AssistantSummarise,
            Task::Check => Permission::AssistantCheckNotes,
        }
    }

    fn assistance(self) -> AiAssistance {
        match self {
            Task::Draft | Task::Summarise => AiAssistance::Drafted,
            Task::Rewrite => AiAssistance::Rewritten,
            Task::Check => AiAssistance::Checked,
        }
    }

    fn prompt_task(self) -> assistant::Task {
        match self {
            Task::Draft => assistant::Task::Draft,
            Task::Rewrite => assistant::Task::Rewrite,
            Task::Summarise => assistant::Task::Summarise,
            Task::Check => assistant::Task::Check,
        }
    }
}

/// The text as the preview shows it and Accept inserts it: what a text box keeps, with the
/// markup the model may still write removed (never a word or a number).
fn shown(raw: &str) -> String {
    assistant::clean_up(&clean_text(raw))
}

/// The preview's text with the flagged spans marked, each with its reason.
fn highlighted(text: &str, flags: &[Flag]) -> Vec<AnyView> {
    let mut out = Vec::new();
    let mut at = 0;
    for f in flags {
        if f.start < at
            || f.end > text.len()
            || !text.is_char_boundary(f.start)
            || !text.is_char_boundary(f.end)
        {
            continue;
        }
        out.push(text[at..f.start].to_owned().into_any());
        out.push(
            view! { <mark class="fact-flag" data-testid="fact-flag" title=f.reason.clone()>{text[f.start..f.end].to_owned()}</mark> }
                .into_any(),
        );
        at = f.end;
    }
    out.push(text[at..].to_owned().into_any());
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Run {
    Idle,
    Loading(String),
    Streaming,
    Done { stop_reason: String },
    Failed(String),
}

/// The assistant panel. `body` is the note's text (rough points in, accepted text out);
/// `assistance` is the note's "assisted by Aayu" field and `provenance` its list of accepted
/// contributions.
#[component]
pub fn AayuPanel(
    service_user_id: Uuid,
    /// The service user's preferred name (else their given name).
    person: String,
    category: RwSignal<NoteCategory>,
    /// When the care happened, as the editor's `datetime-local` input holds it.
    occurred: RwSignal<String>,
    body: RwSignal<String>,
    assistance: RwSignal<AiAssistance>,
    provenance: RwSignal<Vec<AiContribution>>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let aayu = expect_context::<Aayu>();
    if aayu.state.get_untracked().is_none() {
        aayu.refresh();
    }
    let output = RwSignal::new(String::new());
    let run = RwSignal::new(Run::Idle);
    let task = RwSignal::new(Task::Draft);
    // What the fact check compares the reply with, and what it found.
    let asked = RwSignal::new(None::<(String, CareContext)>);
    let flags = RwSignal::new(Vec::<Flag>::new());
    let engine = RwSignal::new(None::<String>);
    let model_used = RwSignal::new(None::<aayu::ModelInfo>);
    let person = StoredValue::new(person);

    // Everything the app knows that a prompt may state as fact.
    let context = move |notes: Vec<RecordNote>| {
        let me = session.me.get_untracked();
        let today = util::to_local_input(util::now());
        CareContext {
            person: person.get_value(),
            category: category.get_untracked(),
            occurred_at: occurred.get_untracked(),
            author_name: me
                .as_ref()
                .map(|m| m.display_name.clone())
                .unwrap_or_default(),
            author_role: me.as_ref().map(|m| m.role_name.clone()).unwrap_or_default(),
            today: today.get(..10).unwrap_or(&today).to_owned(),
            notes,
        }
    };

    let start = move |t: Task| {
        let Some(model) = aayu.current() else { return };
        task.set(t);
        output.set(String::new());
        flags.set(Vec::new());
        model_used.set(Some(model.clone()));
        let text = body.get_untracked();
        run.set(Run::Loading("Loading the model on this device…".into()));
        spawn_local(async move {
            let notes = if t == Task::Summarise {
                let since = util::now() - time::Duration::hours(24);
                let me = session.me.get_untracked();
                crate::api::care_notes(&format!("service_user_id={service_user_id}&limit=50"))
                    .await
                    .map(|p| p.items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| n.occurred_at >= since)
                    .rev()
                    .map(|n| RecordNote {
                        at: util::to_local_input(n.occurred_at),
                        author: match &me {
                            Some(m) if n.author_id == Some(m.user_id) => m.display_name.clone(),
                            _ => "a colleague".to_owned(),
                        },
                        category: n.category,
                        body: n.body,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let ctx = context(notes);
            let messages = assistant::messages(t.prompt_task(), &ctx, &text);
            let shaping = Shaping::for_task(t.prompt_task());
            asked.set(Some((text, ctx)));
            let status = move |s: String| run.set(Run::Loading(s));
            if let Err(e) = aayu::load(&model.name, status).await {
                run.set(Run::Failed(format!("Could not load {}: {e}", model.name)));
                aayu.refresh();
                return;
            }
            if engine.get_untracked().is_none() {
                engine.set(aayu::engine_version().await.ok());
            }
            run.set(Run::Streaming);
            // The preview shows the reply as the note would hold it, so what the clinician
            // reads is exactly what Accept inserts.
            let raw = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
            aayu::generate_chat(
                &messages,
                &shaping,
                move |piece| {
                    raw.borrow_mut().push_str(&piece);
                    output.set(shown(&raw.borrow()));
                },
                move |text, stop_reason| {
                    let text = shown(&text);
                    if t.prompt_task().writes_note_text() {
                        if let Some((points, ctx)) = asked.get_untracked() {
                            flags.set(assistant::fact_check(&text, &points, &ctx));
                        }
                    }
                    output.set(text);
                    run.set(Run::Done { stop_reason });
                },
                move |message| run.set(Run::Failed(format!("Aayu stopped: {message}"))),
            );
        });
    };

    let accept = move |_| {
        let t = task.get_untracked();
        let text = output.get_untracked();
        match t {
            Task::Check => {}
            Task::Summarise => body.update(|b| {
                if !b.trim().is_empty() {
                    b.push_str("\n\n");
                }
                b.push_str(text.trim());
            }),
            Task::Draft | Task::Rewrite => body.set(text.trim().to_owned()),
        }
        // The contribution, with what the fact check flagged, goes on the note with the text.
        let model = model_used.get_untracked();
        if let (Some(model), Some(engine)) = (model, engine.get_untracked()) {
            if let Some(sha) = model.sha256 {
                provenance.update(|p| {
                    p.push(AiContribution {
                        task: t.prompt_task(),
                        model: model.name,
                        model_sha256: sha,
                        engine,
                        // The record holds up to 100 (a real draft has a handful).
                        flagged: flags
                            .get_untracked()
                            .into_iter()
                            .take(100)
                            .map(|f| FlaggedSpan {
                                text: f.text,
                                reason: f.reason,
                            })
                            .collect(),
                    })
                });
            }
        }
        flags.set(Vec::new());
        let new = t.assistance();
        assistance.update(|a| {
            // "Checked" never hides that Aayu wrote some of the text.
            if !(new == AiAssistance::Checked
                && matches!(a, AiAssistance::Drafted | AiAssistance::Rewritten))
            {
                *a = new;
            }
        });
        output.set(String::new());
        run.set(Run::Idle);
    };
    let discard = move |_| {
        output.set(String::new());
        flags.set(Vec::new());
        run.set(Run::Idle);
    };

    let busy = move || matches!(run.get(), Run::Loading(_) | Run::Streaming);
    let can_download = move || session.can(Permission::AssistantDownloadModel);

    view! {
        <section class="aayu card" aria-labelledby="aayu-title" data-testid="aayu-panel">
            <h3 id="aayu-title">"Aayu assistant"</h3>
            <p class="muted small">"Runs on this device: nothing you write leaves the browser."</p>
            {move || match aayu.state.get() {
                None => util::loading(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(state)) => {
                    let current = aayu.current();
                    let several = state.models.len() > 1;
                    let names: Vec<String> = state.models.iter().map(|m| m.name.clone()).collect();
                    match current {
                        None => view! { <p class="muted">"No assistant model is available on this server yet."</p> }.into_any(),
                        Some(model) => view! {
                            <Show when=move || several>
                                <label for="aayu-model">"Model"</label>
                                <select id="aayu-model" on:change=move |ev| aayu.choose(event_target_value(&ev))>
                                    {names.iter().map(|n| {
                                        let selected = aayu.current().is_some_and(|c| &c.name == n);
                                        view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            </Show>
                            {if model.cached {
                                view! {
                                    <div class="aayu-actions" role="group" aria-label="Ask Aayu">
                                        {[Task::Draft, Task::Rewrite, Task::Summarise, Task::Check].into_iter()
                                            .filter(|t| session.can(t.permission()))
                                            .map(|t| view! {
                                                <button type="button" class="secondary-btn" disabled=busy on:click=move |_| start(t)>{t.button()}</button>
                                            }).collect_view()}
                                    </div>
                                }.into_any()
                            } else {
                                let name = model.name.clone();
                                let size = util::bytes(model.size);
                                view! {
                                    <p data-testid="model-offer">{format!("Aayu's model {name} is not on this device yet ({size}). Download it once; the rest of Thrive keeps working meanwhile.")}</p>
                                    <Show when=can_download fallback=|| view! { <p class="muted">"Ask a manager to allow model downloads for your role."</p> }>
                                        {
                                            let name = name.clone();
                                            view! {
                                                <button type="button" disabled=move || aayu.progress.get().is_some()
                                                    on:click=move |_| aayu.download(name.clone())>
                                                    {format!("Download Aayu ({size})")}
                                                </button>
                                            }
                                        }
                                    </Show>
                                }.into_any()
                            }}
                        }.into_any(),
                    }
                }
            }}
            <DownloadProgress />
            {move || aayu.error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || match run.get() {
                Run::Idle => ().into_any(),
                Run::Loading(s) => view! { <p class="muted" role="status">{s}</p> }.into_any(),
                Run::Failed(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Run::Streaming | Run::Done { .. } => ().into_any(),
            }}
            <Show when=move || matches!(run.get(), Run::Streaming | Run::Done { .. })>
                <h4>{move || format!("Aayu's suggestion ({})", task.get().button().to_lowercase())}</h4>
                <output class="aayu-output" data-testid="aayu-output" aria-live="polite"
                    data-stop-reason=move || match run.get() { Run::Done { stop_reason } => Some(stop_reason), _ => None }>
                    {move || highlighted(&output.get(), &flags.get())}
                </output>
                <Show when=move || !flags.with(Vec::is_empty)>
                    <div class="fact-check notice" data-testid="fact-check" role="status">
                        <p>"Check before accepting: Aayu wrote these, and they are not in your points or the record."</p>
                        <ul>
                            {move || flags.get().into_iter().map(|f| view! {
                                <li><mark class="fact-flag">{f.text}</mark>" — "{f.reason}</li>
                            }).collect_view()}
                        </ul>
                        <p class="small muted">"Accepting keeps the text as it is and records what was flagged."</p>
                    </div>
                </Show>
                <div class="row">
                    <Show when=move || matches!(run.get(), Run::Streaming)>
                        <button type="button" class="danger" on:click=move |_| aayu::stop()>"Stop"</button>
                    </Show>
                    <Show when=move || matches!(run.get(), Run::Done { .. })>
                        <button type="button" on:click=accept>
                            {move || if task.get() == Task::Check { "Mark note as checked" } else { "Accept" }}
                        </button>
                        <button type="button" class="ghost" on:click=discard>"Discard"</button>
                    </Show>
                </div>
            </Show>
        </section>
    }
}

/// The download's progress bar, with bytes and size; shown wherever a download runs.
#[component]
pub fn DownloadProgress() -> impl IntoView {
    let aayu = expect_context::<Aayu>();
    view! {
        {move || aayu.progress.get().map(|p| {
            let fraction = if p.total > 0.0 { p.done / p.total } else { 0.0 };
            let what = if p.phase == "verify" { "Checking" } else { "Downloading" };
            view! {
                <div class="progress" data-testid="model-progress">
                    <label for="model-progress-bar">{format!("{what} {}", p.name)}</label>
                    <progress id="model-progress-bar" max="1" value=fraction></progress>
                    <span class="small">{format!("{} of {}", util::bytes(p.done), util::bytes(p.total))}</span>
                </div>
            }
        })}
    }
}
