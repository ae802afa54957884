//! Load and faults at once against the real binary on PostgreSQL (loopback only): speech streams
//! at real time, with and without attackers beside them, and what the speakers noticed.
//!
//! ```text
//! cargo build --bin ddalkkak --example fault_load
//! target/debug/examples/fault_load [--streams 12] [--seconds 40] [--idle 50] [--viewers 200]
//!     [--database-url postgres://postgres@127.0.0.1:5432/test] [--models-dir models]
//!     [--restart-command "pg_ctlcluster 15 main restart"]
//! ```
//!
//! Two runs, each on a fresh database and a fresh `ddalkkak serve` (tiny.en, no LLM), logged in
//! as `ddalkkak_app`:
//! 1. **quiet**: the speech streams alone;
//! 2. **attacked**: the same streams, and at once `--idle` sockets sending only KeepAlives,
//!    `--viewers` caption viewers spread over the speech sessions (a quarter of them never read),
//!    a client sending a decompression bomb (1,000 s of Opus concealment in one message) every
//!    2 s, 20 slowloris connections (a request head one byte every 2 s), and a PostgreSQL restart
//!    in the middle (`--restart-command`, run through `sh -c`; the default finds the local
//!    cluster's version).
//!
//! Afterwards, per run: every speech stream's finals compared with its finalized meeting, the
//! final latency (audio sent → final received) p50/p95, the server's peak RSS, whether its log
//! shows a panic; for the attacked run what each attacker got. The last line is the p95 ratio.

#[path = "shared/process_usage.rs"]
mod process_usage;
#[path = "shared/speech_client.rs"]
mod speech_client;
use process_usage::process_usage;
use speech_client::{ClientStats, percentile, stream_speech};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

struct Args {
    streams: usize,
    seconds: f64,
    idle: usize,
    viewers: usize,
    database_url: String,
    models_dir: PathBuf,
    restart: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        streams: 12,
        seconds: 40.0,
        idle: 50,
        viewers: 200,
        database_url: "postgres://postgres@127.0.0.1:5432/test".into(),
        models_dir: PathBuf::from("models"),
        restart: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--streams" => args.streams = value.parse().expect("--streams N"),
            "--seconds" => args.seconds = value.parse().expect("--seconds N"),
            "--idle" => args.idle = value.parse().expect("--idle N"),
            "--viewers" => args.viewers = value.parse().expect("--viewers N"),
            "--database-url" => args.database_url = value,
            "--models-dir" => args.models_dir = value.into(),
            "--restart-command" => args.restart = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// The local cluster's restart, as Debian's postgresql-common names it.
fn default_restart() -> Option<String> {
    let version = std::fs::read_dir("/etc/postgresql").ok()?.filter_map(|e| e.ok()).next()?.file_name();
    Some(format!("pg_ctlcluster --skip-systemctl-redirect {} main restart -m fast", version.to_string_lossy()))
}

/// `url` with the database `name` and, when given, the login `user`.
fn with_database(url: &str, name: &str, user: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (auth_host, _) = rest.split_once('/').unwrap_or((rest, ""));
    let host = auth_host.rsplit_once('@').map_or(auth_host, |(_, h)| h);
    let auth = match user {
        Some(user) => user.to_owned(),
        None => auth_host.rsplit_once('@').map_or(String::new(), |(a, _)| a.to_owned()),
    };
    if auth.is_empty() { format!("{scheme}://{host}/{name}") } else { format!("{scheme}://{auth}@{host}/{name}") }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `serve` process and where its log goes.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server(args: &Args, database: &str, dir: &std::path::Path) -> anyhow::Result<Server> {
    let binary = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|p| p.join("ddalkkak")).unwrap();
    anyhow::ensure!(binary.exists(), "{} is missing: cargo build --bin ddalkkak", binary.display());
    let port = free_port();
    let log = dir.join("server.log");
    let limit = (args.streams + args.idle + 16).to_string();
    let child = Command::new(binary)
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}"), "--metrics-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--database-url", database, "--data-dir", dir.to_str().unwrap()])
        .args(["--models-dir", args.models_dir.to_str().unwrap(), "--asr-models", "tiny.en", "--llm", "none"])
        // Quotas have their own tests: here every socket is admitted, so each attacker costs the
        // server what it can.
        .args(["--max-live-sessions", &limit, "--max-sessions-per-tenant", &limit, "--max-sessions-per-key", &limit])
        .args(["--max-viewers-per-session", "1000", "--max-viewers-per-tenant", "10000", "--rate-limit-per-key", "0"])
        .env("DDALKKAK_ENCRYPTION_KEY", "1".repeat(64))
        .env("DDALKKAK_TOKEN_SIGNING_KEY", "2".repeat(64))
        .env("DDALKKAK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let server = Server { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.map(|r| r.status() != 200).unwrap_or(true) {
        anyhow::ensure!(Instant::now() < deadline, "the server did not become ready; see {}", server.log.display());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(server)
}

async fn ws(
    url: &str,
    key: &str,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}"))?);
    Ok(tokio_tungstenite::connect_async(request).await?.0)
}

/// One Ogg/Opus message of 20,000 one-byte packets: 1,000 s of concealment audio in ~60 KB.
fn bomb() -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]);
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut ogg = Vec::new();
    let mut writer = PacketWriter::new(&mut ogg);
    writer.write_packet(head, 7, PacketWriteEndInfo::EndPage, 0).unwrap();
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&[0; 8]);
    writer.write_packet(tags, 7, PacketWriteEndInfo::EndPage, 0).unwrap();
    for i in 0..20_000u64 {
        let end = if (i + 1) % 255 == 0 { PacketWriteEndInfo::EndPage } else { PacketWriteEndInfo::NormalPacket };
        writer.write_packet(vec![0x18], 7, end, (i + 1) * 2880).unwrap();
    }
    drop(writer);
    ogg
}

/// What the attackers got.
#[derive(Default)]
struct Attacks {
    idle_open_at_end: AtomicUsize,
    viewers_connected: AtomicUsize,
    viewers_closed_slow: AtomicUsize,
    bombs: std::sync::Mutex<Vec<String>>,
    slowloris_closed: AtomicUsize,
    restart_seconds: std::sync::Mutex<Option<f64>>,
}

async fn idle_socket(url: String, key: String, until: Instant, attacks: Arc<Attacks>) {
    let Ok(socket) = ws(&url, &key).await else { return };
    let (mut tx, mut rx) = socket.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    while Instant::now() < until {
        if tx.send(Message::Text(r#"{"type":"KeepAlive"}"#.into())).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if !reader.is_finished() {
        attacks.idle_open_at_end.fetch_add(1, Ordering::Relaxed);
    }
    let _ = tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await;
}

/// A viewer that reads everything, or one that never reads (its socket is held, not polled).
async fn viewer(url: String, key: String, reads: bool, until: Instant, attacks: Arc<Attacks>) {
    let Ok(socket) = ws(&url, &key).await else { return };
    attacks.viewers_connected.fetch_add(1, Ordering::Relaxed);
    if !reads {
        tokio::time::sleep_until(until.into()).await;
        // Read what is left: the close frame tells whether the server gave up on it.
        let (_, mut rx) = socket.split();
        while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
            if let Message::Close(Some(frame)) = message
                && u16::from(frame.code) == 4001
            {
                attacks.viewers_closed_slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
    let (_, mut rx) = socket.split();
    while let Some(Ok(_)) = rx.next().await {}
}

async fn bomber(url: String, key: String, until: Instant, attacks: Arc<Attacks>) {
    let bomb = bomb();
    while Instant::now() < until {
        let outcome = match ws(&url, &key).await {
            Ok(socket) => {
                let (mut tx, mut rx) = socket.split();
                let _ = tx.send(Message::Binary(bomb.clone().into())).await;
                let mut outcome = "no answer".to_owned();
                while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
                    match message {
                        Message::Text(text) => {
                            let m: Value = serde_json::from_str(&text).unwrap_or_default();
                            if m["type"] == "Error" {
                                outcome = m["code"].as_str().unwrap_or("?").to_owned();
                            }
                        }
                        Message::Close(frame) => {
                            outcome = format!("{outcome} ({})", frame.map_or(0, |f| u16::from(f.code)));
                            break;
                        }
                        _ => {}
                    }
                }
                outcome
            }
            Err(e) => format!("refused: {e}"),
        };
        attacks.bombs.lock().unwrap().push(outcome);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn slowloris(port: u16, until: Instant, attacks: Arc<Attacks>) {
    let Ok(mut socket) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return };
    let mut head = b"GET /v1/meetings HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().copied().cycle();
    while Instant::now() < until {
        let byte = [head.next().unwrap()];
        if socket.write_all(&byte).await.is_err() {
            attacks.slowloris_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

struct RunResult {
    name: &'static str,
    stats: Vec<ClientStats>,
    complete: usize,
    mismatched: Vec<String>,
    peak_rss: u64,
    panicked: bool,
}

async fn run(args: &Args, pcm: &Arc<Vec<i16>>, attacked: bool) -> anyhow::Result<(RunResult, Arc<Attacks>)> {
    let name = format!("ddalkkak_fault_{}_{}", std::process::id(), if attacked { "attacked" } else { "quiet" });
    let admin = sqlx::PgPool::connect(&args.database_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
    let owner_url = with_database(&args.database_url, &name, None);
    let owner = ddalkkak::store::connect(&owner_url, 2).await?;
    let tenant = ddalkkak::admin::create_tenant(&*owner, "Fault", "fault", "fault@example.com", None).await?;
    let key = tenant.api_key;
    let dir = tempfile::tempdir()?;
    let server =
        start_server(args, &with_database(&args.database_url, &name, Some("ddalkkak_app")), dir.path()).await?;
    let port = server.port;
    let pid = server.child.id().to_string();
    let listen = format!("ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate=16000");

    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                peak.fetch_max(process_usage(&pid).1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });

    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let clients: Vec<_> = (0..args.streams)
        .map(|i| {
            let offset = (i * pcm.len() / args.streams.max(1)) / 1600 * 1600;
            tokio::spawn(stream_speech(listen.clone(), key.clone(), pcm.clone(), offset, args.seconds))
        })
        .collect();
    let attacks = Arc::new(Attacks::default());
    let mut attackers = Vec::new();
    if attacked {
        // Viewers follow the speech sessions, listed once they have started (before any other).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sessions: Value = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v1/realtime-sessions?status=ACTIVE"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        let ids: Vec<String> =
            sessions.as_array().into_iter().flatten().filter_map(|s| s["id"].as_str().map(str::to_owned)).collect();
        anyhow::ensure!(!ids.is_empty(), "no speech session started");
        for i in 0..args.viewers {
            let url = format!("ws://127.0.0.1:{port}/v1/realtime-sessions/{}/captions", ids[i % ids.len()]);
            attackers.push(tokio::spawn(viewer(url, key.clone(), i % 4 != 0, until, attacks.clone())));
        }
        for _ in 0..args.idle {
            attackers.push(tokio::spawn(idle_socket(listen.clone(), key.clone(), until, attacks.clone())));
        }
        let bombs = format!("ws://127.0.0.1:{port}/v1/listen?encoding=ogg-opus");
        attackers.push(tokio::spawn(bomber(bombs, key.clone(), until, attacks.clone())));
        for _ in 0..20 {
            attackers.push(tokio::spawn(slowloris(port, until, attacks.clone())));
        }
        let restart = args.restart.clone().or_else(default_restart);
        let attacks = attacks.clone();
        let half = Duration::from_secs_f64(args.seconds / 2.0);
        attackers.push(tokio::spawn(async move {
            tokio::time::sleep(half).await;
            if let Some(command) = restart {
                let started = Instant::now();
                let status = tokio::process::Command::new("sh").args(["-c", &command]).status().await;
                if status.is_ok_and(|s| s.success()) {
                    *attacks.restart_seconds.lock().unwrap() = Some(started.elapsed().as_secs_f64());
                } else {
                    eprintln!("PostgreSQL restart failed: {command}");
                }
            }
        }));
    }
    let mut stats = Vec::new();
    for c in clients {
        stats.push(c.await?);
    }
    for a in attackers {
        let _ = tokio::time::timeout(Duration::from_secs(30), a).await;
    }

    // Every final a speaker got must be in its finalized meeting.
    let http = reqwest::Client::new();
    let (mut complete, mut mismatched) = (0, Vec::new());
    for s in &stats {
        let Some(meeting) = &s.meeting_id else {
            mismatched.push(format!("no session ({:?})", s.errors));
            continue;
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let got: Value = loop {
            let got: Value = http
                .get(format!("http://127.0.0.1:{port}/v1/meetings/{meeting}"))
                .bearer_auth(&key)
                .send()
                .await?
                .json()
                .await?;
            if got["stt_status"] == "COMPLETED" || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let stored = got["transcript_text"].as_str().unwrap_or_default().replace('\n', " ");
        let heard = s.finals.iter().map(|f| f.2.as_str()).collect::<Vec<_>>().join(" ");
        if got["stt_status"] == "COMPLETED" && stored == heard && !heard.is_empty() {
            complete += 1;
        } else {
            mismatched.push(format!(
                "meeting {meeting}: {} finals heard, stored {:?}",
                s.finals.len(),
                got["stt_status"]
            ));
        }
    }
    sampler.abort();
    let peak_rss = peak.load(Ordering::Relaxed);
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let panicked = log.contains("panicked");
    if panicked {
        eprintln!("the server panicked; its log:\n{log}");
    }
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await?;
    let name = if attacked { "attacked" } else { "quiet" };
    Ok((RunResult { name, stats, complete, mismatched, peak_rss, panicked }, attacks))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let audio = ddalkkak::audio::load_16k_mono(&args.models_dir.join("testdata/pyannote_sample.wav"))?;
    let pcm = Arc::new(audio.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16).collect::<Vec<_>>());

    println!(
        "| run | streams | finals | final p50 s | final p95 s | meetings with every final | server peak RSS MiB | panic |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut p95s = Vec::new();
    let mut last_attacks = None;
    for attacked in [false, true] {
        let (r, attacks) = run(&args, &pcm, attacked).await?;
        let mut latencies: Vec<f64> = r.stats.iter().flat_map(|s| s.finals.iter().map(|f| f.1)).collect();
        let (p50, p95) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.95));
        p95s.push(p95);
        println!(
            "| {} | {} | {} | {p50:.2} | {p95:.2} | {}/{} | {:.0} | {} |",
            r.name,
            args.streams,
            latencies.len(),
            r.complete,
            r.stats.len(),
            r.peak_rss as f64 / (1 << 20) as f64,
            if r.panicked { "yes" } else { "no" }
        );
        for m in &r.mismatched {
            println!("  {}: {m}", r.name);
        }
        if attacked {
            last_attacks = Some(attacks);
        }
    }
    if let Some(a) = last_attacks {
        let bombs = a.bombs.lock().unwrap();
        let mut outcomes: Vec<(String, usize)> = Vec::new();
        for b in bombs.iter() {
            match outcomes.iter_mut().find(|(o, _)| o == b) {
                Some((_, n)) => *n += 1,
                None => outcomes.push((b.clone(), 1)),
            }
        }
        println!();
        println!(
            "attackers: {} idle sockets, {} still open at the end (KeepAlives keep a session)",
            args.idle,
            a.idle_open_at_end.load(Ordering::Relaxed)
        );
        println!(
            "  {} viewers connected, {} of the never-reading ones closed 4001 slow_consumer",
            a.viewers_connected.load(Ordering::Relaxed),
            a.viewers_closed_slow.load(Ordering::Relaxed)
        );
        println!("  bombs: {outcomes:?}");
        println!("  slowloris: {} of 20 connections closed by the server", a.slowloris_closed.load(Ordering::Relaxed));
        println!("  PostgreSQL restart: {:?} s", a.restart_seconds.lock().unwrap());
    }
    if let [quiet, attacked] = p95s[..] {
        println!("\nfinal latency p95 attacked / quiet: {:.2}", attacked / quiet);
    }
    Ok(())
}
