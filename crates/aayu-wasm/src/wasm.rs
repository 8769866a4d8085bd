//! The JavaScript boundary: a thin shell over [`Engine`] for the Web Worker (and for the node
//! benchmark). Errors become `JsError` here and nowhere else.

use wasm_bindgen::prelude::*;

use crate::generate::{Engine, EngineOptions, GenerateOptions};
use crate::gguf::Chunk;
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
