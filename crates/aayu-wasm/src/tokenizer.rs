//! The Qwen2 tokenizer, built from the GGUF's own metadata (`tokenizer.ggml.*`) with the
//! `tokenizers` crate, so the browser never downloads a separate tokenizer file.
//!
//! The pipeline mirrors llama.cpp's `qwen2` pre-tokenizer: no normalizer, a regex split,
//! byte-level BPE over the merges, and the control/user-defined tokens as added tokens.

use std::collections::HashMap;

use ahash::AHashMap;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{AayuError, Result};
use crate::gguf::GgufModel;

/// The pre-tokenizer regex llama.cpp uses for `tokenizer.ggml.pre = "qwen2"` (and Qwen2's own
/// `tokenizer.json`).
pub const QWEN2_PRETOKENIZER_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// A tokenizer for one model, with the raw bytes of every token for streaming decode.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// The bytes each token stands for; control tokens stand for their own text.
    token_bytes: Vec<Vec<u8>>,
    is_control: Vec<bool>,
    ids: AHashMap<String, u32>,
    pub im_start: u32,
    pub im_end: u32,
    pub end_of_text: u32,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab_size", &self.token_bytes.len())
            .finish()
    }
}

impl GgufTokenizer {
    pub fn from_gguf(gguf: &GgufModel) -> Result<Self> {
        let model = gguf.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(AayuError::Metadata {
                key: "tokenizer.ggml.model".into(),
                reason: format!("{model:?} is not a byte-level BPE (gpt2) tokenizer"),
            });
        }
        if let Ok(pre) = gguf.string("tokenizer.ggml.pre") {
            if pre != "qwen2" {
                return Err(AayuError::Metadata {
                    key: "tokenizer.ggml.pre".into(),
                    reason: format!("pre-tokenizer {pre:?} is not qwen2"),
                });
            }
        }
        let tokens = string_array(gguf, "tokenizer.ggml.tokens")?;
        let merges = string_array(gguf, "tokenizer.ggml.merges")?;
        let types = match gguf.array("tokenizer.ggml.token_type") {
            Ok(values) => values
                .iter()
                .map(|v| v.to_i32())
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(|e| AayuError::Metadata {
                    key: "tokenizer.ggml.token_type".into(),
                    reason: e.to_string(),
                })?,
            Err(_) => vec![TOKEN_TYPE_NORMAL; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(AayuError::Metadata {
                key: "tokenizer.ggml.token_type".into(),
                reason: format!("{} types for {} tokens", types.len(), tokens.len()),
            });
        }
        Self::build(tokens, merges, &types)
    }

    /// Reads only the header of a GGUF file and builds its tokenizer, without loading weights.
    pub fn from_reader<R: std::io::Read + std::io::Seek>(reader: &mut R) -> Result<Self> {
        Self::from_gguf(&GgufModel::read(reader)?)
    }

    fn build(tokens: Vec<String>, merges: Vec<String>, types: &[i32]) -> Result<Self> {
        let mut vocab = AHashMap::with_capacity(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            // A duplicated string keeps its first id, as llama.cpp's token-to-id map does.
            vocab.entry(token.clone()).or_insert(id as u32);
        }
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| AayuError::Tokenizer(format!("malformed merge {m:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab.clone(), merges)
            .build()
            .map_err(|e| AayuError::Tokenizer(e.to_string()))?;

        let mut inner = Tokenizer::new(bpe);
        let split = Split::new(
            SplitPattern::Regex(QWEN2_PRETOKENIZER_REGEX.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| AayuError::Tokenizer(e.to_string()))?;
        // The regex already split the text; ByteLevel only maps bytes to its alphabet.
        let byte_level = ByteLevel::new(false, false, false);
        inner.with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let mut is_control = vec![false; tokens.len()];
        let mut special = Vec::new();
        let mut user_defined = Vec::new();
        for (id, (token, &ty)) in tokens.iter().zip(types).enumerate() {
            match ty {
                TOKEN_TYPE_CONTROL => {
                    is_control[id] = true;
                    special.push(AddedToken::from(token.clone(), true));
                }
                // llama.cpp matches user-defined tokens (e.g. <tool_call>) in any text, even
                // with special-token parsing off; non-special added tokens behave the same.
                TOKEN_TYPE_USER_DEFINED => {
                    user_defined.push(AddedToken::from(token.clone(), false).normalized(false))
                }
                _ => {}
            }
        }
        inner.add_special_tokens(&special);
        inner.add_tokens(&user_defined);

        let decode_map = byte_level_decode_map();
        let token_bytes = tokens
            .iter()
            .zip(types)
            .map(|(token, &ty)| {
                if ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED {
                    token.as_bytes().to_vec()
                } else {
                    token
                        .chars()
                        .flat_map(|c| match decode_map.get(&c) {
                            Some(&b) => vec![b],
                            // Not in the byte-level alphabet: take the character as it is.
                            None => c.to_string().into_bytes(),
                        })
                        .collect()
                }
            })
            .collect();

        let id_of = |s: &str| {
            vocab
                .get(s)
                .copied()
                .ok_or_else(|| AayuError::Tokenizer(format!("the vocabulary lacks {s}")))
        };
        Ok(Self {
            im_start: id_of(IM_START)?,
            im_end: id_of(IM_END)?,
            end_of_text: id_of(END_OF_TEXT)?,
            inner,
            token_bytes,
            is_control,
            ids: vocab,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Encodes `text`. With `parse_special`, control tokens written in the text (such as
    /// `<|im_start|>`) become their ids, as `llama-tokenize` does by default; without it they
    /// are tokenized as plain text, which is what user-typed content needs.
    pub fn encode(&mut self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        self.inner.set_encode_special_tokens(!parse_special);
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| AayuError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes ids to text; invalid UTF-8 (a character cut in half) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The raw bytes a token stands for.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or_else(|| AayuError::Tokenizer(format!("token id {id} is out of range")))
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.is_control.get(id as usize).copied().unwrap_or(false)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The token ids that end an assistant turn.
    pub fn stop_tokens(&self) -> [u32; 2] {
        [self.im_end, self.end_of_text]
    }
}

fn string_array(gguf: &GgufModel, key: &str) -> Result<Vec<String>> {
    gguf.array(key)?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(|e| AayuError::Metadata {
            key: key.into(),
            reason: e.to_string(),
        })
}

/// GPT-2's byte-to-character table, inverted: byte-level BPE vocabularies spell every byte as
/// a printable character, and streaming needs the bytes back.
fn byte_level_decode_map() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut next_unprintable = 0u32;
    for b in 0u32..=255 {
        let printable =
            (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        let c = if printable {
            b
        } else {
            next_unprintable += 1;
            255 + next_unprintable
        };
        if let Some(c) = char::from_u32(c) {
            map.insert(c, b as u8);
        }
    }
    map
}

/// Turns a stream of token ids into text without ever splitting a UTF-8 character: bytes of an
/// unfinished character wait for the tokens that complete them.
#[derive(Debug, Default)]
pub struct TokenOutputStream {
    pending: Vec<u8>,
}

impl TokenOutputStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token; returns the text that is now complete, if any.
    pub fn push(&mut self, tokenizer: &GgufTokenizer, id: u32) -> Result<Option<String>> {
        self.pending.extend_from_slice(tokenizer.token_bytes(id)?);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An unfinished character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        // Bytes that can never become a character: show them as U+FFFD.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Whatever is left at the end of generation (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.is_empty()).then(|| String::from_utf8_lossy(&rest).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-level vocabulary: the 256 single bytes, a few merges, then the special tokens.
    fn tiny() -> GgufTokenizer {
        let decode = byte_level_decode_map();
        let mut by_byte: Vec<(u8, char)> = decode.iter().map(|(&c, &b)| (b, c)).collect();
        by_byte.sort();
        let mut tokens: Vec<String> = by_byte.iter().map(|(_, c)| c.to_string()).collect();
        let merges = vec!["Ġ t".to_string(), "h e".to_string(), "Ġt he".to_string()];
        tokens.extend(["Ġt", "he", "Ġthe"].map(String::from));
        let mut types = vec![TOKEN_TYPE_NORMAL; tokens.len()];
        for t in [END_OF_TEXT, IM_START, IM_END] {
            tokens.push(t.to_string());
            types.push(TOKEN_TYPE_CONTROL);
        }
        GgufTokenizer::build(tokens, merges, &types).expect("tiny tokenizer")
    }

    #[test]
    fn merges_apply_and_text_round_trips() {
        let mut t = tiny();
        let ids = t.encode("in the end", true).expect("encode");
        assert!(ids.contains(&258), "Ġthe should be one token: {ids:?}");
        assert_eq!(t.decode(&ids).expect("decode"), "in the end");
    }

    #[test]
    fn special_tokens_are_parsed_only_when_asked() {
        let mut t = tiny();
        let parsed = t.encode("<|im_start|>user", true).expect("encode");
        assert_eq!(parsed[0], t.im_start);
        let plain = t.encode("<|im_start|>user", false).expect("encode");
        assert!(!plain.contains(&t.im_start));
        assert_eq!(t.decode(&plain).expect("decode"), "<|im_start|>user");
    }

    #[test]
    fn stream_never_splits_a_character() {
        let mut t = tiny();
        // Each byte of the emoji and of "é" is its own token in this vocabulary.
        let text = "a 🩺 é";
        let ids = t.encode(text, false).expect("encode");
        assert!(ids.len() > 4);
        let mut stream = TokenOutputStream::new();
        let mut pieces = Vec::new();
        for id in ids {
            if let Some(piece) = stream.push(&t, id).expect("push") {
                pieces.push(piece);
            }
        }
        assert_eq!(stream.finish(), None);
        assert!(pieces
            .iter()
            .all(|p| !p.contains(char::REPLACEMENT_CHARACTER)));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn runs_of_spaces_follow_the_qwen2_regex() {
        let mut t = tiny();
        // `\s+(?!\S)` leaves the last space of a run to attach to the next word.
        let ids = t.encode("a   the", false).expect("encode");
        let pieces: Vec<String> = ids
            .iter()
            .map(|&id| t.decode(&[id]).expect("decode"))
            .collect();
        assert_eq!(pieces, vec!["a", " ", " ", " the"]);
    }
}
