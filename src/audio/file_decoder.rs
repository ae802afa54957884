use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    /// One live message decoded to more audio than any honest message carries (a decompression
    /// bomb: Opus packets of one or two bytes each decode to 20-120 ms).
    #[error("one message decodes to more than {0} s of audio")]
    TooMuchAudio(u32),
}

/// Interleaved samples at the file's own rate.
pub struct DecodedAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

/// Decodes WAV, FLAC, MP3, Ogg/Vorbis, and (with the `opus` feature) Ogg/Opus and WebM/Opus
/// files. The container is detected from the content; the extension only hints.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let file = File::open(path).map_err(|e| AudioError::Io(path.display().to_string(), e))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    decode_stream(stream, &hint, None).map_err(|e| match e {
        AudioError::Unsupported(why) => AudioError::Unsupported(format!("{}: {why}", path.display())),
        other => other,
    })
}

/// [`decode_file`] for an upload held in memory. Decoding stops with
/// [`AudioError::TooMuchAudio`] as soon as it passes `max_seconds` (a small compressed body
/// can decode to hours of audio).
pub fn decode_bytes(bytes: Vec<u8>, max_seconds: u32) -> Result<DecodedAudio, AudioError> {
    let stream = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    decode_stream(stream, &Hint::new(), Some(max_seconds))
}

fn decode_stream(stream: MediaSourceStream, hint: &Hint, max_seconds: Option<u32>) -> Result<DecodedAudio, AudioError> {
    let probed = symphonia::default::get_probe()
        .format(hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| AudioError::Unsupported(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Unsupported("no audio track".into()))?;
    let track_id = track.id;
    if track.codec_params.codec == symphonia::core::codecs::CODEC_TYPE_OPUS {
        let params = track.codec_params.clone();
        return decode_opus(format.as_mut(), track_id, &params, max_seconds);
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| AudioError::Unsupported(format!("codec: {e}")))?;
    let mut samples = Vec::new();
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(0);
    while let Some(packet) = next_packet(format.as_mut(), track_id)? {
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = *buf.spec();
                sample_rate = spec.rate;
                channels = spec.channels.count();
                let mut out = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
                out.copy_interleaved_ref(buf);
                samples.extend_from_slice(out.samples());
                check_length(samples.len(), sample_rate, channels, max_seconds)?;
            }
            // A damaged packet is skipped, as players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        }
    }
    if sample_rate == 0 || channels == 0 {
        return Err(AudioError::Corrupt("no decodable audio".into()));
    }
    Ok(DecodedAudio { samples, sample_rate, channels })
}

/// Refuses audio longer than `max_seconds` (interleaved `samples` so far).
fn check_length(samples: usize, rate: u32, channels: usize, max_seconds: Option<u32>) -> Result<(), AudioError> {
    match max_seconds {
        Some(max) if samples > max as usize * rate.max(1) as usize * channels.max(1) => {
            Err(AudioError::TooMuchAudio(max))
        }
        _ => Ok(()),
    }
}

/// The next packet of `track_id`, or `None` at the end of the stream.
fn next_packet(
    format: &mut dyn symphonia::core::formats::FormatReader,
    track_id: u32,
) -> Result<Option<symphonia::core::formats::Packet>, AudioError> {
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == track_id => return Ok(Some(p)),
            Ok(_) => continue,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(SymphoniaError::ResetRequired) => return Ok(None),
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        }
    }
}

/// Opus packets out of the Ogg or Matroska/WebM demuxer, decoded by libopus at 48 kHz; the
/// encoder's pre-skip (from the Ogg header, or OpusHead in WebM's codec private data) is dropped.
#[cfg(feature = "opus")]
fn decode_opus(
    format: &mut dyn symphonia::core::formats::FormatReader,
    track_id: u32,
    params: &symphonia::core::codecs::CodecParameters,
    max_seconds: Option<u32>,
) -> Result<DecodedAudio, AudioError> {
    let head = params.extra_data.as_deref().filter(|h| h.len() >= 12 && h.starts_with(b"OpusHead"));
    let channels = params.channels.map(|c| c.count()).or_else(|| head.map(|h| h[9] as usize)).unwrap_or(1);
    let layout = match channels {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        n => return Err(AudioError::Unsupported(format!("Opus with {n} channels"))),
    };
    let pre_skip = params
        .delay
        .map(|d| d as usize)
        .or_else(|| head.map(|h| u16::from_le_bytes([h[10], h[11]]) as usize))
        .unwrap_or(0);
    let mut decoder = opus::Decoder::new(48_000, layout).map_err(|e| AudioError::Unsupported(format!("Opus: {e}")))?;
    // 120 ms is the longest Opus frame.
    let mut frame = vec![0f32; 5_760 * channels];
    let mut samples = Vec::new();
    while let Some(packet) = next_packet(format, track_id)? {
        let n = decoder
            .decode_float(&packet.data, &mut frame, false)
            .map_err(|e| AudioError::Corrupt(format!("Opus packet: {e}")))?;
        samples.extend_from_slice(&frame[..n * channels]);
        check_length(samples.len(), 48_000, channels, max_seconds)?;
    }
    samples.drain(..(pre_skip * channels).min(samples.len()));
    Ok(DecodedAudio { samples, sample_rate: 48_000, channels })
}

#[cfg(not(feature = "opus"))]
fn decode_opus(
    _: &mut dyn symphonia::core::formats::FormatReader,
    _: u32,
    _: &symphonia::core::codecs::CodecParameters,
    _: Option<u32>,
) -> Result<DecodedAudio, AudioError> {
    Err(AudioError::Unsupported(
        "Opus audio: this build has no Opus decoder (build with `--features opus`, which needs libopus)".into(),
    ))
}
