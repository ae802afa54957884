//! Audio containers written the way encoders and browsers write them, for tests that decode
//! them: Ogg/Opus (`opusenc`), WebM/Opus (MediaRecorder), and raw Opus packets.

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Encodes 48 kHz mono samples as an Ogg/Opus file (RFC 7845: OpusHead, OpusTags, audio
/// pages), with the encoder's lookahead as pre-skip, as `opusenc` does.
pub fn ogg_opus(samples_48k: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    encoder.set_bitrate(opus::Bitrate::Bits(48_000)).unwrap();
    let pre_skip = encoder.get_lookahead().unwrap() as u16;
    {
        let mut writer = PacketWriter::new(&mut out);
        let serial = 0x5eed;
        let mut head = b"OpusHead".to_vec();
        head.push(1); // version
        head.push(1); // channels
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0); // mapping family
        writer.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0).unwrap();
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&8u32.to_le_bytes());
        tags.extend_from_slice(b"ddalkkak");
        tags.extend_from_slice(&0u32.to_le_bytes());
        writer.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0).unwrap();

        let frames: Vec<&[f32]> = samples_48k.chunks(960).collect();
        for (i, frame) in frames.iter().enumerate() {
            let mut pcm = frame.to_vec();
            pcm.resize(960, 0.0);
            let packet = encoder.encode_vec_float(&pcm, 4000).unwrap();
            let last = i + 1 == frames.len();
            let granule = ((i + 1) * 960) as u64;
            let end = if last { PacketWriteEndInfo::EndStream } else { PacketWriteEndInfo::NormalPacket };
            writer.write_packet(packet, serial, end, granule).unwrap();
        }
    }
    out
}

/// A minimal WebM (Matroska) writer: EBML header, one audio track `A_OPUS` with its OpusHead as
/// codec private data, one cluster of SimpleBlocks — the structure MediaRecorder produces.
pub mod webm {
    fn size(n: usize) -> Vec<u8> {
        let mut v = vec![0x01];
        v.extend_from_slice(&(n as u64).to_be_bytes()[1..]);
        v
    }

    pub fn element(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend(size(data.len()));
        v.extend_from_slice(data);
        v
    }

    pub fn uint(id: &[u8], value: u64) -> Vec<u8> {
        element(id, &value.to_be_bytes())
    }

    pub fn file(opus_head: &[u8], pre_skip: u16, packets: &[Vec<u8>]) -> Vec<u8> {
        let header = [
            uint(&[0x42, 0x86], 1),
            uint(&[0x42, 0xF7], 1),
            uint(&[0x42, 0xF2], 4),
            uint(&[0x42, 0xF3], 8),
            element(&[0x42, 0x82], b"webm"),
            uint(&[0x42, 0x87], 4),
            uint(&[0x42, 0x85], 2),
        ]
        .concat();
        let info = element(&[0x15, 0x49, 0xA9, 0x66], &uint(&[0x2A, 0xD7, 0xB1], 1_000_000));
        let audio = [element(&[0xB5], &48_000f64.to_be_bytes()), uint(&[0x9F], 1)].concat();
        let track = [
            uint(&[0xD7], 1),
            uint(&[0x73, 0xC5], 1),
            uint(&[0x83], 2),
            element(&[0x86], b"A_OPUS"),
            element(&[0x63, 0xA2], opus_head),
            uint(&[0x56, 0xAA], pre_skip as u64 * 1_000_000_000 / 48_000),
            element(&[0xE1], &audio),
        ]
        .concat();
        let tracks = element(&[0x16, 0x54, 0xAE, 0x6B], &element(&[0xAE], &track));
        let mut cluster = uint(&[0xE7], 0);
        for (i, packet) in packets.iter().enumerate() {
            let mut block = vec![0x81];
            block.extend_from_slice(&((i * 20) as i16).to_be_bytes());
            block.push(0x80);
            block.extend_from_slice(packet);
            cluster.extend(element(&[0xA3], &block));
        }
        let segment = [info, tracks, element(&[0x1F, 0x43, 0xB6, 0x75], &cluster)].concat();
        [element(&[0x1A, 0x45, 0xDF, 0xA3], &header), element(&[0x18, 0x53, 0x80, 0x67], &segment)].concat()
    }
}

/// 20 ms Opus packets of 48 kHz mono audio, with the OpusHead that declares their pre-skip.
pub fn opus_packets(at_48k: &[f32], application: opus::Application, bitrate: i32) -> (Vec<u8>, u16, Vec<Vec<u8>>) {
    let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, application).unwrap();
    encoder.set_bitrate(opus::Bitrate::Bits(bitrate)).unwrap();
    let pre_skip = encoder.get_lookahead().unwrap() as u16;
    let packets = at_48k
        .chunks(960)
        .map(|frame| {
            let mut pcm = frame.to_vec();
            pcm.resize(960, 0.0);
            encoder.encode_vec_float(&pcm, 4000).unwrap()
        })
        .collect();
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    (head, pre_skip, packets)
}

pub fn webm_opus(at_48k: &[f32]) -> Vec<u8> {
    let (head, pre_skip, packets) = opus_packets(at_48k, opus::Application::Voip, 32_000);
    webm::file(&head, pre_skip, &packets)
}
