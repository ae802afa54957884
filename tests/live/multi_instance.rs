//! Three `ddalkkak serve` processes on one PostgreSQL database: a client streams into A while
//! caption viewers on B and C follow it (relayed over LISTEN/NOTIFY); A is SIGKILLed mid-stream;
//! B's or C's sweeper finalizes the meeting within the session lease with every final the client
//! had received, queues its job once, and the viewers learn the session ended and get its action
//! items from whichever instance ran the job; a second client streams into B through all of it.
//!
//! Prints the viewers' delay behind the speaker's own finals and how long after the kill the
//! meeting was finalized.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::common;
use crate::common::server_process::ServerProcess;

const LEASE_SECS: u64 = 6;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: String, key: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// A message with when it arrived, and its text as sent.
type Timed = (Instant, Value, String);

/// Reads text messages until the socket closes (or `until` says stop), each with its arrival.
async fn read(mut rx: futures_util::stream::SplitStream<Socket>, until: impl Fn(&Value) -> bool) -> Vec<Timed> {
    let mut got = Vec::new();
    while let Some(Ok(message)) = rx.next().await {
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            let stop = until(&value);
            got.push((Instant::now(), value, text.to_string()));
            if stop {
                break;
            }
        }
    }
    got
}

/// How long after the speaker's client each of its `Results` (partials and finals) reached a
/// viewer that connected at `connected`, in ms: the relayed text is the speaker's, byte for byte.
fn delays(speaker: &[Timed], viewer: &[Timed], connected: Instant) -> Vec<f64> {
    let spoken: std::collections::HashMap<&str, Instant> = speaker
        .iter()
        .filter(|(at, m, _)| m["type"] == "Results" && *at > connected)
        .map(|(at, _, raw)| (raw.as_str(), *at))
        .collect();
    viewer
        .iter()
        .filter_map(|(at, _, raw)| {
            spoken.get(raw.as_str()).map(|s| at.saturating_duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect()
}

/// The non-empty finals' transcripts, with when each arrived.
fn finals(messages: &[Timed]) -> Vec<(Instant, String)> {
    messages
        .iter()
        .filter(|(_, m, _)| m["type"] == "Results" && m["is_final"] == true)
        .map(|(at, m, _)| (*at, m["channel"]["alternatives"][0]["transcript"].as_str().unwrap().to_owned()))
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

/// Streams 16 kHz PCM at twice real time in 100 ms frames; `CloseStream` at the end when `close`.
fn stream(
    mut tx: futures_util::stream::SplitSink<Socket, Message>,
    pcm: Vec<u8>,
    close: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for chunk in pcm.chunks(3_200) {
            if tx.send(Message::Binary(chunk.to_vec().into())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if close {
            let _ = tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await;
        }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_instances_relay_captions_and_finish_a_killed_ones_meeting() {
    let _heavy = common::heavy().await;
    let Some(models) = common::models() else { return };
    let Some(db) = common::postgres().await else { return };
    let url = db.postgres_url().unwrap();
    let key = common::tenant(&*db.store, "multi").await.api_key;
    let hex = |b: u8| format!("{b:02x}").repeat(32);
    let (encryption, signing) = (hex(7), hex(9));
    let env = [("DDALKKAK_ENCRYPTION_KEY", encryption.as_str()), ("DDALKKAK_TOKEN_SIGNING_KEY", signing.as_str())];
    let data = tempfile::tempdir().unwrap();
    let lease = LEASE_SECS.to_string();
    let start = |name: &'static str| {
        let dir = data.path().join(name);
        let (url, lease, models, env) = (url.clone(), lease.clone(), models.root.clone(), env);
        async move {
            let args = [
                "--database-url",
                &url,
                "--data-dir",
                dir.to_str().unwrap(),
                "--models-dir",
                models.to_str().unwrap(),
                "--instance-id",
                name,
                "--session-lease-secs",
                &lease,
                "--llm",
                "smollm2",
                "--llm-threads",
                "1",
                "--llm-nice",
                "0",
                "--asr-workers",
                "1",
                "--asr-models",
                "tiny.en",
            ];
            ServerProcess::start(&args, &env).await
        }
    };
    let mut a = start("a").await;
    let b = start("b").await;
    let c = start("c").await;

    let audio = ddalkkak::audio::load_16k_mono(&models.root.join("testdata/pyannote_sample.wav")).unwrap();
    let pcm: Vec<u8> = audio.iter().flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    let listen = "/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true";

    // The second client, on B, from the start to its own end; a viewer on C follows it.
    let (tx2, mut rx2) = connect(b.ws_url(listen), &key).await.split();
    let sender2 = stream(tx2, pcm.clone(), true);
    let first = rx2.next().await.unwrap().unwrap();
    let started2: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    let reader2 = tokio::spawn(read(rx2, |_| false));
    let captions2 = format!("/v1/realtime-sessions/{}/captions", started2["session_id"].as_str().unwrap());
    let (_, viewer2) = connect(c.ws_url(&captions2), &key).await.split();
    let viewer2 = (Instant::now(), tokio::spawn(read(viewer2, |_| false)));

    let (tx1, mut rx1) = connect(a.ws_url(listen), &key).await.split();
    let sender1 = stream(tx1, pcm, false);
    let first = rx1.next().await.unwrap().unwrap();
    let started: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(started["type"], "SessionStarted", "{started}");
    let session = started["session_id"].as_str().unwrap().to_owned();
    let meeting = started["meeting_id"].as_str().unwrap().to_owned();

    // The speaker's client, until it has two finals (of three in the recording); then A dies.
    let speaker = tokio::spawn(read(rx1, {
        let count = std::sync::atomic::AtomicUsize::new(0);
        move |m| {
            let text = m["channel"]["alternatives"][0]["transcript"].as_str().unwrap_or("");
            m["type"] == "Results"
                && m["is_final"] == true
                && !text.is_empty()
                && count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 1
        }
    }));
    // Viewers on B and C, each until the action items arrive.
    let captions = format!("/v1/realtime-sessions/{session}/captions");
    let mut viewers = Vec::new();
    for server in [&b, &c] {
        let (_, rx) = connect(server.ws_url(&captions), &key).await.split();
        viewers.push((Instant::now(), tokio::spawn(read(rx, |m| m["type"] == "ActionItemsReady"))));
    }
    let speaker = tokio::time::timeout(Duration::from_secs(120), speaker).await.unwrap().unwrap();
    // Give the relay a moment to carry the last final before the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    let killed = Instant::now();
    sender1.abort();
    let spoken = finals(&speaker);
    assert_eq!(spoken.len(), 2);

    // B's or C's sweeper finalizes the meeting from the stored finals.
    let stored = loop {
        let got = b.get(&format!("/v1/meetings/{meeting}"), &key).await;
        if got["stt_status"] == "COMPLETED" {
            break got;
        }
        assert!(killed.elapsed() < Duration::from_secs(LEASE_SECS + 10), "not finalized within lease + 10 s: {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let finalized_after = killed.elapsed();
    let segments: Vec<&str> =
        stored["transcript_segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    let said: Vec<&str> = spoken.iter().map(|(_, t)| t.as_str()).collect();
    assert!(segments.len() >= said.len(), "{segments:?} vs {said:?}");
    assert_eq!(&segments[..said.len()], said.as_slice(), "every final the client received is in the meeting");

    // One job, run once, on B or C; its action items reach the viewers on both.
    let pool = db.pg.as_ref().unwrap().pool();
    let meeting_id: uuid::Uuid = meeting.parse().unwrap();
    let jobs: Vec<(String, i32)> = sqlx::query_as("SELECT status::text, attempts FROM jobs WHERE meeting_id = $1")
        .bind(meeting_id)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let mut seen = Vec::new();
    for (connected, viewer) in viewers {
        let got = match tokio::time::timeout(Duration::from_secs(240), viewer).await {
            Ok(got) => got.unwrap(),
            Err(_) => {
                let jobs: Vec<(String, i32, Option<String>)> =
                    sqlx::query_as("SELECT status::text, attempts, last_error FROM jobs WHERE meeting_id = $1")
                        .bind(meeting_id)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                panic!("no action items for the viewer in 240 s; the job: {jobs:?}");
            }
        };
        let kinds: Vec<&str> = got.iter().map(|(_, m, _)| m["type"].as_str().unwrap_or("?")).collect();
        let ended = got.iter().position(|(_, m, _)| m["type"] == "SessionEnded" && m["meeting_id"] == meeting.as_str());
        assert!(ended.is_some_and(|i| i + 1 < got.len()), "SessionEnded, then ActionItemsReady: {kinds:?}");
        let ready = got.last().map(|(_, m, _)| m.clone()).unwrap();
        assert_eq!(
            (&ready["type"], &ready["meeting_id"]),
            (&Value::from("ActionItemsReady"), &Value::from(meeting.as_str()))
        );
        seen.push((connected, got));
    }
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status::text, attempts FROM jobs WHERE meeting_id = $1")
            .bind(meeting_id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("SUCCEEDED", 1));

    // Each viewer saw the speaker's finals, in order (those before it connected replayed from the
    // database).
    let mut relayed = Vec::new();
    for (connected, viewed) in &seen {
        let texts: Vec<String> = finals(viewed).into_iter().map(|(_, t)| t).collect();
        assert!(texts.len() >= said.len(), "the viewer missed finals: {texts:?} vs {said:?}");
        assert_eq!(&texts[..said.len()], said.as_slice());
        relayed.extend(delays(&speaker, viewed, *connected));
    }

    // The client on B went on through all of it: every final it got is in its meeting, and the
    // viewer on C saw them all.
    sender2.await.unwrap();
    let other = tokio::time::timeout(Duration::from_secs(120), reader2).await.unwrap().unwrap();
    assert!(other.iter().any(|(_, m, _)| m["type"] == "SessionEnded"), "the second session ended normally");
    let got = b.get(&format!("/v1/meetings/{}", started2["meeting_id"].as_str().unwrap()), &key).await;
    let texts: Vec<String> = finals(&other).into_iter().map(|(_, t)| t).collect();
    assert!(texts.len() >= 2, "{texts:?}");
    assert_eq!(got["transcript_text"].as_str().unwrap().replace('\n', " "), texts.join(" "));
    let (connected, viewer2) = viewer2;
    let viewed = tokio::time::timeout(Duration::from_secs(240), viewer2).await.unwrap().unwrap();
    let viewed_texts: Vec<String> = finals(&viewed).into_iter().map(|(_, t)| t).collect();
    assert_eq!(viewed_texts, texts);
    relayed.extend(delays(&other, &viewed, connected));

    assert!(relayed.len() >= 4, "{} results relayed live", relayed.len());
    relayed.sort_by(f64::total_cmp);
    eprintln!(
        "captions on other instances: {} results (partials and finals), delay behind the speaker's own client \
         p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; meeting finalized {:.1} s after SIGKILL (lease {LEASE_SECS} s)",
        relayed.len(),
        percentile(&relayed, 0.5),
        percentile(&relayed, 0.95),
        relayed.last().unwrap(),
        finalized_after.as_secs_f64()
    );
    drop((b, c));
}
