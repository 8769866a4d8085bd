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

        let candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| (i as u32, l / self.params.temperature))
            .collect();
        if candidates.is_empty() {
            return Ok(argmax(logits));
        }
        // No top-k means every candidate is in play: the full sort is the selection then.
        let top_k = match self.params.top_k {
            0 => candidates.len(),
            k => k,
        };
        Ok(pick_from_top_k(
            candidates,
            top_k,
            self.params.top_p,
            &mut self.rng,
        ))
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

/// The order candidates are ranked in: most likely first, the lower id first on a tie. A strict
/// total order (ids are distinct), so a selection and a full sort agree on every position.
fn rank(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Top-k (then top-p) without sorting the whole vocabulary: the k best are selected in linear
/// time and only they are sorted. The arithmetic after that is the full sort's, step for step,
/// so the choice for a given seed is the same as sorting all 151,936 logits. (Without a top-k
/// the sums run over the whole vocabulary in rank order, and a float sum of 150,000 terms
/// depends on its order, so that case still sorts everything to stay exactly as it was.)
fn pick_from_top_k(
    mut candidates: Vec<(u32, f32)>,
    top_k: usize,
    top_p: f32,
    rng: &mut SplitMix64,
) -> u32 {
    if top_k < candidates.len() {
        candidates.select_nth_unstable_by(top_k - 1, rank);
        candidates.truncate(top_k);
    }
    candidates.sort_unstable_by(rank);
    let (best, max) = candidates[0];
    let mut probs: Vec<f32> = candidates.iter().map(|&(_, l)| (l - max).exp()).collect();
    let sum: f32 = probs.iter().sum();
    if !(sum.is_finite() && sum > 0.0) {
        return best;
    }
    probs.iter_mut().for_each(|p| *p /= sum);
    if top_p < 1.0 {
        let mut cumulative = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cumulative += p;
            if cumulative >= top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
    }
    let total: f32 = probs.iter().sum();
    let mut threshold = rng.next_f32() * total;
    for (i, p) in probs.iter().enumerate() {
        threshold -= p;
        if threshold <= 0.0 {
            return candidates[i].0;
        }
    }
    // Rounding left a sliver: the last kept candidate takes it.
    candidates[probs.len() - 1].0
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

    /// The sampler as it was before selection: sort every candidate, then cut. Kept here as
    /// the reference the selection must agree with.
    fn sample_by_full_sort(params: &SamplingParams, rng: &mut SplitMix64, logits: &[f32]) -> u32 {
        if params.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| (i as u32, l / params.temperature))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if params.top_k > 0 {
            candidates.truncate(params.top_k);
        }
        let Some(&(best, max)) = candidates.first() else {
            return argmax(logits);
        };
        let mut probs: Vec<f32> = candidates.iter().map(|&(_, l)| (l - max).exp()).collect();
        let sum: f32 = probs.iter().sum();
        if !(sum.is_finite() && sum > 0.0) {
            return best;
        }
        probs.iter_mut().for_each(|p| *p /= sum);
        if params.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= params.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut threshold = rng.next_f32() * total;
        for (i, p) in probs.iter().enumerate() {
            threshold -= p;
            if threshold <= 0.0 {
                return candidates[i].0;
            }
        }
        candidates[probs.len() - 1].0
    }

    /// Logits shaped like a language model's: a long flat tail, a few strong candidates, ties
    /// (quantised weights make exact ties common), and the odd NaN or -inf.
    fn model_like_logits(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| match rng.next_u64() % 1000 {
                0 => f32::NAN,
                1 => f32::NEG_INFINITY,
                2..=9 => 8.0 + (rng.next_u64() % 8) as f32 * 0.5,
                10..=99 => 4.0 + rng.next_f32() * 4.0,
                _ => ((rng.next_f32() * 8.0 - 6.0) * 64.0).round() / 64.0,
            })
            .collect()
    }

    #[test]
    fn selection_picks_exactly_what_the_full_sort_picked() {
        let settings = [
            (0.7, 20, 0.8),
            (0.7, 20, 1.0),
            (1.0, 1, 1.0),
            (1.5, 50, 0.95),
            (0.3, 5, 0.5),
            (1.0, 2_000, 0.9),
            (0.7, 0, 0.8),
            (1.0, 0, 0.95),
            (2.0, 0, 1.0),
            (1.0, 0, 0.999),
        ];
        let mut data = SplitMix64(42);
        let mut draws = 0;
        for (temperature, top_k, top_p) in settings {
            for case in 0..12 {
                // The last case has the real vocabulary's size.
                let n = if case == 11 {
                    151_936
                } else {
                    500 + case * 700
                };
                let logits = model_like_logits(&mut data, n);
                let p = SamplingParams {
                    seed: case as u64,
                    ..params(temperature, top_k, top_p)
                };
                let mut ours = Sampler::new(p.clone()).expect("sampler");
                let mut reference = SplitMix64(p.seed);
                for _ in 0..8 {
                    let expected = sample_by_full_sort(&p, &mut reference, &logits);
                    let got = ours.sample(&mut logits.clone(), &[]).expect("sample");
                    assert_eq!(
                        got, expected,
                        "T={temperature} top_k={top_k} top_p={top_p} n={n}"
                    );
                    draws += 1;
                }
            }
        }
        assert_eq!(draws, 10 * 12 * 8);
    }

    #[test]
    fn selection_keeps_the_degenerate_cases_of_the_full_sort() {
        let cases: [&[f32]; 4] = [
            &[f32::NAN, f32::NAN],
            &[f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY],
            &[1.0, f32::INFINITY, 2.0, f32::INFINITY],
            &[3.0, 3.0, 3.0],
        ];
        for logits in cases {
            for top_k in [0, 1, 2, 10] {
                let p = params(0.8, top_k, 0.9);
                let mut ours = Sampler::new(p.clone()).expect("sampler");
                let mut reference = SplitMix64(p.seed);
                for _ in 0..4 {
                    let expected = sample_by_full_sort(&p, &mut reference, logits);
                    let got = ours.sample(&mut logits.to_vec(), &[]).expect("sample");
                    assert_eq!(got, expected, "{logits:?} top_k={top_k}");
                }
            }
        }
    }

    /// Side by side, for the README (prints, asserts nothing about time):
    /// `cargo test --release -p aayu-wasm --lib selection_against_sort -- --ignored --nocapture`
    #[test]
    #[ignore = "a timing comparison, run by hand"]
    fn selection_against_sort_timing() {
        let mut data = SplitMix64(3);
        let logits = model_like_logits(&mut data, 151_936);
        for (name, p) in [
            (
                "default (T 0.7, top-k 20, top-p 0.8)",
                SamplingParams::default(),
            ),
            ("no top-k (T 1.0, top-p 0.95)", params(1.0, 0, 0.95)),
        ] {
            let rounds = 200;
            let mut ours = Sampler::new(p.clone()).expect("sampler");
            let mut reference = SplitMix64(p.seed);
            let (mut t_sort, mut t_select) = (0.0, 0.0);
            for _ in 0..rounds {
                let t = web_time::Instant::now();
                let a = sample_by_full_sort(&p, &mut reference, &logits);
                t_sort += t.elapsed().as_secs_f64();
                let mut copy = logits.clone();
                let t = web_time::Instant::now();
                let b = ours.sample(&mut copy, &[]).expect("sample");
                t_select += t.elapsed().as_secs_f64();
                assert_eq!(a, b);
            }
            let ms = |t: f64| t * 1000.0 / rounds as f64;
            println!(
                "{name}: full sort {:.2} ms/token, selection {:.2} ms/token ({:.1}x)",
                ms(t_sort),
                ms(t_select),
                t_sort / t_select
            );
        }
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Sampler::new(params(1.0, 0, 0.0)).is_err());
        assert!(Sampler::new(params(f32::NAN, 0, 1.0)).is_err());
    }
}
