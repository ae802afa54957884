//! Nothing a client has seen is lost when the server stops: the real binary is killed (SIGKILL)
//! in the middle of a live session, started again on the same data directory, and the meeting
//! is found finalized with every final the client had received; and stopped with SIGTERM, it
//! stops being ready before it finalizes and closes its sessions (1001, reconnect elsewhere).

use crate::common;
use crate::common::server_process::ServerProcess;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The binary over the embedded database in `data`.
async fn start_embedded(data: &Path, models: &Path, args: &[&str]) -> ServerProcess {
    let mut all = vec!["--data-dir", data.to_str().unwrap(), "--models-dir", models.to_str().unwrap()];
    all.extend(["--instance-id", "crash-test", "--llm", "none"]);
    all.extend(args);
    ServerProcess::start(&all, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finalizes_the_session_on_restart() {
    let _heavy = common::heavy().await;
    let Some(models) = common::models() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut server = start_embedded(data.path(), &models.root, &[]).await;
    let key = std::fs::read_to_string(data.path().join("secrets/owner-api-key")).unwrap().trim().to_owned();

    let url = format!("ws://127.0.0.1:{}/v1/listen?encoding=linear16&sample_rate=16000&record=true", server.port);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut tx, mut rx) = ws.split();

    let audio = ddalkkak::audio::load_16k_mono(&models.root.join("testdata/pyannote_sample.wav")).unwrap();
    let pcm: Vec<u8> = audio.iter().flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    let sender = tokio::spawn(async move {
        // 100 ms frames at twice real time; the server is killed long before the end.
        for chunk in pcm.chunks(3_200) {
            if tx.send(Message::Binary(chunk.to_vec().into())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let mut meeting = None;
    let mut finals = Vec::new();
    let mut heard_until = 0.0;
    while finals.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(60), rx.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(text) = message else { continue };
        let m: Value = serde_json::from_str(&text).unwrap();
        match m["type"].as_str() {
            Some("SessionStarted") => meeting = m["meeting_id"].as_str().map(str::to_owned),
            Some("Results") if m["is_final"] == true => {
                let t = m["channel"]["alternatives"][0]["transcript"].as_str().unwrap().to_owned();
                if !t.is_empty() {
                    finals.push(t);
                }
                heard_until = m["start"].as_f64().unwrap() + m["duration"].as_f64().unwrap();
            }
            _ => {}
        }
    }
    server.kill();
    sender.abort();
    let meeting = meeting.expect("SessionStarted came first");

    let server = start_embedded(data.path(), &models.root, &[]).await;
    let got = server.get(&format!("/v1/meetings/{meeting}"), &key).await;
    assert_eq!(got["stt_status"], "COMPLETED", "{got}");
    let stored: Vec<&str> =
        got["transcript_segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert!(stored.len() >= finals.len());
    assert_eq!(&stored[..finals.len()], finals.iter().map(String::as_str).collect::<Vec<_>>().as_slice());
    assert!(got["audio_duration"].as_i64().unwrap() > 0);
    let sessions = server.get("/v1/realtime-sessions", &key).await;
    let sessions = sessions["items"].as_array().or(sessions.as_array()).unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["status"], "ENDED");

    // The recording (`record=true`) keeps what was streamed up to the last whole second before
    // the kill, and the restart recorded how long that is.
    let recording = server.get(&format!("/v1/meetings/{meeting}/recording"), &key).await;
    assert_eq!(recording["status"], "recorded", "{recording}");
    let seconds = recording["duration_seconds"].as_f64().unwrap();
    assert!(seconds >= heard_until - 1.0, "{seconds} s recorded, finals up to {heard_until} s: {recording}");
    let audio = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/v1/meetings/{meeting}/recording/audio", server.port))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(recording["bytes"].as_u64(), Some(audio.len() as u64));
    let decoded = ddalkkak::audio::decode_bytes(audio.to_vec(), 3_600).unwrap();
    let decoded_seconds = decoded.samples.len() as f64 / f64::from(decoded.sample_rate);
    assert!((decoded_seconds - seconds).abs() < 0.05, "decodes to {decoded_seconds} s, row says {seconds} s");
}

/// Streams the recording at twice real time in 100 ms frames until the server stops taking it.
fn stream_recording(
    mut tx: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
        Message,
    >,
    models: &Path,
) -> tokio::task::JoinHandle<()> {
    let audio = ddalkkak::audio::load_16k_mono(&models.join("testdata/pyannote_sample.wav")).unwrap();
    let pcm: Vec<u8> = audio.iter().flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    tokio::spawn(async move {
        for chunk in pcm.chunks(3_200) {
            if tx.send(Message::Binary(chunk.to_vec().into())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// SIGTERM with a shutdown delay, as Kubernetes stops a pod: `/readyz` turns 503 `draining` and
/// new streams are refused (503 `shutting_down`, `Retry-After`) while the open session still
/// streams; only after the delay does the session end as `CloseStream` would end it — `Error`
/// `shutting_down` (retryable), `SessionEnded`, close 1001 — with its meeting finalized from
/// every final the client received, and the process exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_unready_first_then_finalizes_and_closes_1001() {
    let _heavy = common::heavy().await;
    let Some(models) = common::models() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut server = start_embedded(data.path(), &models.root, &["--shutdown-delay-secs", "2"]).await;
    let key = std::fs::read_to_string(data.path().join("secrets/owner-api-key")).unwrap().trim().to_owned();
    let listen = |port: u16| {
        let url = format!("ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate=16000");
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let (ws, _) = listen(server.port).await.unwrap();
    let (tx, mut rx) = ws.split();
    let sender = stream_recording(tx, &models.root);

    // Everything the client gets, with when it got it; the close frame's arrival too.
    let mut messages: Vec<Value> = Vec::new();
    while !messages.iter().any(|m| m["type"] == "Results" && m["is_final"] == true) {
        let message = tokio::time::timeout(Duration::from_secs(60), rx.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            messages.push(serde_json::from_str(&text).unwrap());
        }
    }
    let reader = tokio::spawn(async move {
        let mut rest = Vec::new();
        let mut close = None;
        while let Some(Ok(message)) = rx.next().await {
            match message {
                Message::Text(text) => rest.push(serde_json::from_str::<Value>(&text).unwrap()),
                Message::Close(frame) => {
                    close = Some((Instant::now(), frame.map(|f| (u16::from(f.code), f.reason.to_string()))));
                }
                _ => {}
            }
        }
        (rest, close)
    });

    let killed = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let sigterm = Instant::now();
    let client = reqwest::Client::new();
    let (unready_at, reason) = loop {
        let response = client.get(server.url("/readyz")).send().await.unwrap();
        if response.status() == 503 {
            break (Instant::now(), response.text().await.unwrap());
        }
        assert!(sigterm.elapsed() < Duration::from_secs(2), "/readyz still 200 after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reason.starts_with("draining"), "{reason}");
    assert!(!reader.is_finished(), "the session was still open when readiness turned");
    let streams = client.get(server.url("/readyz/streams")).send().await.unwrap();
    assert_eq!(streams.status(), 503);
    // A new stream is refused before the upgrade, told to come back in a second.
    match listen(server.port).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 503);
            assert_eq!(r.headers()["retry-after"], "1");
            let problem: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(problem["code"], "shutting_down", "{problem}");
        }
        other => panic!("a new stream while draining: {other:?}"),
    }

    let (rest, close) = tokio::time::timeout(Duration::from_secs(60), reader).await.unwrap().unwrap();
    sender.abort();
    let (closed_at, frame) = close.expect("a close frame");
    assert_eq!(frame, Some((1001, "shutting_down".to_owned())));
    assert!(unready_at < closed_at, "readiness turned before the session closed");
    assert!(closed_at - sigterm >= Duration::from_millis(1900), "closed {:?} after SIGTERM", closed_at - sigterm);
    messages.extend(rest);
    let error = messages.iter().find(|m| m["type"] == "Error").expect("an Error message");
    assert_eq!((&error["code"], &error["retryable"]), (&Value::from("shutting_down"), &Value::from(true)), "{error}");
    let ended = messages.iter().position(|m| m["type"] == "SessionEnded").expect("SessionEnded before the close");
    assert!(messages[..ended].iter().any(|m| m["type"] == "Metadata"));

    let started = Instant::now();
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");

    // The stopped server's database: the meeting holds every final the client received, and no
    // session is left for a restart or a sweeper to recover.
    let finals: Vec<&str> = messages
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .map(|m| m["channel"]["alternatives"][0]["transcript"].as_str().unwrap())
        .filter(|t| !t.is_empty())
        .collect();
    let meeting: uuid::Uuid = messages[0]["meeting_id"].as_str().unwrap().parse().unwrap();
    let store = ddalkkak::store::connect(&ddalkkak::store::sqlite_url(data.path()), 1).await.unwrap();
    let tenant = store.tenant_by_slug("default").await.unwrap().id;
    let meeting = store.get_meeting(tenant, meeting).await.unwrap();
    assert_eq!(meeting.stt_status, ddalkkak::domain::SttStatus::Completed);
    assert_eq!(meeting.transcript_text.unwrap_or_default().replace('\n', " "), finals.join(" "));
    assert!(store.orphaned_sessions("crash-test").await.unwrap().is_empty(), "the session ENDED");
}
