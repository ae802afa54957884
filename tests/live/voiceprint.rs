//! Voice enrollment end to end with the real models (tiny.en int8, Silero VAD, Resemblyzer): a
//! user enrolls from ~9 s of one speaker of the pyannote two-speaker call, the whole call is then
//! streamed with `diarize=true`, and the stored meeting names that speaker and only that one.

use crate::common;

use ddalkkak::inference::diarize::VOICE_MATCH_THRESHOLD;
use ddalkkak::session::LiveConfig;
use serde_json::{Value, json};

use crate::live_session::{connect, live_app, sample, stream_pcm};

/// `(speaker, start, end)` of the sample's reference transcript.
fn reference_turns(root: &std::path::Path) -> Vec<(String, f64, f64)> {
    let stm = std::fs::read_to_string(root.join("testdata/pyannote_sample.stm")).unwrap();
    stm.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(2)?.to_string(), f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_voice_names_its_speaker_in_the_stored_meeting() {
    let Some((app, key, _serial)) = live_app(common::sqlite().await, LiveConfig::default()).await else { return };
    if app.live.as_ref().unwrap().diarize.is_none() {
        assert!(!common::require_models(), "speaker model missing");
        return;
    }
    let root = common::models().unwrap().root;
    let audio = ddalkkak::audio::load_16k_mono(&root.join("testdata/pyannote_sample.wav")).unwrap();
    let cut = |spans: &[(f64, f64)]| -> Vec<f32> {
        spans.iter().flat_map(|&(a, b)| audio[(a * 16_000.0) as usize..(b * 16_000.0) as usize].to_vec()).collect()
    };
    let (s, diane) = app.post("/v1/users", &key, json!({"email": "diane@example.com", "name": "Diane Miller"})).await;
    assert_eq!(s, 201, "{diane}");
    let diane_id = diane["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{diane_id}/voiceprint?consent=true");

    // Refused with the models loaded: too little speech, not audio, too long.
    let (s, body) = app.put_audio(&path, &key, common::wav_bytes(&cut(&[(8.44, 10.4)]))).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("too_little_speech")), "{body}");
    let (s, body) = app.put_audio(&path, &key, b"this is not a recording".repeat(50)).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("undecodable_audio")), "{body}");
    let long: Vec<f32> = audio.iter().chain(&audio).chain(&audio).copied().collect();
    let (s, body) = app.put_audio(&path, &key, common::wav_bytes(&long)).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("recording_too_long")), "{body}");
    assert_eq!(app.get(&format!("/v1/users/{diane_id}"), &key).await.1["has_voiceprint"], false);

    // Diane, the first voice heard: ~9 s of her first minute-half, as a WAV upload.
    let enrollment = cut(&[(8.44, 9.80), (10.78, 14.18), (17.79, 21.47)]);
    let (s, print) = app.put_audio(&path, &key, common::wav_bytes(&enrollment)).await;
    assert_eq!(s, 200, "{print}");
    let speech_ms = print["speech_ms"].as_i64().unwrap();
    assert!((5_000..=9_000).contains(&speech_ms), "{print}");
    let (_, user) = app.get(&format!("/v1/users/{diane_id}"), &key).await;
    assert_eq!(user["has_voiceprint"], true, "{user}");

    let (pcm, _) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&diarize=true", &key).await.unwrap();
    let (got, _) = stream_pcm(ws, &pcm, 4.0).await;
    let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap().to_owned();
    let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
    let labels = meeting["speaker_labels"].as_array().unwrap();
    eprintln!("stored speakers: {labels:#?}");
    assert_eq!(labels.len(), 2, "two people talk: {labels:?}");
    let numbers: Vec<i64> = labels.iter().map(|l| l["speaker"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [0, 1], "numbered in order of appearance");
    assert!(labels[0]["first_seen"].as_f64() < labels[1]["first_seen"].as_f64());
    let named: Vec<&Value> = labels.iter().filter(|l| l["identity"].is_object()).collect();
    assert_eq!(named.len(), 1, "only Diane is enrolled: {labels:?}");
    let identity = &named[0]["identity"];
    assert_eq!(identity["user_id"], diane_id.as_str());
    assert_eq!(identity["name"], "Diane Miller");
    assert_eq!(identity["evidence"][0]["kind"], "enrolled_voice");
    let similarity = identity["confidence"].as_f64().unwrap();
    assert!(similarity >= VOICE_MATCH_THRESHOLD as f64 - 1e-3, "{identity}");
    eprintln!("Diane's enrolled voice vs her stored speaker: cosine similarity {similarity:.3}");

    // The named speaker is Diane by the reference: most of the time of its words is hers.
    let named_speaker = named[0]["speaker"].as_i64().unwrap();
    let turns = reference_turns(&root);
    let who_at = |t: f64| turns.iter().find(|(_, a, b)| *a <= t && t <= *b).map(|(s, _, _)| s.as_str());
    let (mut hers, mut others) = (0.0, 0.0);
    for w in meeting["transcript_segments"].as_array().unwrap().iter().flat_map(|s| s["words"].as_array().unwrap()) {
        if w["speaker"].as_i64() != Some(named_speaker) {
            continue;
        }
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        match who_at((start + end) / 2.0) {
            Some("Diane") => hers += end - start,
            Some(_) => others += end - start,
            None => {}
        }
    }
    assert!(hers > 2.0 * others, "the named speaker's words: {hers:.1} s Diane's, {others:.1} s the other's");
}
