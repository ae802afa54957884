//! Voice enrollment: a recording of one person speaking becomes their voiceprint, the same kind
//! of embedding the diarizer gives a meeting's speakers. Decoding and resampling run on the
//! blocking pool, speech detection on the VAD thread, the embedding on the diarization thread:
//! nothing heavy on the async runtime.

use crate::audio::{AudioError, MODEL_RATE, Resampler, decode_bytes, downmix};
use crate::inference::InferenceError;
use crate::inference::vad::{CHUNK, VadParams, VadState, regions_from_probabilities};

use super::LiveService;

/// Longest recording taken (before silence is removed).
pub const MAX_RECORDING_SECONDS: u32 = 60;
/// Least speech (silence removed) a voiceprint is computed from: below ~5 s the mean embedding
/// still moves with what was said.
pub const MIN_SPEECH_SECONDS: f32 = 5.0;
/// The speaker encoder voiceprints are computed with (stored with each one: a voiceprint only
/// compares with embeddings of the same model).
pub const VOICEPRINT_MODEL: &str = "resemblyzer-ge2e";

/// Why a recording gives no voiceprint; mapped to HTTP once, in `http/error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    #[error("the recording could not be decoded; send WAV, Ogg/Opus or WebM/Opus audio")]
    Undecodable,
    #[error("the recording is longer than {} s", MAX_RECORDING_SECONDS)]
    TooLong,
    #[error("{found:.1} s of speech found; at least {} s are needed", MIN_SPEECH_SECONDS)]
    TooLittleSpeech { found: f32 },
    #[error("this server runs without the speaker model; voices cannot be enrolled")]
    NoModels,
    #[error("the speech models are busy; retry shortly")]
    Overloaded,
    /// Logged, never shown.
    #[error("computing a voiceprint failed: {0}")]
    Internal(String),
}

/// A voiceprint and the speech it was computed from.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// L2-normalised speaker embedding.
    pub embedding: Vec<f32>,
    pub speech_ms: i32,
}

impl From<InferenceError> for EnrollmentError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Overloaded | InferenceError::EngineStopped => EnrollmentError::Overloaded,
            other => EnrollmentError::Internal(other.to_string()),
        }
    }
}

/// Speech regions for enrollment: the live defaults, but shorter pauses end a region and less
/// padding is kept, so what is embedded is voice rather than room.
const ENROLLMENT_VAD: VadParams = VadParams {
    threshold: 0.5,
    neg_threshold: 0.35,
    min_silence_ms: 300,
    min_speech_ms: 250,
    speech_pad_ms: 100,
    max_speech_s: 29.0,
};

/// Audio sent to the VAD thread at a time (~5 s), so live sessions' chunks are served between.
const VAD_PIECE: usize = CHUNK * 156;

impl LiveService {
    /// The voiceprint of the recording `body` (any container [`decode_bytes`] reads).
    pub async fn voiceprint(&self, body: Vec<u8>) -> Result<Enrolled, EnrollmentError> {
        let diarize = self.diarize.as_ref().ok_or(EnrollmentError::NoModels)?;
        let audio = tokio::task::spawn_blocking(move || decode_16k(body))
            .await
            .map_err(|e| EnrollmentError::Internal(e.to_string()))??;
        let speech = self.speech_of(audio).await?;
        let found = speech.len() as f32 / MODEL_RATE as f32;
        if found < MIN_SPEECH_SECONDS {
            return Err(EnrollmentError::TooLittleSpeech { found });
        }
        let speech_ms = (found * 1000.0).round() as i32;
        let embedding = diarize.voiceprint(speech).await?.ok_or(EnrollmentError::TooLittleSpeech { found: 0.0 })?;
        Ok(Enrolled { embedding, speech_ms })
    }

    /// The speech of `audio` (16 kHz) with the silence between removed, by the live VAD.
    async fn speech_of(&self, audio: Vec<f32>) -> Result<Vec<f32>, EnrollmentError> {
        let mut state = VadState::default();
        let mut probabilities = Vec::with_capacity(audio.len() / CHUNK + 1);
        for piece in audio.chunks(VAD_PIECE) {
            let mut piece = piece.to_vec();
            piece.resize(piece.len().div_ceil(CHUNK) * CHUNK, 0.0);
            let (next, _, result) = self.vad.probabilities(state, piece).await;
            state = next;
            probabilities.extend(result?);
        }
        let regions = regions_from_probabilities(&probabilities, audio.len(), ENROLLMENT_VAD);
        Ok(regions.into_iter().flat_map(|r| audio[r.start..r.end.min(audio.len())].iter().copied()).collect())
    }
}

/// Decoded, mono, 16 kHz; at most [`MAX_RECORDING_SECONDS`].
fn decode_16k(body: Vec<u8>) -> Result<Vec<f32>, EnrollmentError> {
    let decoded = decode_bytes(body, MAX_RECORDING_SECONDS).map_err(|e| match e {
        AudioError::TooMuchAudio(_) => EnrollmentError::TooLong,
        _ => EnrollmentError::Undecodable,
    })?;
    if decoded.sample_rate == 0 || decoded.channels == 0 || decoded.samples.is_empty() {
        return Err(EnrollmentError::Undecodable);
    }
    let mono = downmix(&decoded.samples, decoded.channels);
    let resampler = Resampler::new(decoded.sample_rate, MODEL_RATE).map_err(|_| EnrollmentError::Undecodable)?;
    Ok(resampler.process_all(&mono))
}
