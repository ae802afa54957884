//! Live audio in: binary WebSocket frames of any supported encoding → 16 kHz mono `f32`.
//!
//! PCM (`linear16`, `linear32`, `float32`, little-endian, interleaved) at any rate and channel
//! count; raw Opus packets (one per frame); Ogg/Opus and WebM/Opus streams as MediaRecorder
//! writes them; WAV with its header. When no encoding is named the container is detected from
//! the first bytes. Samples split across frames are carried over, so clients may cut the byte
//! stream anywhere.
//!
//! Limits, so no message can cost more than its size suggests: one message decodes to at most
//! [`MAX_MESSAGE_SECONDS`] of audio (Opus packets of one or two bytes decode to 20-120 ms each, so
//! a 1 MiB Ogg page could otherwise become hours of samples), and a WAV header (chunks before
//! `data`) is at most [`MAX_WAV_HEADER`] bytes. How far a session may run ahead of real time is
//! the session's policy (`LiveConfig::max_audio_ahead`).

use super::ogg_demuxer::OggDemuxer;
use super::webm_demuxer::WebmDemuxer;
use super::{AudioError, MODEL_RATE, Resampler, downmix};

/// What a client says it sends (`encoding=` of the listen URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Linear16,
    Linear32,
    Float32,
    /// Raw Opus packets, one per binary message.
    Opus,
    OggOpus,
    WebmOpus,
    Wav,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pcm {
    I16,
    I32,
    F32,
}

impl Pcm {
    fn width(self) -> usize {
        match self {
            Pcm::I16 => 2,
            Pcm::I32 | Pcm::F32 => 4,
        }
    }
}

enum State {
    /// No encoding named: waiting for enough bytes to recognise a container.
    Sniffing(Vec<u8>),
    Pcm {
        format: Pcm,
        channels: usize,
        carry: Vec<u8>,
    },
    Wav(Vec<u8>),
    Ogg {
        demuxer: OggDemuxer,
        opus: Option<OpusStream>,
    },
    Webm {
        demuxer: WebmDemuxer,
        opus: Option<OpusStream>,
    },
    RawOpus(OpusStream),
}

/// Decodes one live stream. Every error is final for the stream; the caller closes it.
pub struct StreamDecoder {
    state: State,
    resampler: Option<Resampler>,
    /// Input samples per second, once known.
    rate: Option<u32>,
    decoded_samples: u64,
    /// 16 kHz samples returned so far.
    emitted: u64,
}

pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 192_000;
pub const MAX_CHANNELS: usize = 8;
/// Most audio one message may decode to.
pub const MAX_MESSAGE_SECONDS: u32 = 120;
/// Most bytes of a WAV header before its `data` chunk.
pub const MAX_WAV_HEADER: usize = 256 * 1024;
/// [`MAX_MESSAGE_SECONDS`] at the rate Opus decodes to.
const MAX_MESSAGE_SAMPLES: usize = MAX_MESSAGE_SECONDS as usize * MODEL_RATE as usize;

impl StreamDecoder {
    /// `sample_rate` and `channels` describe PCM and raw Opus; containers carry their own.
    pub fn new(encoding: Option<Encoding>, sample_rate: Option<u32>, channels: usize) -> Result<Self, AudioError> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(AudioError::Unsupported(format!("{channels} channels (1..={MAX_CHANNELS})")));
        }
        let needs_rate = matches!(encoding, Some(Encoding::Linear16 | Encoding::Linear32 | Encoding::Float32));
        let rate = match sample_rate {
            Some(r) if !(MIN_RATE..=MAX_RATE).contains(&r) => {
                return Err(AudioError::Unsupported(format!("sample rate {r} Hz ({MIN_RATE}..={MAX_RATE})")));
            }
            None if needs_rate => {
                return Err(AudioError::Unsupported("raw PCM needs sample_rate".into()));
            }
            r => r,
        };
        let pcm = |format| State::Pcm { format, channels, carry: Vec::new() };
        let (state, rate) = match encoding {
            None => (State::Sniffing(Vec::new()), None),
            Some(Encoding::Linear16) => (pcm(Pcm::I16), rate),
            Some(Encoding::Linear32) => (pcm(Pcm::I32), rate),
            Some(Encoding::Float32) => (pcm(Pcm::F32), rate),
            Some(Encoding::Wav) => (State::Wav(Vec::new()), None),
            Some(Encoding::OggOpus) => (State::Ogg { demuxer: OggDemuxer::default(), opus: None }, None),
            Some(Encoding::WebmOpus) => (State::Webm { demuxer: WebmDemuxer::default(), opus: None }, None),
            Some(Encoding::Opus) => {
                // libopus decodes straight to 16 kHz; `sample_rate` only describes the encoder.
                (State::RawOpus(OpusStream::new(channels, 0)?), Some(MODEL_RATE))
            }
        };
        let mut decoder = Self { state, resampler: None, rate: None, decoded_samples: 0, emitted: 0 };
        if let Some(rate) = rate {
            decoder.set_rate(rate)?;
        }
        Ok(decoder)
    }

    fn set_rate(&mut self, rate: u32) -> Result<(), AudioError> {
        self.rate = Some(rate);
        self.resampler = Some(Resampler::new(rate, MODEL_RATE)?);
        Ok(())
    }

    /// Seconds of input decoded so far (at the input rate).
    pub fn input_seconds(&self) -> f64 {
        self.rate.map_or(0.0, |r| self.decoded_samples as f64 / r as f64)
    }

    /// Decodes one binary message; returns the 16 kHz mono samples it completes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<f32>, AudioError> {
        let (mono, rate) = self.decode(bytes)?;
        if let (Some(rate), None) = (rate, self.rate) {
            self.set_rate(rate)?;
        }
        self.decoded_samples += mono.len() as u64;
        let out = match self.resampler.as_mut() {
            Some(r) => r.push(&mono),
            None => Vec::new(),
        };
        self.emitted += out.len() as u64;
        Ok(out)
    }

    /// The resampler's tail at the end of the stream, without the padding that flushed it.
    pub fn finish(&mut self) -> Vec<f32> {
        let (Some(r), Some(rate)) = (self.resampler.as_mut(), self.rate) else { return Vec::new() };
        let mut tail = r.finish();
        let expected = (self.decoded_samples * MODEL_RATE as u64).div_ceil(rate as u64);
        tail.truncate(expected.saturating_sub(self.emitted) as usize);
        self.emitted += tail.len() as u64;
        tail
    }

    /// Mono samples at the input rate, and the rate when this message revealed it.
    fn decode(&mut self, bytes: &[u8]) -> Result<(Vec<f32>, Option<u32>), AudioError> {
        match &mut self.state {
            State::Sniffing(head) => {
                head.extend_from_slice(bytes);
                if head.len() < 4 {
                    return Ok((Vec::new(), None));
                }
                let head = std::mem::take(head);
                self.state = match &head[..4] {
                    b"OggS" => State::Ogg { demuxer: OggDemuxer::default(), opus: None },
                    [0x1A, 0x45, 0xDF, 0xA3] => State::Webm { demuxer: WebmDemuxer::default(), opus: None },
                    b"RIFF" => State::Wav(Vec::new()),
                    _ => {
                        return Err(AudioError::Unsupported(
                            "unrecognised container: name the encoding (linear16, linear32, float32, opus) \
                             and sample_rate for raw audio"
                                .into(),
                        ));
                    }
                };
                self.decode(&head)
            }
            State::Pcm { format, channels, carry } => {
                let frame = format.width() * *channels;
                carry.extend_from_slice(bytes);
                let whole = carry.len() / frame * frame;
                let samples: Vec<f32> = match format {
                    Pcm::I16 => carry[..whole]
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                        .collect(),
                    Pcm::I32 => carry[..whole]
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0)
                        .collect(),
                    Pcm::F32 => carry[..whole]
                        .chunks_exact(4)
                        .map(|b| {
                            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                            if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 }
                        })
                        .collect(),
                };
                carry.drain(..whole);
                Ok((downmix(&samples, *channels), None))
            }
            State::Wav(header) => {
                header.extend_from_slice(bytes);
                let Some(parsed) = parse_wav_header(header)? else {
                    if header.len() > MAX_WAV_HEADER {
                        return Err(AudioError::Corrupt(format!(
                            "WAV: no data chunk in the first {MAX_WAV_HEADER} bytes"
                        )));
                    }
                    return Ok((Vec::new(), None));
                };
                let rest = header[parsed.data_offset..].to_vec();
                if !(MIN_RATE..=MAX_RATE).contains(&parsed.rate) || !(1..=MAX_CHANNELS).contains(&parsed.channels) {
                    return Err(AudioError::Unsupported(format!(
                        "WAV with {} channels at {} Hz",
                        parsed.channels, parsed.rate
                    )));
                }
                self.state = State::Pcm { format: parsed.format, channels: parsed.channels, carry: Vec::new() };
                let (mono, _) = self.decode(&rest)?;
                Ok((mono, Some(parsed.rate)))
            }
            State::Ogg { demuxer, opus } => {
                let mut out = Vec::new();
                let mut rate = None;
                for packet in demuxer.push(bytes)? {
                    match opus {
                        None => {
                            *opus = Some(OpusStream::from_head(&packet)?);
                            rate = Some(MODEL_RATE);
                        }
                        // OpusTags and any further header packets carry no audio.
                        Some(_) if packet.starts_with(b"OpusTags") => {}
                        Some(stream) => out.extend(stream.decode(&packet)?),
                    }
                    if out.len() > MAX_MESSAGE_SAMPLES {
                        return Err(AudioError::TooMuchAudio(MAX_MESSAGE_SECONDS));
                    }
                }
                Ok((out, rate))
            }
            State::Webm { demuxer, opus } => {
                let frames = demuxer.push(bytes)?;
                let mut rate = None;
                if let (None, Some(track)) = (opus.as_ref(), demuxer.track.as_ref()) {
                    if track.codec_id != "A_OPUS" {
                        return Err(AudioError::Unsupported(format!("WebM codec {}", track.codec_id)));
                    }
                    *opus = Some(OpusStream::from_head(&track.codec_private)?);
                    rate = Some(MODEL_RATE);
                }
                let mut out = Vec::new();
                if let Some(stream) = opus.as_mut() {
                    for frame in frames {
                        out.extend(stream.decode(&frame)?);
                        if out.len() > MAX_MESSAGE_SAMPLES {
                            return Err(AudioError::TooMuchAudio(MAX_MESSAGE_SECONDS));
                        }
                    }
                }
                Ok((out, rate))
            }
            State::RawOpus(stream) => Ok((stream.decode(bytes)?, None)),
        }
    }
}

struct WavHeader {
    format: Pcm,
    channels: usize,
    rate: u32,
    data_offset: usize,
}

/// `None` until the whole header up to the `data` chunk has arrived.
fn parse_wav_header(b: &[u8]) -> Result<Option<WavHeader>, AudioError> {
    if b.len() < 12 {
        return Ok(None);
    }
    if &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(AudioError::Corrupt("WAV: missing RIFF/WAVE header".into()));
    }
    let mut at = 12;
    let mut fmt = None;
    loop {
        if b.len() < at + 8 {
            return Ok(None);
        }
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        if id == b"data" {
            let (format, channels, rate) =
                fmt.ok_or_else(|| AudioError::Corrupt("WAV: data chunk before fmt chunk".into()))?;
            return Ok(Some(WavHeader { format, channels, rate, data_offset: at + 8 }));
        }
        if size > 1 << 16 {
            return Err(AudioError::Corrupt(format!("WAV: {size}-byte header chunk")));
        }
        if b.len() < at + 8 + size {
            return Ok(None);
        }
        if id == b"fmt " {
            let c = &b[at + 8..at + 8 + size];
            if c.len() < 16 {
                return Err(AudioError::Corrupt("WAV: short fmt chunk".into()));
            }
            let tag = u16::from_le_bytes([c[0], c[1]]);
            let channels = u16::from_le_bytes([c[2], c[3]]) as usize;
            let rate = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            let bits = u16::from_le_bytes([c[14], c[15]]);
            // 0xFFFE (extensible) carries the real format in its sub-format GUID's first bytes.
            let tag = if tag == 0xFFFE && c.len() >= 26 { u16::from_le_bytes([c[24], c[25]]) } else { tag };
            let format = match (tag, bits) {
                (1, 16) => Pcm::I16,
                (1, 32) => Pcm::I32,
                (3, 32) => Pcm::F32,
                _ => return Err(AudioError::Unsupported(format!("WAV format {tag} with {bits} bits"))),
            };
            fmt = Some((format, channels, rate));
        }
        at += 8 + size + size % 2;
    }
}

/// One Opus stream decoded by libopus straight to 16 kHz, downmixed.
#[cfg(feature = "opus")]
struct OpusStream {
    /// libopus state is `Send` but not `Sync`; it is only ever used through `&mut self`.
    decoder: sync_wrapper::SyncWrapper<opus::Decoder>,
    channels: usize,
    /// Encoder delay still to drop, in 16 kHz samples.
    skip: usize,
    buffer: Vec<f32>,
}

/// Without the `opus` feature no Opus stream can exist.
#[cfg(not(feature = "opus"))]
struct OpusStream(std::convert::Infallible);

impl OpusStream {
    /// From an `OpusHead` (Ogg's first packet, WebM's CodecPrivate).
    fn from_head(head: &[u8]) -> Result<Self, AudioError> {
        if head.len() < 19 || !head.starts_with(b"OpusHead") {
            return Err(AudioError::Unsupported("the stream is not Opus (no OpusHead header)".into()));
        }
        let channels = head[9] as usize;
        let pre_skip_48k = u16::from_le_bytes([head[10], head[11]]) as usize;
        Self::new(channels, pre_skip_48k / 3)
    }

    #[cfg(feature = "opus")]
    fn new(channels: usize, skip: usize) -> Result<Self, AudioError> {
        let layout = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(AudioError::Unsupported(format!("Opus with {n} channels (1 or 2)"))),
        };
        let decoder =
            opus::Decoder::new(MODEL_RATE, layout).map_err(|e| AudioError::Unsupported(format!("Opus: {e}")))?;
        // 120 ms, the longest Opus frame, at 16 kHz.
        let buffer = vec![0.0; 1_920 * channels];
        Ok(Self { decoder: sync_wrapper::SyncWrapper::new(decoder), channels, skip, buffer })
    }

    #[cfg(not(feature = "opus"))]
    fn new(_: usize, _: usize) -> Result<Self, AudioError> {
        Err(AudioError::Unsupported("Opus: this build has no Opus decoder (the `opus` feature is off)".into()))
    }

    #[cfg(feature = "opus")]
    fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, AudioError> {
        let n = self
            .decoder
            .get_mut()
            .decode_float(packet, &mut self.buffer, false)
            .map_err(|e| AudioError::Corrupt(format!("Opus packet: {e}")))?;
        let mut mono = downmix(&self.buffer[..n * self.channels], self.channels);
        let skip = self.skip.min(mono.len());
        self.skip -= skip;
        mono.drain(..skip);
        Ok(mono)
    }

    #[cfg(not(feature = "opus"))]
    fn decode(&mut self, _: &[u8]) -> Result<Vec<f32>, AudioError> {
        match self.0 {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_i16(rate: u32, secs: f32, channels: usize) -> Vec<u8> {
        let n = (rate as f32 * secs) as usize;
        let mut out = Vec::new();
        for i in 0..n {
            let v = ((i as f32 / rate as f32 * 440.0 * std::f32::consts::TAU).sin() * 16000.0) as i16;
            for _ in 0..channels {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn a_wav_header_without_data_is_bounded() {
        let mut decoder = StreamDecoder::new(Some(Encoding::Wav), None, 1).unwrap();
        let mut head = b"RIFF\0\0\0\0WAVE".to_vec();
        head.extend_from_slice(b"fmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0");
        assert!(decoder.push(&head).unwrap().is_empty());
        let mut junk = b"JUNK".to_vec();
        junk.extend_from_slice(&60_000u32.to_le_bytes());
        junk.resize(60_008, 0);
        let mut sent = head.len();
        let error = loop {
            match decoder.push(&junk) {
                Ok(samples) => assert!(samples.is_empty()),
                Err(e) => break e,
            }
            sent += junk.len();
            assert!(sent <= MAX_WAV_HEADER + junk.len(), "header kept growing: {sent} bytes");
        };
        assert!(matches!(error, AudioError::Corrupt(ref m) if m.contains("no data chunk")), "{error}");
    }

    #[test]
    fn pcm_at_any_rate_and_split_anywhere_becomes_16k_mono() {
        for (rate, channels) in [(16_000, 1), (44_100, 2), (8_000, 1), (48_000, 6)] {
            let bytes = tone_i16(rate, 1.0, channels);
            let mut decoder = StreamDecoder::new(Some(Encoding::Linear16), Some(rate), channels).unwrap();
            let mut out = Vec::new();
            for piece in bytes.chunks(333) {
                out.extend(decoder.push(piece).unwrap());
            }
            out.extend(decoder.finish());
            assert!((out.len() as i64 - 16_000).abs() < 40, "{rate} Hz × {channels}: {} samples", out.len());
            let peak = out.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((peak - 16000.0 / 32768.0).abs() < 0.05, "{rate} Hz: peak {peak}");
        }
    }

    #[test]
    fn wav_is_recognised_without_an_encoding() {
        let data = tone_i16(22_050, 0.5, 2);
        let mut wav = b"RIFF".to_vec();
        wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        for v in [1u16, 2] {
            wav.extend_from_slice(&v.to_le_bytes());
        }
        wav.extend_from_slice(&22_050u32.to_le_bytes());
        wav.extend_from_slice(&(22_050u32 * 4).to_le_bytes());
        wav.extend_from_slice(&4u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let mut decoder = StreamDecoder::new(None, None, 1).unwrap();
        let mut out = Vec::new();
        for piece in wav.chunks(7) {
            out.extend(decoder.push(piece).unwrap());
        }
        out.extend(decoder.finish());
        assert!((out.len() as i64 - 8_000).abs() < 40, "{} samples", out.len());
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(StreamDecoder::new(Some(Encoding::Linear16), None, 1).is_err());
        assert!(StreamDecoder::new(Some(Encoding::Linear16), Some(1_000_000), 1).is_err());
        assert!(StreamDecoder::new(Some(Encoding::Linear16), Some(16_000), 0).is_err());
        let mut sniff = StreamDecoder::new(None, None, 1).unwrap();
        assert!(matches!(sniff.push(b"\x00\x01\x02\x03\x04"), Err(AudioError::Unsupported(_))));
        #[cfg(feature = "opus")]
        {
            let mut opus = StreamDecoder::new(Some(Encoding::Opus), Some(48_000), 1).unwrap();
            assert!(matches!(opus.push(&[0xFF; 3]), Err(AudioError::Corrupt(_))));
        }
    }
}
