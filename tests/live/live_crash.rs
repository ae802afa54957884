//! Nothing a client has seen is lost when the server dies: the real binary is killed (SIGKILL)
//! in the middle of a live session, started again on the same data directory, and the meeting
//! is found finalized with every final the client had received.

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    async fn start(data: &Path, models: &Path) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_ddalkkak"))
            .arg("serve")
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--models-dir", models.to_str().unwrap()])
            .args(["--instance-id", "crash-test"])
            .args(["--llm", "none"])
            .env("DDALKKAK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(server.url("/readyz")).await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finalizes_the_session_on_restart() {
    let _heavy = common::heavy().await;
    let Some(models) = common::models() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &models.root).await;
    let key = std::fs::read_to_string(data.path().join("secrets/owner-api-key")).unwrap().trim().to_owned();

    let url = format!("ws://127.0.0.1:{}/v1/listen?encoding=linear16&sample_rate=16000", server.port);
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
            }
            _ => {}
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    sender.abort();
    let meeting = meeting.expect("SessionStarted came first");

    let server = Server::start(data.path(), &models.root).await;
    let client = reqwest::Client::new();
    let got: Value = client
        .get(server.url(&format!("/v1/meetings/{meeting}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["stt_status"], "COMPLETED", "{got}");
    let stored: Vec<&str> =
        got["transcript_segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert!(stored.len() >= finals.len());
    assert_eq!(&stored[..finals.len()], finals.iter().map(String::as_str).collect::<Vec<_>>().as_slice());
    assert!(got["audio_duration"].as_i64().unwrap() > 0);
    let sessions: Value =
        client.get(server.url("/v1/realtime-sessions")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let sessions = sessions["items"].as_array().or(sessions.as_array()).unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["status"], "ENDED");
}
