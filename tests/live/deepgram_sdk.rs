//! The official Deepgram JS SDK (`@deepgram/sdk` from npm, unchanged, pointed at our URL) streams
//! the fetched recording to a live server and receives partial and final `Results`, `Metadata`,
//! `UtteranceEnd`, `SpeechStarted` and a normal close. Needs `node` and `npm` (the SDK is
//! installed into `tests/sdk/node_modules` on first run); skipped without them or without models
//! unless `DDALKKAK_REQUIRE_MODELS=1`.

use crate::common;

use std::path::Path;

fn sdk_dir() -> Option<&'static Path> {
    common::node_project("sdk")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_deepgram_sdk_streams_and_gets_results() {
    let Some(dir) = sdk_dir() else { return };
    let _heavy = common::heavy().await;
    let db = common::sqlite().await;
    let t = common::tenant(&*db.store, "sdk").await;
    let Some(app) = common::TestApp::spawn_live(db, Default::default()).await else { return };
    let wav = common::models().unwrap().root.join("testdata/pyannote_sample.wav");
    let url = format!("ws://{}", app.addr);
    let args = [url.as_str(), t.api_key.as_str(), wav.to_str().unwrap(), "4"];
    let summary = common::node_summary(&dir.join("deepgram_live.mjs"), &args).await;
    eprintln!("{summary}");
    let events = &summary["events"];
    assert!(events["partials"].as_u64().unwrap() >= 1, "{summary}");
    assert!(events["finals"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(events["Metadata"], 1);
    assert!(events["UtteranceEnd"].as_u64().unwrap() >= 1, "{summary}");
    assert!(events["SpeechStarted"].as_u64().unwrap() >= 1, "{summary}");
    // Our SessionStarted and SessionEnded reach the SDK as unhandled messages.
    assert_eq!(events["Unhandled"], 2);
    assert_eq!(summary["code"], 1000);
    let transcript = summary["transcript"].as_str().unwrap().to_lowercase();
    assert!(transcript.contains("new jersey") && transcript.contains("chicago"), "{transcript}");
    let (_, meetings) = app.get("/v1/meetings", &t.api_key).await;
    assert_eq!(meetings["items"][0]["stt_status"], "COMPLETED", "{meetings}");
}

/// Korean through the SDK, with tiny.en and base served at once: a client of a Korean tenant
/// that names no language (the SDK sends Deepgram's `model=nova-2`, which we ignore) gets Korean
/// captions from base, and so does one that asks for `language=ko` on an English tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_deepgram_sdk_gets_korean_captions() {
    let Some(dir) = sdk_dir() else { return };
    let _heavy = common::heavy().await;
    let Some((app, korean)) = crate::live_session::korean_tenant_app("sdk-ko").await else { return };
    let english = common::tenant(app.store(), "sdk-en").await;
    let (wav, reference, _) = crate::live_session::korean_wav("azure_test_audio.flac");
    let url = format!("ws://{}", app.addr);
    // Both clients stream at once.
    let clients = [(&korean.api_key, "{}"), (&english.api_key, r#"{"language":"ko"}"#)];
    let summaries = futures_util::future::join_all(clients.map(|(key, options)| {
        let (script, url, wav) = (dir.join("deepgram_live.mjs"), &url, wav.path());
        async move {
            let args = [url.as_str(), key.as_str(), wav.to_str().unwrap(), "2", options];
            (options, common::node_summary(&script, &args).await)
        }
    }))
    .await;
    for (options, summary) in summaries {
        assert_eq!(summary["code"], 1000, "{summary}");
        let transcript = summary["transcript"].as_str().unwrap();
        let error = ddalkkak_eval::wer::cer(&reference, transcript);
        eprintln!("Korean through the SDK, options {options}: CER {:.1}%\n{transcript}", error * 100.0);
        assert!(crate::live_session::hangul_share(transcript) > 0.9, "{options}: not Korean: {transcript}");
        assert!(error < 0.25, "{options}: CER {:.1}%", error * 100.0);
    }
}

/// The SDK's pre-recorded calls: `transcribeFile` (the bytes in the body) and `transcribeUrl`
/// (a URL the server fetches, here behind a redirect) each get Deepgram's response shape with the
/// transcript, words with speakers, paragraphs and utterances, and each leaves a finished meeting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_deepgram_sdk_transcribes_files_and_urls() {
    let Some(dir) = sdk_dir() else { return };
    let _heavy = common::heavy().await;
    let db = common::sqlite().await;
    let t = common::tenant(&*db.store, "sdk-pre").await;
    let recordings = tempfile::tempdir().unwrap();
    let Some(app) =
        common::TestApp::spawn_live_with_recordings(db, Default::default(), recordings.path(), 50_000_000).await
    else {
        return;
    };
    let wav = common::models().unwrap().root.join("testdata/pyannote_sample.wav");
    let base = common::serve_recording(std::fs::read(&wav).unwrap()).await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("deepgram_prerecorded.mjs"))
        .args([app.url("").as_str(), t.api_key.as_str(), wav.to_str().unwrap(), &format!("{base}/moved")])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let calls: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(calls.len(), 2, "{stdout}");
    for call in &calls {
        eprintln!("{call}");
        assert!(call["error"].is_null(), "{call}");
        let transcript = call["transcript"].as_str().unwrap().to_lowercase();
        assert!(transcript.contains("new jersey") && transcript.contains("chicago"), "{transcript}");
        assert!((call["duration"].as_f64().unwrap() - 30.0).abs() <= 1.0, "{call}");
        assert_eq!(call["speakers"], serde_json::json!([0, 1]), "two voices: {call}");
        assert!(call["paragraphs"].as_u64().unwrap() >= 2, "{call}");
        assert!(call["utterances"].as_u64().unwrap() >= 2, "{call}");
        assert_eq!(call["language"], "en");
        let (_, meeting) = app.get(&format!("/v1/meetings/{}", call["request_id"].as_str().unwrap()), &t.api_key).await;
        assert_eq!(meeting["stt_status"], "COMPLETED", "{meeting}");
    }
}
