//! The GE2E speaker encoder (Resemblyzer 0.1.4, converted by `models/convert_resemblyzer.py`
//! to `models/speaker/resemblyzer.onnx`): mel frames `[batch, frames, 40]` → L2-normalised
//! 256-d embeddings `[batch, 256]` (3-layer LSTM, last hidden state, linear, ReLU). Resemblyzer
//! embeds 1.6 s windows (160 frames); an utterance is the normalised mean of its overlapping
//! windows ([`partial_slices`], Resemblyzer's `compute_partial_slices`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use super::speaker_mel::{HOP, MelFrame, N_MELS, SAMPLE_RATE, SpeakerMel};
use crate::inference::{InferenceError, OrtRuntime};

/// Frames in one of Resemblyzer's windows ("partial utterances"): 1.6 s.
pub const PARTIAL_FRAMES: usize = 160;
/// Length of an embedding.
pub const EMBEDDING_DIM: usize = 256;
/// Resemblyzer's defaults for [`partial_slices`]: windows per second, and the part of the last
/// window that must hold audio for it to be kept.
pub const DEFAULT_RATE: f64 = 1.3;
pub const DEFAULT_MIN_COVERAGE: f64 = 0.75;

/// An utterance's embedding with the windows it was averaged from.
#[derive(Debug, Clone)]
pub struct UtteranceEmbedding {
    /// L2-normalised mean of `partials`.
    pub embedding: Vec<f32>,
    /// One embedding per window, in order.
    pub partials: Vec<Vec<f32>>,
    /// The windows as mel frame ranges; samples are `start * 160 .. end * 160` (the last may
    /// reach past the audio, which is zero-padded).
    pub slices: Vec<Range<usize>>,
}

/// The loaded speaker encoder with its front end. Not `Sync`: one per worker thread.
pub struct SpeakerEncoder {
    session: Session,
    mel: SpeakerMel,
}

impl SpeakerEncoder {
    pub fn load(runtime: &OrtRuntime, model: &Path) -> Result<Self, InferenceError> {
        let session = runtime.session(model)?;
        let names = |v: &[ort::value::Outlet]| v.iter().map(|o| o.name().to_owned()).collect::<Vec<_>>();
        let (inputs, outputs) = (names(session.inputs()), names(session.outputs()));
        if inputs != ["mels"] || outputs != ["embedding"] {
            return Err(InferenceError::Config(format!(
                "{}: expected mels -> embedding, found {inputs:?} -> {outputs:?}",
                model.display()
            )));
        }
        Ok(Self { session, mel: SpeakerMel::new() })
    }

    /// The front end the encoder expects (for callers that keep their own mel frames).
    pub fn mel(&self) -> &SpeakerMel {
        &self.mel
    }

    /// The embedding of one window of mel frames (any length ≥ 1; Resemblyzer uses 160).
    pub fn embed_frames(&mut self, frames: &[MelFrame]) -> Result<Vec<f32>, InferenceError> {
        Ok(self.embed_windows(&[frames])?.pop().expect("one window in, one out"))
    }

    /// The embeddings of several windows, in order. Windows of equal length (the usual case:
    /// sliding 160-frame windows) go through the network in one batched run; each further
    /// distinct length costs one more run. Every window must have at least one frame.
    ///
    /// As in Resemblyzer, a window whose linear layer output is ≤ 0 everywhere has no direction
    /// and gives NaN (not seen on speech).
    pub fn embed_windows(&mut self, windows: &[&[MelFrame]]) -> Result<Vec<Vec<f32>>, InferenceError> {
        if windows.iter().any(|w| w.is_empty()) {
            return Err(InferenceError::Config("speaker encoder: empty window".into()));
        }
        let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, w) in windows.iter().enumerate() {
            by_len.entry(w.len()).or_default().push(i);
        }
        let mut out = vec![Vec::new(); windows.len()];
        for (frames, members) in by_len {
            let mut input = Vec::with_capacity(members.len() * frames * N_MELS);
            for &i in &members {
                input.extend(windows[i].iter().flatten());
            }
            let embeddings = self.run(input, members.len(), frames)?;
            for (&i, e) in members.iter().zip(embeddings.chunks_exact(EMBEDDING_DIM)) {
                out[i] = e.to_vec();
            }
        }
        Ok(out)
    }

    /// Resemblyzer's `embed_utterance(wav)` (rate 1.3, min_coverage 0.75) on 16 kHz mono
    /// samples: the windows of [`partial_slices`], zero-padding at the end, one mel over the
    /// whole (padded) audio, all windows in one batched run, their mean L2-normalised.
    /// Resemblyzer's `preprocess_wav` (volume normalisation, silence trimming) is not applied;
    /// see [`super::speaker_mel::normalize_volume`]. `None` for empty input or when the result
    /// is not finite.
    pub fn embed_utterance(&mut self, samples_16k: &[f32]) -> Result<Option<Vec<f32>>, InferenceError> {
        Ok(self.embed_utterance_partials(samples_16k, DEFAULT_RATE, DEFAULT_MIN_COVERAGE)?.map(|u| u.embedding))
    }

    /// [`embed_utterance`](Self::embed_utterance) with its windows and their embeddings, and
    /// Resemblyzer's `rate` / `min_coverage` parameters.
    pub fn embed_utterance_partials(
        &mut self,
        samples_16k: &[f32],
        rate: f64,
        min_coverage: f64,
    ) -> Result<Option<UtteranceEmbedding>, InferenceError> {
        if samples_16k.is_empty() {
            return Ok(None);
        }
        let slices = partial_slices(samples_16k.len(), rate, min_coverage);
        let wave_len = slices.last().map_or(0, |s| s.end * HOP);
        let mel = if wave_len > samples_16k.len() {
            let mut padded = samples_16k.to_vec();
            padded.resize(wave_len, 0.0);
            self.mel.compute(&padded)
        } else {
            self.mel.compute(samples_16k)
        };
        let windows: Vec<&[MelFrame]> = slices.iter().map(|s| &mel[s.clone()]).collect();
        let partials = self.embed_windows(&windows)?;
        let mut mean = vec![0f64; EMBEDDING_DIM];
        for p in &partials {
            for (m, &v) in mean.iter_mut().zip(p) {
                *m += v as f64;
            }
        }
        let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Ok(None);
        }
        let embedding = mean.iter().map(|m| (m / norm) as f32).collect();
        Ok(Some(UtteranceEmbedding { embedding, partials, slices }))
    }

    fn run(&mut self, input: Vec<f32>, batch: usize, frames: usize) -> Result<Vec<f32>, InferenceError> {
        let out = self.session.run(ort::inputs!["mels" => Tensor::from_array(([batch, frames, N_MELS], input))?])?;
        let (shape, data) = out["embedding"].try_extract_tensor::<f32>()?;
        if shape.iter().map(|&d| d as usize).ne([batch, EMBEDDING_DIM]) {
            return Err(InferenceError::Config(format!("speaker encoder output shape {shape:?}")));
        }
        Ok(data.to_vec())
    }
}

/// Resemblyzer's `compute_partial_slices(n_samples, rate, min_coverage)`: 160-frame windows
/// every `round(16000 / rate / 160)` frames (77 for rate 1.3) covering the audio; the last is
/// dropped when less than `min_coverage` of it holds audio, unless it is the only one. Always
/// at least one window. Mel frame ranges; multiply by 160 for samples.
pub fn partial_slices(n_samples: usize, rate: f64, min_coverage: f64) -> Vec<Range<usize>> {
    assert!(0.0 < min_coverage && min_coverage <= 1.0, "min_coverage {min_coverage}");
    let n_frames = (n_samples + 1).div_ceil(HOP) as i64;
    let frame_step = (SAMPLE_RATE as f64 / rate / HOP as f64).round_ties_even() as i64;
    assert!(0 < frame_step && frame_step <= PARTIAL_FRAMES as i64, "rate {rate} out of range");
    let steps = (n_frames - PARTIAL_FRAMES as i64 + frame_step + 1).max(1);
    let mut slices: Vec<Range<usize>> =
        (0..steps).step_by(frame_step as usize).map(|i| i as usize..i as usize + PARTIAL_FRAMES).collect();
    let last = slices.last().expect("at least one slice");
    let coverage = (n_samples as f64 - (last.start * HOP) as f64) / (PARTIAL_FRAMES * HOP) as f64;
    if coverage < min_coverage && slices.len() > 1 {
        slices.pop();
    }
    slices
}

/// Cosine similarity of two embeddings (their dot product when both are normalised).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Resemblyzer 0.1.4's `compute_partial_slices` (run in Python).
    #[test]
    fn partial_slices_match_resemblyzer() {
        let starts = |n, rate, cov| partial_slices(n, rate, cov).iter().map(|s| s.start).collect::<Vec<_>>();
        for n in [0, 1, 159, 160, 16_000, 25_599, 25_600, 25_601, 30_000] {
            assert_eq!(starts(n, 1.3, 0.75), [0], "{n}");
        }
        for n in [37_919, 37_920, 40_000, 41_000] {
            assert_eq!(starts(n, 1.3, 0.75), [0, 77], "{n}");
        }
        assert_eq!(starts(45_000, 1.3, 0.75), [0, 77, 154]);
        assert_eq!(starts(96_000, 1.3, 0.75), [0, 77, 154, 231, 308, 385, 462]);
        let long = partial_slices(480_000, 1.3, 0.75);
        assert_eq!((long.len(), long.last().cloned()), (38, Some(2849..3009)));
        assert_eq!(starts(40_000, 0.7, 0.5), [0, 143]);
        assert_eq!(starts(40_000, 2.0, 0.9), [0, 50, 100]);
        assert!(partial_slices(96_000, 1.3, 0.75).iter().all(|s| s.len() == PARTIAL_FRAMES));
    }

    #[test]
    fn cosine_of_parallel_and_orthogonal_vectors() {
        assert!((cosine_similarity(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine_similarity(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
    }
}
