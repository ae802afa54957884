//! Push-mode WebM (Matroska) demuxer for the streams browsers' MediaRecorder writes: an EBML
//! header, a Segment and Clusters of unknown size, one audio track, SimpleBlocks without
//! lacing. The parse is flat: master elements we need (Segment, Tracks, Cluster, BlockGroup…)
//! are entered by consuming only their header, everything else is skipped by its size, so
//! unknown sizes need no bookkeeping.

use super::AudioError;

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const CLUSTER: u32 = 0x1F43_B675;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const SIMPLE_BLOCK: u32 = 0xA3;

/// Elements we read whole are never this large in a sane audio stream.
const MAX_ELEMENT: u64 = 1 << 20;
const AUDIO_TRACK: u64 = 2;

/// The audio track as declared in `Tracks`.
#[derive(Debug, Clone, Default)]
pub struct WebmTrack {
    pub number: u64,
    pub codec_id: String,
    pub codec_private: Vec<u8>,
}

#[derive(Default)]
pub struct WebmDemuxer {
    buffer: Vec<u8>,
    /// Bytes of a skipped element still to come.
    skipping: u64,
    started: bool,
    entry: WebmTrack,
    entry_type: u64,
    /// Set once the first audio track is complete.
    pub track: Option<WebmTrack>,
}

enum Step {
    NeedMore,
    Consumed(usize),
}

impl WebmDemuxer {
    /// Adds bytes and returns the audio frames they complete, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, AudioError> {
        if self.skipping > 0 {
            let n = self.skipping.min(bytes.len() as u64);
            self.skipping -= n;
            bytes = &bytes[n as usize..];
        }
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut at = 0;
        while at < self.buffer.len() && self.skipping == 0 {
            match self.element(at, &mut frames)? {
                Step::NeedMore => break,
                Step::Consumed(n) => at += n,
            }
        }
        if at > self.buffer.len() {
            self.skipping = (at - self.buffer.len()) as u64;
            at = self.buffer.len();
        }
        self.buffer.drain(..at);
        Ok(frames)
    }

    fn element(&mut self, at: usize, frames: &mut Vec<Vec<u8>>) -> Result<Step, AudioError> {
        let data = &self.buffer[at..];
        let Some((id, id_len)) = read_id(data)? else { return Ok(Step::NeedMore) };
        if !self.started && id != EBML {
            return Err(AudioError::Corrupt("WebM: stream does not start with an EBML header".into()));
        }
        self.started = true;
        let Some((size, size_len)) = read_size(&data[id_len..])? else { return Ok(Step::NeedMore) };
        let header = id_len + size_len;
        match id {
            SEGMENT | TRACKS | CLUSTER | BLOCK_GROUP => Ok(Step::Consumed(header)),
            TRACK_ENTRY => {
                self.finish_entry();
                self.entry = WebmTrack::default();
                self.entry_type = 0;
                Ok(Step::Consumed(header))
            }
            TRACK_NUMBER | TRACK_TYPE | CODEC_ID | CODEC_PRIVATE | SIMPLE_BLOCK | BLOCK => {
                let size = size.ok_or_else(|| AudioError::Corrupt("WebM: leaf element of unknown size".into()))?;
                if size > MAX_ELEMENT {
                    return Err(AudioError::Corrupt(format!("WebM: element of {size} bytes")));
                }
                if data.len() < header + size as usize {
                    return Ok(Step::NeedMore);
                }
                let body = data[header..header + size as usize].to_vec();
                let body = body.as_slice();
                match id {
                    TRACK_NUMBER => self.entry.number = read_uint(body),
                    TRACK_TYPE => self.entry_type = read_uint(body),
                    CODEC_ID => self.entry.codec_id = String::from_utf8_lossy(body).trim_end_matches('\0').to_owned(),
                    CODEC_PRIVATE => self.entry.codec_private = body.to_vec(),
                    _ => {
                        if self.track.is_none() {
                            self.finish_entry();
                        }
                        if let Some(frame) = self.block_frame(body)? {
                            frames.push(frame);
                        }
                    }
                }
                Ok(Step::Consumed(header + size as usize))
            }
            // Everything else (EBML header, SeekHead, Info, Cues, Tags, Void, Timecode…) is skipped.
            _ => match size {
                Some(size) => Ok(Step::Consumed(header + size as usize)),
                None => Ok(Step::Consumed(header)),
            },
        }
    }

    fn finish_entry(&mut self) {
        if self.track.is_none() && self.entry.number != 0 && self.entry_type == AUDIO_TRACK {
            self.track = Some(std::mem::take(&mut self.entry));
        }
    }

    fn block_frame(&self, body: &[u8]) -> Result<Option<Vec<u8>>, AudioError> {
        let track =
            self.track.as_ref().ok_or_else(|| AudioError::Corrupt("WebM: block before any audio track".into()))?;
        let Some((number, len)) = read_vint(body, true)? else {
            return Err(AudioError::Corrupt("WebM: truncated block".into()));
        };
        if number != track.number {
            return Ok(None);
        }
        if body.len() < len + 3 {
            return Err(AudioError::Corrupt("WebM: truncated block".into()));
        }
        if body[len + 2] & 0x06 != 0 {
            return Err(AudioError::Unsupported("WebM: laced blocks".into()));
        }
        Ok(Some(body[len + 3..].to_vec()))
    }
}

/// An element ID keeps its length marker. `None`: not enough bytes yet.
fn read_id(data: &[u8]) -> Result<Option<(u32, usize)>, AudioError> {
    let Some(&first) = data.first() else { return Ok(None) };
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return Err(AudioError::Corrupt(format!("WebM: invalid element id byte {first:#04x}")));
    }
    if data.len() < len {
        return Ok(None);
    }
    Ok(Some((data[..len].iter().fold(0u32, |v, &b| v << 8 | b as u32), len)))
}

/// An element size; `Some(None)` is the "unknown size" value (all ones).
fn read_size(data: &[u8]) -> Result<Option<(Option<u64>, usize)>, AudioError> {
    let Some((value, len)) = read_vint(data, true)? else { return Ok(None) };
    let unknown = value == (1u64 << (7 * len)) - 1;
    Ok(Some((if unknown { None } else { Some(value) }, len)))
}

fn read_vint(data: &[u8], strip_marker: bool) -> Result<Option<(u64, usize)>, AudioError> {
    let Some(&first) = data.first() else { return Ok(None) };
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return Err(AudioError::Corrupt("WebM: invalid variable-length integer".into()));
    }
    if data.len() < len {
        return Ok(None);
    }
    let mut value = data[..len].iter().fold(0u64, |v, &b| v << 8 | b as u64);
    if strip_marker {
        value &= (1u64 << (7 * len)) - 1;
    }
    Ok(Some((value, len)))
}

fn read_uint(body: &[u8]) -> u64 {
    body.iter().take(8).fold(0u64, |v, &b| v << 8 | b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut e = id.to_vec();
        e.push(0x80 | body.len() as u8);
        e.extend_from_slice(body);
        e
    }

    fn unknown(id: &[u8]) -> Vec<u8> {
        let mut e = id.to_vec();
        e.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        e
    }

    fn stream() -> Vec<u8> {
        let mut s = element(&[0x1A, 0x45, 0xDF, 0xA3], &element(&[0x42, 0x82], b"webm"));
        s.extend(unknown(&[0x18, 0x53, 0x80, 0x67]));
        let mut entry = element(&[0xD7], &[1]);
        entry.extend(element(&[0x83], &[2]));
        entry.extend(element(&[0x86], b"A_OPUS"));
        entry.extend(element(&[0x63, 0xA2], b"OpusHead\x01\x01\x38\x01"));
        s.extend(element(&[0x16, 0x54, 0xAE, 0x6B], &element(&[0xAE], &entry)));
        for i in 0..3u8 {
            s.extend(unknown(&[0x1F, 0x43, 0xB6, 0x75]));
            s.extend(element(&[0xE7], &[i]));
            s.extend(element(&[0xA3], &[0x81, 0, 0, 0x80, i, i, i]));
            s.extend(element(&[0xEC], &[0; 20]));
        }
        s
    }

    #[test]
    fn frames_come_out_whatever_the_byte_boundaries() {
        let stream = stream();
        for split in [1, 3, 17, stream.len()] {
            let mut demuxer = WebmDemuxer::default();
            let mut frames = Vec::new();
            for piece in stream.chunks(split) {
                frames.extend(demuxer.push(piece).unwrap());
            }
            assert_eq!(frames, vec![vec![0, 0, 0], vec![1, 1, 1], vec![2, 2, 2]], "split {split}");
            let track = demuxer.track.as_ref().unwrap();
            assert_eq!(track.codec_id, "A_OPUS");
            assert!(track.codec_private.starts_with(b"OpusHead"));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(WebmDemuxer::default().push(b"RIFF....WAVEfmt ").is_err());
    }
}
