//! [`Recognizer`]: what an [`AsrEngine`](super::AsrEngine)'s threads run on each batch. The
//! server's is [`WhisperRecognizer`]; anything with the same contract gets the same queue
//! policy, batching, health and metrics (the protocol tests run a scripted one, so they need no
//! fetched model).

use super::decoding::{self, DecodeOptions};
use super::model::Precision;
use super::transcriber::{DecodeContext, EncoderWindow, LanguageChoice, Transcriber, UtteranceText};
use crate::inference::{InferenceError, OrtRuntime};

/// What a batch is for: finals are stored, partials are previews that a final replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Final,
    Partial,
}

/// Speech to text for a batch of utterances, on one worker thread (not `Sync`).
pub trait Recognizer: Send + 'static {
    /// Language codes sessions may ask for (empty: an English-only model).
    fn languages(&self) -> Vec<String>;
    /// One text per utterance (16 kHz mono, at most 30 s), each in its own context.
    fn transcribe(
        &mut self,
        audio: &[&[f32]],
        contexts: &[DecodeContext],
        purpose: Purpose,
    ) -> Result<Vec<UtteranceText>, InferenceError>;
}

impl Recognizer for Box<dyn Recognizer> {
    fn languages(&self) -> Vec<String> {
        (**self).languages()
    }

    fn transcribe(
        &mut self,
        audio: &[&[f32]],
        contexts: &[DecodeContext],
        purpose: Purpose,
    ) -> Result<Vec<UtteranceText>, InferenceError> {
        (**self).transcribe(audio, contexts, purpose)
    }
}

/// Whisper on ONNX Runtime, with a window per purpose.
pub struct WhisperRecognizer {
    transcriber: Transcriber,
    /// Encoder window of finals: what is stored.
    pub window: EncoderWindow,
    /// Encoder window of partials.
    pub partial_window: EncoderWindow,
    pub options: DecodeOptions,
}

impl WhisperRecognizer {
    pub fn load(
        runtime: &OrtRuntime,
        dir: &std::path::Path,
        precision: Precision,
        window: EncoderWindow,
        partial_window: EncoderWindow,
        options: DecodeOptions,
    ) -> Result<Self, InferenceError> {
        Ok(Self { transcriber: Transcriber::load(runtime, dir, precision)?, window, partial_window, options })
    }
}

impl Recognizer for WhisperRecognizer {
    fn languages(&self) -> Vec<String> {
        self.transcriber.languages()
    }

    /// Finals whose trimmed-window text repeats itself (compression ratio over the threshold,
    /// Whisper's own loop test, or a phrase repeated at the end: [`decoding::ends_in_loop`]) are
    /// transcribed again with the full 30 s window, which tiny.en needs to know where speech ends.
    fn transcribe(
        &mut self,
        audio: &[&[f32]],
        contexts: &[DecodeContext],
        purpose: Purpose,
    ) -> Result<Vec<UtteranceText>, InferenceError> {
        let (transcriber, options) = (&mut self.transcriber, &self.options);
        let window = if purpose == Purpose::Partial { self.partial_window } else { self.window };
        transcriber.window = window;
        let mut results = transcriber.transcribe_utterances(audio, contexts, options)?;
        if purpose == Purpose::Final && window == EncoderWindow::Trimmed {
            let limit = options.compression_ratio_threshold.unwrap_or(2.4);
            let loops = |r: &UtteranceText| {
                let text: String = r.segments.iter().map(|s| s.text.as_str()).collect();
                r.segments.iter().any(|s| s.compression_ratio > limit) || decoding::ends_in_loop(&text)
            };
            let looping: Vec<usize> = (0..results.len()).filter(|&i| loops(&results[i])).collect();
            if !looping.is_empty() {
                transcriber.window = EncoderWindow::Full;
                let again: Vec<&[f32]> = looping.iter().map(|&i| audio[i]).collect();
                // The language the first pass used (detected or asked) holds for the second.
                let again_contexts: Vec<DecodeContext> = looping
                    .iter()
                    .map(|&i| DecodeContext {
                        language: results[i].language.clone().map_or(LanguageChoice::Detect, LanguageChoice::Fixed),
                        keyterms: contexts[i].keyterms.clone(),
                    })
                    .collect();
                for (i, text) in
                    looping.into_iter().zip(transcriber.transcribe_utterances(&again, &again_contexts, options)?)
                {
                    // Still the first pass's detection, if there was one.
                    results[i] = UtteranceText { language_probability: results[i].language_probability, ..text };
                }
            }
        }
        Ok(results)
    }
}
