//! Silero VAD (v6, ONNX, 16 kHz): speech probability per 32 ms chunk, and speech regions of a
//! recording with hysteresis, minimum silence, padding and a maximum length (so every region
//! fits one Whisper window).

use std::ops::Range;
use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use super::{InferenceError, OrtRuntime};

/// Samples per VAD step at 16 kHz.
pub const CHUNK: usize = 512;
/// Samples of the previous chunk the model sees in front of each chunk.
const CONTEXT: usize = 64;
const STATE_LEN: usize = 2 * 128;

/// What one audio stream carries from chunk to chunk: the recurrent state and the tail of the
/// previous chunk. Kept apart from the model so one model serves many live streams.
#[derive(Clone)]
pub struct VadState {
    state: Vec<f32>,
    context: Vec<f32>,
}

impl Default for VadState {
    fn default() -> Self {
        Self { state: vec![0.0; STATE_LEN], context: vec![0.0; CONTEXT] }
    }
}

/// The Silero model with the state of one stream (for whole recordings).
pub struct SileroVad {
    session: Session,
    stream: VadState,
}

impl SileroVad {
    pub fn load(runtime: &OrtRuntime, model: &Path) -> Result<Self, InferenceError> {
        Ok(Self { session: runtime.session(model)?, stream: VadState::default() })
    }

    pub fn reset(&mut self) {
        self.stream = VadState::default();
    }

    /// Speech probability of the next `CHUNK` samples (shorter input is zero-padded).
    pub fn probability(&mut self, chunk: &[f32]) -> Result<f32, InferenceError> {
        let mut stream = std::mem::take(&mut self.stream);
        let p = self.probability_of(&mut stream, chunk);
        self.stream = stream;
        p
    }

    /// The same for a stream whose state the caller keeps.
    pub fn probability_of(&mut self, stream: &mut VadState, chunk: &[f32]) -> Result<f32, InferenceError> {
        let mut input = Vec::with_capacity(CONTEXT + CHUNK);
        input.extend_from_slice(&stream.context);
        input.extend_from_slice(&chunk[..chunk.len().min(CHUNK)]);
        input.resize(CONTEXT + CHUNK, 0.0);
        stream.context.copy_from_slice(&input[CHUNK..]);
        let mut out = self.session.run(ort::inputs![
            "input" => Tensor::from_array(([1usize, CONTEXT + CHUNK], input))?,
            "state" => Tensor::from_array(([2usize, 1, 128], stream.state.clone()))?,
            "sr" => Tensor::from_array(((), vec![16_000i64]))?,
        ])?;
        let (_, state) = out["stateN"].try_extract_tensor::<f32>()?;
        stream.state.copy_from_slice(state);
        let (_, p) = out["output"].try_extract_tensor::<f32>()?;
        let p = p[0];
        drop(out.remove("output"));
        Ok(p)
    }
}

/// How speech regions are cut (faster-whisper's `VadOptions`, with a 30 s cap).
#[derive(Debug, Clone, Copy)]
pub struct VadParams {
    /// Speech starts above this probability…
    pub threshold: f32,
    /// …and ends below this one.
    pub neg_threshold: f32,
    /// Silence shorter than this does not end a region.
    pub min_silence_ms: u32,
    /// Regions shorter than this are dropped.
    pub min_speech_ms: u32,
    /// Added before and after each region.
    pub speech_pad_ms: u32,
    /// Longer regions are split (at the quietest point of their last part).
    pub max_speech_s: f32,
}

impl Default for VadParams {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_silence_ms: 1000,
            min_speech_ms: 250,
            speech_pad_ms: 200,
            max_speech_s: 29.0,
        }
    }
}

/// Speech regions of 16 kHz `audio`, as sample ranges.
pub fn speech_regions(
    vad: &mut SileroVad,
    audio: &[f32],
    params: VadParams,
) -> Result<Vec<Range<usize>>, InferenceError> {
    vad.reset();
    let probs: Vec<f32> = audio.chunks(CHUNK).map(|c| vad.probability(c)).collect::<Result<_, _>>()?;
    Ok(regions_from_probabilities(&probs, audio.len(), params))
}

/// The region logic on its own (per-chunk probabilities in, sample ranges out).
pub fn regions_from_probabilities(probs: &[f32], total: usize, params: VadParams) -> Vec<Range<usize>> {
    let ms = |v: u32| v as usize * 16;
    let min_silence = ms(params.min_silence_ms);
    let max_len = (params.max_speech_s * 16_000.0) as usize;
    let mut regions: Vec<Range<usize>> = Vec::new();
    let mut start: Option<usize> = None;
    let mut silence_since: Option<usize> = None;
    for (i, &p) in probs.iter().enumerate() {
        let at = i * CHUNK;
        match start {
            None if p >= params.threshold => {
                start = Some(at);
                silence_since = None;
            }
            None => {}
            Some(s) => {
                if p >= params.threshold {
                    silence_since = None;
                } else if p < params.neg_threshold && silence_since.is_none() {
                    silence_since = Some(at);
                }
                if let Some(quiet) = silence_since
                    && at + CHUNK - quiet >= min_silence
                {
                    regions.push(s..quiet);
                    start = None;
                    silence_since = None;
                } else if at + CHUNK - s >= max_len {
                    // Too long: cut where it last went quiet, else right here.
                    let cut = silence_since.filter(|&q| q > s).unwrap_or(at + CHUNK);
                    regions.push(s..cut);
                    start = Some(cut);
                    silence_since = None;
                }
            }
        }
    }
    if let Some(s) = start {
        regions.push(s..total);
    }
    let pad = ms(params.speech_pad_ms);
    let mut padded: Vec<Range<usize>> = Vec::new();
    for r in regions.into_iter().filter(|r| r.end - r.start >= ms(params.min_speech_ms)) {
        let mut r = r.start.saturating_sub(pad)..(r.end + pad).min(total);
        if let Some(last) = padded.last_mut()
            && r.start <= last.end
        {
            // Padding made neighbours touch: merge them unless that makes a region too long.
            if r.end - last.start <= max_len {
                last.end = r.end;
                continue;
            }
            r.start = last.end;
        }
        padded.push(r);
    }
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n)).collect()
    }

    #[test]
    fn finds_regions_with_padding_and_bridges_short_pauses() {
        // 1 s silence, 2 s speech, 0.3 s pause, 1 s speech, 2 s silence (31.25 chunks per second).
        let p = probs(&[(0.0, 31), (0.9, 62), (0.1, 10), (0.9, 31), (0.0, 62)]);
        let total = p.len() * CHUNK;
        let regions = regions_from_probabilities(&p, total, VadParams::default());
        assert_eq!(regions.len(), 1, "{regions:?}");
        let r = &regions[0];
        assert_eq!(r.start, 31 * CHUNK - 200 * 16);
        assert_eq!(r.end, (31 + 62 + 10 + 31) * CHUNK + 200 * 16);
    }

    #[test]
    fn long_speech_is_cut_to_the_maximum() {
        let p = probs(&[(0.9, 31 * 70)]);
        let total = p.len() * CHUNK;
        let regions = regions_from_probabilities(&p, total, VadParams::default());
        assert!(regions.len() >= 3);
        assert!(regions.iter().all(|r| r.end - r.start <= 30 * 16_000), "{regions:?}");
        assert_eq!(regions.last().unwrap().end, total);
        assert!(regions.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn silence_and_blips_give_nothing() {
        let p = probs(&[(0.0, 100), (0.9, 3), (0.0, 100)]);
        assert!(regions_from_probabilities(&p, p.len() * CHUNK, VadParams::default()).is_empty());
    }
}
