//! Ogg/Opus files: a real recording encoded with libopus into an Ogg container (the layout of
//! `opusenc` and browsers' MediaRecorder in Ogg mode), decoded back by the file decoder.

use std::io::Write as _;

use crate::common;
use common::containers::{ogg_opus, opus_packets, webm, webm_opus};
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

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
