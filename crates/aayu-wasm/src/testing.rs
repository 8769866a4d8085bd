//! Test models: a tiny Qwen2 GGUF with random weights, written by the test suites themselves
//! (natively, as wasm32, and by `aayu-bench write-tiny` for the browser tests), and the damaged
//! copies whose errors the UI must show.

use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

const HIDDEN: usize = 256;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const FFN: usize = 512;
const LAYERS: usize = 2;

/// GPT-2's printable alphabet for the 256 bytes, in byte order.
fn byte_level_alphabet() -> Vec<String> {
    let mut extra = 0u32;
    (0u32..=255)
        .map(|b| {
            let printable = (0x21..=0x7e).contains(&b)
                || (0xa1..=0xac).contains(&b)
                || (0xae..=0xff).contains(&b);
            let c = if printable {
                b
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(c).expect("valid char").to_string()
        })
        .collect()
}

/// A tiny Qwen2 GGUF with random weights: 2 layers, hidden 256, GQA 4/2, Q4_K/Q6_K tensors and
/// a byte-level vocabulary with a few merges and the ChatML control tokens.
pub struct TinyModel {
    /// `general.architecture`; anything but "qwen2" makes a wrong-architecture file.
    pub architecture: &'static str,
    /// Make the output layer favour the stop tokens, so generation ends at once.
    pub stops_immediately: bool,
    /// Make the output layer's rows for the control tokens zero, so a reply never ends by
    /// itself (random logits put some ordinary token far above 0): browser tests then always
    /// see streamed text.
    pub never_ends_turn: bool,
    /// Make the output layer favour two digits ('3' and '7'), so every reply is a number the
    /// prompt never gave: the browser tests' way to provoke the fact check.
    pub writes_numbers: bool,
    /// Extra metadata entries, after the usual ones (for malformed-header tests).
    pub extra_metadata: Vec<(&'static str, Value)>,
}

impl Default for TinyModel {
    fn default() -> Self {
        Self {
            architecture: "qwen2",
            stops_immediately: false,
            never_ends_turn: false,
            writes_numbers: false,
            extra_metadata: Vec::new(),
        }
    }
}

impl TinyModel {
    /// The whole file. Panics only if candle cannot quantise or write, which is a bug.
    pub fn bytes(&self) -> Vec<u8> {
        let dev = Device::Cpu;
        let mut tokens = byte_level_alphabet();
        let merges: Vec<String> = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ p", "Ġp in"]
            .map(String::from)
            .to_vec();
        for m in &merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![1i32; tokens.len()];
        for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
            tokens.push(special.to_string());
            types.push(3);
        }
        let vocab = tokens.len();
        let end_of_text = vocab - 3;
        let im_end = vocab - 1;

        let random = |shape: (usize, usize), dtype: GgmlDType| {
            let t = Tensor::randn(0f32, 0.5, shape, &dev).expect("randn");
            QTensor::quantize(&t, dtype).expect("quantize")
        };
        let vector = |n: usize, value: f32| {
            let t = Tensor::full(value, n, &dev).expect("full");
            QTensor::quantize(&t, GgmlDType::F32).expect("f32")
        };
        let head_dim = HIDDEN / HEADS;
        let output = if self.stops_immediately {
            // Every logit is 0 except im_end = w·h and endoftext ≈ -w·h: one of the two stop
            // tokens is always the most likely.
            let w = Tensor::randn(0f32, 1.0, (1, HIDDEN), &dev).expect("randn");
            let mut rows = vec![
                Tensor::zeros((1, HIDDEN), candle_core::DType::F32, &dev)
                    .expect("zeros");
                vocab
            ];
            rows[im_end] = w.clone();
            rows[end_of_text] = w.neg().expect("neg");
            let t = Tensor::cat(&rows, 0).expect("cat");
            QTensor::quantize(&t, GgmlDType::Q8_0).expect("quantize")
        } else if self.writes_numbers {
            // Every logit is 0 except '7' = w·h and '3' = -w·h: one of the two digits always
            // wins, and the stop tokens (0) never do.
            let w = Tensor::randn(0f32, 1.0, (1, HIDDEN), &dev).expect("randn");
            let mut rows = vec![
                Tensor::zeros((1, HIDDEN), candle_core::DType::F32, &dev)
                    .expect("zeros");
                vocab
            ];
            rows[usize::from(b'7')] = w.clone();
            rows[usize::from(b'3')] = w.neg().expect("neg");
            let t = Tensor::cat(&rows, 0).expect("cat");
            QTensor::quantize(&t, GgmlDType::Q8_0).expect("quantize")
        } else if self.never_ends_turn {
            let mut rows: Vec<Tensor> = (0..vocab)
                .map(|_| Tensor::randn(0f32, 0.5, (1, HIDDEN), &dev).expect("randn"))
                .collect();
            let zeros = Tensor::zeros((1, HIDDEN), candle_core::DType::F32, &dev).expect("zeros");
            for row in rows.iter_mut().skip(end_of_text) {
                *row = zeros.clone();
            }
            let t = Tensor::cat(&rows, 0).expect("cat");
            QTensor::quantize(&t, GgmlDType::Q6K).expect("quantize")
        } else {
            random((vocab, HIDDEN), GgmlDType::Q6K)
        };
        let mut tensors: Vec<(String, QTensor)> = vec![
            (
                "token_embd.weight".into(),
                random((vocab, HIDDEN), GgmlDType::Q4K),
            ),
            ("output.weight".into(), output),
            ("output_norm.weight".into(), vector(HIDDEN, 1.0)),
        ];
        for i in 0..LAYERS {
            let n = |s: &str| format!("blk.{i}.{s}");
            tensors.extend([
                (n("attn_norm.weight"), vector(HIDDEN, 1.0)),
                (n("attn_q.weight"), random((HIDDEN, HIDDEN), GgmlDType::Q4K)),
                (
                    n("attn_k.weight"),
                    random((KV_HEADS * head_dim, HIDDEN), GgmlDType::Q4K),
                ),
                (
                    n("attn_v.weight"),
                    random((KV_HEADS * head_dim, HIDDEN), GgmlDType::Q4K),
                ),
                (n("attn_q.bias"), vector(HIDDEN, 0.01)),
                (n("attn_k.bias"), vector(KV_HEADS * head_dim, 0.01)),
                (n("attn_v.bias"), vector(KV_HEADS * head_dim, 0.01)),
                (
                    n("attn_output.weight"),
                    random((HIDDEN, HIDDEN), GgmlDType::Q4K),
                ),
                (n("ffn_norm.weight"), vector(HIDDEN, 1.0)),
                (n("ffn_gate.weight"), random((FFN, HIDDEN), GgmlDType::Q4K)),
                (n("ffn_up.weight"), random((FFN, HIDDEN), GgmlDType::Q4K)),
                (n("ffn_down.weight"), random((HIDDEN, FFN), GgmlDType::Q6K)),
            ]);
        }

        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let metadata: Vec<(&str, Value)> = vec![
            (
                "general.architecture",
                Value::String(self.architecture.into()),
            ),
            ("qwen2.block_count", Value::U32(LAYERS as u32)),
            // Room for the app's few-shot prompts, which are ~2,000 of this byte-level
            // vocabulary's tokens (the KV cache is small: 2 layers, 2 KV heads).
            ("qwen2.context_length", Value::U32(4096)),
            ("qwen2.embedding_length", Value::U32(HIDDEN as u32)),
            ("qwen2.feed_forward_length", Value::U32(FFN as u32)),
            ("qwen2.attention.head_count", Value::U32(HEADS as u32)),
            ("qwen2.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
            ("qwen2.rope.freq_base", Value::F32(1_000_000.0)),
            ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("qwen2".into())),
            ("tokenizer.ggml.tokens", strings(&tokens)),
            ("tokenizer.ggml.merges", strings(&merges)),
            (
                "tokenizer.ggml.token_type",
                Value::Array(types.into_iter().map(Value::I32).collect()),
            ),
            ("tokenizer.ggml.eos_token_id", Value::U32(im_end as u32)),
        ];
        let metadata_refs: Vec<(&str, &Value)> = metadata
            .iter()
            .chain(&self.extra_metadata)
            .map(|(k, v)| (*k, v))
            .collect();
        let tensor_refs: Vec<(&str, &QTensor)> =
            tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut out = Cursor::new(Vec::new());
        gguf_file::write(&mut out, &metadata_refs, &tensor_refs).expect("write gguf");
        out.into_inner()
    }
}

/// The files the browser tests serve, by name: a good tiny model, one that only writes
/// numbers, a truncated copy (an interrupted download), a copy with a damaged header, and a
/// llama-architecture file.
pub fn test_model_files() -> Vec<(&'static str, Vec<u8>)> {
    let good = TinyModel {
        never_ends_turn: true,
        ..TinyModel::default()
    }
    .bytes();
    let truncated = good.get(..good.len() / 2).unwrap_or_default().to_vec();
    let mut corrupt = good.clone();
    // The first metadata key's length becomes absurd: the header cannot be parsed.
    for b in corrupt.iter_mut().skip(24).take(8) {
        *b = 0xff;
    }
    let llama = TinyModel {
        architecture: "llama",
        ..TinyModel::default()
    }
    .bytes();
    let numbers = TinyModel {
        writes_numbers: true,
        ..TinyModel::default()
    }
    .bytes();
    vec![
        ("tiny.gguf", good),
        ("tiny-numbers.gguf", numbers),
        ("tiny-truncated.gguf", truncated),
        ("tiny-corrupt.gguf", corrupt),
        ("tiny-llama.gguf", llama),
    ]
}

/// Writes [`test_model_files`] into `dir`.
pub fn write_test_models(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    for (name, bytes) in test_model_files() {
        std::fs::write(dir.join(name), bytes)?;
        names.push(name.to_string());
    }
    Ok(names)
}
