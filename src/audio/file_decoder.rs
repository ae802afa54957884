use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
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
    AudioReader::open(path)?.read_all(None)
}

/// [`decode_file`] for an upload held in memory. Decoding stops with
/// [`AudioError::TooMuchAudio`] as soon as it passes `max_seconds` (a small compressed body
/// can decode to hours of audio).
pub fn decode_bytes(bytes: Vec<u8>, max_seconds: u32) -> Result<DecodedAudio, AudioError> {
    let stream = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    AudioReader::new(stream, &Hint::new())?.read_all(Some(max_seconds))
}

/// A file decoded packet by packet, so a recording of any length is read in bounded memory.
pub struct AudioReader {
    format: Box<dyn FormatReader>,
    track_id: u32,
    codec: Codec,
    /// Samples per second per channel, once known (always, after the first packet).
    pub sample_rate: u32,
    pub channels: usize,
    /// Frames (samples per channel) the header announces, when it does.
    pub frames: Option<u64>,
}

enum Codec {
    Symphonia(Box<dyn symphonia::core::codecs::Decoder>),
    #[cfg(feature = "opus")]
    Opus {
        decoder: opus::Decoder,
        frame: Vec<f32>,
        /// Encoder pre-skip still to drop, in frames.
        skip: usize,
    },
}

impl AudioReader {
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let file = File::open(path).map_err(|e| AudioError::Io(path.display().to_string(), e))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        Self::new(stream, &hint).map_err(|e| match e {
            AudioError::Unsupported(why) => AudioError::Unsupported(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    fn new(stream: MediaSourceStream, hint: &Hint) -> Result<Self, AudioError> {
        let probed = symphonia::default::get_probe()
            .format(hint, stream, &FormatOptions::default(), &MetadataOptions::default())
            .map_err(|e| AudioError::Unsupported(e.to_string()))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Unsupported("no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let frames = params.n_frames;
        if params.codec == symphonia::core::codecs::CODEC_TYPE_OPUS {
            let (codec, channels) = opus_codec(&params)?;
            return Ok(Self { format, track_id, codec, sample_rate: 48_000, channels, frames });
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| AudioError::Unsupported(format!("codec: {e}")))?;
        Ok(Self {
            format,
            track_id,
            codec: Codec::Symphonia(decoder),
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.map(|c| c.count()).unwrap_or(0),
            frames,
        })
    }

    /// The length the header announces, in milliseconds, when it does.
    pub fn duration_ms(&self) -> Option<i64> {
        self.frames.filter(|_| self.sample_rate > 0).map(|f| (f * 1000 / self.sample_rate as u64) as i64)
    }

    /// The next decoded samples (interleaved, at [`AudioReader::sample_rate`]), `None` at the end.
    pub fn next_samples(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        loop {
            let Some(packet) = next_packet(self.format.as_mut(), self.track_id)? else { return Ok(None) };
            match &mut self.codec {
                Codec::Symphonia(decoder) => match decoder.decode(&packet) {
                    Ok(buf) => {
                        let spec = *buf.spec();
                        self.sample_rate = spec.rate;
                        self.channels = spec.channels.count();
                        let mut out = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
                        out.copy_interleaved_ref(buf);
                        return Ok(Some(out.samples().to_vec()));
                    }
                    // A damaged packet is skipped, as players do.
                    Err(SymphoniaError::DecodeError(_)) => continue,
                    Err(e) => return Err(AudioError::Corrupt(e.to_string())),
                },
                #[cfg(feature = "opus")]
                Codec::Opus { decoder, frame, skip } => {
                    let n = decoder
                        .decode_float(&packet.data, frame, false)
                        .map_err(|e| AudioError::Corrupt(format!("Opus packet: {e}")))?;
                    let dropped = (*skip).min(n);
                    *skip -= dropped;
                    return Ok(Some(frame[dropped * self.channels..n * self.channels].to_vec()));
                }
            }
        }
    }

    /// Everything left, at most `max_seconds` of it (else [`AudioError::TooMuchAudio`]).
    fn read_all(mut self, max_seconds: Option<u32>) -> Result<DecodedAudio, AudioError> {
        let mut samples = Vec::new();
        while let Some(more) = self.next_samples()? {
            samples.extend_from_slice(&more);
            check_length(samples.len(), self.sample_rate, self.channels, max_seconds)?;
        }
        if self.sample_rate == 0 || self.channels == 0 {
            return Err(AudioError::Corrupt("no decodable audio".into()));
        }
        Ok(DecodedAudio { samples, sample_rate: self.sample_rate, channels: self.channels })
    }
}

/// The container of a file from its first bytes (16 are enough): `wav`, `flac`, `ogg`, `webm`,
/// `mp4`, `aiff`, `mp3`; `None` for anything else. What decodes is decided by decoding; this
/// names the file and turns away what is no audio container at all before it is stored.
pub fn sniff_container(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if (at(0, b"RIFF") && at(8, b"WAVE")) || at(0, b"RF64") {
        Some("wav")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("webm")
    } else if at(4, b"ftyp") {
        Some("mp4")
    } else if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        Some("aiff")
    } else if at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0) {
        // An ID3 tag, or an MPEG audio frame sync with a layer set.
        Some("mp3")
    } else {
        None
    }
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

/// A libopus decoder at 48 kHz for the Ogg or Matroska/WebM track; the encoder's pre-skip (from
/// the Ogg header, or OpusHead in WebM's codec private data) is dropped from the output.
#[cfg(feature = "opus")]
fn opus_codec(params: &symphonia::core::codecs::CodecParameters) -> Result<(Codec, usize), AudioError> {
    let head = params.extra_data.as_deref().filter(|h| h.len() >= 12 && h.starts_with(b"OpusHead"));
    let channels = params.channels.map(|c| c.count()).or_else(|| head.map(|h| h[9] as usize)).unwrap_or(1);
    let layout = match channels {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        n => return Err(AudioError::Unsupported(format!("Opus with {n} channels"))),
    };
    let skip = params
        .delay
        .map(|d| d as usize)
        .or_else(|| head.map(|h| u16::from_le_bytes([h[10], h[11]]) as usize))
        .unwrap_or(0);
    let decoder = opus::Decoder::new(48_000, layout).map_err(|e| AudioError::Unsupported(format!("Opus: {e}")))?;
    // 120 ms is the longest Opus frame.
    Ok((Codec::Opus { decoder, frame: vec![0f32; 5_760 * channels], skip }, channels))
}

#[cfg(not(feature = "opus"))]
fn opus_codec(_: &symphonia::core::codecs::CodecParameters) -> Result<(Codec, usize), AudioError> {
    Err(AudioError::Unsupported(
        "Opus audio: this build has no Opus decoder (build with `--features opus`, which needs libopus)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit PCM WAV file of `samples` at `rate`.
    fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
        let data = samples.len() as u32 * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        samples.iter().for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
        out
    }

    #[test]
    fn containers_are_sniffed_from_their_first_bytes() {
        assert_eq!(sniff_container(&wav(&[0; 4], 16_000)), Some("wav"));
        assert_eq!(sniff_container(b"fLaC\0\0\0\x22"), Some("flac"));
        assert_eq!(sniff_container(b"OggS\0\x02"), Some("ogg"));
        assert_eq!(sniff_container(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]), Some("webm"));
        assert_eq!(sniff_container(b"\0\0\0\x20ftypM4A "), Some("mp4"));
        assert_eq!(sniff_container(b"ID3\x04\0"), Some("mp3"));
        assert_eq!(sniff_container(&[0xFF, 0xFB, 0x90, 0x64]), Some("mp3"));
        assert_eq!(sniff_container(b"%PDF-1.7"), None);
        assert_eq!(sniff_container(b"RIFF\0\0\0\0AVI "), None);
        assert_eq!(sniff_container(&[]), None);
    }

    #[test]
    fn reading_packet_by_packet_gives_the_whole_decode() {
        let samples: Vec<i16> = (0..40_000).map(|i| ((i % 200) as i16 - 100) * 50).collect();
        let bytes = wav(&samples, 16_000);
        let whole = decode_bytes(bytes.clone(), 60).unwrap();
        let stream = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
        let mut reader = AudioReader::new(stream, &Hint::new()).unwrap();
        assert_eq!((reader.sample_rate, reader.channels, reader.frames), (16_000, 1, Some(40_000)));
        let mut pieces = 0;
        let mut streamed = Vec::new();
        while let Some(more) = reader.next_samples().unwrap() {
            pieces += 1;
            streamed.extend(more);
        }
        assert!(pieces > 1, "read in one piece");
        assert_eq!(streamed, whole.samples);
        assert_eq!(streamed.len(), 40_000);
        assert!((streamed[1] - (-99.0 * 50.0 / 32768.0)).abs() < 1e-6);
    }

    /// Lossy encodings of a Korean fixture (`tests/fixtures/codecs/`, made by ffmpeg 5.1 at
    /// 32 kbit/s from `tests/fixtures/korean/picovoice_test_ko.flac`) decode to the speech they
    /// encode: the same length to within the encoders' padding, and the same waveform once
    /// their delay is taken out.
    #[test]
    fn aac_in_mp4_and_mp3_decode_to_the_speech_they_encode() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let original = decode_file(&dir.join("korean/picovoice_test_ko.flac")).unwrap().samples;
        for (file, container) in [("picovoice_test_ko.m4a", "mp4"), ("picovoice_test_ko.mp3", "mp3")] {
            let bytes = std::fs::read(dir.join("codecs").join(file)).unwrap();
            assert_eq!(sniff_container(&bytes[..16]), Some(container), "{file}");
            let decoded = decode_bytes(bytes, 60).unwrap();
            assert_eq!((decoded.sample_rate, decoded.channels), (16_000, 1), "{file}");
            let extra = decoded.samples.len() as i64 - original.len() as i64;
            assert!((-800..=3200).contains(&extra), "{file}: {extra} samples longer than the original");
            // One second of the middle, against the decode at every delay up to 0.2 s.
            let window = &original[16_000..32_000];
            let best = (0..3200)
                .map(|delay| correlation(window, &decoded.samples[16_000 + delay..32_000 + delay]))
                .fold(f64::MIN, f64::max);
            assert!(best > 0.9, "{file}: correlation {best:.3}");
        }
    }

    fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn a_body_decoding_past_its_limit_is_refused() {
        let bytes = wav(&vec![0; 16_000 * 3], 16_000);
        assert!(matches!(decode_bytes(bytes, 2), Err(AudioError::TooMuchAudio(2))));
    }
}
