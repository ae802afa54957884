//! [`OggOpusWriter`]: 16 kHz mono audio to an Ogg Opus stream (RFC 7845) as it comes, one page a
//! second, so a process that dies leaves a playable file of all but its last second.
//!
//! 20 ms frames at [`BITRATE`] (speech, libopus' VoIP mode): an hour is about 11 MB. The last
//! page's granule position marks the last sample written, so decoders that honour it drop the
//! final frame's padding.

use std::io::{self, Write};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::MODEL_RATE;

/// Bits per second of the Opus stream.
pub const BITRATE: i32 = 24_000;
/// One Opus frame: 20 ms at 16 kHz.
const FRAME: usize = 320;
/// Frames a page holds before it is written out: one second.
const FRAMES_PER_PAGE: u64 = 50;
/// Ogg Opus counts granules at 48 kHz whatever the input rate.
const GRANULES_PER_SAMPLE: u64 = 48_000 / MODEL_RATE as u64;

pub struct OggOpusWriter<W: Write> {
    /// libopus state is `Send` but not `Sync`; it is only ever used through `&mut self`.
    encoder: sync_wrapper::SyncWrapper<opus::Encoder>,
    pages: PacketWriter<'static, W>,
    serial: u32,
    /// Encoder delay at 48 kHz, which the decoder drops (`OpusHead` pre-skip).
    pre_skip: u64,
    /// Samples not yet a whole frame.
    pending: Vec<f32>,
    /// The newest packet, held back so the stream's end can be marked on it.
    held: Option<Vec<u8>>,
    /// Packets written or held.
    packets: u64,
    /// Samples taken.
    samples: u64,
}

fn opus_error(e: opus::Error) -> io::Error {
    io::Error::other(format!("Opus encoder: {e}"))
}

impl<W: Write> OggOpusWriter<W> {
    /// Writes the two header pages (`OpusHead`, `OpusTags`) to `out`.
    pub fn new(out: W, serial: u32) -> io::Result<Self> {
        let mut encoder =
            opus::Encoder::new(MODEL_RATE, opus::Channels::Mono, opus::Application::Voip).map_err(opus_error)?;
        encoder.set_bitrate(opus::Bitrate::Bits(BITRATE)).map_err(opus_error)?;
        let pre_skip = encoder.get_lookahead().map_err(opus_error)?.max(0) as u64 * GRANULES_PER_SAMPLE;
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
        head.extend_from_slice(&MODEL_RATE.to_le_bytes()); // the input's rate, for information
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family: mono or stereo
        let vendor = concat!("ddalkkak ", env!("CARGO_PKG_VERSION"));
        let mut tags = Vec::with_capacity(16 + vendor.len());
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments
        let mut pages = PacketWriter::new(out);
        pages.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        pages.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        let encoder = sync_wrapper::SyncWrapper::new(encoder);
        Ok(Self { encoder, pages, serial, pre_skip, pending: Vec::new(), held: None, packets: 0, samples: 0 })
    }

    /// The writer the pages go to.
    pub fn get_ref(&self) -> &W {
        self.pages.inner()
    }

    /// Samples taken so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Encodes `audio` (16 kHz mono); whole seconds reach the writer as pages.
    pub fn push(&mut self, audio: &[f32]) -> io::Result<()> {
        self.samples += audio.len() as u64;
        self.pending.extend_from_slice(audio);
        let whole = self.pending.len() / FRAME * FRAME;
        let frames: Vec<f32> = self.pending.drain(..whole).collect();
        for frame in frames.chunks_exact(FRAME) {
            self.encode(frame)?;
        }
        Ok(())
    }

    fn encode(&mut self, frame: &[f32]) -> io::Result<()> {
        // The largest packet libopus makes for one frame is far below this.
        let mut packet = vec![0u8; 1_500];
        let n = self.encoder.get_mut().encode_float(frame, &mut packet).map_err(opus_error)?;
        packet.truncate(n);
        if let Some(previous) = self.held.replace(packet) {
            let end_page = self.packets.is_multiple_of(FRAMES_PER_PAGE);
            let info = if end_page { PacketWriteEndInfo::EndPage } else { PacketWriteEndInfo::NormalPacket };
            let granule = self.pre_skip + self.packets * FRAME as u64 * GRANULES_PER_SAMPLE;
            self.pages.write_packet(previous, self.serial, info, granule)?;
        }
        self.packets += 1;
        Ok(())
    }

    /// Encodes what is left, followed by silence that pushes the encoder's delay out and fills
    /// the last frame, ends the stream at the last sample taken and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let mut tail = std::mem::take(&mut self.pending);
        let delay = (self.pre_skip / GRANULES_PER_SAMPLE) as usize;
        tail.resize((tail.len() + delay).div_ceil(FRAME).max(1) * FRAME, 0.0);
        for frame in tail.chunks_exact(FRAME) {
            self.encode(frame)?;
        }
        let last = self.held.take().expect("a packet was just encoded");
        let granule = self.pre_skip + self.samples * GRANULES_PER_SAMPLE;
        self.pages.write_packet(last, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        let mut out = self.pages.into_inner();
        out.flush()?;
        Ok(out)
    }
}

/// How much audio an Ogg Opus stream holds by its pages (a writer's file cut off by a crash
/// included): the last whole page's granule position less the `OpusHead` pre-skip. `None` for
/// bytes that are no Ogg Opus stream.
pub fn written_duration(file: &[u8]) -> Option<std::time::Duration> {
    // The first page holds OpusHead alone: 27 header bytes, its segment table, then the packet.
    let segments = *file.get(26)? as usize;
    let head = file.get(27 + segments..)?;
    if !file.starts_with(b"OggS") || !head.starts_with(b"OpusHead") {
        return None;
    }
    let pre_skip = u16::from_le_bytes([*head.get(10)?, *head.get(11)?]) as u64;
    let mut last = 0u64;
    let mut at = 0;
    while let Some(header) = file.get(at..at + 27).filter(|h| h.starts_with(b"OggS")) {
        let table = file.get(at + 27..at + 27 + header[26] as usize)?;
        let end = at + 27 + table.len() + table.iter().map(|&s| s as usize).sum::<usize>();
        if end > file.len() {
            break; // the page being written when the writer stopped
        }
        last = u64::from_le_bytes(header[6..14].try_into().ok()?);
        at = end;
    }
    Some(std::time::Duration::from_secs_f64(last.saturating_sub(pre_skip) as f64 / 48_000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced sound: a 180 Hz tone with harmonics, rising and falling.
    fn speechlike(samples: usize) -> Vec<f32> {
        (0..samples)
            .map(|i| {
                let t = i as f32 / MODEL_RATE as f32;
                let envelope = 0.3 * (0.5 - 0.5 * (std::f32::consts::TAU * t).cos());
                envelope * (1..=4).map(|h| (std::f32::consts::TAU * 180.0 * h as f32 * t).sin() / h as f32).sum::<f32>()
            })
            .collect()
    }

    #[test]
    fn what_is_written_decodes_to_the_same_samples() {
        let audio = speechlike(3 * MODEL_RATE as usize + 123);
        let mut writer = OggOpusWriter::new(Vec::new(), 7).unwrap();
        // In uneven pieces, as frames of a socket come.
        for piece in audio.chunks(1_234) {
            writer.push(piece).unwrap();
        }
        assert_eq!(writer.samples(), audio.len() as u64);
        let file = writer.finish().unwrap();
        // About 24 kbit/s, plus the headers and page framing.
        assert!((8_000..12_000).contains(&file.len()), "{} bytes for 3 s", file.len());
        let decoded = crate::audio::decode_bytes(file, 60).unwrap();
        assert_eq!((decoded.sample_rate, decoded.channels), (48_000, 1));
        let back = crate::audio::Resampler::new(48_000, MODEL_RATE).unwrap().process_all(&decoded.samples);
        // A decoder that ignores the end's granule position keeps the last frame's padding.
        assert!(
            back.len() + 16 >= audio.len() && back.len() <= audio.len() + FRAME,
            "{} samples back for {}",
            back.len(),
            audio.len()
        );
        // Lossy, but the same sound: the waveforms correlate at the best small lag.
        let n = audio.len().min(back.len()) - 64;
        let correlation = |lag: usize| {
            let (a, b) = (&audio[32..32 + n - 32], &back[lag..lag + n - 32]);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (norm(a) * norm(b))
        };
        let best = (0..64).map(correlation).fold(f32::MIN, f32::max);
        assert!(best > 0.8, "correlation {best:.2}");
    }

    #[test]
    fn pages_reach_the_writer_every_second_and_an_empty_stream_is_valid() {
        let mut writer = OggOpusWriter::new(Vec::new(), 1).unwrap();
        writer.push(&speechlike(MODEL_RATE as usize * 5 / 2)).unwrap();
        // Two whole seconds are out as pages (the stream's end is not).
        let pages = |bytes: &[u8]| bytes.windows(4).filter(|w| w == b"OggS").count();
        assert_eq!(pages(writer.pages.inner()), 2 + 2);
        // A file cut off there (a crash) says it holds those two seconds, even with half a page.
        let cut = writer.get_ref().clone();
        assert_eq!(written_duration(&cut), Some(std::time::Duration::from_secs(2)));
        assert_eq!(written_duration(&cut[..cut.len() - 10]), Some(std::time::Duration::from_secs(1)));
        assert_eq!(written_duration(b"RIFF0000WAVE"), None);
        let whole = writer.finish().unwrap();
        assert_eq!(written_duration(&whole), Some(std::time::Duration::from_secs_f64(2.5)));
        let empty = OggOpusWriter::new(Vec::new(), 2).unwrap().finish().unwrap();
        let decoded = crate::audio::decode_bytes(empty, 60).unwrap();
        assert!(decoded.samples.len() <= 960, "{}", decoded.samples.len());
    }
}
