//! Aayu's engine: a Qwen2 GGUF model running on candle, with its tokenizer built from the
//! file's metadata, Qwen's ChatML template, sampling and streamed generation.
//!
//! It is plain Rust, natively testable; the Web Worker binding is a thin shell over
//! [`Engine`].

pub mod bench;
pub mod chat;
pub mod error;
pub mod eval;
pub mod generate;
pub mod gguf;
pub mod model;
pub mod profile;
pub mod protocol;
pub mod sampling;
pub mod shaping;
pub mod testing;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

/// This engine's name and version, as provenance records it.
pub const ENGINE_VERSION: &str = concat!("aayu-wasm ", env!("CARGO_PKG_VERSION"));

pub use chat::{ChatMessage, Role};
pub use error::{AayuError, Result};
pub use generate::{
    Engine, EngineOptions, GenerateOptions, Generation, Generator, LoadSplit, Step, StopReason,
    Timings,
};
pub use sampling::SamplingParams;
pub use shaping::OutputShaping;
