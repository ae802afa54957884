//! Long-form transcription of a whole recording, window by window: faster-whisper's
//! `generate_segments` (seek by the last timestamp, condition on previous text, skip windows
//! judged silent), so the same audio and options give the same segments.

use std::path::Path;

use serde::Serialize;

use rand::rngs::StdRng;

use super::decoding::{self, DecodeOptions, TIME_PRECISION};
use super::mel::{HOP, LogMel, N_FRAMES, SAMPLE_RATE};
use super::model::{CrossKv, Precision, WhisperModel};
use super::tokenizer::WhisperTokenizer;
use crate::inference::{InferenceError, OrtRuntime};

/// Frames per decoder timestamp step (the encoder halves the frame rate).
const INPUT_STRIDE: usize = 2;
/// Silence after the content of a trimmed window, in mel frames (2 s).
pub const TRIM_PADDING: usize = 200;
/// Seconds per mel frame.
const FRAME_SECS: f32 = HOP as f32 / SAMPLE_RATE as f32;

/// How long an encoder window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderWindow {
    /// Always 30 s, zero-padded, as Whisper was trained (and as faster-whisper runs).
    #[default]
    Full,
    /// The frames the window holds plus [`TRIM_PADDING`] of silence, in whole seconds (the
    /// positional embedding is sliced): much cheaper for short audio. The padding matters:
    /// without it Whisper never sees where speech ends and tiny.en loops on short clips.
    Trimmed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub start: f32,
    pub end: f32,
    pub text: String,
    #[serde(skip)]
    pub tokens: Vec<u32>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub temperature: f32,
    pub compression_ratio: f32,
}

/// A loaded model with its tokenizer and front end. Not `Sync`: one per worker thread.
pub struct Transcriber {
    pub model: WhisperModel,
    pub tokenizer: WhisperTokenizer,
    mel: LogMel,
    pub window: EncoderWindow,
}

impl Transcriber {
    pub fn load(runtime: &OrtRuntime, dir: &Path, precision: Precision) -> Result<Self, InferenceError> {
        let model = WhisperModel::load(runtime, dir, precision)?;
        let tokenizer = WhisperTokenizer::load(dir, model.config.tokens.eot)?;
        let mel = LogMel::new(model.config.dims.n_mels);
        Ok(Self { model, tokenizer, mel, window: EncoderWindow::Full })
    }

    /// The decoder prompt's start-of-transcript sequence for this model and language.
    fn sot_sequence(&self, options: &DecodeOptions) -> Result<Vec<u32>, InferenceError> {
        let t = &self.model.config.tokens;
        if !self.model.config.multilingual {
            return Ok(vec![t.sot]);
        }
        // `transcribe` detects the language first when none is given; other callers default to English.
        let language = options.language.as_deref().unwrap_or("en");
        let lang = t
            .languages
            .get(language)
            .copied()
            .ok_or_else(|| InferenceError::Config(format!("unknown language {language:?}")))?;
        Ok(vec![t.sot, lang, t.transcribe])
    }

    /// The most likely language of an encoded window (multilingual models): the decoder's
    /// distribution over language tokens after start-of-transcript, restricted to `among` when
    /// given. Returns (code, probability).
    pub fn detect_language(
        &mut self,
        cross: &CrossKv,
        among: Option<&[String]>,
    ) -> Result<(String, f32), InferenceError> {
        let config = std::sync::Arc::clone(&self.model.config);
        let mut cache = self.model.empty_cache(1)?;
        let logits = self.model.step(&[vec![config.tokens.sot]], cross, &mut cache, None)?.last.remove(0);
        Ok(most_likely_language(&config.tokens.languages, &logits, among))
    }

    /// Frames an encoder window of `content` frames is run with.
    fn encoder_frames(&self, content: usize) -> usize {
        match self.window {
            EncoderWindow::Full => N_FRAMES,
            // Whole seconds (even, for the encoder's stride-2 convolution).
            EncoderWindow::Trimmed => ((content + TRIM_PADDING).div_ceil(100) * 100).min(N_FRAMES),
        }
    }

    /// The decoder prompt: the keyterms (comma-separated) and previous text (conditioning),
    /// each at most half the text context (faster-whisper's rule for its hotwords), then the
    /// start-of-transcript sequence. Returns it with the index of the start-of-transcript token.
    fn prompt(&self, previous: &[u32], options: &DecodeOptions) -> Result<(Vec<u32>, usize), InferenceError> {
        let t = &self.model.config.tokens;
        let keep = decoding::MAX_LENGTH / 2 - 1;
        let hotwords = match options.keyterms.join(", ") {
            h if h.trim().is_empty() => Vec::new(),
            h => self.tokenizer.encode(&format!(" {}", h.trim()))?,
        };
        let mut prompt = Vec::new();
        if !previous.is_empty() || !hotwords.is_empty() {
            prompt.push(t.sot_prev);
            prompt.extend_from_slice(&hotwords[..hotwords.len().min(keep)]);
            prompt.extend_from_slice(&previous[previous.len().saturating_sub(keep)..]);
        }
        let sot_index = prompt.len();
        prompt.extend(self.sot_sequence(options)?);
        if options.without_timestamps {
            prompt.push(t.no_timestamps);
        }
        Ok((prompt, sot_index))
    }

    /// Decodes one encoded window that starts `time_offset` seconds into the audio and holds
    /// `segment_size` frames of content.
    fn decode_window(
        &mut self,
        cross: &CrossKv,
        previous: &[u32],
        time_offset: f32,
        segment_size: usize,
        options: &DecodeOptions,
        rng: &mut StdRng,
    ) -> Result<WindowOutcome, InferenceError> {
        let (prompt, sot_index) = self.prompt(previous, options)?;
        let result =
            decoding::decode_with_fallback(&mut self.model, &self.tokenizer, cross, &prompt, sot_index, options, rng)?;
        Ok(self.window_outcome(result, time_offset, segment_size, options))
    }

    /// A decoded window's timed segments (none when it is judged silent), and how far to move.
    fn window_outcome(
        &self,
        result: decoding::WindowResult,
        time_offset: f32,
        segment_size: usize,
        options: &DecodeOptions,
    ) -> WindowOutcome {
        if let Some(threshold) = options.no_speech_threshold {
            let confident = options.log_prob_threshold.is_some_and(|lp| result.avg_logprob > lp);
            if result.no_speech_prob > threshold && !confident {
                tracing::debug!(
                    no_speech_prob = result.no_speech_prob,
                    avg_logprob = result.avg_logprob,
                    seconds = segment_size as f32 * FRAME_SECS,
                    "window judged silent"
                );
                return WindowOutcome { segments: Vec::new(), advance: segment_size, temperature: result.temperature };
            }
        }
        let ts_begin = self.model.config.tokens.timestamp_begin;
        let (pieces, advance) = split_by_timestamps(&result.tokens, ts_begin, time_offset, segment_size);
        let mut segments = Vec::new();
        for (start, end, piece) in pieces {
            let text = self.tokenizer.decode(&piece);
            if start == end || text.trim().is_empty() {
                continue;
            }
            segments.push(Segment {
                start,
                end,
                text,
                tokens: piece,
                avg_logprob: result.avg_logprob,
                no_speech_prob: result.no_speech_prob,
                temperature: result.temperature,
                compression_ratio: result.compression_ratio,
            });
        }
        WindowOutcome { segments, advance, temperature: result.temperature }
    }

    /// Transcribes 16 kHz mono `audio`; `progress` is called with (seconds done, total).
    pub fn transcribe(
        &mut self,
        audio: &[f32],
        options: &DecodeOptions,
        mut progress: impl FnMut(f32, f32),
    ) -> Result<Vec<Segment>, InferenceError> {
        let features = self.mel.compute(audio);
        let content_frames = features.frames.saturating_sub(1);
        let total = content_frames as f32 * FRAME_SECS;
        let detected;
        // The first window's encoding, when language detection already computed it.
        let mut first_cross = None;
        let options = if self.model.config.multilingual && options.language.is_none() && content_frames > 0 {
            // faster-whisper's default: detect once, on the first 30 s.
            let size = N_FRAMES.min(content_frames);
            let frames = self.encoder_frames(size);
            let cross = self.model.encode(features.window(0, size, frames), 1, frames)?;
            let (language, probability) = self.detect_language(&cross, None)?;
            tracing::info!(%language, probability, "detected language");
            first_cross = Some(cross);
            detected = DecodeOptions { language: Some(language), ..options.clone() };
            &detected
        } else {
            options
        };
        let mut rng = decoding::rng(options.seed);
        let mut all_tokens: Vec<u32> = match &options.initial_prompt {
            Some(p) => self.tokenizer.encode(&format!(" {}", p.trim()))?,
            None => Vec::new(),
        };
        let mut prompt_reset_since = 0;
        let mut segments = Vec::new();
        let mut seek = 0usize;
        while seek < content_frames {
            let segment_size = N_FRAMES.min(content_frames - seek);
            let cross = match first_cross.take().filter(|_| seek == 0) {
                Some(cross) => cross,
                None => {
                    let frames = self.encoder_frames(segment_size);
                    self.model.encode(features.window(seek, segment_size, frames), 1, frames)?
                }
            };
            let previous = all_tokens[prompt_reset_since..].to_vec();
            let outcome =
                self.decode_window(&cross, &previous, seek as f32 * FRAME_SECS, segment_size, options, &mut rng)?;
            seek += outcome.advance;
            for mut segment in outcome.segments {
                all_tokens.extend_from_slice(&segment.tokens);
                // The model may place a final timestamp past the end of the audio.
                segment.start = segment.start.min(total);
                segment.end = segment.end.min(total);
                segments.push(segment);
            }
            if !options.condition_on_previous_text || outcome.temperature > options.prompt_reset_on_temperature {
                prompt_reset_since = all_tokens.len();
            }
            progress(seek.min(content_frames) as f32 * FRAME_SECS, total);
        }
        Ok(segments)
    }

    /// Transcribes several independent utterances (each at most 30 s) at once: their encoder
    /// windows run as one batch, then each is decoded as `contexts[i]` says (its language and
    /// keyterms); an utterance without an entry, or one to detect, is decoded in
    /// `options.language` when it is set. Used by the engine to serve many live sessions with
    /// one model.
    pub fn transcribe_utterances(
        &mut self,
        utterances: &[&[f32]],
        contexts: &[DecodeContext],
        options: &DecodeOptions,
    ) -> Result<Vec<UtteranceText>, InferenceError> {
        if utterances.is_empty() {
            return Ok(Vec::new());
        }
        let features: Vec<_> = utterances.iter().map(|u| self.mel.compute(u)).collect();
        let sizes: Vec<usize> = features.iter().map(|f| f.frames.saturating_sub(1).clamp(1, N_FRAMES)).collect();
        let frames = self.encoder_frames(*sizes.iter().max().expect("non-empty"));
        let mut mel = Vec::with_capacity(features.len() * self.model.config.dims.n_mels * frames);
        for (f, &size) in features.iter().zip(&sizes) {
            mel.extend(f.window(0, size, frames));
        }
        let started = std::time::Instant::now();
        let cross = self.model.encode(mel, features.len(), frames)?;
        let encoded = started.elapsed();
        // Each utterance's language (fixed, or detected on its own window) and prompt; with
        // keyterms, a second decode with them as the prompt.
        let mut decodes: Vec<Decode> = Vec::with_capacity(features.len());
        let mut languages = Vec::with_capacity(features.len());
        for i in 0..features.len() {
            let context = contexts.get(i);
            let choice = match (context.map(|c| &c.language), &options.language) {
                (Some(LanguageChoice::Detect) | None, Some(fixed)) => LanguageChoice::Fixed(fixed.clone()),
                (Some(choice), _) => choice.clone(),
                (None, None) => LanguageChoice::Detect,
            };
            let (language, language_probability) = match &choice {
                _ if !self.model.config.multilingual => (None, None),
                LanguageChoice::Fixed(language) => (Some(language.clone()), None),
                LanguageChoice::Detect => {
                    let (language, p) = self.detect_language(&self.model.select_cross(&cross, i)?, None)?;
                    (Some(language), Some(p))
                }
                LanguageChoice::DetectAmong(among) => {
                    let (language, p) = self.detect_language(&self.model.select_cross(&cross, i)?, Some(&among[..]))?;
                    (Some(language), Some(p))
                }
            };
            let keyterms = match context.and_then(|c| c.keyterms.as_deref()) {
                Some(terms) => terms.to_vec(),
                None => options.keyterms.clone(),
            };
            let plain = DecodeOptions { language: language.clone(), keyterms: Vec::new(), ..options.clone() };
            let (prompt, sot_index) = self.prompt(&[], &plain)?;
            decodes.push(Decode { utterance: i, options: plain, prompt, sot_index });
            if !keyterms.is_empty() {
                let prompted = DecodeOptions { language: language.clone(), keyterms, ..options.clone() };
                let (prompt, sot_index) = self.prompt(&[], &prompted)?;
                decodes.push(Decode { utterance: i, options: prompted, prompt, sot_index });
            }
            languages.push((language, language_probability));
        }
        let mut results: Vec<Option<decoding::WindowResult>> = (0..decodes.len()).map(|_| None).collect();
        if decoding::is_single_greedy_pass(options) {
            // One greedy pass per prompt shape (the live engine's options): the windows whose
            // prompts have one length share decoder steps.
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for d in 0..decodes.len() {
                let shape = |d: usize| (decodes[d].prompt.len(), decodes[d].sot_index);
                match groups.iter_mut().find(|g| shape(g[0]) == shape(d)) {
                    Some(group) => group.push(d),
                    None => groups.push(vec![d]),
                }
            }
            for group in groups {
                let prompts: Vec<Vec<u32>> = group.iter().map(|&d| decodes[d].prompt.clone()).collect();
                let rows: Vec<usize> = group.iter().map(|&d| decodes[d].utterance).collect();
                let budgets: Vec<usize> = rows.iter().map(|&i| decoding::token_budget(sizes[i])).collect();
                let selected = if rows.iter().copied().eq(0..features.len()) {
                    None
                } else {
                    Some(self.model.select_rows(&cross, &rows)?)
                };
                let found = decoding::greedy_batch(
                    &mut self.model,
                    &self.tokenizer,
                    selected.as_ref().unwrap_or(&cross),
                    &prompts,
                    &budgets,
                    decodes[group[0]].sot_index,
                    options,
                )?;
                for (d, result) in group.into_iter().zip(found) {
                    results[d] = Some(result);
                }
            }
        } else {
            let mut rng = decoding::rng(options.seed);
            for (d, decode) in decodes.iter().enumerate() {
                let one = self.model.select_cross(&cross, decode.utterance)?;
                results[d] = Some(decoding::decode_with_fallback(
                    &mut self.model,
                    &self.tokenizer,
                    &one,
                    &decode.prompt,
                    decode.sot_index,
                    &decode.options,
                    &mut rng,
                )?);
            }
        }
        tracing::debug!(
            batch = features.len(),
            decodes = decodes.len(),
            frames,
            encode_ms = encoded.as_millis() as u64,
            decode_ms = (started.elapsed() - encoded).as_millis() as u64,
            tokens = results.iter().flatten().map(|r| r.tokens.len()).sum::<usize>(),
            "utterances transcribed"
        );
        let mut out: Vec<UtteranceText> = languages
            .into_iter()
            .map(|(language, language_probability)| UtteranceText {
                segments: Vec::new(),
                language,
                language_probability,
            })
            .collect();
        for (decode, result) in decodes.into_iter().zip(results) {
            let size = sizes[decode.utterance];
            let total = size as f32 * FRAME_SECS;
            let mut segments =
                self.window_outcome(result.expect("every window decoded"), 0.0, size, &decode.options).segments;
            for s in &mut segments {
                s.start = s.start.min(total);
                s.end = s.end.min(total);
            }
            let utterance = &mut out[decode.utterance];
            if decode.options.keyterms.is_empty() {
                utterance.segments = segments;
            } else {
                // The plain decode came first: only the words that spell a term are taken.
                let plain: Vec<String> = utterance.segments.iter().map(|s| s.text.clone()).collect();
                let prompted: String = segments.iter().map(|s| s.text.as_str()).collect();
                let patched = super::term_patch::patch_terms(&plain, &prompted, &decode.options.keyterms);
                for (segment, text) in utterance.segments.iter_mut().zip(patched) {
                    segment.text = text;
                }
            }
        }
        Ok(out)
    }

    /// Language codes the model can be told to decode in (empty: an English-only model).
    pub fn languages(&self) -> Vec<String> {
        if self.model.config.multilingual {
            self.model.config.tokens.languages.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }
}

/// The language an utterance is decoded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LanguageChoice {
    /// Detected on the utterance (multilingual models); English for an English-only model.
    #[default]
    Detect,
    /// Detected, but only among these codes (every other language token is masked), so a
    /// Korean/English team's accented English is never taken for, say, Japanese.
    DetectAmong(std::sync::Arc<[String]>),
    /// Decoded in this language, no detection.
    Fixed(String),
}

impl LanguageChoice {
    /// The language when it is fixed.
    pub fn fixed(&self) -> Option<&str> {
        match self {
            LanguageChoice::Fixed(code) => Some(code),
            _ => None,
        }
    }
}

/// How one utterance is decoded: its session's language and words to expect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeContext {
    pub language: LanguageChoice,
    /// [`DecodeOptions::keyterms`] of this utterance (`None`: the engine's options decide).
    pub keyterms: Option<std::sync::Arc<[String]>>,
}

impl DecodeContext {
    pub fn new(language: LanguageChoice) -> Self {
        Self { language, keyterms: None }
    }
}

/// One decoder pass of an utterance of a batch: plain, or with its keyterms as the prompt.
struct Decode {
    utterance: usize,
    options: DecodeOptions,
    prompt: Vec<u32>,
    sot_index: usize,
}

/// One utterance's text, and the language it was decoded in (`None` for an English-only model).
#[derive(Debug, Clone, Default)]
pub struct UtteranceText {
    pub segments: Vec<Segment>,
    pub language: Option<String>,
    /// The detector's probability of `language`, when it was detected rather than asked for.
    pub language_probability: Option<f32>,
}

impl Transcriber {
    /// Long recordings cut by the VAD: each speech region (at most 30 s) is transcribed on its
    /// own, `batch` regions per encoder batch, and silence is never decoded. Regions are
    /// independent (no conditioning on the previous region's text), which is what lets them be
    /// batched and keeps one bad region from derailing the next.
    pub fn transcribe_with_vad(
        &mut self,
        audio: &[f32],
        vad: &mut crate::inference::vad::SileroVad,
        params: crate::inference::vad::VadParams,
        options: &DecodeOptions,
        batch: usize,
        mut progress: impl FnMut(f32, f32),
    ) -> Result<Vec<Segment>, InferenceError> {
        let total = audio.len() as f32 / SAMPLE_RATE as f32;
        let regions = crate::inference::vad::speech_regions(vad, audio, params)?;
        let mut segments = Vec::new();
        // Without a language, the first regions' detected language holds for the recording.
        let mut options = options.clone();
        for group in regions.chunks(batch.max(1)) {
            let clips: Vec<&[f32]> = group.iter().map(|r| &audio[r.clone()]).collect();
            let results = self.transcribe_utterances(&clips, &[], &options)?;
            if options.language.is_none() {
                options.language = results.first().and_then(|r| r.language.clone());
            }
            for (region, found) in group.iter().zip(results) {
                let offset = region.start as f32 / SAMPLE_RATE as f32;
                segments.extend(found.segments.into_iter().map(|mut s| {
                    s.start += offset;
                    s.end += offset;
                    s
                }));
            }
            progress(group.last().map_or(total, |r| r.end as f32 / SAMPLE_RATE as f32), total);
        }
        progress(total, total);
        Ok(segments)
    }
}

/// The language whose token has the highest probability among the language tokens, or among
/// those of `among` (the others masked out: the probability is renormalized over the allowed
/// ones). Codes the model does not know are ignored; if none is left, every language counts.
fn most_likely_language(
    languages: &std::collections::BTreeMap<String, u32>,
    logits: &[f32],
    among: Option<&[String]>,
) -> (String, f32) {
    let allowed = |code: &String| among.is_none_or(|among| among.contains(code));
    let mut candidates: Vec<(&String, u32)> =
        languages.iter().filter(|(code, _)| allowed(code)).map(|(c, &id)| (c, id)).collect();
    if candidates.is_empty() {
        candidates = languages.iter().map(|(c, &id)| (c, id)).collect();
    }
    let max = candidates.iter().map(|&(_, id)| logits[id as usize]).fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = candidates.iter().map(|&(_, id)| (logits[id as usize] - max).exp()).sum();
    let (code, id) = candidates
        .into_iter()
        .max_by(|a, b| logits[a.1 as usize].total_cmp(&logits[b.1 as usize]))
        .expect("a multilingual model has languages");
    (code.clone(), (logits[id as usize] - max).exp() / total)
}

struct WindowOutcome {
    segments: Vec<Segment>,
    /// Frames to move the window by.
    advance: usize,
    temperature: f32,
}

/// Splits a window's tokens at consecutive timestamp pairs into timed pieces, and says how far
/// to move the window: to the last complete timestamp, or past the window when the text ended
/// with a single timestamp (faster-whisper's `_split_segments_by_timestamps`).
fn split_by_timestamps(
    tokens: &[u32],
    ts_begin: u32,
    time_offset: f32,
    segment_size: usize,
) -> (Vec<(f32, f32, Vec<u32>)>, usize) {
    let is_ts = |tok: u32| tok >= ts_begin;
    // A piece may start with a text token (a model that emits timestamps after <|notimestamps|>):
    // its start is then before the window, as in faster-whisper.
    let at = |tok: u32| time_offset + (i64::from(tok) - i64::from(ts_begin)) as f32 * TIME_PRECISION;
    let single_timestamp_ending =
        tokens.len() >= 2 && !is_ts(tokens[tokens.len() - 2]) && is_ts(tokens[tokens.len() - 1]);
    let consecutive: Vec<usize> = (1..tokens.len()).filter(|&i| is_ts(tokens[i]) && is_ts(tokens[i - 1])).collect();
    if consecutive.is_empty() {
        let mut duration = segment_size as f32 * FRAME_SECS;
        if let Some(&last) = tokens.iter().rev().find(|&&tok| is_ts(tok))
            && last != ts_begin
        {
            duration = (last - ts_begin) as f32 * TIME_PRECISION;
        }
        return (vec![(time_offset, time_offset + duration, tokens.to_vec())], segment_size);
    }
    let mut slices = consecutive;
    if single_timestamp_ending {
        slices.push(tokens.len());
    }
    let mut pieces = Vec::with_capacity(slices.len());
    let mut last_slice = 0;
    for current in slices {
        let sliced = &tokens[last_slice..current];
        pieces.push((at(sliced[0]), at(sliced[sliced.len() - 1]), sliced.to_vec()));
        last_slice = current;
    }
    let advance = if single_timestamp_ending {
        segment_size
    } else {
        (tokens[last_slice - 1] - ts_begin) as usize * INPUT_STRIDE
    };
    // `<|0.00|><|0.00|>` would not move the window (faster-whisper then loops forever): skip it.
    (pieces, if advance == 0 { segment_size } else { advance })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: u32 = 50363;

    #[test]
    fn language_is_the_most_likely_language_token() {
        let languages: std::collections::BTreeMap<String, u32> =
            [("en".to_owned(), 3), ("ko".to_owned(), 5)].into_iter().collect();
        let mut logits = vec![0.0f32; 8];
        logits[0] = 50.0; // a non-language token is ignored
        logits[5] = 2.0;
        let (code, p) = most_likely_language(&languages, &logits, None);
        assert_eq!(code, "ko");
        assert!((p - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6, "{p}");
    }

    #[test]
    fn detection_among_a_list_masks_the_other_languages() {
        let languages: std::collections::BTreeMap<String, u32> =
            [("en", 3), ("ja", 4), ("ko", 5), ("zh", 6)].into_iter().map(|(c, id)| (c.to_owned(), id)).collect();
        let mut logits = vec![0.0f32; 8];
        logits[0] = 50.0; // not a language token
        logits[4] = 9.0; // Japanese is the most likely overall…
        logits[6] = 8.0;
        logits[5] = 3.0;
        logits[3] = 1.0;
        assert_eq!(most_likely_language(&languages, &logits, None).0, "ja");
        // …but Korean among Korean and English, its probability over those two only.
        let among = ["ko".to_owned(), "en".to_owned()];
        let (code, p) = most_likely_language(&languages, &logits, Some(&among[..]));
        assert_eq!(code, "ko");
        assert!((p - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6, "{p}");
        // A single allowed language is certain; unknown codes are ignored, and a list of only
        // unknown codes falls back to every language.
        let only = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(most_likely_language(&languages, &logits, Some(only(&["en"]).as_slice())), ("en".to_owned(), 1.0));
        assert_eq!(most_likely_language(&languages, &logits, Some(only(&["xx", "ko"]).as_slice())).0, "ko");
        assert_eq!(most_likely_language(&languages, &logits, Some(only(&["xx"]).as_slice())).0, "ja");
    }

    #[test]
    fn pieces_follow_timestamp_pairs() {
        // <0.00> a b <1.00><1.00> c <2.00>   (single timestamp ending)
        let tokens = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 100];
        let (pieces, advance) = split_by_timestamps(&tokens, TS, 10.0, 3000);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].0, pieces[0].1), (10.0, 11.0));
        assert_eq!((pieces[1].0, pieces[1].1), (11.0, 12.0));
        assert_eq!(advance, 3000);
        // <0.00> a <1.00><1.00> b      (unfinished: seek to the last complete timestamp)
        let tokens = [TS, 1, TS + 50, TS + 50, 2];
        let (pieces, advance) = split_by_timestamps(&tokens, TS, 0.0, 3000);
        assert_eq!(pieces.len(), 1);
        assert_eq!(advance, 100);
        // No pairs: one piece for the whole window, ending at the last timestamp.
        let (pieces, advance) = split_by_timestamps(&[TS, 1, 2, TS + 75], TS, 0.0, 3000);
        assert_eq!((pieces.len(), pieces[0].1, advance), (1, 1.5, 3000));
        // Timestamps after <|notimestamps|> (random weights do it): a piece may start with text,
        // 7 ids below the first timestamp, and a pair at 0.00 still moves the window.
        let (pieces, advance) = split_by_timestamps(&[TS - 7, 1, TS, TS, 2], TS, 0.0, 3000);
        assert_eq!(pieces.len(), 1);
        assert!((pieces[0].0 + 0.14).abs() < 1e-6, "{}", pieces[0].0);
        assert_eq!(advance, 3000);
    }
}
