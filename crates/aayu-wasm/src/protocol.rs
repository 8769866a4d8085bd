//! The messages the page and the Aayu worker exchange. They are JSON objects with a `type`
//! field; the worker parses every incoming message here, so a malformed one is answered with an
//! [`WorkerMessage::Error`] instead of an exception.
//!
//! Page → worker: `load`, `generate`, `cancel`. Worker → page: `ready`, `progress`, `loaded`, `token`,
//! `done`, `error`.
//!
//! Cancelling: while a generation runs, the worker's thread is busy in wasm and cannot read
//! messages, so `cancel` is also signalled through a `SharedArrayBuffer` flag the page hands
//! over with `load` (see `worker.js`); the generation loop reads it between tokens.

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::error::AayuError;
use crate::generate::{GenerateOptions, Generation, StopReason};

/// What the page asks of the worker.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PageMessage {
    /// Load the named model from the browser's model cache (IndexedDB only, never the network).
    Load {
        model: String,
        /// The most tokens one conversation may hold (bounds the KV cache); default 4096.
        #[serde(default)]
        max_context: Option<usize>,
    },
    /// Generate a reply: to `messages` (a whole chat, as the app's prompt builder makes it),
    /// or else to `prompt` as one ChatML user turn (with an optional system turn).
    Generate {
        #[serde(default)]
        prompt: String,
        #[serde(default)]
        system: Option<String>,
        #[serde(default)]
        messages: Vec<ChatMessage>,
        #[serde(default)]
        options: GenerateOptions,
    },
    /// Stop the running generation after the current token.
    Cancel,
}

/// Which part of loading a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadStage {
    /// Reading the chunks out of IndexedDB (bytes).
    ReadCache,
    /// Running the prompt through the model (tokens).
    Prompt,
}

/// What the worker tells the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The worker has started and its wasm is compiled (posted by `worker.js`).
    Ready,
    Progress {
        stage: LoadStage,
        done: u64,
        total: u64,
    },
    /// The model is loaded and ready to generate.
    Loaded {
        model: String,
        load_ms: f64,
        /// wasm linear memory in use afterwards.
        memory_bytes: u64,
    },
    /// A streamed piece of the reply.
    Token { text: String },
    /// The reply is complete (or was stopped).
    Done {
        text: String,
        stop_reason: StopReason,
        timings: DoneTimings,
    },
    Error {
        /// A stable code for the page to branch on.
        code: ErrorCode,
        /// A sentence a clinician can read.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message itself was not understood.
    BadMessage,
    /// `generate` before a successful `load`.
    NotLoaded,
    /// The model is not (completely) in the browser's cache.
    NotCached,
    /// The model file cannot be used: truncated, corrupt, not GGUF, wrong architecture.
    BadModel,
    /// The request cannot be served (prompt too long, bad sampling settings).
    InvalidRequest,
    /// Anything else, including a failure inside the engine.
    Internal,
}

/// Timings of one generation, with the model's load time, as the page shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneTimings {
    pub load_ms: f64,
    pub prompt_tokens: usize,
    pub prompt_ms: f64,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens: usize,
    pub decode_steps: usize,
    pub decode_ms: f64,
    pub decode_tokens_per_s: f64,
}

impl WorkerMessage {
    pub fn done(generation: &Generation, load_ms: f64) -> Self {
        let t = &generation.timings;
        WorkerMessage::Done {
            text: generation.text.clone(),
            stop_reason: generation.stop_reason,
            timings: DoneTimings {
                load_ms,
                prompt_tokens: t.prompt_tokens,
                prompt_ms: t.prompt_ms,
                prompt_tokens_per_s: t.prompt_tokens_per_s(),
                generated_tokens: t.generated_tokens,
                decode_steps: t.decode_steps,
                decode_ms: t.decode_ms,
                decode_tokens_per_s: t.decode_tokens_per_s(),
            },
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        WorkerMessage::Error {
            code,
            message: message.into(),
        }
    }

    /// JSON for `postMessage`; these types always serialise.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"could not encode a reply"}"#.into()
        })
    }
}

impl From<&AayuError> for WorkerMessage {
    fn from(error: &AayuError) -> Self {
        let code = match error {
            AayuError::BadMagic { .. }
            | AayuError::Truncated { .. }
            | AayuError::Corrupt(_)
            | AayuError::WrongArchitecture { .. }
            | AayuError::Metadata { .. }
            | AayuError::Tokenizer(_)
            | AayuError::Io(_) => ErrorCode::BadModel,
            AayuError::ContextOverflow { .. } | AayuError::InvalidRequest(_) => {
                ErrorCode::InvalidRequest
            }
            AayuError::Compute(_) => ErrorCode::Internal,
        };
        WorkerMessage::error(code, error.to_string())
    }
}

/// Parses a message from the page; the error is the reply to send back.
pub fn parse_page_message(json: &str) -> Result<PageMessage, WorkerMessage> {
    serde_json::from_str(json).map_err(|e| {
        WorkerMessage::error(
            ErrorCode::BadMessage,
            format!("the assistant did not understand a message from the page: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_parse_with_defaults() {
        assert_eq!(
            parse_page_message(r#"{"type":"load","model":"tiny.gguf"}"#),
            Ok(PageMessage::Load {
                model: "tiny.gguf".into(),
                max_context: None
            })
        );
        let Ok(PageMessage::Generate {
            prompt, options, ..
        }) = parse_page_message(
            r#"{"type":"generate","prompt":"hi","options":{"max_new_tokens":8}}"#,
        )
        else {
            panic!("generate should parse");
        };
        assert_eq!(prompt, "hi");
        assert_eq!(options.max_new_tokens, 8);
        assert_eq!(
            options.prompt_batch,
            GenerateOptions::default().prompt_batch
        );
        assert_eq!(
            parse_page_message(r#"{"type":"cancel"}"#),
            Ok(PageMessage::Cancel)
        );
        let Ok(PageMessage::Generate {
            messages, options, ..
        }) = parse_page_message(
            r#"{"type":"generate","messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}],
                "options":{"shaping":{"stop_sequences":["\nPoints:"],"forbid_markdown":true}}}"#,
        )
        else {
            panic!("a generate with messages should parse");
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(options.shaping.stop_sequences, ["\nPoints:"]);
        assert!(options.shaping.forbid_markdown && !options.shaping.forbid_brackets);
    }

    #[test]
    fn malformed_messages_become_error_replies() {
        for bad in [
            "",
            "null",
            "{}",
            r#"{"type":"explode"}"#,
            r#"{"type":"load"}"#,
            r#"{"type":"generate","prompt":5}"#,
            r#"{"type":"load","model":"m","extra":1}"#,
        ] {
            match parse_page_message(bad) {
                Err(WorkerMessage::Error { code, message }) => {
                    assert_eq!(code, ErrorCode::BadMessage, "{bad}");
                    assert!(message.contains("did not understand"), "{bad}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn replies_serialise_with_a_type_tag() {
        let json = WorkerMessage::Token { text: "Hi".into() }.to_json();
        assert_eq!(json, r#"{"type":"token","text":"Hi"}"#);
        let err = AayuError::WrongArchitecture {
            found: "llama".into(),
        };
        let json = WorkerMessage::from(&err).to_json();
        assert!(json.contains(r#""code":"bad_model""#), "{json}");
        assert!(json.contains("Aayu runs qwen2 models"), "{json}");
    }
}
