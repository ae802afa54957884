//! `examples/bot_bridge.rs` against a live server: a WAV file and raw PCM on stdin become printed
//! finals and a completed meeting; a connection dropped mid-stream (by a TCP proxy between the
//! two) is reconnected, a new session continues the audio, and both meetings are completed.
//! Builds the example with cargo on first use; skipped without models unless
//! `DDALKKAK_REQUIRE_MODELS=1`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddalkkak::domain::SttStatus;
use ddalkkak::store::MeetingFilter;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The example's binary, built by cargo (a no-op when `cargo test` already built it).
fn bridge() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "--example", "bot_bridge"]).current_dir(env!("CARGO_MANIFEST_DIR"));
            // What cargo set for this test process only: build scripts that watch these (ring's
            // watches CARGO_MANIFEST_DIR) would otherwise rebuild half the tree, and again for
            // the next plain `cargo test`.
            for (name, _) in std::env::vars() {
                let per_crate = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_"];
                if per_crate.iter().any(|p| name.starts_with(p)) || name == "CARGO_TARGET_TMPDIR" {
                    build.env_remove(name);
                }
            }
            let status = build.status().expect("cargo");
            assert!(status.success(), "cargo build --example bot_bridge failed");
            // target/<profile>/deps/<this test> → target/<profile>/examples/bot_bridge
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("examples/bot_bridge")
        })
        .clone()
}

fn testdata() -> PathBuf {
    common::models().unwrap().root.join("testdata")
}

/// The samples of a 16-bit PCM WAV file (after its `data` chunk header).
fn wav_pcm(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &bytes[at..at + 4] == b"data" {
            return bytes[at + 8..(at + 8 + size).min(bytes.len())].to_vec();
        }
        at += 8 + size + size % 2;
    }
    panic!("no data chunk in {}", path.display());
}

/// Forwards TCP connections to `upstream`; `cut` drops every open one without a WebSocket
/// close, the way a network failure does.
struct Proxy {
    addr: std::net::SocketAddr,
    current: Arc<Mutex<CancellationToken>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let current = Arc::new(Mutex::new(CancellationToken::new()));
        let tokens = current.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let cut = tokens.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, current }
    }

    fn cut(&self) {
        let mut token = self.current.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }
}

/// Runs the bridge to its end; returns (exit success, stdout lines, stderr). `on_line` sees each
/// stdout line as it arrives.
async fn run_bridge(
    url: String,
    key: &str,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    mut on_line: impl FnMut(&str),
) -> (bool, Vec<String>, String) {
    let mut child = tokio::process::Command::new(bridge())
        .args(["--url", &url, "--key", key])
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        tokio::spawn(async move {
            pipe.write_all(&bytes).await.unwrap();
            // Dropping the pipe is the end of the audio.
        });
    }
    let mut stderr = child.stderr.take().unwrap();
    let err = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await.unwrap();
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            on_line(&line);
            out.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(240), read).await.expect("the bridge finishes");
    let status = child.wait().await.unwrap();
    (status.success(), out, err.await.unwrap())
}

fn finals(lines: &[String]) -> Vec<&str> {
    lines.iter().filter(|l| l.starts_with("[final ")).map(|l| l.split_once("] ").unwrap().1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridges_a_wav_file_and_stdin_pcm() {
    let _paced = common::paced().await;
    let db = common::sqlite().await;
    let t = common::tenant(&*db.store, "bridge").await;
    let Some(app) = common::TestApp::spawn_live(db, Default::default()).await else { return };
    let wav = testdata().join("pyannote_sample.wav");
    let url = format!("ws://{}", app.addr);

    let (ok, lines, err) = run_bridge(
        url.clone(),
        &t.api_key,
        &["--speed", "2", "--title", "From a file", wav.to_str().unwrap()],
        None,
        |_| {},
    )
    .await;
    assert!(ok, "{lines:?}\n{err}");
    assert!(lines[0].starts_with("session "), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("ended "), "{lines:?}");
    let text = finals(&lines).join(" ").to_lowercase();
    assert!(text.contains("new jersey") && text.contains("chicago"), "{text}");

    // Stdin: the first 12 s as raw PCM ("Hello? Hello? Oh, hello. I didn't know you were there.").
    let pcm = wav_pcm(&wav)[..16_000 * 2 * 12].to_vec();
    let (ok, lines, err) =
        run_bridge(url, &t.api_key, &["--speed", "2", "--sample-rate", "16000", "-"], Some(pcm), |_| {}).await;
    assert!(ok, "{lines:?}\n{err}");
    let text = finals(&lines).join(" ").to_lowercase();
    assert!(text.contains("hello") && text.contains("there"), "{lines:?}");

    let page = app.store().list_meetings(t.tenant.id, &MeetingFilter::default(), None, 10).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|m| m.stt_status == SttStatus::Completed));
    assert!(page.items.iter().any(|m| m.title == "From a file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_dropped_connection_and_carries_on_in_a_new_session() {
    let _paced = common::paced().await;
    let db = common::sqlite().await;
    let t = common::tenant(&*db.store, "reconnect").await;
    let Some(app) = common::TestApp::spawn_live(db, Default::default()).await else { return };
    let proxy = Proxy::start(app.addr).await;
    let wav = testdata().join("pyannote_sample.wav");

    let mut finals_seen = 0;
    let (ok, lines, err) = run_bridge(
        format!("ws://{}", proxy.addr),
        &t.api_key,
        &["--speed", "2", wav.to_str().unwrap()],
        None,
        |line| {
            if line.starts_with("[final ") {
                finals_seen += 1;
                // After the first final the network "fails".
                if finals_seen == 1 {
                    proxy.cut();
                }
            }
        },
    )
    .await;
    assert!(ok, "{lines:?}\n{err}");
    assert!(err.contains("reconnecting in"), "{err}");
    let sessions: Vec<&String> = lines.iter().filter(|l| l.starts_with("session ")).collect();
    assert_eq!(sessions.len(), 2, "a reconnect opens a new session: {lines:?}");
    assert_ne!(sessions[0], sessions[1]);
    let second = lines.iter().position(|l| l == sessions[1]).unwrap();
    let after: Vec<&str> = finals(&lines[second..]);
    assert!(!after.is_empty(), "finals after the reconnect: {lines:?}");
    assert!(after.join(" ").to_lowercase().contains("jersey"), "the audio carried on: {after:?}");
    assert!(lines.last().unwrap().starts_with("ended "), "{lines:?}");

    // Both sessions' meetings are finalized: the dropped one with what it had heard.
    let mut completed = 0;
    for _ in 0..50 {
        let page = app.store().list_meetings(t.tenant.id, &MeetingFilter::default(), None, 10).await.unwrap();
        completed = page.items.iter().filter(|m| m.stt_status == SttStatus::Completed).count();
        if completed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(completed, 2);
}
