use rubato::{FftFixedIn, Resampler as _};

use super::AudioError;

/// Any rate → any rate, mono, with rubato's FFT resampler. Feed it with [`Resampler::push`] as
/// audio arrives, or give it a whole signal with [`Resampler::process_all`]; the filter delay is
/// removed so output sample `i` lines up with input time `i / to`.
pub struct Resampler {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    delay_left: usize,
    ratio: f64,
}

const CHUNK: usize = 1024;

impl Resampler {
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        if from == 0 || to == 0 {
            return Err(AudioError::Unsupported(format!("sample rate {from} Hz")));
        }
        if from == to {
            return Ok(Self { inner: None, pending: Vec::new(), delay_left: 0, ratio: 1.0 });
        }
        let inner = FftFixedIn::new(from as usize, to as usize, CHUNK, 2, 1)
            .map_err(|e| AudioError::Unsupported(format!("resampling {from} → {to} Hz: {e}")))?;
        let delay_left = inner.output_delay();
        Ok(Self { inner: Some(inner), pending: Vec::new(), delay_left, ratio: to as f64 / from as f64 })
    }

    /// Adds samples; returns whatever output is ready.
    pub fn push(&mut self, samples: &[f32]) -> Vec<f32> {
        let Some(inner) = self.inner.as_mut() else { return samples.to_vec() };
        self.pending.extend_from_slice(samples);
        let mut out = Vec::new();
        let mut used = 0;
        while self.pending.len() - used >= inner.input_frames_next() {
            let n = inner.input_frames_next();
            let chunk = &self.pending[used..used + n];
            let produced = inner.process(&[chunk], None).expect("chunk sized by input_frames_next");
            out.extend_from_slice(&produced[0]);
            used += n;
        }
        self.pending.drain(..used);
        self.trim_delay(out)
    }

    /// Flushes the tail (zero-padded) at the end of the stream.
    pub fn finish(&mut self) -> Vec<f32> {
        let Some(inner) = self.inner.as_mut() else { return Vec::new() };
        let pending = std::mem::take(&mut self.pending);
        // rubato refuses an empty partial chunk (a stream that ended on a chunk boundary, or
        // before any audio); then only the flush below is needed.
        let mut out = if pending.is_empty() {
            Vec::new()
        } else {
            inner.process_partial(Some(&[pending.as_slice()]), None).expect("partial chunk")[0].clone()
        };
        // Push zeros through to drain the filter delay.
        out.extend_from_slice(&inner.process_partial::<&[f32]>(None, None).expect("flush")[0]);
        self.trim_delay(out)
    }

    fn trim_delay(&mut self, mut out: Vec<f32>) -> Vec<f32> {
        let skip = self.delay_left.min(out.len());
        self.delay_left -= skip;
        out.drain(..skip);
        out
    }

    /// Resamples a whole signal; the output has `round(len × to / from)` samples.
    pub fn process_all(mut self, samples: &[f32]) -> Vec<f32> {
        if self.inner.is_none() {
            return samples.to_vec();
        }
        let expected = (samples.len() as f64 * self.ratio).round() as usize;
        let mut out = self.push(samples);
        out.extend(self.finish());
        out.resize(expected, 0.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    /// Output sample `i` matches the tone at time `i / 16 kHz` up to a fraction of a sample:
    /// the filter's delay is removed (FFT resampling leaves at most half a sample of it).
    /// A stream that ends before any audio, or exactly on a chunk boundary (a browser sending
    /// 48 kHz in 50 ms pieces), has nothing pending at the end.
    #[test]
    fn finishes_with_nothing_pending() {
        Resampler::new(48_000, 16_000).unwrap().finish();
        let mut r = Resampler::new(48_000, 16_000).unwrap();
        let mut out = r.push(&tone(48_000, 440.0, 1024.0 * 30.0 / 48_000.0));
        out.extend(r.finish());
        assert!(out.len() >= 10_240, "the whole signal comes out: {}", out.len());
    }

    #[test]
    fn keeps_length_and_phase() {
        for from in [8_000, 22_050, 44_100, 48_000] {
            let out = Resampler::new(from, 16_000).unwrap().process_all(&tone(from, 440.0, 1.0));
            assert_eq!(out.len(), 16_000, "{from}");
            let residual = |shift: f32| {
                (1000..15000)
                    .map(|i| {
                        let t = (i as f32 + shift) * 440.0 * std::f32::consts::TAU / 16_000.0;
                        (out[i] - t.sin()).abs()
                    })
                    .fold(0.0, f32::max)
            };
            let best = (-5..=5).map(|s| residual(s as f32 / 10.0)).fold(f32::MAX, f32::min);
            assert!(best < 0.01, "{from}: residual {best} within half a sample");
        }
    }

    #[test]
    fn streaming_equals_whole() {
        let input = tone(48_000, 300.0, 0.5);
        let whole = Resampler::new(48_000, 16_000).unwrap().process_all(&input);
        let mut r = Resampler::new(48_000, 16_000).unwrap();
        let mut streamed = Vec::new();
        for chunk in input.chunks(777) {
            streamed.extend(r.push(chunk));
        }
        streamed.extend(r.finish());
        streamed.truncate(whole.len());
        assert_eq!(streamed.len(), whole.len());
        assert!(streamed.iter().zip(&whole).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
