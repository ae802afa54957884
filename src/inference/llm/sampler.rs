//! [`Sampler`]: picks the next token from logits: greedy, or temperature + top-p with a seeded
//! RNG (reproducible), after a repetition penalty over the recent output.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// 0: greedy (argmax).
    pub temperature: f32,
    /// Nucleus: sample among the most likely tokens whose probabilities add up to this.
    pub top_p: f32,
    /// > 1 makes tokens already in the last `penalty_window` outputs less likely (CTRL/HF rule:
    /// positive logits divided, negative multiplied). 1 = off.
    pub repetition_penalty: f32,
    pub penalty_window: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 1.0, repetition_penalty: 1.0, penalty_window: 64, seed: 0 }
    }
}

pub struct Sampler {
    pub config: SamplerConfig,
    rng: StdRng,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Self {
        Self { config, rng: StdRng::seed_from_u64(config.seed) }
    }

    pub fn is_greedy(&self) -> bool {
        self.config.temperature <= 0.0
    }

    /// Applies the repetition penalty in place for the tokens of `history`'s window.
    pub fn penalize(&self, logits: &mut [f32], history: &[u32]) {
        let p = self.config.repetition_penalty;
        if p == 1.0 || p <= 0.0 {
            return;
        }
        let start = history.len().saturating_sub(self.config.penalty_window);
        let mut seen = history[start..].to_vec();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = if *l > 0.0 { *l / p } else { *l * p };
            }
        }
    }

    /// The next token among `candidates` (all of `logits` when `None`); `None` only when there
    /// is no candidate.
    pub fn sample(&mut self, logits: &[f32], candidates: Option<&[u32]>) -> Option<u32> {
        let all: Vec<u32>;
        let candidates = match candidates {
            Some(c) => c,
            None => {
                all = (0..logits.len() as u32).collect();
                &all
            }
        };
        let logit = |t: u32| logits.get(t as usize).copied().unwrap_or(f32::NEG_INFINITY);
        if self.is_greedy() {
            // Ties go to the lowest id, whatever order the candidates come in.
            return candidates.iter().copied().max_by(|&a, &b| logit(a).total_cmp(&logit(b)).then(b.cmp(&a)));
        }
        let t = self.config.temperature;
        let mut scored: Vec<(u32, f32)> = candidates.iter().map(|&c| (c, logit(c) / t)).collect();
        scored.retain(|(_, l)| l.is_finite());
        if scored.is_empty() {
            return candidates.first().copied();
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let max = scored[0].1;
        let mut probs: Vec<f32> = scored.iter().map(|(_, l)| (l - max).exp()).collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        // Smallest prefix reaching top_p.
        let mut kept = 0;
        let mut mass = 0.0;
        while kept < probs.len() && (kept == 0 || mass < self.config.top_p) {
            mass += probs[kept];
            kept += 1;
        }
        let mut r = self.rng.r#gen::<f32>() * mass;
        for i in 0..kept {
            r -= probs[i];
            if r <= 0.0 {
                return Some(scored[i].0);
            }
        }
        Some(scored[kept - 1].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_candidate() {
        let mut s = Sampler::new(SamplerConfig::default());
        let logits = [0.1, 3.0, 2.0, 3.0];
        assert_eq!(s.sample(&logits, None), Some(1));
        assert_eq!(s.sample(&logits, Some(&[2, 0])), Some(2));
        assert_eq!(s.sample(&logits, Some(&[])), None);
    }

    #[test]
    fn sampling_is_seeded_and_stays_in_the_nucleus() {
        let config = SamplerConfig { temperature: 1.0, top_p: 0.9, seed: 7, ..SamplerConfig::default() };
        // Token 3 holds < 1% of the mass: outside the 0.9 nucleus.
        let logits = [2.0, 2.0, 1.0, -4.0];
        let draw = |seed| {
            let mut s = Sampler::new(SamplerConfig { seed, ..config });
            (0..200).map(|_| s.sample(&logits, None).unwrap()).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(!a.contains(&3));
        assert!([0, 1, 2].iter().all(|t| a.contains(t)));
    }

    #[test]
    fn repetition_penalty_lowers_recent_tokens() {
        let s = Sampler::new(SamplerConfig { repetition_penalty: 2.0, penalty_window: 2, ..SamplerConfig::default() });
        let mut logits = [4.0, -1.0, 4.0, 1.0];
        s.penalize(&mut logits, &[2, 0, 1, 1]);
        // Only the last two outputs (token 1) count.
        assert_eq!(logits, [4.0, -2.0, 4.0, 1.0]);
        let mut logits = [4.0, 1.0];
        Sampler::new(SamplerConfig { repetition_penalty: 2.0, ..SamplerConfig::default() }).penalize(&mut logits, &[0]);
        assert_eq!(logits, [2.0, 1.0]);
    }
}
