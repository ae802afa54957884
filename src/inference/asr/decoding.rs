//! Decoding one 30 s window: the logit rules of Whisper (suppressed tokens, blank suppression,
//! timestamp grammar), greedy / beam search at temperature 0, best-of-N sampling above it, the
//! no-speech probability, and the temperature fallback driven by compression ratio and average
//! log-probability — the same rules and defaults as faster-whisper, so transcripts can be
//! compared token for token.

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::config::WhisperConfig;
use super::model::{CrossKv, WhisperModel};
use super::tokenizer::WhisperTokenizer;
use crate::inference::InferenceError;

/// faster-whisper's `transcribe()` options that change the result. Defaults are its defaults.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// 1 = greedy.
    pub beam_size: usize,
    pub patience: f32,
    /// Hypotheses sampled at temperatures above 0.
    pub best_of: usize,
    pub length_penalty: f32,
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f32>,
    pub log_prob_threshold: Option<f32>,
    pub no_speech_threshold: Option<f32>,
    pub condition_on_previous_text: bool,
    pub prompt_reset_on_temperature: f32,
    pub without_timestamps: bool,
    /// Seconds; the first timestamp may not exceed it.
    pub max_initial_timestamp: f32,
    pub suppress_blank: bool,
    /// Language code for multilingual models (`None`: English for `.en` models, else "en").
    pub language: Option<String>,
    pub initial_prompt: Option<String>,
    /// Words to expect (names, products, jargon), spelled as they should be written. A window
    /// of a long recording gets them as text that came before (faster-whisper's `hotwords`);
    /// an utterance is decoded with and without them and patched where a term was spelled
    /// (see `term_patch`).
    pub keyterms: Vec<String>,
    /// Seed of the sampler used at temperatures above 0.
    pub seed: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            beam_size: 5,
            patience: 1.0,
            best_of: 5,
            length_penalty: 1.0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            prompt_reset_on_temperature: 0.5,
            without_timestamps: false,
            max_initial_timestamp: 1.0,
            suppress_blank: true,
            language: None,
            initial_prompt: None,
            keyterms: Vec::new(),
            seed: 0,
        }
    }
}

/// Seconds per timestamp token.
pub const TIME_PRECISION: f32 = 0.02;
/// Whisper's text context.
pub const MAX_LENGTH: usize = 448;

/// The result of decoding one window.
#[derive(Debug, Clone)]
pub struct WindowResult {
    /// Generated tokens, without the end-of-text token.
    pub tokens: Vec<u32>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub temperature: f32,
    pub compression_ratio: f32,
}

/// Runs the fallback loop over `options.temperatures` for one encoded window.
pub fn decode_with_fallback(
    model: &mut WhisperModel,
    tokenizer: &WhisperTokenizer,
    cross: &CrossKv,
    prompt: &[u32],
    sot_index: usize,
    options: &DecodeOptions,
    rng: &mut StdRng,
) -> Result<WindowResult, InferenceError> {
    let mut all = Vec::new();
    let mut below_cr = Vec::new();
    for &temperature in &options.temperatures {
        let hyp = if temperature > 0.0 {
            sample(model, cross, prompt, sot_index, options, temperature, rng)?
        } else {
            beam_search(model, cross, prompt, sot_index, options)?
        };
        let seq_len = hyp.tokens.len() as f32;
        let avg_logprob = hyp.sum_logprob / (seq_len + 1.0);
        let text = tokenizer.decode(&hyp.tokens);
        let compression_ratio = compression_ratio(text.trim());
        let looping = ends_in_loop(&text);
        let result = WindowResult {
            tokens: hyp.tokens,
            avg_logprob,
            no_speech_prob: hyp.no_speech_prob,
            temperature,
            compression_ratio,
        };
        let mut needs_fallback = false;
        if let Some(threshold) = options.compression_ratio_threshold {
            if compression_ratio > threshold || looping {
                needs_fallback = true;
            } else {
                below_cr.push(result.clone());
            }
        }
        if options.log_prob_threshold.is_some_and(|t| avg_logprob < t) {
            needs_fallback = true;
        }
        let silence = options.no_speech_threshold.is_some_and(|t| result.no_speech_prob > t)
            && options.log_prob_threshold.is_some_and(|t| avg_logprob < t);
        if silence {
            needs_fallback = false;
        }
        all.push(result);
        if !needs_fallback {
            return Ok(all.pop().expect("just pushed"));
        }
    }
    // Every temperature failed: the best average log-probability wins, reported with the last
    // temperature (it decides whether the prompt is reset).
    let last_temperature = *options.temperatures.last().unwrap_or(&0.0);
    let pool = if below_cr.is_empty() { all } else { below_cr };
    let mut best = pool
        .into_iter()
        .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
        .ok_or_else(|| InferenceError::Config("no temperatures configured".into()))?;
    best.temperature = last_temperature;
    Ok(best)
}

/// Whether `options` decode with one greedy pass and no fallback, which several windows can
/// share step by step ([`greedy_batch`]).
pub fn is_single_greedy_pass(options: &DecodeOptions) -> bool {
    options.beam_size <= 1 && options.temperatures.iter().all(|&t| t == 0.0)
}

/// Most tokens a window holding `frames` mel frames (100 a second) of audio may generate: 16
/// plus 25 a second. Fast Korean speech takes about 15 tokens a second (a Hangul syllable is
/// one to three byte-level tokens), timestamps a few more, so real speech is never cut; a
/// repetition loop (tiny.en on half a second of "Hello?") stops after a few dozen tokens
/// instead of running to 224.
pub fn token_budget(frames: usize) -> usize {
    16 + frames / 4
}

/// Greedy decoding of every window of `cross` at once, one decoder step for all of them per
/// token: `prompts[i]` (all of one length, the start of text at `sot_index`) for window `i`,
/// which generates at most `budgets[i]` tokens. A window that ends leaves the batch, so the
/// last ones run alone. The result of each window is the one [`decode_with_fallback`] gives
/// with [`is_single_greedy_pass`] options, up to its budget.
pub fn greedy_batch(
    model: &mut WhisperModel,
    tokenizer: &WhisperTokenizer,
    cross: &CrossKv,
    prompts: &[Vec<u32>],
    budgets: &[usize],
    sot_index: usize,
    options: &DecodeOptions,
) -> Result<Vec<WindowResult>, InferenceError> {
    let n = prompts.len();
    debug_assert_eq!(n, cross.batch);
    let config = std::sync::Arc::clone(&model.config);
    let rules = LogitRules::new(&config, options);
    let eot = config.tokens.eot;
    let mut cache = model.empty_cache(n)?;
    let first = model.step(prompts, cross, &mut cache, Some(sot_index))?;
    let no_speech: Vec<f32> =
        first.at.as_ref().expect("asked for").iter().map(|l| no_speech_prob(&config, l)).collect();
    let mut rows = first.last;
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut scores = vec![0f32; n];
    // Windows still decoding, by their row in `cache` and `rows`.
    let mut active: Vec<usize> = (0..n).collect();
    let mut step_cross: Option<CrossKv> = None;
    let max_new = prompts.iter().map(|p| max_new_tokens(p)).min().unwrap_or(1);
    for step in 0..max_new {
        let mut still = Vec::with_capacity(active.len());
        let mut next = Vec::with_capacity(active.len());
        for (row, &window) in active.iter().enumerate() {
            let logits = &mut rows[row];
            rules.apply(logits, &generated[window]);
            let (tok, best) = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, &l)| (i as u32, l))
                .expect("a vocabulary");
            scores[window] += best - log_sum_exp(logits);
            if tok != eot {
                generated[window].push(tok);
                if generated[window].len() < budgets[window] {
                    still.push(row);
                    next.push(vec![tok]);
                }
            }
        }
        if still.is_empty() || step + 1 == max_new {
            break;
        }
        if still.len() != active.len() {
            cache = model.reorder_cache(&cache, &still)?;
            let source = step_cross.as_ref().unwrap_or(cross);
            step_cross = Some(model.select_rows(source, &still)?);
            active = still.iter().map(|&row| active[row]).collect();
        }
        rows = model.step(&next, step_cross.as_ref().unwrap_or(cross), &mut cache, None)?.last;
    }
    Ok((0..n)
        .map(|i| {
            let tokens = std::mem::take(&mut generated[i]);
            let avg_logprob = scores[i] / (tokens.len() as f32 + 1.0);
            let text = tokenizer.decode(&tokens);
            WindowResult {
                compression_ratio: compression_ratio(text.trim()),
                tokens,
                avg_logprob,
                no_speech_prob: no_speech[i],
                temperature: 0.0,
            }
        })
        .collect())
}

/// Repeats of one n-gram at the end of a hypothesis that make it a loop.
const LOOP_REPEATS: usize = 3;
/// Longest n-gram (words) checked for a loop: a repeated sentence.
const LOOP_MAX_NGRAM: usize = 24;

/// Whether `text` ends in one n-gram of words repeated [`LOOP_REPEATS`] times: Whisper's
/// repetition failure, which the compression ratio misses on short windows ("I don. I don. I
/// don." compresses by 1.2). Words, not tokens, because a timestamp between repeats changes the
/// next token ("Oh" vs " Oh"). Treated like a high compression ratio: the next temperature is
/// tried.
pub(crate) fn ends_in_loop(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    (1..=LOOP_MAX_NGRAM).any(|n| {
        words.len() >= n * LOOP_REPEATS && {
            let tail = &words[words.len() - n..];
            (1..LOOP_REPEATS).all(|k| &words[words.len() - (k + 1) * n..words.len() - k * n] == tail)
        }
    })
}

/// zlib compression ratio of the text, as faster-whisper computes it.
pub fn compression_ratio(text: &str) -> f32 {
    use std::io::Write as _;
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("writing to memory");
    let compressed = enc.finish().expect("writing to memory");
    text.len() as f32 / compressed.len() as f32
}

struct Hypothesis {
    tokens: Vec<u32>,
    sum_logprob: f32,
    no_speech_prob: f32,
}

/// The logit rules applied before every choice.
struct LogitRules<'a> {
    config: &'a WhisperConfig,
    suppress_blank: bool,
    without_timestamps: bool,
    max_initial_timestamp_index: u32,
}

impl<'a> LogitRules<'a> {
    fn new(config: &'a WhisperConfig, options: &DecodeOptions) -> Self {
        Self {
            config,
            suppress_blank: options.suppress_blank,
            without_timestamps: options.without_timestamps,
            max_initial_timestamp_index: (options.max_initial_timestamp / TIME_PRECISION).round() as u32,
        }
    }

    /// Masks `logits` in place for a hypothesis that has generated `generated` so far.
    fn apply(&self, logits: &mut [f32], generated: &[u32]) {
        let t = &self.config.tokens;
        let ts_begin = t.timestamp_begin as usize;
        let vocab = logits.len();
        if generated.is_empty() && self.suppress_blank {
            for &id in &self.config.suppress_ids_begin {
                logits[id as usize] = f32::NEG_INFINITY;
            }
        }
        for &id in &self.config.suppress_tokens {
            if (id as usize) < vocab {
                logits[id as usize] = f32::NEG_INFINITY;
            }
        }
        if self.without_timestamps {
            // No timestamp rules at all, as CTranslate2 (faster-whisper) decodes after
            // <|notimestamps|>: timestamp tokens stay possible (a trained model does not pick
            // them; a random-weight one does) and split the window as with timestamps.
            return;
        }
        logits[t.no_timestamps as usize] = f32::NEG_INFINITY;
        let is_ts = |tok: u32| tok >= t.timestamp_begin;
        let n = generated.len();
        let last_was_ts = n >= 1 && is_ts(generated[n - 1]);
        let penultimate_was_ts = n < 2 || is_ts(generated[n - 2]);
        if last_was_ts {
            if penultimate_was_ts {
                logits[ts_begin..].fill(f32::NEG_INFINITY);
            } else {
                logits[..t.eot as usize].fill(f32::NEG_INFINITY);
            }
        }
        if let Some(&last_ts) = generated.iter().rev().find(|&&tok| is_ts(tok)) {
            // Timestamps never decrease, and a segment has a nonzero length.
            let floor = if last_was_ts && !penultimate_was_ts { last_ts } else { last_ts + 1 };
            logits[ts_begin..(floor as usize).min(vocab)].fill(f32::NEG_INFINITY);
        }
        if generated.is_empty() {
            logits[..ts_begin].fill(f32::NEG_INFINITY);
            let last_allowed = ts_begin + self.max_initial_timestamp_index as usize;
            if last_allowed + 1 < vocab {
                logits[last_allowed + 1..].fill(f32::NEG_INFINITY);
            }
        }
        // If all timestamps together are more likely than any text token, take a timestamp
        // (compared on logits: both sides would subtract the same normalizer).
        let ts_mass = log_sum_exp(&logits[ts_begin..]);
        let best_text = logits[..ts_begin].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if ts_mass > best_text {
            logits[..ts_begin].fill(f32::NEG_INFINITY);
        }
    }
}

fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

fn log_softmax(x: &[f32]) -> Vec<f32> {
    let lse = log_sum_exp(x);
    x.iter().map(|v| v - lse).collect()
}

fn no_speech_prob(config: &WhisperConfig, logits_at_sot: &[f32]) -> f32 {
    let lse = log_sum_exp(logits_at_sot);
    (logits_at_sot[config.tokens.no_speech as usize] - lse).exp()
}

/// Tokens a window may generate: half the text context, and never past its end (CTranslate2's
/// rule, which faster-whisper inherits; it also bounds how long a repetition loop can run).
fn max_new_tokens(prompt: &[u32]) -> usize {
    (MAX_LENGTH / 2).min(MAX_LENGTH.saturating_sub(prompt.len())).max(1)
}

/// Beam search with faster-whisper's patience semantics; `beam_size == 1` is greedy decoding.
fn beam_search(
    model: &mut WhisperModel,
    cross: &CrossKv,
    prompt: &[u32],
    sot_index: usize,
    options: &DecodeOptions,
) -> Result<Hypothesis, InferenceError> {
    let beam = options.beam_size.max(1);
    let config = std::sync::Arc::clone(&model.config);
    let rules = LogitRules::new(&config, options);
    let eot = config.tokens.eot;
    let mut cache = model.empty_cache(1)?;
    let first = model.step(&[prompt.to_vec()], cross, &mut cache, Some(sot_index))?;
    let no_speech = no_speech_prob(&config, &first.at.as_ref().expect("asked for")[0]);

    // Live beams: (generated tokens, cumulative logprob).
    let mut beams: Vec<(Vec<u32>, f32)> = vec![(Vec::new(), 0.0)];
    let mut logits_rows = first.last;
    let mut finished: Vec<(Vec<u32>, f32)> = Vec::new();
    let max_candidates = ((beam as f32) * options.patience).round().max(1.0) as usize;
    let mut cross_beam: Option<CrossKv> = None;
    let max_new = max_new_tokens(prompt);
    for step in 0..max_new {
        // Score every continuation of every live beam.
        let mut candidates: Vec<(usize, u32, f32)> = Vec::new();
        for (i, (generated, score)) in beams.iter().enumerate() {
            let mut logits = std::mem::take(&mut logits_rows[i]);
            rules.apply(&mut logits, generated);
            let logprobs = log_softmax(&logits);
            for (tok, lp) in top_k(&logprobs, 2 * beam) {
                candidates.push((i, tok, score + lp));
            }
        }
        // As CTranslate2: of the best 2 × beam candidates, an end-of-text among the first `beam`
        // finishes a hypothesis; the live beams are the best `beam` others.
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2));
        candidates.truncate(2 * beam);
        let mut next: Vec<(Vec<u32>, f32)> = Vec::new();
        let mut order = Vec::new();
        for (rank, (i, tok, score)) in candidates.into_iter().enumerate() {
            if tok == eot {
                if rank < beam {
                    finished.push((beams[i].0.clone(), score));
                }
            } else if next.len() < beam {
                let mut generated = beams[i].0.clone();
                generated.push(tok);
                next.push((generated, score));
                order.push(i);
            }
        }
        if finished.len() >= max_candidates || next.is_empty() {
            break;
        }
        if step + 1 == max_new {
            // Out of room: the live beams end here, as they are.
            finished.extend(next);
            break;
        }
        if order.iter().enumerate().any(|(i, &o)| i != o) || order.len() != cache.batch {
            cache = model.reorder_cache(&cache, &order)?;
        }
        // Greedy decoding (one beam) uses the window's own cross K/V; beams share a repeated copy.
        let step_cross = if order.len() == 1 {
            cross
        } else {
            if cross_beam.as_ref().is_none_or(|c| c.batch != order.len()) {
                cross_beam = Some(model.repeat_cross(cross, order.len())?);
            }
            cross_beam.as_ref().expect("set above")
        };
        let inputs: Vec<Vec<u32>> = next.iter().map(|(g, _)| vec![*g.last().expect("non-empty")]).collect();
        logits_rows = model.step(&inputs, step_cross, &mut cache, None)?.last;
        beams = next;
    }
    if finished.is_empty() {
        finished = beams;
    }
    let penalty = options.length_penalty;
    let (tokens, sum_logprob) = finished
        .into_iter()
        .max_by(|a, b| {
            let norm = |(t, s): &(Vec<u32>, f32)| s / ((t.len() as f32).max(1.0)).powf(penalty);
            norm(a).total_cmp(&norm(b))
        })
        .expect("at least one hypothesis");
    Ok(Hypothesis { tokens, sum_logprob, no_speech_prob: no_speech })
}

fn top_k(logprobs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &lp) in logprobs.iter().enumerate() {
        if lp == f32::NEG_INFINITY {
            continue;
        }
        if best.len() < k || lp > best[best.len() - 1].1 {
            let pos = best.partition_point(|&(_, v)| v >= lp);
            best.insert(pos, (i as u32, lp));
            best.truncate(k);
        }
    }
    best
}

/// `best_of` hypotheses sampled at `temperature`, decoded as one batch; the best-scoring wins.
fn sample(
    model: &mut WhisperModel,
    cross: &CrossKv,
    prompt: &[u32],
    sot_index: usize,
    options: &DecodeOptions,
    temperature: f32,
    rng: &mut StdRng,
) -> Result<Hypothesis, InferenceError> {
    let n = options.best_of.max(1);
    let config = std::sync::Arc::clone(&model.config);
    let rules = LogitRules::new(&config, options);
    let eot = config.tokens.eot;
    let cross = model.repeat_cross(cross, n)?;
    let mut cache = model.empty_cache(n)?;
    let first = model.step(&vec![prompt.to_vec(); n], &cross, &mut cache, Some(sot_index))?;
    let no_speech = no_speech_prob(&config, &first.at.as_ref().expect("asked for")[0]);
    let mut rows = first.last;
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut scores = vec![0f32; n];
    let mut done = vec![false; n];
    let max_new = max_new_tokens(prompt);
    for step in 0..max_new {
        let mut next = Vec::with_capacity(n);
        for i in 0..n {
            if done[i] {
                next.push(eot);
                continue;
            }
            let logits = &mut rows[i];
            rules.apply(logits, &generated[i]);
            let logprobs = log_softmax(logits);
            let scaled: Vec<f32> = logits.iter().map(|l| l / temperature).collect();
            let probs = log_softmax(&scaled);
            let tok = draw(&probs, rng);
            scores[i] += logprobs[tok as usize];
            if tok == eot {
                done[i] = true;
            } else {
                generated[i].push(tok);
            }
            next.push(tok);
        }
        if done.iter().all(|&d| d) || step + 1 == max_new {
            break;
        }
        let inputs: Vec<Vec<u32>> = next.into_iter().map(|t| vec![t]).collect();
        rows = model.step(&inputs, &cross, &mut cache, None)?.last;
    }
    let penalty = options.length_penalty;
    let best = (0..n)
        .max_by(|&a, &b| {
            let norm = |i: usize| scores[i] / (generated[i].len() as f32).max(1.0).powf(penalty);
            norm(a).total_cmp(&norm(b))
        })
        .expect("n >= 1");
    Ok(Hypothesis {
        tokens: std::mem::take(&mut generated[best]),
        sum_logprob: scores[best],
        no_speech_prob: no_speech,
    })
}

fn draw(logprobs: &[f32], rng: &mut StdRng) -> u32 {
    let mut u: f32 = rng.r#gen::<f32>();
    for (i, lp) in logprobs.iter().enumerate() {
        let p = lp.exp();
        if u < p {
            return i as u32;
        }
        u -= p;
    }
    logprobs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as u32).unwrap_or(0)
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_ratio_flags_repetition() {
        let normal = compression_ratio("The quick brown fox jumps over the lazy dog near the river bank.");
        let looping = compression_ratio(&"thank you ".repeat(40));
        assert!(normal < 2.4, "{normal}");
        assert!(looping > 2.4, "{looping}");
    }

    #[test]
    fn a_repeated_ngram_at_the_end_is_a_loop() {
        assert!(ends_in_loop("So, I don. I don. I don. I don."));
        assert!(ends_in_loop("So we'll come. Oh. I don't hear that. Oh. I don't hear that. Oh. I don't hear that."));
        // Twice, or repeats that do not reach the end, are speech.
        assert!(!ends_in_loop("Oh. I don't hear that. Oh. I don't hear that."));
        assert!(!ends_in_loop("No, no, no, no, I said yes."));
        assert!(!ends_in_loop(""));
    }

    #[test]
    fn top_k_is_sorted_and_skips_masked() {
        let lp = [-1.0, f32::NEG_INFINITY, -0.5, -3.0, -0.1];
        assert_eq!(top_k(&lp, 3), vec![(4, -0.1), (2, -0.5), (0, -1.0)]);
    }
}
