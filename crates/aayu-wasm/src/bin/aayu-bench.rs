//! `aayu-bench`: the engine on the command line, to benchmark a GGUF and to cross-check token
//! ids and greedy continuations against another implementation (such as llama.cpp).
//!
//! ```text
//! aayu-bench bench    --model PATH [--prompt TEXT] [--tokens N] [--context N] [--profile]
//! aayu-bench tokenize --model PATH --text TEXT
//! aayu-bench generate --model PATH --prompt TEXT --tokens N
//! aayu-bench write-tiny DIR     # the browser tests' tiny models (good, truncated, corrupt, llama)
//! aayu-bench prompt   --task draft|rewrite|summarise|check --points TEXT --context FILE.json [--json]
//! aayu-bench eval     --model PATH --cases FILE [--prompt app|legacy] [--mask both|markdown|none]
//!                     [--tokens N] [--only ID,ID] [--out FILE.jsonl]
//! ```
//!
//! `prompt` prints the exact ChatML the note editor sends for a task (the SPA and this command
//! call the same builder, `thrive_domain::assistant`), so any engine can be given the app's
//! real prompts. `eval` renders the app's prompts for a file of cases, generates greedily and
//! measures each draft (see `eval.rs`).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use aayu::tokenizer::GgufTokenizer;
use aayu::{Engine, EngineOptions, GenerateOptions, SamplingParams};

use aayu::eval;

const USAGE: &str = "usage:
  aayu-bench bench    --model PATH [--prompt TEXT] [--tokens N] [--context N] [--profile]
  aayu-bench tokenize --model PATH --text TEXT
  aayu-bench generate --model PATH --prompt TEXT --tokens N
  aayu-bench write-tiny DIR
  aayu-bench prompt   --task draft|rewrite|summarise|check --points TEXT --context FILE.json [--json]
  aayu-bench eval     --model PATH --cases FILE [--prompt app|legacy] [--mask both|markdown|none]
                      [--tokens N] [--only ID,ID] [--out FILE.jsonl]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    if command == "write-tiny" {
        let [dir] = rest else {
            return Err(USAGE.into());
        };
        let names = aayu::testing::write_test_models(std::path::Path::new(dir))
            .map_err(|e| format!("{dir}: {e}"))?;
        println!("{}", names.join("\n"));
        return Ok(());
    }
    let flags = parse_flags(rest)?;
    if command == "prompt" {
        return eval::print_prompt(&flags);
    }
    let model_path = flags.get("model").ok_or("--model PATH is required")?;
    let context = number(&flags, "context")?.unwrap_or(4096);
    let load = || -> Result<Engine, String> {
        let file = File::open(model_path).map_err(|e| format!("{model_path}: {e}"))?;
        Engine::load(
            &mut BufReader::new(file),
            &EngineOptions {
                max_context: context,
            },
        )
        .map_err(|e| e.to_string())
    };
    match command.as_str() {
        "bench" => {
            let tokens = number(&flags, "tokens")?.unwrap_or(64);
            let prompt = flags
                .get("prompt")
                .map(String::as_str)
                .unwrap_or(aayu::bench::DEFAULT_PROMPT);
            let mut engine = load()?;
            let split = engine.load_split();
            println!(
                "load: {:.0} ms (header {:.0} ms, tokenizer {:.0} ms, weights {:.0} ms)",
                engine.load_ms(),
                split.header_ms,
                split.tokenizer_ms,
                split.weights_ms
            );
            let report =
                aayu::bench::run(&mut engine, prompt, tokens).map_err(|e| e.to_string())?;
            let t = &report.timings;
            println!(
                "first prompt pass (one-time costs included): {:.0} ms",
                report.cold_prompt_ms
            );
            println!(
                "prompt: {} tokens in {:.0} ms = {:.2} tokens/s",
                t.prompt_tokens, t.prompt_ms, report.prompt_tokens_per_s
            );
            println!(
                "decode: {} tokens in {:.0} ms = {:.2} tokens/s",
                t.decode_steps, t.decode_ms, report.decode_tokens_per_s
            );
            println!("output: {:?}", report.text);
            if flags.contains_key("profile") {
                let ops =
                    aayu::bench::profile(&mut engine, prompt, tokens).map_err(|e| e.to_string())?;
                for phase in ["prompt", "decode"] {
                    let rows: Vec<_> = ops.iter().filter(|o| o.phase == phase).collect();
                    let total: f64 = rows.iter().map(|o| o.ms).sum();
                    println!("profile, {phase}: {total:.0} ms timed");
                    for o in rows {
                        println!(
                            "  {:<16} {:>9.1} ms {:>5.1} %  ({} calls)",
                            o.op,
                            o.ms,
                            100.0 * o.ms / total,
                            o.calls
                        );
                    }
                }
            }
            let f = &report.follow_up;
            println!(
                "follow-up request ({} tokens, {} of them cached): first token after {:.0} ms with the prefix cache, {:.0} ms without; same tokens: {}",
                f.prompt_tokens, f.cached_prompt_tokens, f.cached_prompt_ms, f.uncached_prompt_ms, f.same_tokens
            );
        }
        "tokenize" => {
            let text = flags.get("text").ok_or("--text TEXT is required")?;
            // Only the header is needed: skip reading a gigabyte of weights.
            let file = File::open(model_path).map_err(|e| format!("{model_path}: {e}"))?;
            let mut tokenizer =
                GgufTokenizer::from_reader(&mut BufReader::new(file)).map_err(|e| e.to_string())?;
            let ids = tokenizer.encode(text, true).map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&ids).map_err(|e| e.to_string())?
            );
        }
        "generate" => {
            let prompt = flags.get("prompt").ok_or("--prompt TEXT is required")?;
            let tokens = number(&flags, "tokens")?.ok_or("--tokens N is required")?;
            let mut engine = load()?;
            let ids = engine
                .tokenizer_mut()
                .encode(prompt, true)
                .map_err(|e| e.to_string())?;
            let options = GenerateOptions {
                max_new_tokens: tokens,
                sampling: SamplingParams::greedy(),
                ..GenerateOptions::default()
            };
            let generation = engine
                .generate(&ids, &options, &AtomicBool::new(false), |_| {})
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&generation.tokens).map_err(|e| e.to_string())?
            );
        }
        "eval" => {
            let mut engine = load()?;
            eval::run(&mut engine, &flags)?;
        }
        other => return Err(format!("unknown command {other:?}\n{USAGE}")),
    }
    Ok(())
}

/// `--name value` pairs; `--json` alone is a switch.
fn parse_flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let name = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}\n{USAGE}"))?;
        if name == "json" || name == "profile" {
            // The switches without a value.
            flags.insert(name.to_string(), String::new());
            continue;
        }
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_string(), value.clone());
    }
    Ok(flags)
}

fn number(flags: &HashMap<String, String>, name: &str) -> Result<Option<usize>, String> {
    flags
        .get(name)
        .map(|v| v.parse().map_err(|_| format!("--{name} must be a number")))
        .transpose()
}
