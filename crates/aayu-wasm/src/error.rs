//! The one error type of the engine, so the worker can turn any failure into a message for the
//! page instead of a panic.

/// Everything that can go wrong while loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum AayuError {
    /// The bytes do not start with the GGUF magic: not a model file at all, or a wrong download.
    #[error("not a GGUF model file: expected the magic bytes \"GGUF\", found {found:?}")]
    BadMagic { found: String },

    /// The file ends before the data its own header promises: an interrupted download.
    #[error("the model file is truncated ({file_size} bytes): {detail}")]
    Truncated { file_size: u64, detail: String },

    /// The file is a GGUF file but its contents cannot be read.
    #[error("the model file is corrupt: {0}")]
    Corrupt(String),

    /// A valid GGUF file of a model family this engine does not run.
    #[error("unsupported model architecture {found:?}: Aayu runs qwen2 models")]
    WrongArchitecture { found: String },

    /// A metadata entry the engine needs is missing or has the wrong type or value.
    #[error("model metadata {key}: {reason}")]
    Metadata { key: String, reason: String },

    /// The tokenizer could not be built from the metadata, or could not encode/decode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The prompt leaves no room in the context window for even one new token.
    #[error(
        "the prompt is {prompt_tokens} tokens long but the context holds {context_length}, \
         including at least one token of reply; shorten the prompt"
    )]
    ContextOverflow {
        prompt_tokens: usize,
        context_length: usize,
    },

    /// The caller asked for something impossible (an empty prompt, a bad sampling setting).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A tensor operation failed during the forward pass.
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),

    #[error("i/o error while reading the model: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = AayuError> = std::result::Result<T, E>;
