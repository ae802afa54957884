//! The speaker encoder's front end: Resemblyzer's `wav_to_mel_spectrogram`, i.e.
//! `librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)` with
//! librosa's (≥ 0.10) defaults: periodic Hann window of 400, centred STFT with 200 *zero*
//! samples on each side (`pad_mode="constant"`), power spectrum `|X|²`, 40 Slaney-normalised
//! Slaney-scale mel filters from 0 Hz to 8 kHz, **no log**. Frame `t` is centred on sample
//! `160 t`; `n` samples give `n / 160 + 1` frames.
//!
//! Computed in f64 (librosa computes in f32); `tests/models/speaker_embedding.rs` compares it with
//! librosa on real audio.

use std::f64::consts::PI;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::inference::asr::mel::slaney_filters;

pub const SAMPLE_RATE: usize = 16_000;
/// 25 ms window.
pub const N_FFT: usize = 400;
/// 10 ms hop: one frame per 160 samples.
pub const HOP: usize = 160;
pub const N_MELS: usize = 40;
const N_BINS: usize = N_FFT / 2 + 1;

/// One spectrogram frame: the power in each of the 40 mel bands.
pub type MelFrame = [f32; N_MELS];

/// Computes Resemblyzer mel frames; build once, reuse (holds the FFT plan and the filters).
pub struct SpeakerMel {
    /// `N_MELS × N_BINS`, row-major.
    filters: Vec<f64>,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl Default for SpeakerMel {
    fn default() -> Self {
        Self::new()
    }
}

impl SpeakerMel {
    pub fn new() -> Self {
        let window = (0..N_FFT).map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / N_FFT as f64).cos()).collect();
        Self {
            filters: slaney_filters(N_MELS, N_BINS),
            window,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
        }
    }

    /// Number of frames [`compute`](Self::compute) returns for `samples` samples.
    pub fn frame_count(samples: usize) -> usize {
        samples / HOP + 1
    }

    /// The mel power spectrogram of 16 kHz mono `samples`, one frame per 10 ms
    /// (`samples.len() / 160 + 1` frames; the signal is zero outside `samples`).
    pub fn compute(&self, samples: &[f32]) -> Vec<MelFrame> {
        let pad = N_FFT / 2;
        let mut padded = vec![0f64; samples.len() + 2 * pad];
        for (dst, &x) in padded[pad..].iter_mut().zip(samples) {
            *dst = x as f64;
        }
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0f64; N_BINS];
        (0..Self::frame_count(samples.len()))
            .map(|f| {
                let frame = &padded[f * HOP..f * HOP + N_FFT];
                for ((dst, &x), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                    *dst = x * w;
                }
                self.fft
                    .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                    .expect("FFT buffers are sized by the plan");
                for (p, c) in power.iter_mut().zip(&spectrum) {
                    *p = c.norm_sqr();
                }
                let mut out = [0f32; N_MELS];
                for (band, o) in out.iter_mut().enumerate() {
                    let row = &self.filters[band * N_BINS..(band + 1) * N_BINS];
                    *o = row.iter().zip(&power).map(|(w, p)| w * p).sum::<f64>() as f32;
                }
                out
            })
            .collect()
    }
}

/// Resemblyzer's `normalize_volume`: scales `samples` so that their RMS is `target_dbfs`
/// (Resemblyzer uses -30 with `increase_only`, i.e. quiet audio is raised, loud audio left as
/// it is). Silence (RMS 0) is left as it is. Part of Resemblyzer's `preprocess_wav`, not of
/// [`SpeakerMel::compute`] or the embedding parity fixture.
pub fn normalize_volume(samples: &mut [f32], target_dbfs: f64, increase_only: bool) {
    if samples.is_empty() {
        return;
    }
    let mean_sq = samples.iter().map(|&x| (x as f64 * 32767.0).powi(2)).sum::<f64>() / samples.len() as f64;
    if mean_sq <= 0.0 {
        return;
    }
    let dbfs = 20.0 * (mean_sq.sqrt() / 32767.0).log10();
    let change = target_dbfs - dbfs;
    if change < 0.0 && increase_only {
        return;
    }
    let gain = 10f64.powf(change / 20.0) as f32;
    for x in samples {
        *x *= gain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_matches_librosa_centred_stft() {
        let mel = SpeakerMel::new();
        for n in [0, 1, 159, 160, 161, 16_000] {
            assert_eq!(mel.compute(&vec![0.1; n]).len(), n / 160 + 1, "{n} samples");
        }
    }

    #[test]
    fn tone_lands_in_its_band_and_scales_with_power() {
        let mel = SpeakerMel::new();
        let tone = |amp: f32| -> Vec<f32> {
            (0..16_000).map(|i| amp * (i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 16_000.0).sin()).collect()
        };
        let a = mel.compute(&tone(0.1));
        let b = mel.compute(&tone(0.2));
        let frame = &a[50];
        let loudest = (0..N_MELS).max_by(|&x, &y| frame[x].total_cmp(&frame[y])).unwrap();
        // 440 Hz is in band 6 of 40 (Slaney scale, linear below 1 kHz: 66.7 Hz per mel step).
        assert!((5..=7).contains(&loudest), "band {loudest}");
        // Power spectrum, no log: twice the amplitude is four times the value.
        assert!((b[50][loudest] / a[50][loudest] - 4.0).abs() < 1e-4);
    }

    #[test]
    fn filters_cover_the_spectrum() {
        let f = slaney_filters(N_MELS, N_BINS);
        for m in 0..N_MELS {
            assert!(f[m * N_BINS..(m + 1) * N_BINS].iter().any(|&w| w > 0.0), "band {m}");
        }
        assert!(f.iter().all(|&w| w >= 0.0));
    }

    #[test]
    fn volume_is_raised_to_the_target_only_when_asked() {
        let mut quiet = vec![0.001f32, -0.001, 0.001, -0.001];
        normalize_volume(&mut quiet, -30.0, true);
        let rms = (quiet.iter().map(|x| (x * 32767.0).powi(2)).sum::<f32>() / 4.0).sqrt() / 32767.0;
        assert!((20.0 * rms.log10() + 30.0).abs() < 1e-3);
        let mut loud = vec![0.5f32, -0.5];
        normalize_volume(&mut loud, -30.0, true);
        assert_eq!(loud, [0.5, -0.5]);
        let mut silence = vec![0.0f32; 8];
        normalize_volume(&mut silence, -30.0, true);
        assert!(silence.iter().all(|&x| x == 0.0));
    }
}
