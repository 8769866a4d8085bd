//! `aayu-bench prompt` and `aayu-bench eval`: the app's own prompts (built by
//! `thrive_domain::assistant`, as the SPA builds them) printed, or run greedily over a file of
//! cases and measured.
//!
//! Measures per draft, on the text as the preview would show it (after the clean-up), with the
//! raw reply's markdown counted too:
//! - markdown (bold, headings, bullets, code, links) and placeholders (`[…]`, `XX`, "insert");
//! - numbers in the draft that are not in the input: digit runs (leading zeros dropped) that
//!   do not occur in the user's turn (points and context, with the context's dates also as
//!   numbers). Deliberately simpler than the fact
//!   check, so the fact check is measured against something it does not share code with;
//! - whether each such number lies inside a span the fact check flagged;
//! - input numbers kept: the points' digit runs found among the draft's (an `0830` counts as
//!   kept by `08:30`);
//! - everything the fact check flagged.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thrive_domain::assistant::{
    self, clean_up, fact_check, has_markdown, has_placeholder, CareContext, Message, Shaping, Task,
};
use web_time::Instant;

use crate::chat::{self, ChatMessage, Role};
use crate::generate::{Engine, GenerateOptions};
use crate::sampling::SamplingParams;
use crate::shaping::OutputShaping;

type Flags = HashMap<String, String>;

/// The note editor's prompt before issue 12, kept here only to measure the "before".
const LEGACY_SYSTEM: &str =
    "You are Aayu, a care-note assistant. Plain UK English. Never invent facts.";

fn legacy_messages(task: Task, points: &str) -> Vec<ChatMessage> {
    let user = match task {
        Task::Draft => format!(
            "Write a care note (who, what, when, action taken, who was informed) from:\n{points}"
        ),
        Task::Rewrite => {
            format!("Rewrite in a professional, person-centred tone, keeping every fact:\n{points}")
        }
        Task::Check => format!(
            "List what this care note is missing of: who, what, when, action taken, who was informed.\n{points}"
        ),
        Task::Summarise => format!(
            "Summarise these care notes from the last 24 hours for the next shift's handover, most important first.\n\n{points}"
        ),
    };
    vec![
        ChatMessage::new(Role::System, LEGACY_SYSTEM),
        ChatMessage::new(Role::User, user),
    ]
}

/// What `prompt --json` prints: the messages the SPA posts to the worker and the shaping.
#[derive(Debug, Serialize)]
struct PromptJson<'a> {
    messages: &'a [Message],
    shaping: Shaping,
}

fn task_flag(flags: &Flags) -> Result<Task, String> {
    let key = flags.get("task").map(String::as_str).unwrap_or("draft");
    Task::from_key(key)
        .ok_or_else(|| format!("--task must be draft, rewrite, summarise or check, not {key:?}"))
}

/// `aayu-bench prompt`: the exact ChatML (or, with `--json`, the messages) for a task.
pub fn print_prompt(flags: &Flags) -> Result<(), String> {
    let task = task_flag(flags)?;
    let points = flags.get("points").ok_or("--points TEXT is required")?;
    let path = flags
        .get("context")
        .ok_or("--context FILE.json is required")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let ctx: CareContext = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let messages = assistant::messages(task, &ctx, points);
    if flags.contains_key("json") {
        let json = serde_json::to_string_pretty(&PromptJson {
            messages: &messages,
            shaping: Shaping::for_task(task),
        })
        .map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        let chat: Vec<ChatMessage> = messages.iter().map(ChatMessage::from).collect();
        print!("{}", chat::render(&chat));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct CaseFile {
    #[serde(default)]
    defaults: Map<String, Value>,
    cases: Vec<Map<String, Value>>,
}

struct Case {
    id: String,
    task: Task,
    points: String,
    ctx: CareContext,
}

fn read_cases(path: &str) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let file: CaseFile = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let mut cases = Vec::new();
    for mut c in file.cases {
        let take = |c: &mut Map<String, Value>, k: &str| -> Result<String, String> {
            match c.remove(k) {
                Some(Value::String(s)) => Ok(s),
                _ => Err(format!("{path}: every case needs a string {k:?}")),
            }
        };
        let id = take(&mut c, "id")?;
        let task_key = take(&mut c, "task")?;
        let task =
            Task::from_key(&task_key).ok_or_else(|| format!("{id}: unknown task {task_key:?}"))?;
        let points = take(&mut c, "points")?;
        let mut fields = file.defaults.clone();
        fields.extend(c);
        let ctx: CareContext = serde_json::from_value(Value::Object(fields))
            .map_err(|e| format!("{id}: the context: {e}"))?;
        cases.push(Case {
            id,
            task,
            points,
            ctx,
        });
    }
    Ok(cases)
}

/// Digit runs with leading zeros dropped, and their byte spans.
fn digit_runs(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = text[s..i].trim_start_matches('0');
            out.push((
                s,
                i,
                if n.is_empty() {
                    "0".into()
                } else {
                    n.to_owned()
                },
            ));
        } else {
            i += 1;
        }
    }
    out
}

/// One case's measures.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    id: String,
    task: Task,
    prompt_tokens: usize,
    new_tokens: usize,
    seconds: f64,
    stop_reason: String,
    raw: String,
    draft: String,
    raw_markdown: bool,
    markdown: bool,
    placeholder: bool,
    numbers_not_in_input: Vec<String>,
    unflagged_numbers: Vec<String>,
    input_numbers: usize,
    input_numbers_kept: usize,
    numbers_lost: Vec<String>,
    flags: Vec<(String, String)>,
}

fn measure(case: &Case, user_turn: &str, raw: &str) -> CaseResult {
    let draft = clean_up(raw);
    // The user's turn, and the context's dates as numbers (the month of "2 December" is 12).
    let input_text = format!("{user_turn} {} {}", case.ctx.today, case.ctx.occurred_at);
    let input: BTreeSet<String> = digit_runs(&input_text).into_iter().map(|r| r.2).collect();
    let flags = fact_check(&draft, &case.points, &case.ctx);
    let mut numbers_not_in_input = Vec::new();
    let mut unflagged_numbers = Vec::new();
    for (s, e, n) in digit_runs(&draft) {
        if input.contains(&n) {
            continue;
        }
        numbers_not_in_input.push(draft[s..e].to_owned());
        if !flags.iter().any(|f| f.start <= s && e <= f.end) {
            unflagged_numbers.push(draft[s..e].to_owned());
        }
    }
    let in_draft: BTreeSet<String> = digit_runs(&draft).into_iter().map(|r| r.2).collect();
    let mut kept = 0;
    let mut lost = Vec::new();
    let points_runs = digit_runs(&case.points);
    for (s, e, n) in &points_runs {
        let raw_run = &case.points[*s..*e];
        let as_time = raw_run.len() == 4 && {
            let h = raw_run[..2].trim_start_matches('0');
            let m = raw_run[2..].trim_start_matches('0');
            let h = if h.is_empty() { "0" } else { h };
            let m = if m.is_empty() { "0" } else { m };
            in_draft.contains(h) && in_draft.contains(m)
        };
        if in_draft.contains(n) || as_time {
            kept += 1;
        } else {
            lost.push(raw_run.to_owned());
        }
    }
    CaseResult {
        id: case.id.clone(),
        task: case.task,
        prompt_tokens: 0,
        new_tokens: 0,
        seconds: 0.0,
        stop_reason: String::new(),
        raw: raw.to_owned(),
        raw_markdown: has_markdown(raw),
        markdown: has_markdown(&draft),
        placeholder: has_placeholder(&draft),
        numbers_not_in_input,
        unflagged_numbers,
        input_numbers: points_runs.len(),
        input_numbers_kept: kept,
        numbers_lost: lost,
        flags: flags.into_iter().map(|f| (f.text, f.reason)).collect(),
        draft,
    }
}

/// `aayu-bench eval`: every case through the engine, greedy, measured; totals at the end.
pub fn run(engine: &mut Engine, flags: &Flags) -> Result<(), String> {
    let path = flags.get("cases").ok_or("--cases FILE is required")?;
    let legacy = match flags.get("prompt").map(String::as_str).unwrap_or("app") {
        "app" => false,
        "legacy" => true,
        other => return Err(format!("--prompt must be app or legacy, not {other:?}")),
    };
    let mask = flags.get("mask").map(String::as_str).unwrap_or("both");
    if !["both", "markdown", "none"].contains(&mask) {
        return Err(format!(
            "--mask must be both, markdown or none, not {mask:?}"
        ));
    }
    let tokens: Option<usize> = flags
        .get("tokens")
        .map(|v| {
            v.parse()
                .map_err(|_| "--tokens must be a number".to_owned())
        })
        .transpose()?;
    let only: Option<BTreeSet<&str>> = flags.get("only").map(|s| s.split(',').collect());
    let mut out = match flags.get("out") {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };
    let cases = read_cases(path)?;
    println!(
        "model load {:.1} s; prompts: {}; mask: {}; cases: {}",
        engine.load_ms() / 1000.0,
        if legacy {
            "legacy (before issue 12)"
        } else {
            "app (thrive_domain::assistant)"
        },
        if legacy { "none" } else { mask },
        cases.len()
    );
    let mut results = Vec::new();
    for case in cases
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| o.contains(c.id.as_str())))
    {
        let shaping = Shaping::for_task(case.task);
        let (chat, user_turn, options) = if legacy {
            let options = GenerateOptions {
                max_new_tokens: tokens.unwrap_or(256),
                sampling: SamplingParams::greedy(),
                ..GenerateOptions::default()
            };
            (
                legacy_messages(case.task, &case.points),
                assistant::user_turn(case.task, &case.ctx, &case.points),
                options,
            )
        } else {
            let messages = assistant::messages(case.task, &case.ctx, &case.points);
            let chat: Vec<ChatMessage> = messages.iter().map(ChatMessage::from).collect();
            let options = GenerateOptions {
                max_new_tokens: tokens.unwrap_or(shaping.max_new_tokens),
                sampling: SamplingParams::greedy(),
                shaping: OutputShaping {
                    stop_sequences: shaping.stop.clone(),
                    forbid_markdown: shaping.forbid_markdown && mask != "none",
                    forbid_brackets: shaping.forbid_brackets && mask == "both",
                },
                ..GenerateOptions::default()
            };
            (
                chat,
                assistant::user_turn(case.task, &case.ctx, &case.points),
                options,
            )
        };
        let start = Instant::now();
        let generation = engine
            .chat(&chat, &options, &AtomicBool::new(false), |_| {})
            .map_err(|e| format!("{}: {e}", case.id))?;
        let mut r = measure(case, &user_turn, &generation.text);
        r.prompt_tokens = generation.timings.prompt_tokens;
        r.new_tokens = generation.timings.generated_tokens;
        r.seconds = start.elapsed().as_secs_f64();
        r.stop_reason = serde_json::to_value(generation.stop_reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        print_case(&r);
        if let Some(f) = out.as_mut() {
            use std::io::Write;
            let line = serde_json::to_string(&r).map_err(|e| e.to_string())?;
            writeln!(f, "{line}").map_err(|e| e.to_string())?;
        }
        results.push(r);
    }
    print_totals(&results);
    Ok(())
}

fn print_case(r: &CaseResult) {
    println!(
        "\n== {} ({}): {} prompt tokens, {} new, {:.1} s, stop: {}",
        r.id,
        r.task.key(),
        r.prompt_tokens,
        r.new_tokens,
        r.seconds,
        r.stop_reason
    );
    println!("{}", r.draft);
    println!(
        "-- markdown: {}{}; placeholders: {}; numbers not in input: {:?} (unflagged: {:?}); input numbers kept: {}/{} (lost: {:?})",
        yes(r.markdown),
        if r.raw_markdown && !r.markdown { " (raw reply: yes, cleaned up)" } else { "" },
        yes(r.placeholder),
        r.numbers_not_in_input,
        r.unflagged_numbers,
        r.input_numbers_kept,
        r.input_numbers,
        r.numbers_lost
    );
    for (text, reason) in &r.flags {
        println!("   flagged {text:?}: {reason}");
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn print_totals(results: &[CaseResult]) {
    let n = results.len();
    let count = |f: &dyn Fn(&CaseResult) -> bool| results.iter().filter(|r| f(r)).count();
    let invented: usize = results.iter().map(|r| r.numbers_not_in_input.len()).sum();
    let unflagged: usize = results.iter().map(|r| r.unflagged_numbers.len()).sum();
    let input: usize = results.iter().map(|r| r.input_numbers).sum();
    let kept: usize = results.iter().map(|r| r.input_numbers_kept).sum();
    let flags: usize = results.iter().map(|r| r.flags.len()).sum();
    let seconds: f64 = results.iter().map(|r| r.seconds).sum();
    println!("\n== totals over {n} cases ({seconds:.0} s)");
    println!(
        "drafts with markdown: {} (raw replies with markdown: {})",
        count(&|r| r.markdown),
        count(&|r| r.raw_markdown)
    );
    println!("drafts with placeholders: {}", count(&|r| r.placeholder));
    println!(
        "numbers in drafts not in the input: {invented} (in {} drafts); flagged by the fact check: {}",
        count(&|r| !r.numbers_not_in_input.is_empty()),
        invented - unflagged
    );
    println!(
        "input numbers kept: {kept}/{input} ({:.1}%)",
        if input > 0 {
            kept as f64 * 100.0 / input as f64
        } else {
            100.0
        }
    );
    println!(
        "fact-check flags: {flags} (in {} drafts)",
        count(&|r| !r.flags.is_empty())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(points: &str) -> Case {
        Case {
            id: "t".into(),
            task: Task::Draft,
            points: points.into(),
            ctx: CareContext {
                person: "Margaret".into(),
                category: thrive_domain::records::NoteCategory::Mobility,
                occurred_at: "2026-12-02T14:30".into(),
                author_name: "Sam Carter".into(),
                author_role: "Carer".into(),
                today: "2026-12-02".into(),
                notes: vec![],
            },
        }
    }

    #[test]
    fn invented_numbers_are_counted_and_checked_against_the_fact_check() {
        let c = case("found 08:30, BP 132/78, 2 staff");
        let turn = assistant::user_turn(Task::Draft, &c.ctx, &c.points);
        let r = measure(
            &c,
            &turn,
            "**Note**\nMargaret was found at 08:30. BP 132/78, 3 staff helped.",
        );
        assert!(r.raw_markdown && !r.markdown);
        assert_eq!(r.numbers_not_in_input, ["3"]);
        assert!(r.unflagged_numbers.is_empty(), "{:?}", r.flags);
        assert_eq!((r.input_numbers_kept, r.input_numbers), (4, 5));
        assert_eq!(r.numbers_lost, ["2"]);
    }

    #[test]
    fn a_four_digit_time_is_kept_when_written_with_a_colon() {
        let c = case("toast 0830 declined");
        let turn = assistant::user_turn(Task::Draft, &c.ctx, &c.points);
        let r = measure(&c, &turn, "Margaret declined toast at 08:30.");
        assert_eq!((r.input_numbers_kept, r.input_numbers), (1, 1));
    }

    #[test]
    fn the_case_file_parses_with_its_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/draft-cases.json");
        let cases = read_cases(path).expect("cases");
        assert!(cases.len() >= 30);
        assert!(cases.iter().all(|c| c.ctx.author_name == "Sam Carter"));
    }
}
