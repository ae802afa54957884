//! Live sessions end to end: a real tokio-tungstenite client streams a real recording (the
//! pyannote sample fetched by `models/fetch.sh`) to a server with the real tiny.en model and
//! Silero VAD, on SQLite and on PostgreSQL; skipped without models unless
//! `DDALKKAK_REQUIRE_MODELS=1`. The tests of the protocol that need no speech recognised (bad
//! input, quotas, timeouts, viewers) run on scripted stand-in models ([`scripted_app`]) and
//! always run.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::stand_in_models::{ScriptedModels, tone_speech};
use crate::common::{TestApp, TestDb};
use ddalkkak::session::LiveConfig;
use ddalkkak_eval::wer::wer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub(crate) type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) fn sample() -> (Vec<i16>, String) {
    let root = common::models().expect("checked by spawn_live").root;
    let audio = ddalkkak::audio::load_16k_mono(&root.join("testdata/pyannote_sample.wav")).unwrap();
    let pcm = audio.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
    let stm = std::fs::read_to_string(root.join("testdata/pyannote_sample.stm")).unwrap();
    let reference = stm.lines().filter_map(|l| l.splitn(6, ' ').nth(5)).collect::<Vec<_>>().join(" ");
    (pcm, reference)
}

/// One live server at a time ([`common::heavy`]): each loads the model and they would share two
/// cores, which makes timing (partials, idle timeouts) depend on what else runs.
pub(crate) async fn live_app(
    db: TestDb,
    config: LiveConfig,
) -> Option<(TestApp, String, tokio::sync::RwLockWriteGuard<'static, ()>)> {
    let guard = common::heavy().await;
    let t = common::tenant(&*db.store, "live").await;
    let app = TestApp::spawn_live(db, config).await?;
    Some((app, t.api_key, guard))
}

/// A live server on scripted stand-in models ([`common::stand_in_models`]) for the tests that
/// need no speech recognised: it runs without fetched models and beside the heavy tests.
pub(crate) async fn scripted_app(db: TestDb, config: LiveConfig) -> (TestApp, String) {
    let t = common::tenant(&*db.store, "live").await;
    (TestApp::spawn_scripted(db, config, ScriptedModels::default()).await, t.api_key)
}

/// The close code the server ends a viewer's socket with (`None`: dropped without one); it
/// must end within 10 s.
async fn close_code(socket: &mut (impl futures_util::Stream<Item = Result<Message, WsError>> + Unpin)) -> Option<u16> {
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => break None,
            }
        }
    });
    ended.await.expect("the noisy viewer is disconnected")
}

pub(crate) async fn connect(app: &TestApp, query: &str, key: &str) -> Result<Ws, WsError> {
    let mut request = app.ws_url(&format!("/v1/listen?{query}")).into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    tokio_tungstenite::connect_async(request).await.map(|(ws, _)| ws)
}

/// Everything the server sent, until it closed.
#[derive(Default, Debug)]
pub(crate) struct Received {
    pub(crate) messages: Vec<(Instant, Value)>,
    pub(crate) close: Option<(u16, String)>,
}

impl Received {
    pub(crate) fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|(_, m)| m["type"] == kind).map(|(_, m)| m).collect()
    }

    pub(crate) fn finals(&self) -> Vec<&Value> {
        self.of_type("Results").into_iter().filter(|m| m["is_final"] == true).collect()
    }

    pub(crate) fn final_text(&self) -> String {
        let texts: Vec<&str> = self.finals().iter().filter_map(|m| transcript(m)).filter(|t| !t.is_empty()).collect();
        texts.join(" ")
    }
}

fn transcript(m: &Value) -> Option<&str> {
    m["channel"]["alternatives"][0]["transcript"].as_str()
}

async fn read_all(mut rx: futures_util::stream::SplitStream<Ws>) -> Received {
    let mut got = Received::default();
    while let Some(message) = rx.next().await {
        match message {
            Ok(Message::Text(t)) => got.messages.push((Instant::now(), serde_json::from_str(&t).unwrap())),
            Ok(Message::Close(frame)) => {
                got.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

/// Streams `pcm` in 100 ms frames at `speed` × real time, then `CloseStream`.
pub(crate) async fn stream_pcm(ws: Ws, pcm: &[i16], speed: f64) -> (Received, Vec<Instant>) {
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    let frame = 1600;
    let started = Instant::now();
    let mut sent_at = Vec::new();
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 * 0.1 / speed);
        tokio::time::sleep_until(due.into()).await;
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
        tx.send(Message::Binary(bytes.into())).await.unwrap();
        sent_at.push(Instant::now());
    }
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(120), reader).await.expect("server closes").unwrap();
    (got, sent_at)
}

async fn streams_a_recording_and_finalizes_the_meeting(db: TestDb, speed: f64) {
    let Some((app, key, _serial)) = live_app(db, LiveConfig::default()).await else { return };
    let (pcm, reference) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&interim_results=true&title=Weekly%20sync", &key)
        .await
        .unwrap();
    let (got, _) = stream_pcm(ws, &pcm, speed).await;

    // The protocol: SessionStarted first; partials and finals; Metadata, SessionEnded, close 1000.
    assert_eq!(got.messages[0].1["type"], "SessionStarted", "{:?}", got.messages[0]);
    let session_id = got.messages[0].1["session_id"].as_str().unwrap().to_owned();
    let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap().to_owned();
    assert_eq!(got.close, Some((1000, String::new())));
    let kinds: Vec<&str> = got.messages.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(&kinds[kinds.len() - 2..], ["Metadata", "SessionEnded"]);
    let partials = got.of_type("Results").into_iter().filter(|m| m["is_final"] == false).count();
    // Faster than real time the engine cannot give every 500 ms a partial; they coalesce.
    let expected_partials = if speed <= 1.0 { 10 } else { 1 };
    assert!(partials >= expected_partials, "interim results were asked for; got {partials}");
    let finals = got.finals();
    assert!(finals.len() >= 3, "a 30 s two-speaker call has several utterances; got {}", finals.len());
    // Finals are append-only: in order, never overlapping.
    let starts: Vec<f64> = finals.iter().map(|m| m["start"].as_f64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let text = got.final_text();
    let error = wer(&reference, &text);
    eprintln!("speed {speed}×: {} finals, {partials} partials, WER {:.1}%\n{text}", finals.len(), error * 100.0);
    assert!(error < 0.35, "WER {:.1}% against the reference transcript", error * 100.0);

    // The database has what the client saw.
    let (status, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(meeting["stt_status"], "COMPLETED");
    assert_eq!(meeting["title"], "Weekly sync");
    let duration = meeting["audio_duration"].as_i64().unwrap();
    assert!((30..=31).contains(&duration), "audio_duration {duration}");
    let segments = meeting["transcript_segments"].as_array().unwrap();
    let spoken: Vec<&&Value> = finals.iter().filter(|m| transcript(m) != Some("")).collect();
    assert_eq!(segments.len(), spoken.len());
    for (segment, message) in segments.iter().zip(spoken) {
        assert_eq!(segment["text"].as_str(), transcript(message));
        assert_eq!(segment["start"].as_f64(), message["start"].as_f64());
        assert_eq!(
            segment["words"].as_array().unwrap().len(),
            message["channel"]["alternatives"][0]["words"].as_array().unwrap().len()
        );
    }
    let stored_text = meeting["transcript_text"].as_str().unwrap().replace('\n', " ");
    assert_eq!(stored_text, text);
    let (_, session) = app.get(&format!("/v1/realtime-sessions/{session_id}"), &key).await;
    assert_eq!(session["status"], "ENDED");
    let jobs = app
        .store()
        .list_jobs(session["tenant_id"].as_str().unwrap().parse().unwrap(), meeting_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "the action-item job is enqueued with the finalized meeting");
    assert_eq!(jobs[0].kind, "meeting_intelligence");
}

/// Many clients faster than real time on one ASR worker, with short idle and drain timeouts:
/// reading pauses for ASR for longer than the idle timeout, and finals wait in the engine's
/// queue for longer than the drain timeout after `CloseStream`. Every client must still get all
/// of its finals, and every meeting must store exactly what its client got (no final lost).
async fn many_fast_streams_lose_no_final(db: TestDb) {
    let config = LiveConfig {
        idle_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_millis(500),
        max_pending_finals: 1,
        ..LiveConfig::default()
    };
    let Some((app, key, _serial)) = live_app(db, config).await else { return };
    let (pcm, reference) = sample();
    let clients = (0..6).map(|_| {
        let (app, key, pcm) = (&app, &key, &pcm);
        async move {
            let ws = connect(app, "encoding=linear16&sample_rate=16000", key).await.unwrap();
            stream_pcm(ws, pcm, 8.0).await.0
        }
    });
    let all = futures_util::future::join_all(clients).await;
    for (i, got) in all.iter().enumerate() {
        assert_eq!(got.close, Some((1000, String::new())), "client {i}: {:?}", got.of_type("Error"));
        assert!(got.of_type("TranscriptGap").is_empty(), "client {i}: {:?}", got.of_type("TranscriptGap"));
        let error = wer(&reference, &got.final_text());
        assert!(error < 0.35, "client {i}: WER {:.1}%: {}", error * 100.0, got.final_text());
        let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap();
        let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
        assert_eq!(meeting["transcript_text"].as_str().unwrap().replace('\n', " "), got.final_text(), "client {i}");
        assert_eq!(meeting["transcript_gaps"], Value::Null);
        let duration = meeting["audio_duration"].as_i64().unwrap();
        assert!((30..=31).contains(&duration), "client {i}: audio_duration {duration}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_fast_streams_lose_no_final() {
    many_fast_streams_lose_no_final(common::sqlite().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_real_time() {
    streams_a_recording_and_finalizes_the_meeting(common::sqlite().await, 1.0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_faster_than_real_time() {
    streams_a_recording_and_finalizes_the_meeting(common::sqlite().await, 4.0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_faster_than_real_time() {
    if let Some(db) = common::postgres().await {
        streams_a_recording_and_finalizes_the_meeting(db, 4.0).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_flushes_and_close_stream_ends() {
    let Some((app, key, _serial)) = live_app(common::sqlite().await, LiveConfig::default()).await else { return };
    let (pcm, _) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&endpointing=false", &key).await.unwrap();
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    // 6.6 s .. 11 s: speech with pauses; endpointing is off, so only Finalize ends it.
    let speech = &pcm[16_000 * 66 / 10..16_000 * 11];
    let bytes: Vec<u8> = speech.iter().flat_map(|s| s.to_le_bytes()).collect();
    for chunk in bytes.chunks(8_000) {
        tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
    }
    tx.send(Message::Text(r#"{"type":"Finalize"}"#.into())).await.unwrap();
    tx.send(Message::Text(r#"{"type":"KeepAlive"}"#.into())).await.unwrap();
    tx.send(Message::Text(r#"{"type":"Finalize"}"#.into())).await.unwrap();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(60), reader).await.unwrap().unwrap();
    let finals = got.finals();
    assert_eq!(finals.len(), 2, "one flushed utterance, then an empty acknowledgement: {finals:#?}");
    assert!(finals.iter().all(|f| f["from_finalize"] == true));
    assert!(transcript(finals[0]).unwrap().to_lowercase().contains("hello"), "{:?}", transcript(finals[0]));
    assert_eq!(transcript(finals[1]), Some(""));
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors() {
    let config = LiveConfig { max_frame_bytes: 64 * 1024, ..LiveConfig::default() };
    let (app, key) = scripted_app(common::sqlite().await, config).await;

    // Refused before the upgrade, as HTTP problems.
    let status = |e: WsError| match e {
        WsError::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    };
    assert_eq!(status(connect(&app, "encoding=linear16&sample_rate=16000", "dk_bogus_key").await.unwrap_err()), 401);
    let mut anonymous = app.ws_url("/v1/listen").into_client_request().unwrap();
    anonymous.headers_mut().remove("authorization");
    assert_eq!(status(tokio_tungstenite::connect_async(anonymous).await.unwrap_err()), 401);
    assert_eq!(status(connect(&app, "encoding=mp9", &key).await.unwrap_err()), 400);
    assert_eq!(status(connect(&app, "encoding=linear16&sample_rate=16000&language=ko", &key).await.unwrap_err()), 422);
    assert_eq!(status(connect(&app, "endpointing=soon", &key).await.unwrap_err()), 422);
    let (code, _) = app.get("/v1/listen", &key).await;
    assert_eq!(code, 400, "a plain GET is not a WebSocket");

    // Refused after the upgrade: an Error message with a code, then the close code.
    async fn error_and_close(ws: Ws, send: Vec<Message>) -> (Value, (u16, String)) {
        let (mut tx, rx) = ws.split();
        let reader = tokio::spawn(read_all(rx));
        for m in send {
            if tx.send(m).await.is_err() {
                break;
            }
        }
        let got = tokio::time::timeout(Duration::from_secs(30), reader).await.unwrap().unwrap();
        let error = got.of_type("Error").first().cloned().cloned().expect("an Error message");
        (error, got.close.expect("a close frame"))
    }
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (error, close) = error_and_close(ws, vec![Message::Text("{\"type\":\"Explode\"}".into())]).await;
    assert_eq!((error["code"].as_str(), close.0), (Some("invalid_message"), 1007));
    assert_eq!(error["retryable"], false);

    let ws = connect(&app, "", &key).await.unwrap();
    let (error, close) = error_and_close(ws, vec![Message::Binary(vec![7u8; 4096].into())]).await;
    assert_eq!((error["code"].as_str(), close.0), (Some("unsupported_audio"), 1003));

    let ws = connect(&app, "encoding=ogg-opus", &key).await.unwrap();
    // A page header followed by junk: the page checksum fails once the page is complete.
    let mut junk = b"OggS\x00".to_vec();
    junk.resize(40_000, b'g');
    let frames = vec![Message::Binary(junk.into()), Message::Binary(vec![b'g'; 40_000].into())];
    let (error, close) = error_and_close(ws, frames).await;
    assert_eq!((error["code"].as_str(), close.0), (Some("corrupt_audio"), 1003));

    let ws = connect(&app, "encoding=opus&sample_rate=48000", &key).await.unwrap();
    let (error, close) = error_and_close(ws, vec![Message::Binary(vec![0xFF; 3].into())]).await;
    assert_eq!((error["code"].as_str(), close.0), (Some("corrupt_audio"), 1003));

    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (error, close) = error_and_close(ws, vec![Message::Binary(vec![0u8; 100_000].into())]).await;
    assert_eq!((error["code"].as_str(), close.0), (Some("frame_too_large"), 1009));

    // Every one of those sessions was still finalized.
    let (_, sessions) = app.get("/v1/realtime-sessions", &key).await;
    let sessions = sessions["items"].as_array().or(sessions.as_array()).unwrap().clone();
    assert_eq!(sessions.len(), 5);
    assert!(sessions.iter().all(|s| s["status"] == "ENDED"), "{sessions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed() {
    let config = LiveConfig { idle_timeout: Duration::from_secs(1), ..LiveConfig::default() };
    let (app, key) = scripted_app(common::sqlite().await, config).await;
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let started = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(10), read_all(ws.split().1)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(got.of_type("Error")[0]["code"], "idle_timeout");
    assert_eq!(got.close.map(|c| c.0), Some(4000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caption_viewers_see_the_finals() {
    let Some((app, key, _serial)) = live_app(common::sqlite().await, LiveConfig::default()).await else { return };
    let (pcm, _) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    let started = rx.next().await.unwrap().unwrap();
    let started: Value = serde_json::from_str(started.to_text().unwrap()).unwrap();
    let session = started["session_id"].as_str().unwrap().to_owned();

    // A view token for this session; a stream token may not watch.
    let (_, view) = app.post("/v1/stream-tokens", &key, json!({"scope": "view", "session_id": session})).await;
    let view = view["token"].as_str().unwrap().to_owned();
    let (_, stream_token) = app.post("/v1/stream-tokens", &key, json!({})).await;
    let refused = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/v1/realtime-sessions/{session}/captions?token={}",
        stream_token["token"].as_str().unwrap()
    )))
    .await;
    assert!(matches!(refused, Err(WsError::Http(r)) if r.status() == 403));

    let mut viewers = Vec::new();
    for _ in 0..3 {
        let url = app.ws_url(&format!("/v1/realtime-sessions/{session}/captions?token={view}"));
        let (viewer, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        viewers.push(tokio::spawn(read_all(viewer.split().1)));
    }
    // A viewer has nothing to send: a large message ends its connection (1009), not the session.
    let url = app.ws_url(&format!("/v1/realtime-sessions/{session}/captions?token={view}"));
    let (mut noisy, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _ = noisy.send(Message::Text("x".repeat(64 * 1024).into())).await;
    let ended = close_code(&mut noisy).await;
    assert!(matches!(ended, Some(1009) | None), "{ended:?}");
    let sse =
        app.http.get(app.url(&format!("/v1/realtime-sessions/{session}/captions?token={view}"))).send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let sse = tokio::spawn(async move { sse.text().await.unwrap() });

    let reader = tokio::spawn(read_all(rx));
    let bytes: Vec<u8> = pcm[..16_000 * 14].iter().flat_map(|s| s.to_le_bytes()).collect();
    for chunk in bytes.chunks(32_000) {
        tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
    }
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let speaker = tokio::time::timeout(Duration::from_secs(60), reader).await.unwrap().unwrap();
    let expected: Vec<String> = speaker.finals().iter().map(|m| transcript(m).unwrap().to_owned()).collect();
    assert!(!expected.is_empty());
    for viewer in viewers {
        let seen = tokio::time::timeout(Duration::from_secs(10), viewer).await.unwrap().unwrap();
        let texts: Vec<String> = seen.finals().iter().map(|m| transcript(m).unwrap().to_owned()).collect();
        assert_eq!(texts, expected);
        assert_eq!(seen.close.map(|c| c.0), Some(1000));
    }
    let sse = tokio::time::timeout(Duration::from_secs(10), sse).await.unwrap().unwrap();
    for text in &expected {
        assert!(sse.contains(&format!("\"transcript\":{}", serde_json::to_string(text).unwrap())), "{sse}");
    }
    // Once ended, the session's captions are gone.
    let after =
        app.http.get(app.url(&format!("/v1/realtime-sessions/{session}/captions?token={view}"))).send().await.unwrap();
    assert_eq!(after.status(), 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_live_sessions() {
    let Some((mut app, key, _serial)) = live_app(common::sqlite().await, LiveConfig::default()).await else { return };
    let (pcm, _) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    let bytes: Vec<u8> = pcm[16_000 * 6..16_000 * 12].iter().flat_map(|s| s.to_le_bytes()).collect();
    for chunk in bytes.chunks(32_000) {
        tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = app.db.store.clone();
    app.shutdown().await;
    let got = tokio::time::timeout(Duration::from_secs(30), reader).await.unwrap().unwrap();
    assert_eq!(got.of_type("Error")[0]["code"], "shutting_down");
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1001));
    assert!(!got.final_text().is_empty(), "the audio sent before shutdown became finals");
    let meeting: uuid::Uuid = got.messages[0].1["meeting_id"].as_str().unwrap().parse().unwrap();
    let tenant = store.tenant_by_slug("live").await.unwrap().id;
    let meeting = store.get_meeting(tenant, meeting).await.unwrap();
    assert_eq!(meeting.stt_status, ddalkkak::domain::SttStatus::Completed);
    assert_eq!(meeting.transcript_text.unwrap().replace('\n', " "), got.final_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed() {
    let config = LiveConfig { slow_consumer_timeout: Duration::from_secs(1), ..LiveConfig::default() };
    let (app, key) = scripted_app(common::sqlite().await, config).await;
    // A client with a tiny receive window that never reads: every Finalize with nothing open is
    // answered by an empty final, until the server's buffers and the socket are full.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let mut request = app.ws_url("/v1/listen?encoding=linear16&sample_rate=16000").into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    let (mut tx, _rx) = ws.split();
    let started = Instant::now();
    for _ in 0..40_000 {
        if tx.send(Message::Text(r#"{"type":"Finalize"}"#.into())).await.is_err() {
            break;
        }
    }
    // The session is ended by the server (and its meeting finalized) while the client still reads nothing.
    loop {
        let (_, sessions) = app.get("/v1/realtime-sessions", &key).await;
        let sessions = sessions["items"].as_array().or(sessions.as_array()).unwrap().clone();
        if sessions.first().is_some_and(|s| s["status"] == "ENDED") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the slow client was never closed: {sessions:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Other clients are still served.
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (mut tx, rx) = ws.split();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), read_all(rx)).await.unwrap();
    assert_eq!(got.close.map(|c| c.0), Some(1000));
}

/// `diarize=true`: words carry the speaker the live tracker gives them; at the end the whole
/// meeting is re-clustered and the stored segments, words and `speaker_labels` agree with the
/// reference RTTM of the two-speaker call (DER with a 0.25 s collar).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diarization_labels_words_live_and_the_meeting_after_reclustering() {
    use ddalkkak_eval::der::{RttmTurn, diarization_error, parse_rttm};
    let Some((app, key, _serial)) = live_app(common::sqlite().await, LiveConfig::default()).await else { return };
    if app.live.as_ref().unwrap().diarize.is_none() {
        assert!(!common::require_models(), "speaker model missing");
        return;
    }
    let (pcm, _) = sample();
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&diarize=true", &key).await.unwrap();
    let (got, _) = stream_pcm(ws, &pcm, 4.0).await;
    let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap().to_owned();
    let live_words: Vec<&Value> =
        got.finals().iter().flat_map(|m| m["channel"]["alternatives"][0]["words"].as_array().unwrap()).collect();
    assert!(!live_words.is_empty());
    let labelled = live_words.iter().filter(|w| w["speaker"].is_u64()).count();
    assert!(labelled * 10 >= live_words.len() * 9, "{labelled} of {} words have a live speaker", live_words.len());

    let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
    let segments = meeting["transcript_segments"].as_array().unwrap();
    let words: Vec<&Value> = segments.iter().flat_map(|s| s["words"].as_array().unwrap()).collect();
    let hypothesis: Vec<RttmTurn> = words
        .iter()
        .filter_map(|w| {
            Some(RttmTurn {
                start: w["start"].as_f64()?,
                end: w["end"].as_f64()?,
                speaker: w["speaker"].as_u64()?.to_string(),
            })
        })
        .collect();
    let root = common::models().unwrap().root;
    let reference = parse_rttm(&std::fs::read_to_string(root.join("testdata/pyannote_sample.rttm")).unwrap(), None);
    let der = diarization_error(&reference, &hypothesis, 0.25).der();
    let labels = meeting["speaker_labels"].as_array().unwrap();
    eprintln!("stored DER {:.1}% with {} speakers: {labels:?}", der * 100.0, labels.len());
    assert_eq!(labels.len(), 2, "two people talk: {labels:?}");
    for l in labels {
        assert!(l["label"].as_str().unwrap().starts_with("Speaker "));
        assert!(l["total_seconds"].as_f64().unwrap() > 1.0 && l["first_seen"].is_number());
    }
    assert!(segments.iter().all(|s| s["speaker"].is_i64()), "every stored segment has a speaker");
    // Words are timed by character count inside Whisper segments, so word-level DER carries that
    // error too; the tracker alone scores 4.9% on this call (examples/der_eval.rs).
    assert!(der < 0.25, "DER {:.1}%", der * 100.0);
}

/// A Korean fixture (16 kHz PCM) and its reference text.
pub(crate) fn korean(file: &str) -> (Vec<i16>, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/korean");
    let audio = ddalkkak::audio::load_16k_mono(&dir.join(file)).unwrap();
    let pcm = audio.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
    let transcripts = std::fs::read_to_string(dir.join("transcripts.tsv")).unwrap();
    let text = transcripts.lines().find_map(|l| l.strip_prefix(&format!("{file}\t"))).unwrap().to_owned();
    (pcm, text)
}

/// A Korean fixture as a 16-bit WAV file (what Chromium's fake microphone and the SDK script
/// read), its reference text and its length in seconds.
pub(crate) fn korean_wav(file: &str) -> (tempfile::NamedTempFile, String, f64) {
    let (pcm, reference) = korean(file);
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32767.0).collect();
    let wav = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wav.path(), common::wav_bytes(&samples)).unwrap();
    (wav, reference, samples.len() as f64 / 16_000.0)
}

/// Whether base is fetched; without it a test is skipped, which is a failure under
/// `DDALKKAK_REQUIRE_MODELS=1`.
fn base_fetched() -> bool {
    if common::model_paths().whisper("base").join("whisper_config.json").exists() {
        return true;
    }
    assert!(!common::require_models(), "whisper-base missing (run models/fetch.sh)");
    eprintln!("whisper-base not fetched: skipped");
    false
}

/// A live server serving tiny.en and base (`None`: skipped, see [`base_fetched`]).
async fn bilingual_app() -> Option<(TestApp, String, tokio::sync::RwLockWriteGuard<'static, ()>)> {
    if !base_fetched() {
        return None;
    }
    live_app(common::sqlite().await, bilingual_config()).await
}

/// tiny.en and base. The tests stream several sessions at 4× real time on base, which two cores
/// cannot keep up with: they check languages, not capacity, so admission by lag (tested in
/// `new_sessions_wait_while_finals_wait_for_asr`) does not refuse the sessions that follow.
fn bilingual_config() -> LiveConfig {
    LiveConfig { models: vec!["tiny.en".into(), "base".into()], max_final_wait: None, ..LiveConfig::default() }
}

/// A live server serving tiny.en and base, and a tenant of it whose default language is Korean
/// (`None`: skipped, see [`base_fetched`]).
pub(crate) async fn korean_tenant_app(slug: &str) -> Option<(TestApp, ddalkkak::admin::CreatedTenant)> {
    if !base_fetched() {
        return None;
    }
    let db = common::sqlite().await;
    let tenant = common::tenant(&*db.store, slug).await;
    let app = TestApp::spawn_live(db, bilingual_config()).await?;
    let (s, body) = app.patch("/v1/tenant", &tenant.api_key, json!({"default_language": "ko"})).await;
    assert_eq!(s, 200, "{body}");
    Some((app, tenant))
}

pub(crate) fn hangul_share(text: &str) -> f64 {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let hangul = letters.iter().filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(*c)).count();
    hangul as f64 / letters.len().max(1) as f64
}

/// tiny.en and base served at once: `language=ko` goes to base and decodes Korean (not an
/// English translation), `language=multi`, `language=ko,en` (detected among the two) or
/// `model=base` detect Korean on the first speech; English without parameters goes to tiny.en,
/// English with `language=multi` is detected as English by base and stays English. The meeting
/// stores the language it was decoded in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_sessions_are_transcribed_in_korean() {
    let Some((app, key, _serial)) = bilingual_app().await else { return };
    // Each way of asking is a session of its own; they stream at once (as a team's would), which
    // the server batches.
    let streams = |pcm: Vec<i16>, queries: &'static [&'static str]| {
        let (app, key) = (&app, &key);
        futures_util::future::join_all(queries.iter().map(move |query| {
            let pcm = pcm.clone();
            async move {
                let ws = connect(app, &format!("encoding=linear16&sample_rate=16000&{query}"), key).await.unwrap();
                (*query, stream_pcm(ws, &pcm, 4.0).await.0)
            }
        }))
    };
    let (pcm, reference) = korean("azure_test_audio.flac");
    const ASKED: [&str; 5] = ["language=ko", "language=ko-KR", "language=multi", "language=ko,en", "model=base"];
    for (query, got) in streams(pcm, &ASKED).await {
        assert_eq!(got.close, Some((1000, String::new())), "{query}: {:?}", got.of_type("Error"));
        let text = got.final_text();
        let error = ddalkkak_eval::wer::cer(&reference, &text);
        eprintln!("Korean, {query:?}: CER {:.1}%, {} finals\n{text}", error * 100.0, got.finals().len());
        assert!(hangul_share(&text) > 0.9, "{query}: not Korean: {text}");
        assert!(error < 0.25, "{query}: CER {:.1}%", error * 100.0);
        let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap();
        let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
        assert_eq!(meeting["language"], "ko", "{query}: the meeting's language");
    }
    let (pcm, reference) = sample();
    let models = ["whisper-tiny.en", "whisper-base"];
    for ((query, got), model) in streams(pcm, &["", "language=multi"]).await.into_iter().zip(models) {
        let text = got.final_text();
        assert_eq!(got.finals()[0]["metadata"]["model_info"]["name"], model, "{query}");
        // Before the session's language is settled (3 s of confident speech) each utterance is
        // detected alone, so a lone "Hello?" may come out in another language; after it, English.
        assert!(hangul_share(&text) < 0.05, "{query}: English detected and kept: {text}");
        let finals: Vec<&str> = got.finals().into_iter().filter_map(transcript).collect();
        assert!(wer(&reference, &text) < 0.35, "{query}: {finals:#?}");
        let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap();
        let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
        assert_eq!(meeting["language"], "en", "{query}: the meeting's language");
    }
    // A Korean tenant's clients need no parameters: the tenant's default language picks base.
    let (s, tenant) = app.patch("/v1/tenant", &key, json!({"default_language": "ko"})).await;
    assert_eq!(s, 200, "{tenant}");
    let (pcm_ko, reference_ko) = korean("picovoice_test_ko.flac");
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (got, _) = stream_pcm(ws, &pcm_ko, 4.0).await;
    let text = got.final_text();
    assert!(hangul_share(&text) > 0.9, "tenant default ko: {text}");
    assert!(ddalkkak_eval::wer::cer(&reference_ko, &text) < 0.35, "{text}");
    let (s, _) = app.patch("/v1/tenant", &key, json!({"default_language": "xx"})).await;
    assert_eq!(s, 422, "a language no served model knows");
    // The tenant's default model, for clients that name neither a model nor a language: base
    // detects Korean where the first served model (tiny.en) would write English.
    let (s, _) = app.patch("/v1/tenant", &key, json!({"default_model": "tiny"})).await;
    assert_eq!(s, 422, "a model not served");
    let (s, tenant) = app.patch("/v1/tenant", &key, json!({"default_language": null, "default_model": "base"})).await;
    assert_eq!(s, 200, "{tenant}");
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    let (got, _) = stream_pcm(ws, &pcm_ko, 4.0).await;
    assert_eq!(got.finals()[0]["metadata"]["model_info"]["name"], "whisper-base");
    assert!(hangul_share(&got.final_text()) > 0.9, "tenant default model base: {}", got.final_text());
    let (s, models) = app.get("/v1/models", &key).await;
    let ids: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!((s, ids), (200, vec!["tiny.en", "base"]));
    assert!(models["models"][1]["languages"].as_array().unwrap().iter().any(|l| l == "ko"));
    // Languages the model does not know are refused before the upgrade.
    let refused = connect(&app, "encoding=linear16&sample_rate=16000&language=xx", &key).await;
    assert!(matches!(refused, Err(WsError::Http(ref r)) if r.status() == 422), "{refused:?}");
    let (status, problem, _) = refusal(connect(&app, "encoding=linear16&sample_rate=16000&language=ko,xx", &key).await);
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("language")), "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("\"xx\""), "{problem}");
}

/// A word base misspells in the Korean fixture ("나라니 비교" for "나란히 비교") is spelled right
/// with a `keyterm`, and with the tenant's glossary; the rest of the transcript stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyterm_or_the_tenant_glossary_spells_a_word_base_misses() {
    let Some((app, key, _serial)) = bilingual_app().await else { return };
    let (pcm, reference) = korean("azure_test_audio.flac");
    let term = "나란히";
    let encoded: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
    let mut transcripts = Vec::new();
    for query in ["language=ko".to_owned(), format!("language=ko&keyterm={encoded}"), "language=ko".to_owned()] {
        if transcripts.len() == 2 {
            let (s, tenant) = app.patch("/v1/tenant", &key, json!({"glossary": [term, "DdalKkak"]})).await;
            assert_eq!((s, &tenant["glossary"]), (200, &json!([term, "DdalKkak"])), "{tenant}");
        }
        let ws = connect(&app, &format!("encoding=linear16&sample_rate=16000&{query}"), &key).await.unwrap();
        let (got, _) = stream_pcm(ws, &pcm, 4.0).await;
        assert_eq!(got.close, Some((1000, String::new())), "{query}: {:?}", got.of_type("Error"));
        transcripts.push(got.final_text());
    }
    let [plain, keyterm, glossary] = &transcripts[..] else { unreachable!() };
    let cer = |text: &str| ddalkkak_eval::wer::cer(&reference, text);
    eprintln!(
        "CER without {:.1} %, keyterm {:.1} %, glossary {:.1} %",
        cer(plain) * 100.0,
        cer(keyterm) * 100.0,
        cer(glossary) * 100.0
    );
    assert!(!plain.contains(term), "base spells it right without help now: pick another word\n{plain}");
    for (how, text) in [("keyterm", keyterm), ("glossary", glossary)] {
        assert!(text.contains(term), "{how}: {text}");
        // Only the term's word changed: the other words are the plain decode's.
        let rest = |t: &str| {
            t.split_whitespace().filter(|w| !w.contains(term) && !w.contains("나라니")).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(rest(text), rest(plain), "{how}");
        assert!(cer(text) < cer(plain), "{how}");
    }
    // Limits: 100 terms of 100 characters, for the query and the glossary.
    let many: String = (0..101).map(|i| format!("&keyterm=t{i}")).collect();
    let (status, problem, _) =
        refusal(connect(&app, &format!("encoding=linear16&sample_rate=16000{many}"), &key).await);
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("keyterm")), "{problem}");
    let (s, problem) = app.patch("/v1/tenant", &key, json!({"glossary": ["가".repeat(101)]})).await;
    assert_eq!((s, &problem["errors"][0]["field"]), (422, &json!("glossary")), "{problem}");
}

/// The status and problem+json body of a refusal before the upgrade.
fn refusal(result: Result<Ws, WsError>) -> (u16, Value, Option<String>) {
    match result {
        Err(WsError::Http(r)) => {
            let body = r.body().as_deref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), body, retry_after)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, got a session"),
    }
}

/// Ends a session with `CloseStream` and waits for its close frame (its slots are free then).
async fn close_stream(ws: Ws) -> Received {
    let (mut tx, rx) = ws.split();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), read_all(rx)).await.expect("the server closes")
}

/// Per-key and per-tenant quotas on open live sessions, under the server-wide limit: refused
/// before the upgrade with 429 problems naming the quota (503 `overloaded` for the server), each
/// with `Retry-After`; a stream token counts for the key that minted it; a session that ends gives
/// its slots back. `/readyz/streams` says "full" (503, `Retry-After`) exactly while the server-wide
/// limit is reached, and `/readyz` stays ready meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_are_limited_per_key_and_per_tenant() {
    let config =
        LiveConfig { max_sessions: 3, max_sessions_per_tenant: 2, max_sessions_per_key: 1, ..LiveConfig::default() };
    let (app, key_a) = scripted_app(common::sqlite().await, config).await;
    let query = "encoding=linear16&sample_rate=16000";
    let second_key = |name: &'static str| {
        let (app, key_a) = (&app, &key_a);
        async move {
            let (s, created) = app.post("/v1/api-keys", key_a, json!({ "name": name })).await;
            assert_eq!(s, 201, "{created}");
            created["secret"].as_str().unwrap().to_owned()
        }
    };
    let (key_b, key_c) = (second_key("b").await, second_key("c").await);
    let readiness = |path: &'static str| {
        let app = &app;
        async move {
            let r = app.http.get(app.url(path)).send().await.unwrap();
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry_after, r.text().await.unwrap())
        }
    };
    assert_eq!(readiness("/readyz/streams").await, (200, None, "ready: 0 of 3 live sessions".into()));

    let a1 = connect(&app, query, &key_a).await.expect("the key's first session");
    let (status, problem, retry_after) = refusal(connect(&app, query, &key_a).await);
    assert_eq!((status, problem["code"].as_str()), (429, Some("key_session_quota")), "{problem}");
    assert_eq!(problem["type"], "https://ddalkkak.dev/problems/key_session_quota");
    assert!(retry_after.is_some(), "429 carries Retry-After");
    // A stream token minted with key A counts for key A.
    let (_, token) = app.post("/v1/stream-tokens", &key_a, json!({})).await;
    let token = token["token"].as_str().unwrap();
    let by_token = tokio_tungstenite::connect_async(app.ws_url(&format!("/v1/listen?{query}&token={token}"))).await;
    assert_eq!(refusal(by_token.map(|(ws, _)| ws)).1["code"], "key_session_quota");

    let b1 = connect(&app, query, &key_b).await.expect("another key of the tenant");
    let (status, problem, _) = refusal(connect(&app, query, &key_c).await);
    assert_eq!((status, problem["code"].as_str()), (429, Some("tenant_session_quota")), "{problem}");
    assert_eq!(problem["type"], "https://ddalkkak.dev/problems/tenant_session_quota");

    // Another tenant has its own quota; the server-wide limit still holds above both.
    let other = common::tenant(app.store(), "other").await;
    assert_eq!(readiness("/readyz/streams").await, (200, None, "ready: 2 of 3 live sessions".into()));
    let o1 = connect(&app, query, &other.api_key).await.expect("another tenant");
    let (_, other_second) = app.post("/v1/api-keys", &other.api_key, json!({"name": "second"})).await;
    let (status, problem, retry_after) = refusal(connect(&app, query, other_second["secret"].as_str().unwrap()).await);
    assert_eq!((status, problem["code"].as_str()), (503, Some("overloaded")), "{problem}");
    assert_eq!(retry_after.as_deref(), Some("5"), "503 carries Retry-After");
    // Full: a load balancer checking /readyz/streams sends new streams elsewhere; the instance
    // itself stays ready for everything else.
    let (status, retry_after, body) = readiness("/readyz/streams").await;
    assert_eq!((status, retry_after.as_deref()), (503, Some("5")), "{body}");
    assert_eq!(body, "full: 3 of 3 live sessions");
    assert_eq!(readiness("/readyz").await, (200, None, "ready".into()));

    // A session that ends gives back its slots: key A may open one again.
    assert_eq!(close_stream(a1).await.close.map(|c| c.0), Some(1000));
    let a2 = connect(&app, query, &key_a).await.expect("key A's slot was given back");
    for ws in [a2, b1, o1] {
        assert_eq!(close_stream(ws).await.close.map(|c| c.0), Some(1000));
    }
    // The slot is given back just after the close frame is queued: wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness("/readyz/streams").await.0 != 200 {
        assert!(Instant::now() < deadline, "room again once the sessions ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Admission by lag: while finals wait longer than `max_final_wait` for ASR (a machine at its
/// capacity: here each decode takes 1.2 s), new sessions are refused with 503 `overloaded` and
/// `Retry-After`, and `/readyz/streams` says why; the session already running keeps every final;
/// once ASR has caught up, sessions are admitted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sessions_wait_while_finals_wait_for_asr() {
    let config = LiveConfig { max_final_wait: Some(Duration::from_millis(300)), ..LiveConfig::default() };
    let db = common::sqlite().await;
    let key = common::tenant(&*db.store, "live").await.api_key;
    let slow = ScriptedModels { decode_time: Duration::from_millis(1200), ..ScriptedModels::default() };
    let app = TestApp::spawn_scripted(db, config, slow).await;
    let query = "encoding=linear16&sample_rate=16000";
    let readiness = || async {
        let r = app.http.get(app.url("/readyz/streams")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(readiness().await.0, 200);

    // Four utterances at once: the second waits for the first's decode, and so on.
    let speaker = connect(&app, query, &key).await.unwrap();
    let streaming = tokio::spawn(async move { stream_pcm(speaker, &tone_speech(9.6), 50.0).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = readiness().await;
        if status == 503 {
            break (status, body);
        }
        assert!(Instant::now() < deadline, "finals never waited: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(body.starts_with("full: finals wait"), "{status}: {body}");
    let (status, problem, retry_after) = refusal(connect(&app, query, &key).await);
    assert_eq!((status, problem["code"].as_str()), (503, Some("overloaded")), "{problem}");
    assert!(retry_after.is_some());

    let (got, _) = streaming.await.unwrap();
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000));
    assert_eq!(got.finals().len(), 4, "every utterance of the running session became a final");
    // Caught up: admitted again once the last wait is history.
    let deadline = Instant::now() + Duration::from_secs(10);
    while readiness().await.0 != 200 {
        assert!(Instant::now() < deadline, "ready again once ASR caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = connect(&app, query, &key).await.expect("admitted again");
    assert_eq!(close_stream(again).await.close.map(|c| c.0), Some(1000));
}

/// `record=true` keeps the session's audio as its meeting's recording: Ogg Opus written while
/// the session streams, as long as what was sent, the same sound, downloadable and deletable
/// apart from the meeting. A server that keeps no recordings refuses it before the upgrade.
async fn a_recorded_session_keeps_its_audio_as_the_meetings_recording(db: TestDb) {
    let key = common::tenant(&*db.store, "live").await.api_key;
    let (app, dir) = TestApp::spawn_scripted_recording(db, LiveConfig::default(), ScriptedModels::default()).await;
    let pcm = tone_speech(4.8);
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&record=true", &key).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    let started = match rx.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(&text).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(started["type"], "SessionStarted");
    let meeting = started["meeting_id"].as_str().unwrap().to_owned();
    let reader = tokio::spawn(read_all(rx));
    let (first, rest) = pcm.split_at(pcm.len() / 2);
    for frame in first.chunks(1_600) {
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        tx.send(Message::Binary(bytes.into())).await.unwrap();
    }
    // While the session runs the file already holds its first whole seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, audio) = download(&app, &meeting, &key).await;
        if status == 200 && decoded(&audio).len() >= 16_000 {
            break;
        }
        assert!(Instant::now() < deadline, "no second of audio in the live recording");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for frame in rest.chunks(1_600) {
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        tx.send(Message::Binary(bytes.into())).await.unwrap();
    }
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), reader).await.unwrap().unwrap();
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000), "{got:?}");
    assert_eq!(got.of_type("SessionEnded")[0]["meeting_id"], meeting.as_str());

    let (_, recording) = app.get(&format!("/v1/meetings/{meeting}/recording"), &key).await;
    assert_eq!(
        (recording["status"].as_str(), recording["format"].as_str()),
        (Some("recorded"), Some("ogg")),
        "{recording}"
    );
    let seconds = recording["duration_seconds"].as_f64().unwrap();
    assert!((seconds - 4.8).abs() < 0.01, "{recording}");
    let (status, content_type, audio) = download(&app, &meeting, &key).await;
    assert_eq!((status, content_type.as_str()), (200, "audio/ogg"));
    assert_eq!(recording["bytes"].as_u64(), Some(audio.len() as u64), "{recording}");
    // At most 24 kbit/s (silence takes less), plus headers and framing.
    assert!((4_000..16_000).contains(&audio.len()), "{} bytes for 4.8 s", audio.len());
    let back = decoded(&audio);
    assert!(back.len() + 16 >= pcm.len() && back.len() <= pcm.len() + 320, "{} samples for {}", back.len(), pcm.len());
    let sent: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let n = sent.len() - 64;
    let correlation = (0..64)
        .map(|lag| {
            let (a, b) = (&sent[..n], &back[lag..lag + n]);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (norm(a) * norm(b))
        })
        .fold(f32::MIN, f32::max);
    assert!(correlation > 0.8, "the recording does not sound like what was sent: {correlation:.2}");

    // Deleting the recording leaves the meeting and its transcript.
    let (_, meeting_before) = app.get(&format!("/v1/meetings/{meeting}"), &key).await;
    let deleted =
        app.http.delete(app.url(&format!("/v1/meetings/{meeting}/recording"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(download(&app, &meeting, &key).await.0, 404);
    let (_, meeting_after) = app.get(&format!("/v1/meetings/{meeting}"), &key).await;
    assert_eq!(meeting_after["stt_status"], "COMPLETED");
    assert_eq!(meeting_after["transcript_text"], meeting_before["transcript_text"]);
    let left = crate::recording::walk(&dir);
    assert!(left.is_empty(), "{left:?}");

    // A tenant that records by default: sessions that do not say are kept, `record=false` is not.
    let (status, tenant) = app.patch("/v1/tenant", &key, json!({"record_sessions": true})).await;
    assert_eq!((status, &tenant["record_sessions"]), (200, &json!(true)), "{tenant}");
    for (query, kept) in [("", "recorded"), ("&record=false", "none")] {
        let ws = connect(&app, &format!("encoding=linear16&sample_rate=16000{query}"), &key).await.unwrap();
        let (got, _) = stream_pcm(ws, &tone_speech(1.0), 50.0).await;
        let meeting = got.of_type("SessionEnded")[0]["meeting_id"].as_str().unwrap().to_owned();
        let (_, recording) = app.get(&format!("/v1/meetings/{meeting}/recording"), &key).await;
        assert_eq!(recording["status"], kept, "{query}: {recording}");
    }

    // A server without recording storage refuses `record=true` before the upgrade.
    let plain_db = common::sqlite().await;
    let plain_key = common::tenant(&*plain_db.store, "plain").await.api_key;
    let plain = TestApp::spawn_scripted(plain_db, LiveConfig::default(), ScriptedModels::default()).await;
    let (status, problem, _) =
        refusal(connect(&plain, "encoding=linear16&sample_rate=16000&record=true", &plain_key).await);
    assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("record")), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_recorded_session_keeps_its_audio_as_the_meetings_recording() {
    a_recorded_session_keeps_its_audio_as_the_meetings_recording(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_recorded_session_keeps_its_audio_as_the_meetings_recording() {
    if let Some(db) = common::postgres().await {
        a_recorded_session_keeps_its_audio_as_the_meetings_recording(db).await;
    }
}

/// A tenant's `recording_retention_days` (`PATCH /v1/tenant`, 1 to 3650 days or `null`): the
/// retention job deletes a recording older than that, its file and its row, and leaves the
/// meeting with its transcript.
async fn a_recording_past_its_tenants_retention_is_deleted(db: TestDb) {
    let key = common::tenant(&*db.store, "live").await.api_key;
    let (app, dir) = TestApp::spawn_scripted_recording(db, LiveConfig::default(), ScriptedModels::default()).await;
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&record=true", &key).await.unwrap();
    let (got, _) = stream_pcm(ws, &tone_speech(2.0), 50.0).await;
    let meeting = got.of_type("SessionEnded")[0]["meeting_id"].as_str().unwrap().to_owned();
    let (_, recording) = app.get(&format!("/v1/meetings/{meeting}/recording"), &key).await;
    assert_eq!(recording["status"], "recorded", "{recording}");
    assert_eq!(crate::recording::walk(&dir).len(), 1);
    let (_, before) = app.get(&format!("/v1/meetings/{meeting}"), &key).await;
    assert!(before["transcript_text"].as_str().is_some_and(|t| t.contains("speech")), "{before}");

    for days in [json!(0), json!(4000)] {
        let (status, problem) = app.patch("/v1/tenant", &key, json!({"recording_retention_days": days})).await;
        assert_eq!((status, &problem["errors"][0]["field"]), (422, &json!("recording_retention_days")), "{problem}");
    }
    let (status, tenant) = app.patch("/v1/tenant", &key, json!({"recording_retention_days": 30})).await;
    assert_eq!((status, &tenant["recording_retention_days"]), (200, &json!(30)), "{tenant}");
    assert_eq!(app.get("/v1/tenant", &key).await.1["recording_retention_days"], 30);

    let job = ddalkkak::jobs::RetentionJob {
        store: app.db.store.clone(),
        recordings: Some(ddalkkak::storage::RecordingStorage::new(&dir)),
        retention: ddalkkak::jobs::Retention::default(),
        interval: Duration::from_secs(3600),
    };
    assert_eq!(job.run_once().await.unwrap().recordings.expired, 0, "30 days have not passed");
    let purged = job.purge_at(ddalkkak::domain::now() + chrono::Duration::days(31)).await.unwrap();
    assert_eq!(purged.recordings.expired, 1);
    let left = crate::recording::walk(&dir);
    assert!(left.is_empty(), "{left:?}");
    let (_, recording) = app.get(&format!("/v1/meetings/{meeting}/recording"), &key).await;
    assert_eq!(recording["status"], "none", "{recording}");
    let (status, after) = app.get(&format!("/v1/meetings/{meeting}"), &key).await;
    assert_eq!((status, &after["stt_status"]), (200, &json!("COMPLETED")));
    assert_eq!(after["transcript_text"], before["transcript_text"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_recording_past_its_tenants_retention_is_deleted() {
    a_recording_past_its_tenants_retention_is_deleted(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_recording_past_its_tenants_retention_is_deleted() {
    if let Some(db) = common::postgres().await {
        a_recording_past_its_tenants_retention_is_deleted(db).await;
    }
}

/// `GET …/recording/audio`: the status, the content type and the bytes.
async fn download(app: &TestApp, meeting: &str, key: &str) -> (u16, String, Vec<u8>) {
    let r = app
        .http
        .get(app.url(&format!("/v1/meetings/{meeting}/recording/audio")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, r.bytes().await.unwrap().to_vec())
}

/// An Ogg Opus file as 16 kHz samples; empty when it does not decode (yet).
fn decoded(file: &[u8]) -> Vec<f32> {
    match ddalkkak::audio::decode_bytes(file.to_vec(), 3_600) {
        Ok(d) => ddalkkak::audio::Resampler::new(d.sample_rate, 16_000).unwrap().process_all(&d.samples),
        Err(_) => Vec::new(),
    }
}

/// A session that reaches `max_session_duration` ends as a normal end would: the audio received
/// becomes finals, the meeting is finalized, and the client gets `Error` `max_duration`
/// (retryable), `Metadata`, `SessionEnded` and close 4002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_their_maximum_duration() {
    let config = LiveConfig { max_session_duration: Duration::from_secs(2), ..LiveConfig::default() };
    let Some((app, key, _serial)) = live_app(common::sqlite().await, config).await else { return };
    let (pcm, _) = sample();
    // Endpointing off: the speech stays one open utterance until the session ends.
    let ws = connect(&app, "encoding=linear16&sample_rate=16000&endpointing=false", &key).await.unwrap();
    let started = Instant::now();
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    let speech: Vec<u8> = pcm[16_000 * 66 / 10..16_000 * 11].iter().flat_map(|s| s.to_le_bytes()).collect();
    for chunk in speech.chunks(8_000) {
        tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
    }
    let got = tokio::time::timeout(Duration::from_secs(30), reader).await.expect("the server ends it").unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1900), "ended after {:?}", started.elapsed());
    let error = got.of_type("Error").first().cloned().cloned().expect("an Error message");
    assert_eq!(error["code"], "max_duration", "{error}");
    assert_eq!(error["retryable"], true);
    assert_eq!(got.close.as_ref().map(|c| (c.0, c.1.as_str())), Some((4002, "max_duration")));
    let text = got.final_text();
    assert!(text.to_lowercase().contains("hello"), "the open utterance was flushed into a final: {text:?}");
    let kinds: Vec<&str> = got.messages.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(&kinds[kinds.len() - 3..], ["Error", "Metadata", "SessionEnded"], "{kinds:?}");
    let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap();
    let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
    assert_eq!(meeting["stt_status"], "COMPLETED");
    assert_eq!(meeting["transcript_text"].as_str().unwrap().replace('\n', " "), text);
}

/// Caption viewers: at most `max_viewers_per_session` per session (503 `too_many_viewers`, SSE
/// included) and `max_viewers_per_tenant` per tenant (429 `tenant_viewer_quota`); a viewer that
/// sends more than 4 KiB is cut off (1009); a WebSocket viewer that answers no ping for
/// `viewer_timeout` is closed (4000) while one that reads stays; a viewer that leaves frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caption_viewers_are_capped_and_dead_ones_dropped() {
    let config = LiveConfig {
        max_viewers_per_session: 2,
        max_viewers_per_tenant: 3,
        viewer_timeout: Duration::from_millis(1500),
        ..LiveConfig::default()
    };
    let (app, key) = scripted_app(common::sqlite().await, config).await;
    let query = "encoding=linear16&sample_rate=16000";
    let mut speakers = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let ws = connect(&app, query, &key).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        let started = rx.next().await.unwrap().unwrap();
        let started: Value = serde_json::from_str(started.to_text().unwrap()).unwrap();
        sessions.push(started["session_id"].as_str().unwrap().to_owned());
        // Keeps the session open past the idle timeout while the test runs.
        let keep_alive = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.send(Message::Text(r#"{"type":"KeepAlive"}"#.into())).await.is_err() {
                    return tx;
                }
            }
        });
        speakers.push((keep_alive, rx));
    }
    let url = |session: &str| app.ws_url(&format!("/v1/realtime-sessions/{session}/captions"));
    let watch = |session: String| {
        let mut request = url(&session).into_client_request().unwrap();
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
        tokio_tungstenite::connect_async(request)
    };

    let (reader, _) = watch(sessions[0].clone()).await.expect("first viewer");
    let reading = tokio::spawn(read_all(reader.split().1));
    let (mut dead, _) = watch(sessions[0].clone()).await.expect("second viewer");
    let (status, problem, retry_after) = refusal(watch(sessions[0].clone()).await.map(|(ws, _)| ws));
    assert_eq!((status, problem["code"].as_str()), (503, Some("too_many_viewers")), "{problem}");
    assert!(retry_after.is_some());
    let sse = app
        .http
        .get(app.url(&format!("/v1/realtime-sessions/{}/captions", sessions[0])))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 503, "SSE viewers count too");

    let (noisy, _) = watch(sessions[1].clone()).await.expect("the tenant's third viewer");
    let (status, problem, _) = refusal(watch(sessions[1].clone()).await.map(|(ws, _)| ws));
    assert_eq!((status, problem["code"].as_str()), (429, Some("tenant_viewer_quota")), "{problem}");
    assert_eq!(problem["type"], "https://ddalkkak.dev/problems/tenant_viewer_quota");

    // A viewer has nothing to say: a message over 4 KiB ends its connection.
    let (mut noisy_tx, mut noisy_rx) = noisy.split();
    let _ = noisy_tx.send(Message::Text("x".repeat(8 * 1024).into())).await;
    let ended = close_code(&mut noisy_rx).await;
    assert!(matches!(ended, Some(1009) | None), "{ended:?}");

    // `dead` never reads, so it never answers a ping: closed with 4000 after the timeout. The
    // viewer that reads (and so answers pings) stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!reading.is_finished(), "a viewer that answers pings stays connected");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match dead.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => continue,
                _ => break None,
            }
        }
    })
    .await
    .expect("the dead viewer's connection ends");
    // The close frame may be lost: reading it, the client first answers the queued pings on a
    // connection the server has already dropped.
    assert!(matches!(&closed, Some((4000, reason)) if reason == "idle_timeout") || closed.is_none(), "{closed:?}");
    // Its slot and the noisy viewer's are free again.
    let (again, _) = watch(sessions[0].clone()).await.expect("a slot of the session was given back");
    let again = tokio::spawn(read_all(again.split().1));

    for (keep_alive, rx) in speakers {
        keep_alive.abort();
        let _ = keep_alive.await;
        drop(rx);
    }
    for viewer in [reading, again] {
        let seen = tokio::time::timeout(Duration::from_secs(30), viewer).await.expect("viewers end with the session");
        assert!(seen.unwrap().close.is_some());
    }
}
