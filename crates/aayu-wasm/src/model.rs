//! Qwen2's forward pass on candle, owned here rather than taken from `candle-transformers`
//! because the browser's 4 GB address space needs what that version does not do:
//!
//! - the token embedding stays quantised (looked up row by row) instead of being dequantised to
//!   ~0.9 GB of f32;
//! - the KV cache is allocated once for the context this engine allows and written in place,
//!   instead of growing by concatenation (a copy of the whole cache on every token);
//! - tensors are read one at a time from any `Read + Seek`, such as the chunked IndexedDB copy.

use std::io::{Read, Seek};

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use crate::error::{AayuError, Result};
use crate::gguf::GgufModel;
use crate::profile;

/// The shape of a Qwen2 model, from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Qwen2Config {
    pub block_count: usize,
    pub embedding_length: usize,
    pub feed_forward_length: usize,
    pub head_count: usize,
    pub head_count_kv: usize,
    pub head_dim: usize,
    /// The context the model was trained for.
    pub context_length: usize,
    pub rms_norm_eps: f32,
    pub rope_freq_base: f32,
    pub vocab_size: usize,
}

impl Qwen2Config {
    pub fn from_gguf(gguf: &GgufModel) -> Result<Self> {
        let get = |key: &str| gguf.u32(&format!("qwen2.{key}")).map(|v| v as usize);
        let head_count = get("attention.head_count")?;
        let head_count_kv = get("attention.head_count_kv")?;
        let embedding_length = get("embedding_length")?;
        let invalid = |key: &str, reason: String| AayuError::Metadata {
            key: format!("qwen2.{key}"),
            reason,
        };
        if head_count == 0 || head_count_kv == 0 || head_count % head_count_kv != 0 {
            return Err(invalid(
                "attention.head_count_kv",
                format!("{head_count} query heads cannot share {head_count_kv} key/value heads"),
            ));
        }
        if embedding_length == 0 || embedding_length % head_count != 0 {
            return Err(invalid(
                "embedding_length",
                format!("{embedding_length} does not split into {head_count} heads"),
            ));
        }
        let head_dim = embedding_length / head_count;
        if head_dim % 2 != 0 {
            return Err(invalid(
                "embedding_length",
                format!("head size {head_dim} is odd; rotary embeddings need it even"),
            ));
        }
        let vocab_size = gguf
            .content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| AayuError::Corrupt("the tensor token_embd.weight is missing".into()))?
            .shape
            .dims()
            .first()
            .copied()
            .unwrap_or(0);
        Ok(Self {
            block_count: get("block_count")?,
            embedding_length,
            feed_forward_length: get("feed_forward_length")?,
            head_count,
            head_count_kv,
            head_dim,
            context_length: get("context_length")?,
            rms_norm_eps: gguf.f32("qwen2.attention.layer_norm_rms_epsilon")?,
            // Qwen2 GGUFs carry it; 10 000 is llama.cpp's default when they do not.
            rope_freq_base: gguf.f32("qwen2.rope.freq_base").unwrap_or(10_000.0),
            vocab_size,
        })
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Tensor,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    bq: Tensor,
    bk: Tensor,
    bv: Tensor,
    wo: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    /// (1, kv heads, max context, head dim), written in place position by position.
    k_cache: Tensor,
    v_cache: Tensor,
}

/// A loaded Qwen2 model with its KV cache.
#[derive(Debug)]
pub struct Qwen2 {
    pub config: Qwen2Config,
    /// The context this instance holds: the model's, capped by the caller to bound memory.
    max_context: usize,
    embedding: QTensor,
    layers: Vec<Layer>,
    output_norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    /// The tokens whose keys and values are in the cache, one per position: a later prompt
    /// that starts with the same tokens reuses them ([`Qwen2::keep_common_prefix`]).
    cached: Vec<u32>,
}

impl Qwen2 {
    /// Loads the weights. `max_context` caps the KV cache (the model's own 32k context would
    /// need ~1.8 GB of cache for Qwen2.5-1.5B).
    pub fn load<R: Read + Seek>(
        gguf: &GgufModel,
        reader: &mut R,
        max_context: usize,
    ) -> Result<Self> {
        let config = Qwen2Config::from_gguf(gguf)?;
        let max_context = max_context.min(config.context_length).max(1);
        let device = Device::Cpu;
        let vector = |reader: &mut R, name: &str| -> Result<Tensor> {
            Ok(gguf.tensor(reader, name)?.dequantize(&device)?)
        };
        let matrix = |reader: &mut R, name: &str| -> Result<QMatMul> {
            Ok(QMatMul::from_qtensor(gguf.tensor(reader, name)?)?)
        };

        let embedding = gguf.tensor(reader, "token_embd.weight")?;
        let output_norm = vector(reader, "output_norm.weight")?;
        // Models with tied embeddings have no output matrix; the embedding serves as both.
        let output = if gguf.has_tensor("output.weight") {
            matrix(reader, "output.weight")?
        } else {
            QMatMul::from_qtensor(gguf.tensor(reader, "token_embd.weight")?)?
        };

        let cache_shape = (1, config.head_count_kv, max_context, config.head_dim);
        let mut layers = Vec::with_capacity(config.block_count);
        for i in 0..config.block_count {
            let name = |t: &str| format!("blk.{i}.{t}");
            layers.push(Layer {
                attn_norm: vector(reader, &name("attn_norm.weight"))?,
                wq: matrix(reader, &name("attn_q.weight"))?,
                wk: matrix(reader, &name("attn_k.weight"))?,
                wv: matrix(reader, &name("attn_v.weight"))?,
                bq: vector(reader, &name("attn_q.bias"))?,
                bk: vector(reader, &name("attn_k.bias"))?,
                bv: vector(reader, &name("attn_v.bias"))?,
                wo: matrix(reader, &name("attn_output.weight"))?,
                ffn_norm: vector(reader, &name("ffn_norm.weight"))?,
                gate: matrix(reader, &name("ffn_gate.weight"))?,
                up: matrix(reader, &name("ffn_up.weight"))?,
                down: matrix(reader, &name("ffn_down.weight"))?,
                k_cache: Tensor::zeros(cache_shape, DType::F32, &device)?,
                v_cache: Tensor::zeros(cache_shape, DType::F32, &device)?,
            });
        }

        let (cos, sin) = rope_tables(&config, max_context, &device)?;
        Ok(Self {
            config,
            max_context,
            embedding,
            layers,
            output_norm,
            output,
            cos,
            sin,
            cached: Vec::new(),
        })
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Positions already in the KV cache.
    pub fn position(&self) -> usize {
        self.cached.len()
    }

    /// The tokens at the cached positions.
    pub fn cached_tokens(&self) -> &[u32] {
        &self.cached
    }

    /// Forgets the conversation so far; the cache is overwritten, not reallocated.
    pub fn reset(&mut self) {
        self.cached.clear();
    }

    /// Keeps the cached positions that `prompt` starts with (a shared system prompt, an earlier
    /// turn) and forgets the rest, so only the new tokens need a forward pass. At least the
    /// prompt's last token is left to run: its logits pick the first new token. Returns how
    /// many prompt tokens are already in the cache. Exact, not an approximation: a position's
    /// keys and values depend only on the tokens up to it.
    pub fn keep_common_prefix(&mut self, prompt: &[u32]) -> usize {
        let common = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len().saturating_sub(1));
        self.cached.truncate(common);
        common
    }

    /// Runs `tokens` at the next positions and returns the logits for the last one.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let seq_len = tokens.len();
        if seq_len == 0 {
            return Err(AayuError::InvalidRequest("no tokens to run".into()));
        }
        let position = self.cached.len();
        if position + seq_len > self.max_context {
            return Err(AayuError::ContextOverflow {
                prompt_tokens: position + seq_len,
                context_length: self.max_context,
            });
        }
        if let Some(&bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(AayuError::InvalidRequest(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        profile::set_phase(seq_len > 1);
        let device = Device::Cpu;
        let ids = Tensor::new(tokens, &device)?;
        let mut x = profile::time("embedding", || self.embedding.embedding(&ids))?.unsqueeze(0)?;
        let mask = causal_mask(seq_len, position, &device)?;
        let cos = self.cos.narrow(0, position, seq_len)?;
        let sin = self.sin.narrow(0, position, seq_len)?;
        let eps = self.config.rms_norm_eps;
        let rms_norm = |x: &Tensor, w: &Tensor| {
            profile::time("rms_norm", || candle_nn::ops::rms_norm(x, w, eps))
        };
        for layer in &self.layers {
            let h = rms_norm(&x, &layer.attn_norm)?;
            let h = attention(&self.config, layer, &h, position, &cos, &sin, mask.as_ref())?;
            x = (x + h)?;
            let h = rms_norm(&x, &layer.ffn_norm)?;
            let gate = profile::time("ffn_gate", || layer.gate.forward(&h))?;
            let up = profile::time("ffn_up", || layer.up.forward(&h))?;
            let h = profile::time("silu_mul", || gate.silu()? * up)?;
            x = (x + profile::time("ffn_down", || layer.down.forward(&h))?)?;
        }
        self.cached.extend_from_slice(tokens);
        // Only the last position's logits are needed: skip the output matrix for the others.
        let last = x.narrow(1, seq_len - 1, 1)?;
        let last = rms_norm(&last, &self.output_norm)?;
        let logits = profile::time("output", || self.output.forward(&last))?;
        Ok(logits.flatten_all()?.to_vec1::<f32>()?)
    }
}

fn attention(
    config: &Qwen2Config,
    layer: &Layer,
    x: &Tensor,
    position: usize,
    cos: &Tensor,
    sin: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (_, seq_len, _) = x.dims3()?;
    let (n_head, n_kv, hd) = (config.head_count, config.head_count_kv, config.head_dim);
    let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
        t.reshape((1, seq_len, n, hd))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = profile::time("attn_q", || layer.wq.forward(x))?;
    let k = profile::time("attn_k", || layer.wk.forward(x))?;
    let v = profile::time("attn_v", || layer.wv.forward(x))?;
    let q = profile::time("attn_rope_cache", || -> candle_core::Result<Tensor> {
        let q = heads(q.broadcast_add(&layer.bq)?, n_head)?;
        let k = heads(k.broadcast_add(&layer.bk)?, n_kv)?;
        let v = heads(v.broadcast_add(&layer.bv)?, n_kv)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        layer.k_cache.slice_set(&k, 2, position)?;
        layer.v_cache.slice_set(&v, 2, position)?;
        candle_nn::rotary_emb::rope(&q, cos, sin)
    })?;

    let y = profile::time("attn_scores", || -> candle_core::Result<Tensor> {
        let kv_len = position + seq_len;
        // Views of the cache, not copies: candle's matmul walks the (head, position) strides
        // of the preallocated cache directly.
        let k = layer.k_cache.narrow(2, 0, kv_len)?;
        let v = layer.v_cache.narrow(2, 0, kv_len)?;
        // Grouped-query attention without copying K/V per query head: query heads are ordered
        // so that each run of `n_rep` shares one key/value head, so fold them into the row
        // dimension.
        let n_rep = n_head / n_kv;
        let q = q.reshape((1, n_kv, n_rep * seq_len, hd))?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let scores = match mask {
            Some(mask) => scores
                .reshape((1, n_kv, n_rep, seq_len, kv_len))?
                .broadcast_add(mask)?
                .reshape((1, n_kv, n_rep * seq_len, kv_len))?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        probs
            .matmul(&v)?
            .reshape((1, n_head, seq_len, hd))?
            .transpose(1, 2)?
            .reshape((1, seq_len, n_head * hd))
    })?;
    Ok(profile::time("attn_output", || layer.wo.forward(&y))?)
}

/// An additive mask, (seq_len, position + seq_len): 0 where a query may look, -inf in its
/// future. None for a single token, which may look at everything cached.
fn causal_mask(seq_len: usize, position: usize, device: &Device) -> Result<Option<Tensor>> {
    if seq_len == 1 {
        return Ok(None);
    }
    let kv_len = position + seq_len;
    let mask: Vec<f32> = (0..seq_len)
        .flat_map(|i| {
            (0..kv_len).map(move |j| {
                if j > position + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Some(Tensor::from_vec(mask, (seq_len, kv_len), device)?))
}

fn rope_tables(
    config: &Qwen2Config,
    positions: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let hd = config.head_dim;
    let inv_freq: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1.0 / config.rope_freq_base.powf(i as f32 / hd as f32))
        .collect();
    let inv_freq = Tensor::from_vec(inv_freq, (1, hd / 2), device)?;
    let t = Tensor::arange(0u32, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let freqs = t.broadcast_mul(&inv_freq)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode-step attention over the cache, as a view and as the prefix copy it replaced, side
    /// by side in one process, fastest of 224 rounds each (prints; asserts only that both give
    /// the same numbers). Run with
    /// `RAYON_NUM_THREADS=1 cargo test --release -p aayu-wasm --lib attention_over -- --ignored
    /// --nocapture` to match the browser's single thread.
    #[test]
    #[ignore = "a timing comparison, run by hand"]
    fn attention_over_the_cache_view_against_a_copy() -> candle_core::Result<()> {
        let device = Device::Cpu;
        // Qwen2.5-1.5B: 2 KV heads of 128, 6 query heads per KV head; a 4096-token cache.
        let (n_kv, n_rep, hd, max) = (2, 6, 128, 4096);
        let cache = Tensor::randn(0f32, 1.0, (1, n_kv, max, hd), &device)?;
        let q = Tensor::randn(0f32, 1.0, (1, n_kv, n_rep, hd), &device)?;
        let scores = |k: &Tensor, v: &Tensor| -> candle_core::Result<Tensor> {
            let s = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
            candle_nn::ops::softmax_last_dim(&s)?.matmul(v)
        };
        for kv_len in [128, 512, 2048] {
            let rounds = 28 * 8;
            // The fastest round of each: on a shared machine the minimum is what the code
            // costs, the rest is waiting for a core.
            let (mut t_copy, mut t_view) = (f64::MAX, f64::MAX);
            for _ in 0..rounds {
                let t = web_time::Instant::now();
                let k = cache.narrow(2, 0, kv_len)?.contiguous()?;
                let v = cache.narrow(2, 0, kv_len)?.contiguous()?;
                let a = scores(&k, &v)?;
                t_copy = t_copy.min(t.elapsed().as_secs_f64());
                let t = web_time::Instant::now();
                let k = cache.narrow(2, 0, kv_len)?;
                let v = cache.narrow(2, 0, kv_len)?;
                let b = scores(&k, &v)?;
                t_view = t_view.min(t.elapsed().as_secs_f64());
                let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "{diff}");
            }
            // Per decode step: one call per layer, 28 layers.
            let per_step = |t: f64| t * 1000.0 * 28.0;
            println!(
                "kv_len {kv_len}: prefix copy {:.2} ms/step, view {:.2} ms/step ({:.2}x)",
                per_step(t_copy),
                per_step(t_view),
                t_copy / t_view
            );
        }
        Ok(())
    }
}
