//! Long-form transcription of a whole recording, window by window: faster-whisper's
//! `generate_segments` (seek by the last timestamp, condition on previous text, skip windows
//! judged silent), so the same audio and options give the same segments.

use std::path::Path;

use serde::Serialize;

use super::decoding::{self, DecodeOptions, TIME_PRECISION};
use super::mel::{HOP, LogMel, N_FRAMES, SAMPLE_RATE};
use super::model::{Precision, WhisperModel};
use super::tokenizer::WhisperTokenizer;
use crate::inference::{InferenceError, OrtRuntime};

/// Frames per decoder timestamp step (the encoder halves the frame rate).
const INPUT_STRIDE: usize = 2;

/// How long an encoder window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderWindow {
    /// Always 30 s, zero-padded, as Whisper was trained (and as faster-whisper runs).
    #[default]
    Full,
    /// Only the frames the window holds (the positional embedding is sliced): much cheaper for
    /// short audio, at some accuracy cost, measured in `examples/asr_parity.rs`.
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
        let language = options.language.as_deref().unwrap_or("en");
        let lang = t
            .languages
            .get(language)
            .copied()
            .ok_or_else(|| InferenceError::Config(format!("unknown language {language:?}")))?;
        Ok(vec![t.sot, lang, t.transcribe])
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
        let frame_secs = HOP as f32 / SAMPLE_RATE as f32;
        let total = content_frames as f32 * frame_secs;
        let sot_sequence = self.sot_sequence(options)?;
        let t = self.model.config.tokens.clone();
        let mut rng = decoding::rng(options.seed);
        let mut all_tokens: Vec<u32> = match &options.initial_prompt {
            Some(p) => self.tokenizer.encode(&format!(" {}", p.trim()))?,
            None => Vec::new(),
        };
        let mut prompt_reset_since = 0;
        let mut segments = Vec::new();
        let mut seek = 0usize;
        while seek < content_frames {
            let time_offset = seek as f32 * frame_secs;
            let segment_size = N_FRAMES.min(content_frames - seek);
            let segment_duration = segment_size as f32 * frame_secs;
            let frames = match self.window {
                EncoderWindow::Full => N_FRAMES,
                // Even, since the encoder's stride-2 convolution halves it.
                EncoderWindow::Trimmed => segment_size.div_ceil(2) * 2,
            };
            let mel = features.window(seek, segment_size, frames);
            let cross = self.model.encode(mel, 1, frames)?;

            let previous = &all_tokens[prompt_reset_since..];
            let mut prompt = Vec::new();
            if !previous.is_empty() {
                prompt.push(t.sot_prev);
                let keep = decoding::MAX_LENGTH / 2 - 1;
                prompt.extend_from_slice(&previous[previous.len().saturating_sub(keep)..]);
            }
            let sot_index = prompt.len();
            prompt.extend_from_slice(&sot_sequence);
            if options.without_timestamps {
                prompt.push(t.no_timestamps);
            }

            let result = decoding::decode_with_fallback(
                &mut self.model,
                &self.tokenizer,
                &cross,
                &prompt,
                sot_index,
                options,
                &mut rng,
            )?;
            if let Some(threshold) = options.no_speech_threshold {
                let confident = options.log_prob_threshold.is_some_and(|lp| result.avg_logprob > lp);
                if result.no_speech_prob > threshold && !confident {
                    seek += segment_size;
                    progress(seek.min(content_frames) as f32 * frame_secs, total);
                    continue;
                }
            }

            let tokens = &result.tokens;
            let ts_begin = t.timestamp_begin;
            let is_ts = |tok: u32| tok >= ts_begin;
            let mut pieces: Vec<(f32, f32, Vec<u32>)> = Vec::new();
            let single_timestamp_ending =
                tokens.len() >= 2 && !is_ts(tokens[tokens.len() - 2]) && is_ts(tokens[tokens.len() - 1]);
            let consecutive: Vec<usize> =
                (1..tokens.len()).filter(|&i| is_ts(tokens[i]) && is_ts(tokens[i - 1])).collect();
            if !consecutive.is_empty() {
                let mut slices = consecutive.clone();
                if single_timestamp_ending {
                    slices.push(tokens.len());
                }
                let mut last_slice = 0;
                for current in slices {
                    let sliced = &tokens[last_slice..current];
                    let start = time_offset + (sliced[0] - ts_begin) as f32 * TIME_PRECISION;
                    let end = time_offset + (sliced[sliced.len() - 1] - ts_begin) as f32 * TIME_PRECISION;
                    pieces.push((start, end, sliced.to_vec()));
                    last_slice = current;
                }
                if single_timestamp_ending {
                    seek += segment_size;
                } else {
                    let last_position = (tokens[last_slice - 1] - ts_begin) as usize;
                    seek += last_position * INPUT_STRIDE;
                }
            } else {
                let mut duration = segment_duration;
                if let Some(&last) = tokens.iter().rev().find(|&&tok| is_ts(tok))
                    && last != ts_begin
                {
                    duration = (last - ts_begin) as f32 * TIME_PRECISION;
                }
                pieces.push((time_offset, time_offset + duration, tokens.clone()));
                seek += segment_size;
            }

            for (start, end, piece) in pieces {
                let text = self.tokenizer.decode(&piece);
                if start == end || text.trim().is_empty() {
                    continue;
                }
                all_tokens.extend_from_slice(&piece);
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
            if !options.condition_on_previous_text || result.temperature > options.prompt_reset_on_temperature {
                prompt_reset_since = all_tokens.len();
            }
            progress(seek.min(content_frames) as f32 * frame_secs, total);
        }
        Ok(segments)
    }
}
