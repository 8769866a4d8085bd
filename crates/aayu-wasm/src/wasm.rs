//! The JavaScript boundary: a thin shell over [`Engine`] for the Web Worker (and for the node
//! benchmark). Errors become `JsError` here and nowhere else.

use wasm_bindgen::prelude::*;

use crate::chat::{ChatMessage, Role};
use crate::generate::{Engine, EngineOptions, GenerateOptions};
use crate::gguf::Chunk;
use crate::protocol::{parse_page_message, ErrorCode, LoadStage, PageMessage, WorkerMessage};
use crate::sampling::SamplingParams;

#[wasm_bindgen]
pub struct AayuEngine {
    engine: Engine,
}

#[wasm_bindgen]
impl AayuEngine {
    /// Loads a model from its chunks (an array of `Uint8Array`, in file order), as stored in
    /// IndexedDB. The chunks stay in JavaScript: each tensor's bytes are copied into wasm
    /// memory as it is read, so the file is never held twice in the 4 GiB address space.
    #[wasm_bindgen(constructor)]
    pub fn new(chunks: js_sys::Array, max_context: usize) -> Result<AayuEngine, JsError> {
        let chunks: Vec<JsChunk> = chunks
            .iter()
            .map(|chunk| JsChunk(js_sys::Uint8Array::new(&chunk)))
            .collect();
        let engine = Engine::load_chunks(chunks, &EngineOptions { max_context })?;
        Ok(Self { engine })
    }

    #[wasm_bindgen(js_name = loadMs)]
    pub fn load_ms(&self) -> f64 {
        self.engine.load_ms()
    }

    /// Token ids of `text`, control tokens parsed (as `llama-tokenize` does).
    pub fn tokenize(&mut self, text: &str) -> Result<Vec<u32>, JsError> {
        Ok(self.engine.tokenizer_mut().encode(text, true)?)
    }

    /// Greedy continuation ids of a raw prompt, stopping at the end of the turn.
    #[wasm_bindgen(js_name = generateGreedy)]
    pub fn generate_greedy(
        &mut self,
        prompt: &str,
        max_new_tokens: usize,
    ) -> Result<Vec<u32>, JsError> {
        let ids = self.engine.tokenizer_mut().encode(prompt, true)?;
        let options = GenerateOptions {
            max_new_tokens,
            sampling: SamplingParams::greedy(),
            ..GenerateOptions::default()
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        Ok(self.engine.generate(&ids, &options, &never, |_| {})?.tokens)
    }

    /// Runs [`crate::bench::profile`]; returns the per-operation totals as JSON.
    pub fn profile(&mut self, prompt: Option<String>, tokens: usize) -> Result<String, JsError> {
        let prompt = prompt.as_deref().unwrap_or(crate::bench::DEFAULT_PROMPT);
        let totals = crate::bench::profile(&mut self.engine, prompt, tokens)?;
        Ok(serde_json::to_string(&totals)?)
    }

    /// Runs [`crate::bench::run`]; returns its report as JSON.
    pub fn bench(&mut self, prompt: Option<String>, tokens: usize) -> Result<String, JsError> {
        let prompt = prompt.as_deref().unwrap_or(crate::bench::DEFAULT_PROMPT);
        let report = crate::bench::run(&mut self.engine, prompt, tokens)?;
        Ok(serde_json::to_string(&report)?)
    }
}

/// Bytes of wasm linear memory in use (it only grows), to watch the 4 GiB address space.
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// A model chunk left in JavaScript memory.
struct JsChunk(js_sys::Uint8Array);

impl Chunk for JsChunk {
    fn byte_len(&self) -> usize {
        self.0.length() as usize
    }

    fn copy_to(&self, start: usize, dst: &mut [u8]) {
        self.0
            .subarray(start as u32, (start + dst.len()) as u32)
            .copy_to(dst);
    }
}

/// The worker's engine: parses the page's messages ([`crate::protocol`]) and answers with
/// typed messages, so a malformed message or a bad model file becomes an `error` reply, not an
/// exception. `worker.js` does only what Rust cannot: reading IndexedDB and `postMessage`.
#[wasm_bindgen]
pub struct AayuWorker {
    engine: Option<Engine>,
    /// The page's stop flag (an `Int32Array` over a `SharedArrayBuffer`): non-zero = stop.
    cancel_flag: Option<js_sys::Int32Array>,
}

#[wasm_bindgen]
impl AayuWorker {
    #[wasm_bindgen(constructor)]
    pub fn new() -> AayuWorker {
        AayuWorker {
            engine: None,
            cancel_flag: None,
        }
    }

    /// Parses a message from the page (as JSON text). Returns the canonical JSON of the
    /// request, or of the `error` reply to send back when the message is not understood.
    pub fn parse(&self, json: &str) -> String {
        match parse_page_message(json) {
            Ok(message) => serde_json::to_string(&message).unwrap_or_default(),
            Err(reply) => reply.to_json(),
        }
    }

    /// The stop flag shared with the page; checked between prompt batches and tokens.
    #[wasm_bindgen(js_name = setCancelFlag)]
    pub fn set_cancel_flag(&mut self, flag: js_sys::Int32Array) {
        self.cancel_flag = Some(flag);
    }

    /// Loads the model from its cached chunks (`Uint8Array`s in file order); answers `loaded`
    /// or `error` (as JSON).
    pub fn load(
        &mut self,
        model: &str,
        chunks: js_sys::Array,
        max_context: Option<usize>,
    ) -> String {
        // A failed load leaves no half-usable engine behind.
        self.engine = None;
        let chunks: Vec<JsChunk> = chunks
            .iter()
            .map(|chunk| JsChunk(js_sys::Uint8Array::new(&chunk)))
            .collect();
        let options = EngineOptions {
            max_context: max_context.unwrap_or(EngineOptions::default().max_context),
        };
        match Engine::load_chunks(chunks, &options) {
            Ok(engine) => {
                let reply = WorkerMessage::Loaded {
                    model: model.to_string(),
                    load_ms: engine.load_ms(),
                    memory_bytes: memory_bytes() as u64,
                };
                self.engine = Some(engine);
                reply.to_json()
            }
            Err(error) => WorkerMessage::from(&error).to_json(),
        }
    }

    /// Runs one generation for a `generate` message (JSON), calling `post` with each `token`
    /// and `progress` message (as objects), and answers `done` or `error` (as JSON).
    pub fn generate(&mut self, json: &str, post: &js_sys::Function) -> String {
        let (prompt, system, chat, options) = match parse_page_message(json) {
            Ok(PageMessage::Generate {
                prompt,
                system,
                messages,
                options,
            }) => (prompt, system, messages, options),
            Ok(_) => {
                return WorkerMessage::error(ErrorCode::BadMessage, "expected a generate message")
                    .to_json()
            }
            Err(reply) => return reply.to_json(),
        };
        let cancel_flag = self.cancel_flag.clone();
        let Some(engine) = self.engine.as_mut() else {
            return WorkerMessage::error(
                ErrorCode::NotLoaded,
                "the model is not loaded yet: load it before generating",
            )
            .to_json();
        };
        // The page clears the flag before each `generate` (it owns it); a flag already set
        // means the page asked to stop before the worker got here.
        let stopped = || {
            cancel_flag
                .as_ref()
                .is_some_and(|flag| js_sys::Atomics::load(flag, 0).unwrap_or(0) != 0)
        };
        let send = |message: WorkerMessage| {
            if let Ok(value) = js_sys::JSON::parse(&message.to_json()) {
                let _ = post.call1(&JsValue::NULL, &value);
            }
        };
        let load_ms = engine.load_ms();
        let messages = if chat.is_empty() {
            let mut messages = Vec::new();
            if let Some(system) = system {
                messages.push(ChatMessage::new(Role::System, system));
            }
            messages.push(ChatMessage::new(Role::User, prompt));
            messages
        } else {
            chat
        };
        let result = run_generation(engine, &messages, &options, stopped, send);
        match result {
            Ok(generation) => WorkerMessage::done(&generation, load_ms).to_json(),
            Err(error) => WorkerMessage::from(&error).to_json(),
        }
    }

    /// Drops the loaded model (its memory stays reserved by wasm, but is reused by the next).
    pub fn unload(&mut self) {
        self.engine = None;
    }
}

/// One generation: the prompt in batches, then token by token, streaming text through `send`
/// and stopping between steps once `stopped()` says so.
fn run_generation(
    engine: &mut Engine,
    messages: &[ChatMessage],
    options: &GenerateOptions,
    stopped: impl Fn() -> bool,
    send: impl Fn(WorkerMessage),
) -> crate::Result<crate::Generation> {
    let ids = engine.encode_chat(messages)?;
    let mut generator = engine.start(&ids, options)?;
    while !generator.prompt_step()? {
        let (done, total) = generator.prompt_progress();
        send(WorkerMessage::Progress {
            stage: LoadStage::Prompt,
            done: done as u64,
            total: total as u64,
        });
        if stopped() {
            generator.cancel();
            break;
        }
    }
    loop {
        if stopped() {
            generator.cancel();
        }
        match generator.next_token()? {
            Some(step) => {
                if let Some(text) = step.text {
                    send(WorkerMessage::Token { text });
                }
            }
            None => break,
        }
    }
    Ok(generator.finish())
}

impl Default for AayuWorker {
    fn default() -> Self {
        Self::new()
    }
}

/// Incremental SHA-256 for the browser cache's download check (WebCrypto cannot stream).
#[wasm_bindgen]
pub struct Sha256 {
    hasher: sha2::Sha256,
}

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256 {
            hasher: sha2::Digest::new(),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.hasher, bytes);
    }

    /// Lower-case hex of the digest; the hasher starts over afterwards.
    #[wasm_bindgen(js_name = finishHex)]
    pub fn finish_hex(&mut self) -> String {
        hex::encode(sha2::Digest::finalize_reset(&mut self.hasher))
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

/// The ChatML text of one user turn (with the default system prompt) exactly as the engine
/// encodes it, so the side-by-side benchmark gives another engine the very same prompt.
#[wasm_bindgen(js_name = renderChat)]
pub fn render_chat(user: &str) -> String {
    crate::chat::render(&[ChatMessage::new(Role::User, user)])
}

/// The engine's name and version, recorded with every accepted AI contribution.
#[wasm_bindgen(js_name = engineVersion)]
pub fn engine_version() -> String {
    crate::ENGINE_VERSION.to_string()
}

/// The benchmark's default prompt ([`crate::bench::DEFAULT_PROMPT`]).
#[wasm_bindgen(js_name = benchPrompt)]
pub fn bench_prompt() -> String {
    crate::bench::DEFAULT_PROMPT.to_string()
}

/// The benchmark's second request ([`crate::bench::FOLLOW_UP_PROMPT`]): time to first token
/// with the system prompt already in the cache.
#[wasm_bindgen(js_name = followUpPrompt)]
pub fn follow_up_prompt() -> String {
    crate::bench::FOLLOW_UP_PROMPT.to_string()
}
