//! Overlap-aware speaker segmentation: pyannote's `segmentation-3.0` (MIT; fetched by
//! `models/fetch.sh` into `models/segmentation/segmentation-3.0.onnx`). The model reads 10 s of
//! 16 kHz audio and answers, for each of 589 frames (one every 270 samples), the log-probability
//! of 7 "powerset" classes: nobody, one of three *local* speakers alone, or one of the three
//! pairs. Local speakers are numbered per window only (speaker 1 of one window need not be
//! speaker 1 of the next); the clustering ([`super::segmented_diarization`]) gives them their
//! meeting-wide identity.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use crate::inference::{InferenceError, OrtRuntime};

/// Samples of one model window (10 s at 16 kHz).
pub const WINDOW_SAMPLES: usize = 160_000;
/// Output frames of one window.
pub const FRAMES_PER_WINDOW: usize = 589;
/// Samples between two output frames (SincNet's stride; 16.875 ms).
pub const FRAME_STEP: usize = 270;
/// Samples one output frame sees (its receptive field, 61.9 ms); frame `f` is centred on
/// sample `f * FRAME_STEP + FRAME_SPAN / 2` of its window.
pub const FRAME_SPAN: usize = 991;
/// Local speakers of a window.
pub const LOCAL_SPEAKERS: usize = 3;
/// Powerset classes: who speaks in each (pyannote's order: ∅, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}).
pub const POWERSET: [[bool; LOCAL_SPEAKERS]; 7] = [
    [false, false, false],
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [true, true, false],
    [true, false, true],
    [false, true, true],
];

// The frames tile the window: the last one's receptive field ends inside it, one more would not.
const _: () = assert!((FRAMES_PER_WINDOW - 1) * FRAME_STEP + FRAME_SPAN <= WINDOW_SAMPLES);
const _: () = assert!(FRAMES_PER_WINDOW * FRAME_STEP + FRAME_SPAN > WINDOW_SAMPLES);

/// Who speaks in one frame: bit `k` set when local speaker `k` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameSpeakers(pub u8);

impl FrameSpeakers {
    pub fn speaks(self, k: usize) -> bool {
        self.0 & (1 << k) != 0
    }

    /// How many local speakers speak (0, 1 or 2).
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }
}

/// The most probable class of one frame's 7 log-probabilities, as the speakers it holds
/// (pyannote's hard powerset decoding).
pub fn powerset_decode(log_probs: &[f32]) -> FrameSpeakers {
    let best = (0..POWERSET.len()).max_by(|&a, &b| log_probs[a].total_cmp(&log_probs[b])).unwrap_or(0);
    let bits = POWERSET[best].iter().enumerate().filter(|(_, on)| **on).fold(0u8, |acc, (k, _)| acc | 1 << k);
    FrameSpeakers(bits)
}

/// Each local speaker's probability of speaking in one frame: the sum of the probabilities of
/// the classes that hold it (the soft decoding).
pub fn speaker_probabilities(log_probs: &[f32]) -> [f32; LOCAL_SPEAKERS] {
    let mut p = [0f32; LOCAL_SPEAKERS];
    for (class, speakers) in POWERSET.iter().enumerate() {
        let prob = log_probs[class].exp();
        for (k, &on) in speakers.iter().enumerate() {
            if on {
                p[k] += prob;
            }
        }
    }
    p
}

/// The segmentation model on one ONNX session.
pub struct SpeakerSegmentation {
    session: Session,
}

impl SpeakerSegmentation {
    pub fn load(runtime: &OrtRuntime, model: &Path) -> Result<Self, InferenceError> {
        let session = runtime.session(model)?;
        let names = |v: &[ort::value::Outlet]| v.iter().map(|o| o.name().to_owned()).collect::<Vec<_>>();
        let (inputs, outputs) = (names(session.inputs()), names(session.outputs()));
        if inputs != ["input_values"] || outputs != ["logits"] {
            return Err(InferenceError::Config(format!(
                "{}: expected input_values -> logits, found {inputs:?} -> {outputs:?}",
                model.display()
            )));
        }
        Ok(Self { session })
    }

    /// The frames of each window (at most [`WINDOW_SAMPLES`] each; shorter ones are padded with
    /// silence, as pyannote pads the last window of a file), decoded hard; one batched run.
    pub fn segment(&mut self, windows: &[&[f32]]) -> Result<Vec<Vec<FrameSpeakers>>, InferenceError> {
        Ok(self
            .log_probs(windows)?
            .iter()
            .map(|w| w.chunks_exact(POWERSET.len()).map(powerset_decode).collect())
            .collect())
    }

    /// The raw output: per window, `FRAMES_PER_WINDOW × 7` log-probabilities, frame-major.
    pub fn log_probs(&mut self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, InferenceError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(w) = windows.iter().find(|w| w.len() > WINDOW_SAMPLES) {
            return Err(InferenceError::Config(format!("segmentation window of {} samples", w.len())));
        }
        let mut input = vec![0f32; windows.len() * WINDOW_SAMPLES];
        for (slot, w) in input.chunks_exact_mut(WINDOW_SAMPLES).zip(windows) {
            slot[..w.len()].copy_from_slice(w);
        }
        let batch = windows.len();
        let out = self
            .session
            .run(ort::inputs!["input_values" => Tensor::from_array(([batch, 1, WINDOW_SAMPLES], input))?])?;
        let (shape, data) = out["logits"].try_extract_tensor::<f32>()?;
        if shape.iter().map(|&d| d as usize).ne([batch, FRAMES_PER_WINDOW, POWERSET.len()]) {
            return Err(InferenceError::Config(format!("segmentation output shape {shape:?}")));
        }
        Ok(data.chunks_exact(FRAMES_PER_WINDOW * POWERSET.len()).map(<[f32]>::to_vec).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_probs(p: [f32; 7]) -> [f32; 7] {
        p.map(f32::ln)
    }

    #[test]
    fn hard_decoding_takes_the_most_probable_class() {
        let silent = powerset_decode(&log_probs([0.7, 0.1, 0.1, 0.05, 0.02, 0.02, 0.01]));
        assert_eq!((silent, silent.count()), (FrameSpeakers(0), 0));
        let second = powerset_decode(&log_probs([0.1, 0.1, 0.6, 0.1, 0.05, 0.03, 0.02]));
        assert_eq!(second, FrameSpeakers(0b010));
        assert!(second.speaks(1) && !second.speaks(0) && !second.speaks(2));
        // {1,3} beats every single class although speaker 1 alone is likelier than {2}.
        let overlap = powerset_decode(&log_probs([0.05, 0.2, 0.1, 0.05, 0.1, 0.45, 0.05]));
        assert_eq!((overlap, overlap.count()), (FrameSpeakers(0b101), 2));
        assert_eq!(powerset_decode(&log_probs([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])), FrameSpeakers(0b110));
    }

    #[test]
    fn soft_decoding_sums_the_classes_of_each_speaker() {
        let p = speaker_probabilities(&log_probs([0.1, 0.2, 0.1, 0.05, 0.3, 0.15, 0.1]));
        let expected = [0.2 + 0.3 + 0.15, 0.1 + 0.3 + 0.1, 0.05 + 0.15 + 0.1];
        for (got, want) in p.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{p:?}");
        }
    }
}
