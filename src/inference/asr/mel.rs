//! Whisper's log-mel front end, numerically the same as faster-whisper's `FeatureExtractor`
//! (which matches OpenAI's): 16 kHz audio, 160 zero samples appended, periodic Hann window of
//! 400, hop 160, reflect-padded centred STFT, power spectrum without the last frame, 80 Slaney
//! mel filters, `log10(max(x, 1e-10))`, floor at `max - 8`, then `(x + 4) / 4`.
//!
//! The floor uses the maximum over the whole input, as faster-whisper does for a whole file:
//! callers pass the whole audio and slice windows from the result.

use std::f64::consts::PI;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Frames in one 30 s window.
pub const N_FRAMES: usize = 3000;

/// Computes log-mel spectrograms; build once, reuse (holds the FFT plan and the filters).
pub struct LogMel {
    n_mels: usize,
    /// `n_mels × (N_FFT/2 + 1)`, row-major.
    filters: Vec<f64>,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

/// A `n_mels × frames` spectrogram, row-major (one row per mel band).
#[derive(Debug, Clone)]
pub struct MelSpectrogram {
    pub n_mels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
}

impl MelSpectrogram {
    /// Frames `[start, start + len)` of every band, zero-padded to `pad_to` frames (Whisper's
    /// `pad_or_trim`).
    pub fn window(&self, start: usize, len: usize, pad_to: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.n_mels * pad_to];
        let len = len.min(self.frames.saturating_sub(start)).min(pad_to);
        for band in 0..self.n_mels {
            let src = &self.data[band * self.frames + start..band * self.frames + start + len];
            out[band * pad_to..band * pad_to + len].copy_from_slice(src);
        }
        out
    }
}

impl LogMel {
    pub fn new(n_mels: usize) -> Self {
        let n_bins = N_FFT / 2 + 1;
        let window = (0..N_FFT).map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / N_FFT as f64).cos()).collect();
        Self {
            n_mels,
            filters: slaney_filters(n_mels, n_bins),
            window,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
        }
    }

    /// The spectrogram of `audio` (16 kHz mono); it has `audio.len() / 160 + 1` frames, of
    /// which the first `audio.len() / 160` hold content.
    pub fn compute(&self, audio: &[f32]) -> MelSpectrogram {
        let n_bins = N_FFT / 2 + 1;
        let mut samples: Vec<f64> = audio.iter().map(|&x| x as f64).collect();
        samples.extend(std::iter::repeat_n(0.0, HOP));
        let padded = reflect_pad(&samples, N_FFT / 2);
        // The centred STFT has len/HOP + 1 frames; the last is dropped.
        let frames = samples.len() / HOP;
        let mut mel = vec![0f64; self.n_mels * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f64; n_bins];
        for f in 0..frames {
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
            for band in 0..self.n_mels {
                let row = &self.filters[band * n_bins..(band + 1) * n_bins];
                mel[band * frames + f] = row.iter().zip(&power).map(|(w, p)| w * p).sum();
            }
        }
        let mut log: Vec<f64> = mel.iter().map(|&m| m.max(1e-10).log10()).collect();
        let max = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for v in &mut log {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        MelSpectrogram { n_mels: self.n_mels, frames, data: log.into_iter().map(|v| v as f32).collect() }
    }
}

/// numpy's `pad(mode="reflect")`: mirrors without repeating the edge sample.
fn reflect_pad(x: &[f64], pad: usize) -> Vec<f64> {
    let n = x.len();
    let at = |i: isize| -> f64 {
        if n == 1 {
            return x[0];
        }
        let period = 2 * (n as isize - 1);
        let mut j = i.rem_euclid(period);
        if j >= n as isize {
            j = period - j;
        }
        x[j as usize]
    };
    (-(pad as isize)..(n + pad) as isize).map(at).collect()
}

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")`; also the
/// speaker encoder's 40-band front end.
pub(crate) fn slaney_filters(n_mels: usize, n_bins: usize) -> Vec<f64> {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |hz: f64| if hz >= min_log_hz { min_log_mel + (hz / min_log_hz).ln() / logstep } else { hz / f_sp };
    let mel_to_hz =
        |mel: f64| if mel >= min_log_mel { min_log_hz * (logstep * (mel - min_log_mel)).exp() } else { f_sp * mel };
    let max_mel = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64)).collect();
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * SAMPLE_RATE as f64 / N_FFT as f64).collect();
    let mut weights = vec![0f64; n_mels * n_bins];
    for m in 0..n_mels {
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[m]) / (mel_f[m + 1] - mel_f[m]);
            let upper = (mel_f[m + 2] - f) / (mel_f[m + 2] - mel_f[m + 1]);
            weights[m * n_bins + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_pad_matches_numpy() {
        assert_eq!(reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2), vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
    }

    #[test]
    fn frame_count_and_range() {
        let mel = LogMel::new(80);
        let tone: Vec<f32> =
            (0..16_000).map(|i| (i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 16_000.0).sin()).collect();
        let spec = mel.compute(&tone);
        assert_eq!(spec.frames, 16_000 / 160 + 1);
        let max = spec.data.iter().copied().fold(f32::MIN, f32::max);
        let min = spec.data.iter().copied().fold(f32::MAX, f32::min);
        assert!((min - (max - 2.0)).abs() < 1e-4 || min > max - 2.0, "floor at max - 8 in log10 units");
        // A 440 Hz tone puts its energy in a low band, not the top one.
        let band_energy = |b: usize| spec.data[b * spec.frames + 50];
        assert!(band_energy(10) > band_energy(79));
    }

    #[test]
    fn filters_are_slaney_normalised_triangles() {
        let f = slaney_filters(80, 201);
        // Every band has some weight and the bands tile the spectrum up to Nyquist.
        for m in 0..80 {
            assert!(f[m * 201..(m + 1) * 201].iter().any(|&w| w > 0.0), "band {m}");
        }
        assert!(f.iter().all(|&w| w >= 0.0));
    }
}
