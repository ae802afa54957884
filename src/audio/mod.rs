//! Audio in: whole files ([`decode_file`], or packet by packet with [`AudioReader`]), live streams ([`StreamDecoder`], with push-mode
//! [`OggDemuxer`] and [`WebmDemuxer`]), resampling to the 16 kHz mono the models take
//! ([`Resampler`]), and a live session's audio out to a recording (`OggOpusWriter`).

mod file_decoder;
mod ogg_demuxer;
#[cfg(feature = "opus")]
mod ogg_opus_writer;
mod resampler;
mod stream_decoder;
mod webm_demuxer;

pub use file_decoder::{AudioError, AudioReader, DecodedAudio, decode_bytes, decode_file, sniff_container};
pub use ogg_demuxer::OggDemuxer;
#[cfg(feature = "opus")]
pub use ogg_opus_writer::{OggOpusWriter, file_written_duration, written_duration};
pub use resampler::Resampler;
pub use stream_decoder::{Encoding, MAX_MESSAGE_SECONDS, MAX_WAV_HEADER, StreamDecoder};
pub use webm_demuxer::{WebmDemuxer, WebmTrack};

/// The rate every model in the server consumes.
pub const MODEL_RATE: u32 = 16_000;

/// Averages interleaved channels into mono.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect()
}

/// Decodes `path` and returns 16 kHz mono samples.
pub fn load_16k_mono(path: &std::path::Path) -> Result<Vec<f32>, AudioError> {
    let decoded = decode_file(path)?;
    let mono = downmix(&decoded.samples, decoded.channels);
    Ok(Resampler::new(decoded.sample_rate, MODEL_RATE)?.process_all(&mono))
}

#[cfg(test)]
mod tests {
    #[test]
    fn downmix_averages_frames() {
        assert_eq!(super::downmix(&[1.0, 3.0, -1.0, 1.0], 2), vec![2.0, 0.0]);
        assert_eq!(super::downmix(&[0.5, 0.25], 1), vec![0.5, 0.25]);
    }
}
