//! The engine a worker holds: load a model once, then run generations that stream text, stop
//! on end-of-turn tokens or a token budget, can be cancelled between tokens, and report timings.

use std::io::{BufReader, Read, Seek};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::chat::{self, ChatMessage};
use crate::error::{AayuError, Result};
use crate::gguf::{Chunk, ChunkedReader, GgufModel};
use crate::model::Qwen2;
use crate::sampling::{Sampler, SamplingParams};
use crate::shaping::{self, OutputShaping, TokenMask};
use crate::tokenizer::{GgufTokenizer, TokenOutputStream};

/// Settings fixed at load time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineOptions {
    /// The most tokens (prompt and output) one conversation may hold; bounds the KV cache,
    /// which is allocated up front: ~112 KiB per token for Qwen2.5-1.5B.
    pub max_context: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { max_context: 4096 }
    }
}

/// Settings for one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: SamplingParams,
    /// How many prompt tokens go through the model at once; bounds the attention scratch space.
    pub prompt_batch: usize,
    /// Keep going past `<|im_end|>`/`<|endoftext|>` (llama.cpp's `--ignore-eos`), so a
    /// benchmark always decodes its whole budget.
    pub ignore_end_of_turn: bool,
    /// Stop sequences and the tokens a reply may not contain.
    pub shaping: OutputShaping,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 512,
            sampling: SamplingParams::default(),
            prompt_batch: 128,
            ignore_end_of_turn: false,
            shaping: OutputShaping::default(),
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (`<|im_end|>` or `<|endoftext|>`).
    EndOfTurn,
    MaxTokens,
    /// The context window is full.
    ContextFull,
    Cancelled,
    /// The reply reached one of the stop sequences (which is left out of its text).
    StopSequence,
}

/// How long the work took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were still in the cache from the previous
    /// generation (a shared system prompt): they cost no forward pass and are not in
    /// `prompt_ms`.
    #[serde(default)]
    pub cached_prompt_tokens: usize,
    pub prompt_ms: f64,
    pub generated_tokens: usize,
    /// Single-token forward passes: every sampled token after the first, which comes out of
    /// the prompt pass (a sampled stop token included).
    pub decode_steps: usize,
    pub decode_ms: f64,
}

impl Timings {
    /// The rate of the prompt tokens that went through the model (cached ones did not).
    pub fn prompt_tokens_per_s(&self) -> f64 {
        per_second(
            self.prompt_tokens.saturating_sub(self.cached_prompt_tokens),
            self.prompt_ms,
        )
    }

    pub fn decode_tokens_per_s(&self) -> f64 {
        per_second(self.decode_steps, self.decode_ms)
    }
}

fn per_second(tokens: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        tokens as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// The outcome of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The new tokens, without the stop token.
    pub tokens: Vec<u32>,
    pub text: String,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

/// Where a load's time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSplit {
    /// Parsing and checking the GGUF header and metadata.
    pub header_ms: f64,
    /// Building the tokenizer from the metadata.
    pub tokenizer_ms: f64,
    /// Reading the tensors into candle, and allocating the KV cache.
    pub weights_ms: f64,
}

/// A loaded model and its tokenizer.
#[derive(Debug)]
pub struct Engine {
    model: Qwen2,
    tokenizer: GgufTokenizer,
    load_ms: f64,
    load_split: LoadSplit,
}

impl Engine {
    /// Loads a Qwen2 GGUF from any seekable source.
    pub fn load<R: Read + Seek>(reader: &mut R, options: &EngineOptions) -> Result<Self> {
        let start = Instant::now();
        let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
        let gguf = GgufModel::read(reader)?;
        let header_ms = ms_since(start);
        let t = Instant::now();
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let tokenizer_ms = ms_since(t);
        let t = Instant::now();
        let model = Qwen2::load(&gguf, reader, options.max_context)?;
        let weights_ms = ms_since(t);
        if tokenizer.vocab_size() > model.config.vocab_size {
            return Err(AayuError::Corrupt(format!(
                "the tokenizer has {} tokens but the embedding only {}",
                tokenizer.vocab_size(),
                model.config.vocab_size
            )));
        }
        Ok(Self {
            model,
            tokenizer,
            load_ms: ms_since(start),
            load_split: LoadSplit {
                header_ms,
                tokenizer_ms,
                weights_ms,
            },
        })
    }

    /// Loads from the chunks a download produced, without joining them into one buffer.
    pub fn load_chunks<C: Chunk>(chunks: Vec<C>, options: &EngineOptions) -> Result<Self> {
        // The header is parsed a few bytes at a time; buffering keeps that from becoming
        // hundreds of thousands of calls into JavaScript for browser-held chunks.
        let reader = ChunkedReader::new(chunks);
        Self::load(&mut BufReader::with_capacity(1 << 16, reader), options)
    }

    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    pub fn load_split(&self) -> &LoadSplit {
        &self.load_split
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    pub fn tokenizer_mut(&mut self) -> &mut GgufTokenizer {
        &mut self.tokenizer
    }

    pub fn model(&self) -> &Qwen2 {
        &self.model
    }

    /// The chat prompt's token ids.
    pub fn encode_chat(&mut self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        chat::encode(&mut self.tokenizer, messages)
    }

    /// Forgets the keys and values kept from the previous generation, so the next prompt
    /// runs in full (benchmarks; tests comparing with and without the cache).
    pub fn clear_cache(&mut self) {
        self.model.reset();
    }

    /// Starts a generation from `prompt` (token ids). Nothing runs yet: the prompt goes
    /// through the model in batches, by [`Generator::prompt_step`] or the first
    /// [`Generator::next_token`]. The part of the prompt the previous generation already put
    /// through the model (the system prompt, usually) is reused from the KV cache.
    pub fn start(&mut self, prompt: &[u32], options: &GenerateOptions) -> Result<Generator<'_>> {
        if prompt.is_empty() {
            return Err(AayuError::InvalidRequest("the prompt is empty".into()));
        }
        // The prompt plus at least one new token must fit.
        if prompt.len() >= self.model.max_context() {
            return Err(AayuError::ContextOverflow {
                prompt_tokens: prompt.len(),
                context_length: self.model.max_context(),
            });
        }
        let sampler = Sampler::new(options.sampling.clone())?;
        let mask = options
            .shaping
            .is_active()
            .then(|| TokenMask::new(&self.tokenizer, &options.shaping));
        let cached = self.model.keep_common_prefix(prompt);
        Ok(Generator {
            engine: self,
            sampler,
            history: prompt.to_vec(),
            prompt_done: cached,
            prompt_batch: options.prompt_batch.max(1),
            logits: None,
            stream: TokenOutputStream::new(),
            max_new_tokens: options.max_new_tokens,
            ignore_end_of_turn: options.ignore_end_of_turn,
            mask,
            stop_sequences: options.shaping.stop_sequences.clone(),
            streamed: 0,
            generated: Vec::new(),
            stop_reason: None,
            timings: Timings {
                prompt_tokens: prompt.len(),
                cached_prompt_tokens: cached,
                ..Timings::default()
            },
            text: String::new(),
        })
    }

    /// Runs a whole generation, passing each piece of text to `on_text` as soon as it is
    /// complete. `cancel` is checked between tokens.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
        cancel: &AtomicBool,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let mut generator = self.start(prompt, options)?;
        // A long prompt takes tens of seconds in a browser: honour a stop between batches.
        while !generator.prompt_step()? {
            if cancel.load(Ordering::Relaxed) {
                generator.cancel();
                break;
            }
        }
        loop {
            if cancel.load(Ordering::Relaxed) {
                generator.cancel();
            }
            match generator.next_token()? {
                Some(step) => {
                    if let Some(text) = step.text {
                        on_text(&text);
                    }
                }
                None => break,
            }
        }
        Ok(generator.finish())
    }

    /// Chat convenience: template, generate, and stream.
    pub fn chat(
        &mut self,
        messages: &[ChatMessage],
        options: &GenerateOptions,
        cancel: &AtomicBool,
        on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let prompt = self.encode_chat(messages)?;
        self.generate(&prompt, options, cancel, on_text)
    }
}

/// One new token and the text it completed (None while a character is still unfinished).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub token: u32,
    pub text: Option<String>,
}

/// A generation in progress, advanced one token at a time so a worker can yield to its event
/// loop between tokens and honour a stop request.
#[derive(Debug)]
pub struct Generator<'e> {
    engine: &'e mut Engine,
    sampler: Sampler,
    history: Vec<u32>,
    /// How many prompt tokens have been through the model.
    prompt_done: usize,
    prompt_batch: usize,
    /// Logits for the next position; None once they have been consumed and not yet refreshed.
    logits: Option<Vec<f32>>,
    stream: TokenOutputStream,
    max_new_tokens: usize,
    ignore_end_of_turn: bool,
    mask: Option<TokenMask>,
    stop_sequences: Vec<String>,
    /// How much of `text` has been streamed.
    streamed: usize,
    generated: Vec<u32>,
    stop_reason: Option<StopReason>,
    timings: Timings,
    text: String,
}

impl Generator<'_> {
    /// Runs the next batch of the prompt; true once the whole prompt has been through the
    /// model. A worker calls this until true, yielding in between, to stay responsive.
    pub fn prompt_step(&mut self) -> Result<bool> {
        let total = self.timings.prompt_tokens;
        if self.prompt_done >= total || self.stop_reason.is_some() {
            return Ok(true);
        }
        let start = Instant::now();
        let end = (self.prompt_done + self.prompt_batch).min(total);
        let logits = self
            .engine
            .model
            .forward(&self.history[self.prompt_done..end])?;
        self.timings.prompt_ms += start.elapsed().as_secs_f64() * 1000.0;
        self.prompt_done = end;
        if end == total {
            self.logits = Some(logits);
        }
        Ok(end == total)
    }

    /// Prompt tokens processed so far and in all, for a progress bar.
    pub fn prompt_progress(&self) -> (usize, usize) {
        (self.prompt_done, self.timings.prompt_tokens)
    }

    /// Produces the next token, or None once the generation has stopped.
    pub fn next_token(&mut self) -> Result<Option<Step>> {
        if self.stop_reason.is_some() {
            return Ok(None);
        }
        while !self.prompt_step()? {}
        if self.generated.len() >= self.max_new_tokens {
            return Ok(self.stop(StopReason::MaxTokens));
        }
        let start = Instant::now();
        let mut logits = match self.logits.take() {
            Some(logits) => logits,
            None => {
                if self.engine.model.position() >= self.engine.model.max_context() {
                    return Ok(self.stop(StopReason::ContextFull));
                }
                let last = self.history.last().copied().unwrap_or_default();
                let logits = self.engine.model.forward(&[last])?;
                self.timings.decode_ms += start.elapsed().as_secs_f64() * 1000.0;
                self.timings.decode_steps += 1;
                logits
            }
        };
        if let Some(mask) = &self.mask {
            mask.apply(&mut logits, shaping::at_line_start(&self.text));
        }
        let token = crate::profile::time("sampling", || {
            self.sampler.sample(&mut logits, &self.history)
        })?;
        if !self.ignore_end_of_turn && self.engine.tokenizer.stop_tokens().contains(&token) {
            return Ok(self.stop(StopReason::EndOfTurn));
        }
        self.history.push(token);
        self.generated.push(token);
        self.timings.generated_tokens = self.generated.len();
        let mut text = self.stream.push(&self.engine.tokenizer, token)?;
        if let Some(piece) = text.take() {
            self.text.push_str(&piece);
            // Nothing of a stop sequence is streamed: the text that may begin one is held
            // back until the next token shows whether it does.
            let safe = match shaping::find_stop(&self.text, &self.stop_sequences) {
                Some(at) => {
                    self.text.truncate(at);
                    self.stop_reason = Some(StopReason::StopSequence);
                    at
                }
                None => self.text.len() - shaping::held_back(&self.text, &self.stop_sequences),
            };
            if safe > self.streamed {
                text = Some(self.text[self.streamed..safe].to_owned());
                self.streamed = safe;
            }
        }
        Ok(Some(Step { token, text }))
    }

    /// Stops before the next token.
    pub fn cancel(&mut self) {
        if self.stop_reason.is_none() {
            self.stop_reason = Some(StopReason::Cancelled);
        }
    }

    fn stop(&mut self, reason: StopReason) -> Option<Step> {
        self.stop_reason = Some(reason);
        None
    }

    /// Tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.generated
    }

    /// Ends the generation; text held back for an unfinished character is flushed.
    pub fn finish(mut self) -> Generation {
        if let Some(rest) = self.stream.finish() {
            if self.stop_reason != Some(StopReason::StopSequence) {
                self.text.push_str(&rest);
            }
        }
        Generation {
            tokens: self.generated,
            text: self.text,
            stop_reason: self.stop_reason.unwrap_or(StopReason::Cancelled),
            timings: self.timings,
        }
    }
}
