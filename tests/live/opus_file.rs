//! Ogg/Opus files: a real recording encoded with libopus into an Ogg container (the layout of
//! `opusenc` and browsers' MediaRecorder in Ogg mode), decoded back by the file decoder.

use std::io::Write as _;

use crate::common;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Encodes 48 kHz mono samples as an Ogg/Opus file (RFC 7845: OpusHead, OpusTags, audio
/// pages), with the encoder's lookahead as pre-skip, as `opusenc` does.
fn ogg_opus(samples_48k: &[f32]) -> Vec<u8> {
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

#[test]
fn ogg_opus_recording_decodes_to_the_same_speech() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let wav = manifest.join("models/testdata/pyannote_sample.wav");
    // A synthetic tone when the recording is not fetched; the recording when it is.
    let source: Vec<f32> = if wav.exists() {
        ddalkkak::audio::load_16k_mono(&wav).unwrap()
    } else {
        (0..16_000 * 3).map(|i| (i as f32 * 0.0785).sin() * 0.5).collect()
    };
    let at_48k = ddalkkak::audio::Resampler::new(16_000, 48_000).unwrap().process_all(&source);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.opus");
    std::fs::File::create(&path).unwrap().write_all(&ogg_opus(&at_48k)).unwrap();

    let decoded = ddalkkak::audio::decode_file(&path).unwrap();
    assert_eq!((decoded.sample_rate, decoded.channels), (48_000, 1));
    // Pre-skip removed: the decoded stream lines up with the input (to within one 20 ms frame of tail).
    let expected = at_48k.len().div_ceil(960) * 960;
    assert!(decoded.samples.len() + 960 > expected && decoded.samples.len() <= expected, "{}", decoded.samples.len());
    let back = ddalkkak::audio::load_16k_mono(&path).unwrap();
    let n = source.len().min(back.len());
    let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>();
    let snr_db = |lag: isize| {
        let pairs = (100..n - 100).map(|i| (source[i], back[(i as isize + lag) as usize]));
        let err: Vec<f32> = pairs.map(|(a, b)| a - b).collect();
        10.0 * (energy(&source[100..n - 100]) / energy(&err).max(1e-12)).log10()
    };
    let best_lag = (-20..=20).max_by(|&a, &b| snr_db(a).total_cmp(&snr_db(b))).unwrap();
    eprintln!("Ogg/Opus round trip: SNR {:.1} dB at best lag {best_lag}", snr_db(best_lag));
    // Opus is perceptual, not waveform-exact; what must hold is that the decoded speech is
    // there, at the same time, with the pre-skip removed.
    // A wrong pre-skip would shift it by ~100 samples; the two resampling passes (16 → 48 →
    // 16 kHz) may leave under one sample.
    assert!(best_lag.abs() <= 1, "decoded audio is shifted by {best_lag} samples");
    assert!(snr_db(best_lag) > 8.0, "SNR {} dB", snr_db(best_lag));

    let garbage = dir.path().join("garbage.opus");
    std::fs::write(&garbage, b"OggS not really").unwrap();
    assert!(ddalkkak::audio::decode_file(&garbage).is_err());
}

/// A minimal WebM (Matroska) writer: EBML header, one audio track `A_OPUS` with its OpusHead as
/// codec private data, one cluster of SimpleBlocks — the structure MediaRecorder produces.
mod webm {
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

#[test]
fn webm_opus_recording_decodes_like_mediarecorder_output() {
    let source: Vec<f32> = (0..16_000 * 2).map(|i| (i as f32 * 0.0785).sin() * 0.5 * ((i / 4000) % 2) as f32).collect();
    let at_48k = ddalkkak::audio::Resampler::new(16_000, 48_000).unwrap().process_all(&source);
    let (head, pre_skip, packets) = opus_packets(&at_48k, opus::Application::Audio, 64_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.webm");
    std::fs::write(&path, webm::file(&head, pre_skip, &packets)).unwrap();

    let decoded = ddalkkak::audio::decode_file(&path).unwrap();
    assert_eq!((decoded.sample_rate, decoded.channels), (48_000, 1));
    assert_eq!(decoded.samples.len(), packets.len() * 960 - pre_skip as usize, "pre-skip from OpusHead removed");
    let back = ddalkkak::audio::load_16k_mono(&path).unwrap();
    let n = source.len().min(back.len());
    let err: f32 = source[..n].iter().zip(&back[..n]).map(|(a, b)| (a - b) * (a - b)).sum();
    let energy: f32 = source[..n].iter().map(|a| a * a).sum();
    let snr_db = 10.0 * (energy / err).log10();
    eprintln!("WebM/Opus round trip: SNR {snr_db:.1} dB");
    assert!(snr_db > 10.0, "SNR {snr_db} dB");
}

/// 16 kHz speech (the fetched recording) or a tone, and the same at 48 kHz.
fn speech() -> (Vec<f32>, Vec<f32>) {
    let wav = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/testdata/pyannote_sample.wav");
    let source: Vec<f32> = if wav.exists() {
        ddalkkak::audio::load_16k_mono(&wav).unwrap()
    } else {
        (0..16_000 * 3).map(|i| (i as f32 * 0.0785).sin() * 0.5).collect()
    };
    let at_48k = ddalkkak::audio::Resampler::new(16_000, 48_000).unwrap().process_all(&source);
    (source, at_48k)
}

/// 20 ms Opus packets of 48 kHz mono audio, with the OpusHead that declares their pre-skip.
fn opus_packets(at_48k: &[f32], application: opus::Application, bitrate: i32) -> (Vec<u8>, u16, Vec<Vec<u8>>) {
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

fn webm_opus(at_48k: &[f32]) -> Vec<u8> {
    let (head, pre_skip, packets) = opus_packets(at_48k, opus::Application::Voip, 32_000);
    webm::file(&head, pre_skip, &packets)
}

/// Best alignment (in samples) and SNR of `decoded` against `source`.
fn alignment(source: &[f32], decoded: &[f32]) -> (isize, f32) {
    let n = source.len().min(decoded.len());
    let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>();
    let snr = |lag: isize| {
        let err: Vec<f32> = (100..n - 100).map(|i| source[i] - decoded[(i as isize + lag) as usize]).collect();
        10.0 * (energy(&source[100..n - 100]) / energy(&err).max(1e-12)).log10()
    };
    let lag = (-40..=40).max_by(|&a, &b| snr(a).total_cmp(&snr(b))).unwrap();
    (lag, snr(lag))
}

/// Live streams arrive in pieces: the push demuxers and the 16 kHz Opus decoder must give the
/// same speech, at the same time, whatever the pieces are.
#[test]
fn streamed_ogg_and_webm_opus_decode_in_any_pieces() {
    use ddalkkak::audio::{Encoding, StreamDecoder};
    let (source, at_48k) = speech();
    for (name, bytes, encoding) in [
        ("Ogg/Opus", ogg_opus(&at_48k), Some(Encoding::OggOpus)),
        ("WebM/Opus", webm_opus(&at_48k), Some(Encoding::WebmOpus)),
        ("Ogg/Opus detected", ogg_opus(&at_48k), None),
        ("WebM/Opus detected", webm_opus(&at_48k), None),
    ] {
        for piece in [1, 997, 4096, bytes.len()] {
            let mut decoder = StreamDecoder::new(encoding, None, 1).unwrap();
            let mut decoded = Vec::new();
            for chunk in bytes.chunks(piece) {
                decoded.extend(decoder.push(chunk).unwrap());
            }
            decoded.extend(decoder.finish());
            assert!(decoded.len().abs_diff(source.len()) < 320 + 16, "{name}/{piece}: {} samples", decoded.len());
            let (lag, snr) = alignment(&source, &decoded);
            assert!(lag.abs() <= 2, "{name}/{piece}: shifted by {lag} samples (pre-skip)");
            assert!(snr > 5.0, "{name}/{piece}: SNR {snr:.1} dB");
        }
    }
}

/// A browser-like client: WebM/Opus in 250 ms MediaRecorder blobs, container detected, to the
/// live server with the real model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webm_opus_streams_like_mediarecorder() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let _heavy = common::heavy().await;
    let db = common::sqlite().await;
    let t = common::tenant(&*db.store, "browser").await;
    let Some(app) = common::TestApp::spawn_live(db, Default::default()).await else { return };
    let (_, at_48k) = speech();
    let bytes = webm_opus(&at_48k);
    // The browser page authenticates with the `token` subprotocol: no API key in a URL or header.
    let (_, token) = app.post("/v1/stream-tokens", &t.api_key, serde_json::json!({})).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(app.ws_url("/v1/listen"))
            .unwrap();
    let protocol = format!("token, {}", token["token"].as_str().unwrap());
    request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "token");
    let (mut tx, mut rx) = ws.split();
    // 32 kbit/s: 250 ms ≈ 1000 bytes.
    let blob = bytes.len() / (at_48k.len() / 12_000).max(1);
    let sender = tokio::spawn(async move {
        for chunk in bytes.chunks(blob) {
            tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        }
        tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    });
    let mut text = Vec::new();
    let mut close = None;
    while let Some(Ok(message)) = rx.next().await {
        match message {
            Message::Text(t) => {
                let m: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_ne!(m["type"], "Error", "{m}");
                if m["type"] == "Results" && m["is_final"] == true {
                    text.push(m["channel"]["alternatives"][0]["transcript"].as_str().unwrap().to_owned());
                }
            }
            Message::Close(frame) => close = frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    }
    sender.await.unwrap();
    assert_eq!(close, Some(1000));
    let stm = std::fs::read_to_string(common::models().unwrap().root.join("testdata/pyannote_sample.stm")).unwrap();
    let reference = stm.lines().filter_map(|l| l.splitn(6, ' ').nth(5)).collect::<Vec<_>>().join(" ");
    let error = ddalkkak_eval::wer::wer(&reference, &text.join(" "));
    eprintln!("WebM/Opus live: WER {:.1}%", error * 100.0);
    assert!(error < 0.35, "WER {:.1}%: {}", error * 100.0, text.join(" "));
}

/// Decompression bombs: Opus packets of one byte (a TOC byte alone: a lost 60 ms SILK frame,
/// concealed) decode to 60 ms each, so a message of such packets must be refused with a typed
/// error, not decoded into gigabytes; honest streams of the same length still decode.
#[test]
fn a_message_of_tiny_opus_packets_is_refused_not_decoded() {
    use ddalkkak::audio::{AudioError, Encoding, MAX_MESSAGE_SECONDS, StreamDecoder};
    let (_, at_48k) = speech();
    let (head, pre_skip, _) = opus_packets(&at_48k, opus::Application::Voip, 32_000);
    let tiny: Vec<Vec<u8>> = vec![vec![0x18]; 20_000]; // 20,000 × 60 ms = 1,200 s
    let mut ogg = Vec::new();
    {
        let mut writer = PacketWriter::new(&mut ogg);
        writer.write_packet(head.clone(), 7, PacketWriteEndInfo::EndPage, 0).unwrap();
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&[0; 8]);
        writer.write_packet(tags, 7, PacketWriteEndInfo::EndPage, 0).unwrap();
        for (i, p) in tiny.iter().enumerate() {
            let end = if (i + 1) % 255 == 0 { PacketWriteEndInfo::EndPage } else { PacketWriteEndInfo::NormalPacket };
            writer.write_packet(p.clone(), 7, end, (i as u64 + 1) * 2880).unwrap();
        }
    }
    let webm = webm::file(&head, pre_skip, &tiny);
    for (name, bytes, encoding) in [("Ogg", ogg, Encoding::OggOpus), ("WebM", webm, Encoding::WebmOpus)] {
        assert!(bytes.len() < 1 << 20, "{name}: {} bytes fit one message", bytes.len());
        let mut decoder = StreamDecoder::new(Some(encoding), None, 1).unwrap();
        match decoder.push(&bytes) {
            Err(AudioError::TooMuchAudio(s)) => assert_eq!(s, MAX_MESSAGE_SECONDS),
            other => panic!("{name}: {:?}", other.map(|s| s.len())),
        }
        // The same packets a few at a time are within the per-message bound: the session's
        // real-time policy (`max_audio_ahead`), not the decoder, paces them.
        let mut decoder = StreamDecoder::new(Some(encoding), None, 1).unwrap();
        let mut total = 0;
        for piece in bytes.chunks(1024) {
            total += decoder.push(piece).unwrap().len();
        }
        assert!(total > 16_000 * 1000, "{name}: {total} samples");
    }
}
