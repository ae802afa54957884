//! Push-mode Ogg demuxer: bytes arrive in whatever pieces the network gives (a MediaRecorder
//! `ondataavailable` blob, a bot's 20 ms write), complete packets come out. Only the first
//! logical stream is followed (browsers and bots send one); pages of other streams are skipped.

use super::AudioError;

/// Largest page: 27-byte header + 255 lacing values + 255 × 255 bytes of body.
const MAX_PAGE: usize = 27 + 255 + 255 * 255;

#[derive(Default)]
pub struct OggDemuxer {
    buffer: Vec<u8>,
    /// A packet continued on the next page.
    partial: Vec<u8>,
    serial: Option<u32>,
}

impl OggDemuxer {
    /// Adds bytes and returns the packets they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, AudioError> {
        self.buffer.extend_from_slice(bytes);
        let mut packets = Vec::new();
        let mut at = 0;
        loop {
            let page = &self.buffer[at..];
            if page.len() < 27 {
                break;
            }
            if &page[..4] != b"OggS" || page[4] != 0 {
                return Err(AudioError::Corrupt(format!("Ogg: no page header at byte {at} of the buffered stream")));
            }
            let segments = page[26] as usize;
            if page.len() < 27 + segments {
                break;
            }
            let lacing = &page[27..27 + segments];
            let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
            let total = 27 + segments + body_len;
            if page.len() < total {
                break;
            }
            let stored = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
            if page_crc(&page[..total]) != stored {
                return Err(AudioError::Corrupt(format!(
                    "Ogg: page checksum mismatch at byte {at} of the buffered stream"
                )));
            }
            let serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
            let continued = page[5] & 1 != 0;
            if *self.serial.get_or_insert(serial) == serial {
                if !continued {
                    // A packet left open by a lost page cannot be completed.
                    self.partial.clear();
                }
                let mut body = &page[27 + segments..total];
                for &len in lacing {
                    let (piece, rest) = body.split_at(len as usize);
                    self.partial.extend_from_slice(piece);
                    body = rest;
                    if len < 255 {
                        packets.push(std::mem::take(&mut self.partial));
                    }
                }
                if self.partial.len() > MAX_PAGE * 4 {
                    return Err(AudioError::Corrupt("Ogg: packet larger than 256 KiB".into()));
                }
            }
            at += total;
        }
        self.buffer.drain(..at);
        Ok(packets)
    }
}

/// Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0) over the page with its
/// checksum field taken as zero.
pub(super) fn page_crc(page: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04C1_1DB7 } else { r << 1 };
            }
            *entry = r;
        }
        table
    });
    page.iter().enumerate().fold(0u32, |crc, (i, &b)| {
        let b = if (22..26).contains(&i) { 0 } else { b };
        (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(serial: u32, flags: u8, lacing: &[u8], body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        p.push(lacing.len() as u8);
        p.extend_from_slice(lacing);
        p.extend_from_slice(body);
        let crc = page_crc(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn packets_come_out_whatever_the_byte_boundaries() {
        let mut stream = page(7, 2, &[3, 2], b"abcde");
        // A 300-byte packet spanning two pages.
        stream.extend(page(7, 0, &[255], &[1; 255]));
        stream.extend(page(7, 1, &[45], &[1; 45]));
        stream.extend(page(9, 0, &[1], b"z"));
        for split in [1, 7, 30, stream.len()] {
            let mut demuxer = OggDemuxer::default();
            let mut packets = Vec::new();
            for piece in stream.chunks(split) {
                packets.extend(demuxer.push(piece).unwrap());
            }
            assert_eq!(packets.len(), 3, "split {split}");
            assert_eq!(packets[0], b"abc");
            assert_eq!(packets[1], b"de");
            assert_eq!(packets[2], vec![1; 300]);
        }
    }

    #[test]
    fn garbage_and_damaged_pages_are_errors() {
        let mut demuxer = OggDemuxer::default();
        assert!(matches!(demuxer.push(&[0x55; 64]), Err(AudioError::Corrupt(_))));
        let mut damaged = page(1, 2, &[3], b"abc");
        damaged[28] ^= 1;
        assert!(matches!(OggDemuxer::default().push(&damaged), Err(AudioError::Corrupt(_))));
    }
}
