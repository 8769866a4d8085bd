//! The benchmark both `aayu-bench` (native) and the wasm build run, so their figures measure
//! the same thing: a ChatML prompt, then a fixed number of greedy tokens.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, Role};
use crate::error::Result;
use crate::generate::{Engine, GenerateOptions, Timings};
use crate::sampling::SamplingParams;

/// The prompt used when none is given: clinical, with numbers and units, ~100 tokens as a
/// chat turn.
pub const DEFAULT_PROMPT: &str = "Write a short handover note for a care home resident who \
had a fall at 07:30, was checked by the nurse, has a bruise on the left hip, blood pressure \
128/82 mmHg, pulse 76 bpm, and was given 500 mg paracetamol. Include what to monitor tonight.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub load_ms: f64,
    /// The first prompt pass, which also pays one-time costs (natively, candle repacks the
    /// quantised weights for its x86 kernels on first use).
    pub cold_prompt_ms: f64,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub timings: Timings,
    pub text: String,
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
    let cold = engine.generate(&ids, &warm_up, &never, |_| {})?;
    let generation = engine.generate(&ids, &options, &never, |_| {})?;
    Ok(BenchReport {
        load_ms: engine.load_ms(),
        cold_prompt_ms: cold.timings.prompt_ms,
        prompt_tokens_per_s: generation.timings.prompt_tokens_per_s(),
        decode_tokens_per_s: generation.timings.decode_tokens_per_s(),
        timings: generation.timings,
        text: generation.text,
    })
}
