//! [`OggOpusWriter`]: 16 kHz mono audio to an Ogg Opus stream (RFC 7845) as it comes, one page a
//! second, so a process that dies leaves a playable file of all but its last second.
//!
//! 20 ms frames at [`BITRATE`] (speech, libopus' VoIP mode): an hour is about 11 MB. The last
//! page's granule position marks the last sample written, so decoders that honour it drop the
//! final frame's padding.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::Duration;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::MODEL_RATE;
use super::ogg_demuxer::page_crc;

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
pub fn written_duration(file: &[u8]) -> Option<Duration> {
    let pre_skip = pre_skip(file)?;
    Some(granules_to_duration(last_granule(file).unwrap_or(0), pre_skip))
}

/// Bytes of a file's end that [`file_written_duration`] reads first: about twenty of the
/// writer's one-second pages.
const TAIL: u64 = 64 * 1024;

/// [`written_duration`] of a file, and its length, reading only its first page and its tail:
/// the last [`TAIL`] bytes, four times more each time no whole page lies there (an hour's
/// recording is about 11 MB, and a restart settles every crashed session's).
pub fn file_written_duration(file: &mut (impl Read + Seek)) -> io::Result<(u64, Option<Duration>)> {
    tail_written_duration(file, TAIL)
}

fn tail_written_duration(file: &mut (impl Read + Seek), mut window: u64) -> io::Result<(u64, Option<Duration>)> {
    let len = file.seek(SeekFrom::End(0))?;
    // The first page: its header, at most 255 lacing values, then OpusHead.
    let head = read_range(file, 0, len.min((27 + 255 + 19) as u64))?;
    let Some(pre_skip) = pre_skip(&head) else { return Ok((len, None)) };
    loop {
        let start = len.saturating_sub(window);
        let tail = read_range(file, start, len - start)?;
        match last_granule(&tail) {
            Some(granule) => return Ok((len, Some(granules_to_duration(granule, pre_skip)))),
            // The whole file and no whole page: cut inside its first (as `written_duration`).
            None if start == 0 => return Ok((len, Some(Duration::ZERO))),
            None => window = window.saturating_mul(4),
        }
    }
}

fn read_range(file: &mut (impl Read + Seek), start: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The `OpusHead` pre-skip, from the first page (which holds OpusHead alone: 27 header bytes,
/// its segment table, then the packet); `None` when `file` starts with no Ogg Opus stream.
fn pre_skip(file: &[u8]) -> Option<u64> {
    let segments = *file.get(26)? as usize;
    let head = file.get(27 + segments..)?;
    if !file.starts_with(b"OggS") || !head.starts_with(b"OpusHead") {
        return None;
    }
    Some(u16::from_le_bytes([*head.get(10)?, *head.get(11)?]) as u64)
}

fn granules_to_duration(granule: u64, pre_skip: u64) -> Duration {
    Duration::from_secs_f64(granule.saturating_sub(pre_skip) as f64 / 48_000.0)
}

/// The granule position of the last whole page in `bytes`, which may begin and end inside
/// pages (a tail of the file, the page being written when the writer stopped): found from the
/// end, a capture pattern counts only when its page is whole and its checksum holds, so audio
/// bytes that happen to spell `OggS` are no page.
fn last_granule(bytes: &[u8]) -> Option<u64> {
    let mut end = bytes.len();
    while let Some(at) = bytes[..end].windows(4).rposition(|w| w == b"OggS") {
        if let Some(granule) = whole_page_granule(&bytes[at..]) {
            return Some(granule);
        }
        end = at + 3;
    }
    None
}

fn whole_page_granule(page: &[u8]) -> Option<u64> {
    let header = page.get(..27).filter(|h| h[4] == 0)?;
    let table = page.get(27..27 + header[26] as usize)?;
    let page = page.get(..27 + table.len() + table.iter().map(|&s| s as usize).sum::<usize>())?;
    let stored = u32::from_le_bytes(header[22..26].try_into().ok()?);
    let granule = u64::from_le_bytes(header[6..14].try_into().ok()?);
    // -1: no packet ends on the page (never so in what the writer makes).
    (page_crc(page) == stored && granule != u64::MAX).then_some(granule)
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

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: u64,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn a_long_file_is_measured_from_its_first_page_and_its_tail() {
        let mut writer = OggOpusWriter::new(Vec::new(), 3).unwrap();
        writer.push(&speechlike(MODEL_RATE as usize * 60)).unwrap();
        // Cut inside its last page, as a crash leaves it.
        let written = writer.get_ref().clone();
        let cut = &written[..written.len() - 10];
        assert!(cut.len() as u64 > 2 * TAIL, "{} bytes", cut.len());
        let expected = written_duration(cut).unwrap();
        assert!(expected >= Duration::from_secs(58), "{expected:?}");
        let mut file = Counting { inner: io::Cursor::new(cut), read: 0 };
        assert_eq!(file_written_duration(&mut file).unwrap(), (cut.len() as u64, Some(expected)));
        assert!(file.read <= TAIL + 512, "read {} bytes of {}", file.read, cut.len());
        // A tail too short to hold a whole page grows until one does.
        let mut file = Counting { inner: io::Cursor::new(cut), read: 0 };
        assert_eq!(tail_written_duration(&mut file, 100).unwrap().1, Some(expected));
        assert!(file.read < 64 * 1024, "read {} bytes", file.read);

        let whole = writer.finish().unwrap();
        let measured = file_written_duration(&mut io::Cursor::new(&whole)).unwrap();
        assert_eq!(measured, (whole.len() as u64, Some(Duration::from_secs(60))));
        assert_eq!(file_written_duration(&mut io::Cursor::new(b"RIFF0000WAVE")).unwrap(), (12, None));
        // Cut inside its first page: no audio yet, as `written_duration` says.
        let header = &whole[..40];
        assert_eq!(file_written_duration(&mut io::Cursor::new(header)).unwrap().1, written_duration(header));
    }
}
