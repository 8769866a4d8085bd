//! Choosing the next token from the logits: greedy, or temperature with top-k / top-p, with a
//! repetition penalty, reproducible from a seed.

use serde::{Deserialize, Serialize};

use crate::error::{AayuError, Result};

/// How to pick tokens. `temperature <= 0` means greedy (always the most likely token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 = no limit).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities sum to `top_p` (1.0 = no limit).
    pub top_p: f32,
    /// llama.cpp's penalty: positive logits of recent tokens are divided by it, negative ones
    /// multiplied (1.0 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 20,
            top_p: 0.8,
            repetition_penalty: 1.05,
            repeat_last_n: 64,
            seed: 299_792_458,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            repeat_last_n: 0,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() {
            return Err(AayuError::InvalidRequest(
                "temperature must be finite".into(),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(AayuError::InvalidRequest("top_p must be in (0, 1]".into()));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(AayuError::InvalidRequest(
                "repetition_penalty must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// A sampler with its own random stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: SplitMix64,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        let rng = SplitMix64(params.seed);
        Ok(Self { params, rng })
    }

    /// Picks the next token. `recent` is the text so far (prompt and output), for the penalty.
    pub fn sample(&mut self, logits: &mut [f32], recent: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(AayuError::InvalidRequest("no logits to sample from".into()));
        }
        self.apply_repetition_penalty(logits, recent);
        if self.params.temperature <= 0.0 {
            return Ok(argmax(logits));
        }

        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| (i as u32, l / self.params.temperature))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.params.top_k > 0 {
            candidates.truncate(self.params.top_k);
        }
        let Some(&(best, max)) = candidates.first() else {
            return Ok(argmax(logits));
        };
        let mut probs: Vec<f32> = candidates.iter().map(|&(_, l)| (l - max).exp()).collect();
        let sum: f32 = probs.iter().sum();
        if !(sum.is_finite() && sum > 0.0) {
            return Ok(best);
        }
        probs.iter_mut().for_each(|p| *p /= sum);
        if self.params.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= self.params.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut threshold = self.rng.next_f32() * total;
        for (i, p) in probs.iter().enumerate() {
            threshold -= p;
            if threshold <= 0.0 {
                return Ok(candidates[i].0);
            }
        }
        // Rounding left a sliver: the last kept candidate takes it.
        Ok(candidates[probs.len() - 1].0)
    }

    fn apply_repetition_penalty(&self, logits: &mut [f32], recent: &[u32]) {
        let penalty = self.params.repetition_penalty;
        if penalty == 1.0 || self.params.repeat_last_n == 0 {
            return;
        }
        let start = recent.len().saturating_sub(self.params.repeat_last_n);
        let mut seen = std::collections::HashSet::new();
        for &id in &recent[start..] {
            // Each token is penalised once, however often it repeats, as in llama.cpp.
            if !seen.insert(id) {
                continue;
            }
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
            }
        }
    }
}

/// The index of the largest logit; the lowest index wins a tie, as in llama.cpp.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// SplitMix64: tiny, seedable and identical on every target. The engine needs reproducible
/// draws, not cryptographic ones, and this keeps it off the browser's entropy source.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            repetition_penalty: 1.0,
            repeat_last_n: 0,
            seed: 7,
        }
    }

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut s = Sampler::new(SamplingParams::greedy()).expect("sampler");
        assert_eq!(
            s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]).expect("sample"),
            1
        );
    }

    #[test]
    fn top_k_of_one_is_greedy_even_when_hot() {
        let mut s = Sampler::new(params(5.0, 1, 1.0)).expect("sampler");
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [0.0, 1.0, 0.9, 0.8], &[]).expect("sample"), 1);
        }
    }

    #[test]
    fn top_p_drops_the_unlikely_tail() {
        // Token 0 holds ~88% of the mass, so top_p = 0.5 keeps only it.
        let mut s = Sampler::new(params(1.0, 0, 0.5)).expect("sampler");
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [2.0, 0.0, 0.0], &[]).expect("sample"), 0);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens_and_a_hot_sampler_varies() {
        let logits = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0];
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams {
                seed,
                ..params(1.0, 0, 1.0)
            })
            .expect("sampler");
            (0..40)
                .map(|_| s.sample(&mut logits.clone(), &[]).expect("sample"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let distinct: std::collections::HashSet<_> = run(1).into_iter().collect();
        assert!(
            distinct.len() > 3,
            "uniform logits should spread: {distinct:?}"
        );
    }

    #[test]
    fn repetition_penalty_turns_greedy_away_from_recent_tokens() {
        let mut s = Sampler::new(SamplingParams {
            repetition_penalty: 2.0,
            repeat_last_n: 8,
            ..SamplingParams::greedy()
        })
        .expect("sampler");
        // 3.0 / 2 = 1.5 < 2.0, so token 1 loses to token 2.
        assert_eq!(s.sample(&mut [0.0, 3.0, 2.0], &[1, 1]).expect("sample"), 2);
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Sampler::new(params(1.0, 0, 0.0)).is_err());
        assert!(Sampler::new(params(f32::NAN, 0, 1.0)).is_err());
    }
}
