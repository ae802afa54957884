//! Scripted stand-ins for the speech models, for the live-protocol tests that need no speech
//! recognised (bad input, quotas, timeouts, viewers): the server runs them on the same engines,
//! queues and worker threads as Whisper and Silero, so those tests need no `models/fetch.sh`
//! and no model time. The detector calls a chunk speech when it is loud; the recognizer writes
//! what it was given ("speech of 1.28 seconds"), or the next line of its `script`, taking
//! `decode_time` per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ddalkkak::commands::live::SpeechModels;
use ddalkkak::inference::InferenceError;
use ddalkkak::inference::asr::{DecodeContext, Purpose, Recognizer, Segment, UtteranceText};
use ddalkkak::inference::vad::VadState;
use ddalkkak::inference::vad_worker::SpeechDetector;

/// Served model names ending in `.en` are English-only; others speak English and Korean.
#[derive(Debug, Default)]
pub struct ScriptedModels {
    /// How long each batch takes (a machine at its capacity).
    pub decode_time: std::time::Duration,
    /// When set, each final is the next of these lines (in turn, across the server's sessions).
    pub script: Option<Arc<[String]>>,
    /// Script lines said so far, by every recognizer of the server.
    pub said: Arc<AtomicUsize>,
}

impl SpeechModels for ScriptedModels {
    fn recognizer(&self, name: &str) -> Result<Box<dyn Recognizer>, InferenceError> {
        let languages = if name.ends_with(".en") { Vec::new() } else { vec!["en".into(), "ko".into()] };
        let script = self.script.clone().map(|lines| (lines, self.said.clone()));
        Ok(Box::new(ScriptedRecognizer { languages, decode_time: self.decode_time, script }))
    }

    fn detector(&self) -> Result<Box<dyn SpeechDetector>, InferenceError> {
        Ok(Box::new(LoudnessDetector))
    }
}

struct ScriptedRecognizer {
    languages: Vec<String>,
    decode_time: std::time::Duration,
    /// The script and how many of its lines were said.
    script: Option<(Arc<[String]>, Arc<AtomicUsize>)>,
}

impl Recognizer for ScriptedRecognizer {
    fn languages(&self) -> Vec<String> {
        self.languages.clone()
    }

    fn transcribe(
        &mut self,
        audio: &[&[f32]],
        contexts: &[DecodeContext],
        purpose: Purpose,
    ) -> Result<Vec<UtteranceText>, InferenceError> {
        std::thread::sleep(self.decode_time);
        let text = |audio: &[f32], context: &DecodeContext| {
            let seconds = audio.len() as f32 / 16_000.0;
            let said = match &self.script {
                Some((lines, said)) if purpose == Purpose::Final => {
                    format!(" {}", lines[said.fetch_add(1, Ordering::Relaxed) % lines.len()])
                }
                _ => format!(" speech of {seconds:.2} seconds"),
            };
            let language = (!self.languages.is_empty()).then(|| context.language.fixed().unwrap_or("en").to_owned());
            let segment = Segment {
                start: 0.0,
                end: seconds,
                text: said,
                tokens: Vec::new(),
                avg_logprob: -0.1,
                no_speech_prob: 0.0,
                temperature: 0.0,
                compression_ratio: 1.0,
            };
            UtteranceText { segments: vec![segment], language, language_probability: None }
        };
        Ok(audio.iter().zip(contexts).map(|(audio, context)| text(audio, context)).collect())
    }
}

/// Speech wherever a chunk's RMS is over 0.02 (about −34 dBFS).
struct LoudnessDetector;

impl SpeechDetector for LoudnessDetector {
    fn probability_of(&mut self, _: &mut VadState, chunk: &[f32]) -> Result<f32, InferenceError> {
        let rms = (chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len().max(1) as f32).sqrt();
        Ok(if rms > 0.02 { 0.95 } else { 0.02 })
    }
}

/// `seconds` of 16 kHz PCM the [`ScriptedModels`] hear as utterances: 1.6 s of a loud tone,
/// then 0.8 s of silence, over and over.
pub fn tone_speech(seconds: f32) -> Vec<i16> {
    let period = (2.4 * 16_000.0) as usize;
    (0..(seconds * 16_000.0) as usize)
        .map(|i| {
            let on = i % period < (1.6 * 16_000.0) as usize;
            let tone = (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin();
            if on { (tone * 0.3 * 32767.0) as i16 } else { 0 }
        })
        .collect()
}
