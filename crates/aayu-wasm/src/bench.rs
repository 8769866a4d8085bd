//! The benchmark both `aayu-bench` (native) and the wasm build run, so their figures measure
//! the same thing: a ChatML prompt, then a fixed number of greedy tokens.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, Role};
use crate::error::Result;
use crate::generate::{Engine, GenerateOptions, LoadSplit, Timings};
use crate::profile::OpTime;
use crate::sampling::SamplingParams;

/// The prompt used when none is given: clinical, with numbers and units, ~100 tokens as a
/// chat turn.
pub const DEFAULT_PROMPT: &str = "Write a short handover note for a care home resident who \
had a fall at 07:30, was checked by the nurse, has a bruise on the left hip, blood pressure \
128/82 mmHg, pulse 76 bpm, and was given 500 mg paracetamol. Include what to monitor tonight.";

/// The second request of a shift: another user turn behind the same system prompt, whose
/// keys and values the first request left in the cache.
pub const FOLLOW_UP_PROMPT: &str = "Rough points: ate half her breakfast, declined a shower, \
calm after lunch, daughter visited at 15:00. Write these up as a short care note.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub load_ms: f64,
    pub load_split: LoadSplit,
    /// The first prompt pass, which also pays one-time costs (natively, candle repacks the
    /// quantised weights for its x86 kernels on first use).
    pub cold_prompt_ms: f64,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub timings: Timings,
    pub text: String,
    /// [`FOLLOW_UP_PROMPT`] right after the benchmark, reusing the cached system prompt.
    pub follow_up: FollowUp,
}

/// Time to first token for the follow-up request, with the prefix cache and without it
/// (side by side in the same run), and whether both gave the same tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub prompt_tokens: usize,
    pub cached_prompt_tokens: usize,
    /// Prompt pass with the cache kept from the previous request.
    pub cached_prompt_ms: f64,
    /// The same prompt from an empty cache.
    pub uncached_prompt_ms: f64,
    pub same_tokens: bool,
}

/// Runs `prompt` as a user turn and decodes exactly `tokens` tokens greedily.
pub fn run(engine: &mut Engine, prompt: &str, tokens: usize) -> Result<BenchReport> {
    let ids = engine.encode_chat(&[ChatMessage::new(Role::User, prompt)])?;
    let options = GenerateOptions {
        max_new_tokens: tokens,
        sampling: SamplingParams::greedy(),
        // A benchmark measures the whole budget; an early end of turn would cut it short.
        ignore_end_of_turn: true,
        ..GenerateOptions::default()
    };
    let never = AtomicBool::new(false);
    let warm_up = GenerateOptions {
        max_new_tokens: 1,
        ..options.clone()
    };
    // Both runs pay for the whole prompt: the prefix cache would otherwise skip it.
    engine.clear_cache();
    let cold = engine.generate(&ids, &warm_up, &never, |_| {})?;
    engine.clear_cache();
    let generation = engine.generate(&ids, &options, &never, |_| {})?;

    let follow_up_ids = engine.encode_chat(&[ChatMessage::new(Role::User, FOLLOW_UP_PROMPT)])?;
    let follow_up_options = GenerateOptions {
        max_new_tokens: 8,
        ..options.clone()
    };
    let cached = engine.generate(&follow_up_ids, &follow_up_options, &never, |_| {})?;
    engine.clear_cache();
    let uncached = engine.generate(&follow_up_ids, &follow_up_options, &never, |_| {})?;
    Ok(BenchReport {
        load_ms: engine.load_ms(),
        load_split: engine.load_split().clone(),
        cold_prompt_ms: cold.timings.prompt_ms,
        prompt_tokens_per_s: generation.timings.prompt_tokens_per_s(),
        decode_tokens_per_s: generation.timings.decode_tokens_per_s(),
        timings: generation.timings,
        text: generation.text,
        follow_up: FollowUp {
            prompt_tokens: follow_up_ids.len(),
            cached_prompt_tokens: cached.timings.cached_prompt_tokens,
            cached_prompt_ms: cached.timings.prompt_ms,
            uncached_prompt_ms: uncached.timings.prompt_ms,
            same_tokens: cached.tokens == uncached.tokens,
        },
    })
}

/// Runs the benchmark's prompt and `tokens` sampled tokens once more with the per-operation
/// timers on ([`crate::profile`]), from an empty cache. A separate pass, so the timers never
/// touch the figures [`run`] reports.
pub fn profile(engine: &mut Engine, prompt: &str, tokens: usize) -> Result<Vec<OpTime>> {
    let ids = engine.encode_chat(&[ChatMessage::new(Role::User, prompt)])?;
    // The default sampler (temperature, top-k, top-p, penalty), as the app samples, so its
    // share of a decode step shows.
    let options = GenerateOptions {
        max_new_tokens: tokens,
        ignore_end_of_turn: true,
        ..GenerateOptions::default()
    };
    engine.clear_cache();
    crate::profile::enable(true);
    let generation = engine.generate(&ids, &options, &AtomicBool::new(false), |_| {});
    let totals = crate::profile::totals();
    crate::profile::enable(false);
    generation?;
    Ok(totals)
}
