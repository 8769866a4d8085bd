//! Aayu in the note editor: draft from rough points, professional tone, summarise the last
//! 24 hours, check for missing facts. The reply streams into a preview, can be stopped, and
//! reaches the note only when the clinician accepts it (which marks the note as AI-assisted).
//! Nothing leaves the browser: the model runs in a Web Worker on this device.

use leptos::prelude::*;
use leptos::task::spawn_local;
use thrive_domain::records::AiAssistance;
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
}

// Short on purpose: every token of instruction is a token less of context for the reply.
const SYSTEM: &str = "You are Aayu, a care-note assistant. Plain UK English. Never invent facts.";

#[derive(Debug, Clone, PartialEq)]
enum Run {
    Idle,
    Loading(String),
    Streaming,
    Done { stop_reason: String },
    Failed(String),
}

/// The assistant panel. `body` is the note's text (rough points in, accepted text out);
/// `assistance` is the note's "assisted by Aayu" field.
#[component]
pub fn AayuPanel(
    service_user_id: Uuid,
    body: RwSignal<String>,
    assistance: RwSignal<AiAssistance>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let aayu = expect_context::<Aayu>();
    if aayu.state.get_untracked().is_none() {
        aayu.refresh();
    }
    let output = RwSignal::new(String::new());
    let run = RwSignal::new(Run::Idle);
    let task = RwSignal::new(Task::Draft);

    let start = move |t: Task| {
        let Some(model) = aayu.current() else { return };
        task.set(t);
        output.set(String::new());
        let text = body.get_untracked();
        run.set(Run::Loading("Loading the model on this device…".into()));
        spawn_local(async move {
            let prompt = match t {
                Task::Draft => format!(
                    "Write a care note (who, what, when, action taken, who was informed) from:\n{text}"
                ),
                Task::Rewrite => format!(
                    "Rewrite in a professional, person-centred tone, keeping every fact:\n{text}"
                ),
                Task::Check => format!(
                    "List what this care note is missing of: who, what, when, action taken, who was informed.\n{text}"
                ),
                Task::Summarise => {
                    let since = util::now() - time::Duration::hours(24);
                    let notes = crate::api::care_notes(&format!(
                        "service_user_id={service_user_id}&limit=50"
                    ))
                    .await
                    .map(|p| p.items)
                    .unwrap_or_default();
                    let lines: Vec<String> = notes
                        .into_iter()
                        .filter(|n| n.occurred_at >= since)
                        .map(|n| format!("- {} ({}): {}", util::when(n.occurred_at), n.category.key(), n.body))
                        .collect();
                    format!(
                        "Summarise these care notes from the last 24 hours for the next shift's handover, most important first.\n\n{}",
                        if lines.is_empty() { "(no notes in the last 24 hours)".to_owned() } else { lines.join("\n") }
                    )
                }
            };
            let status = move |s: String| run.set(Run::Loading(s));
            if let Err(e) = aayu::load(&model.name, status).await {
                run.set(Run::Failed(format!("Could not load {}: {e}", model.name)));
                aayu.refresh();
                return;
            }
            run.set(Run::Streaming);
            // The preview shows the reply as the note would hold it (`clean_text`), so what
            // the clinician reads is exactly what Accept inserts.
            let raw = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
            aayu::generate(
                &prompt,
                SYSTEM,
                256,
                move |piece| {
                    raw.borrow_mut().push_str(&piece);
                    output.set(clean_text(&raw.borrow()));
                },
                move |text, stop_reason| {
                    output.set(clean_text(&text));
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
                    {move || output.get()}
                </output>
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
