//! Meeting-bot bridge: streams a recording (any file the server's decoder reads: WAV, FLAC, MP3,
//! Ogg, WebM, …) or raw 16-bit PCM from stdin to `/v1/listen` in real time and prints what comes
//! back. A meeting bot pipes its call audio in; anything that can write PCM to a pipe works.
//!
//! ```text
//! cargo run --release --example bot_bridge -- --url ws://127.0.0.1:8080 --key "$KEY" meeting.wav
//! ffmpeg -i call.webm -f s16le -ac 1 -ar 16000 - | \
//!   cargo run --release --example bot_bridge -- --key "$KEY" --sample-rate 16000 -
//! ```
//!
//! Output, one line each on stdout: `session <session id> meeting <meeting id>`, `[partial] …`
//! (with `--partials`), `[final <start>-<end> S<speaker>] …`, `ended <meeting id> <seconds>`.
//!
//! Network errors and retryable closes (1001 server stopping, 1011, 1013, a dropped connection)
//! are retried with backoff (0.5 s doubling to 15 s). A reconnect opens a **new session and
//! meeting** (the protocol has no resume); no audio is lost: the chunk in flight is sent again
//! and stdin is not read while disconnected (the pipe holds the rest). Non-retryable closes
//! (bad audio, idle timeout, bad key) end the bridge with exit code 1.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser)]
#[command(about = "Stream a file or stdin PCM to a DdalKkak server in real time")]
struct Args {
    /// Server base URL (ws:// or wss://).
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    url: String,
    /// API key (sent as `Authorization: Token …`).
    #[arg(long, env = "DDALKKAK_API_KEY", hide_env_values = true)]
    key: String,
    /// Sample rate of stdin PCM (16-bit little-endian).
    #[arg(long, default_value_t = 16_000)]
    sample_rate: u32,
    /// Channels of stdin PCM (interleaved).
    #[arg(long, default_value_t = 1)]
    channels: u16,
    /// Meeting title.
    #[arg(long)]
    title: Option<String>,
    /// Playback speed (1 = real time). Faster only makes sense for files.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Print partial results too.
    #[arg(long)]
    partials: bool,
    /// A recording, or `-` for raw PCM on stdin.
    input: PathBuf,
}

/// Each binary message carries this much audio.
const CHUNK_MS: u64 = 100;
const RETRY_DELAYS_MS: [u64; 6] = [500, 1000, 2000, 4000, 8000, 15000];

/// Where audio comes from: 100 ms chunks of linear16 at `rate`/`channels`.
struct Source {
    rate: u32,
    channels: u16,
    chunks: mpsc::Receiver<Vec<u8>>,
}

impl Source {
    /// A file is decoded up front (to 16 kHz mono) by the server's own decoder.
    fn file(path: &std::path::Path) -> anyhow::Result<Self> {
        let samples = ddalkkak::audio::load_16k_mono(path)?;
        let (tx, rx) = mpsc::channel(16);
        std::thread::spawn(move || {
            let per_chunk = (16_000 * CHUNK_MS / 1000) as usize;
            for chunk in samples.chunks(per_chunk) {
                let bytes = chunk.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
                if tx.blocking_send(bytes).is_err() {
                    return;
                }
            }
        });
        Ok(Source { rate: 16_000, channels: 1, chunks: rx })
    }

    /// Raw PCM from stdin. The channel is small, so a stalled connection stops the reading and
    /// the writer on the other end of the pipe waits: back-pressure, not memory.
    fn stdin(rate: u32, channels: u16) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let bytes_per_chunk = (rate as u64 * channels as u64 * 2 * CHUNK_MS / 1000) as usize;
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut buf = vec![0u8; bytes_per_chunk];
                let mut filled = 0;
                while filled < buf.len() {
                    match stdin.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            eprintln!("stdin: {e}");
                            break;
                        }
                    }
                }
                // Keep whole samples; a trailing odd byte cannot be played.
                buf.truncate(filled - filled % (2 * channels as usize));
                let last = filled < bytes_per_chunk;
                if !buf.is_empty() && tx.blocking_send(buf).is_err() {
                    return;
                }
                if last {
                    return;
                }
            }
        });
        Source { rate, channels, chunks: rx }
    }

    fn seconds(&self, bytes: usize) -> f64 {
        bytes as f64 / (self.rate as f64 * self.channels as f64 * 2.0)
    }
}

/// How a connection ended.
enum Outcome {
    /// The audio ran out and the server closed normally.
    Done,
    Retry(String),
    Fatal(String),
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if !(args.speed > 0.0 && args.speed <= 100.0) {
        eprintln!("--speed must be in (0, 100]");
        std::process::exit(2);
    }
    let mut source = if args.input.as_os_str() == "-" {
        Source::stdin(args.sample_rate, args.channels)
    } else {
        match Source::file(&args.input) {
            Ok(source) => source,
            Err(e) => {
                eprintln!("{}: {e}", args.input.display());
                std::process::exit(2);
            }
        }
    };
    // A chunk that was taken from the source but not delivered: sent first on the next connection.
    let mut pending: Option<Vec<u8>> = None;
    let mut attempt = 0usize;
    loop {
        let outcome = match connect(&args, &source).await {
            Ok(socket) => {
                let started = Instant::now();
                let outcome = stream(&args, socket, &mut source, &mut pending).await;
                // A connection that lasted resets the backoff.
                if started.elapsed() > Duration::from_secs(10) {
                    attempt = 0;
                }
                outcome
            }
            Err(e) => classify_connect_error(e),
        };
        match outcome {
            Outcome::Done => return,
            Outcome::Fatal(why) => {
                eprintln!("stopped: {why}");
                std::process::exit(1);
            }
            Outcome::Retry(why) => {
                let delay = RETRY_DELAYS_MS[attempt.min(RETRY_DELAYS_MS.len() - 1)];
                attempt += 1;
                eprintln!("reconnecting in {:.1} s (attempt {attempt}): {why}", delay as f64 / 1000.0);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(args: &Args, source: &Source) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut query = format!(
        "encoding=linear16&sample_rate={}&channels={}&interim_results={}&diarize=true",
        source.rate, source.channels, args.partials
    );
    if let Some(title) = &args.title {
        query.push_str("&title=");
        query.push_str(&urlencode(title));
    }
    let url = format!("{}/v1/listen?{query}", args.url.trim_end_matches('/'));
    let mut request = url.into_client_request()?;
    let auth = HeaderValue::from_str(&format!("Token {}", args.key))
        .map_err(|e| tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))?;
    request.headers_mut().insert("authorization", auth);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

fn classify_connect_error(e: tokio_tungstenite::tungstenite::Error) -> Outcome {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(response) => {
            let status = response.status();
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            // 503 (overloaded, starting) and 5xx are worth another try; 4xx will not change.
            if status.is_server_error() {
                Outcome::Retry(format!("HTTP {status}: {body}"))
            } else {
                Outcome::Fatal(format!("HTTP {status}: {body}"))
            }
        }
        Error::Url(e) => Outcome::Fatal(format!("bad URL: {e}")),
        other => Outcome::Retry(other.to_string()),
    }
}

async fn stream(args: &Args, socket: Socket, source: &mut Source, pending: &mut Option<Vec<u8>>) -> Outcome {
    let (mut sink, mut incoming) = socket.split();
    let clock = Instant::now();
    let mut sent_seconds = 0.0;
    let mut audio_done = false;
    let mut error: Option<Value> = None;
    loop {
        // Real-time pacing: the next chunk is due when the audio already sent has played.
        let due = clock + Duration::from_secs_f64(sent_seconds / args.speed);
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(msg) = serde_json::from_str::<Value>(&text) else { continue };
                    if msg["type"] == "Error" {
                        error = Some(msg.clone());
                    }
                    print_message(&msg, args.partials);
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                    return closed(code, audio_done, error);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Outcome::Retry(e.to_string()),
                None => return Outcome::Retry("connection closed".into()),
            },
            chunk = next_chunk(source, pending), if !audio_done && pending_or_due(pending, due) => {
                match chunk {
                    Some(bytes) => {
                        let seconds = source.seconds(bytes.len());
                        if let Err(e) = sink.send(Message::Binary(bytes.clone().into())).await {
                            *pending = Some(bytes);
                            return Outcome::Retry(e.to_string());
                        }
                        sent_seconds += seconds;
                    }
                    None => {
                        audio_done = true;
                        if let Err(e) = sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await {
                            return Outcome::Retry(e.to_string());
                        }
                    }
                }
            },
            _ = tokio::time::sleep_until(due), if !audio_done && pending.is_none() && Instant::now() < due => {}
        }
    }
}

/// A resent chunk goes at once; a new one when it is due.
fn pending_or_due(pending: &Option<Vec<u8>>, due: Instant) -> bool {
    pending.is_some() || Instant::now() >= due
}

async fn next_chunk(source: &mut Source, pending: &mut Option<Vec<u8>>) -> Option<Vec<u8>> {
    match pending.take() {
        Some(chunk) => Some(chunk),
        None => source.chunks.recv().await,
    }
}

fn closed(code: u16, audio_done: bool, error: Option<Value>) -> Outcome {
    let why = match &error {
        Some(e) => format!("{code} {}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")),
        None => format!("closed with {code}"),
    };
    if code == 1000 && audio_done {
        return Outcome::Done;
    }
    let retryable = match &error {
        Some(e) => e["retryable"].as_bool().unwrap_or(false),
        None => matches!(code, 1000 | 1001 | 1005 | 1006 | 1011 | 1012 | 1013),
    };
    if retryable { Outcome::Retry(why) } else { Outcome::Fatal(why) }
}

fn print_message(msg: &Value, partials: bool) {
    match msg["type"].as_str() {
        Some("SessionStarted") => {
            println!(
                "session {} meeting {}",
                msg["session_id"].as_str().unwrap_or("?"),
                msg["meeting_id"].as_str().unwrap_or("?")
            )
        }
        Some("Results") => {
            let alt = &msg["channel"]["alternatives"][0];
            let text = alt["transcript"].as_str().unwrap_or_default().trim();
            if text.is_empty() {
                return;
            }
            if msg["is_final"] == true {
                let start = msg["start"].as_f64().unwrap_or(0.0);
                let end = start + msg["duration"].as_f64().unwrap_or(0.0);
                let speaker = alt["words"][0]["speaker"].as_u64().map(|s| format!(" S{s}")).unwrap_or_default();
                println!("[final {start:.2}-{end:.2}{speaker}] {text}");
            } else if partials {
                println!("[partial] {text}");
            }
        }
        Some("SessionEnded") => {
            println!(
                "ended {} {:.1}",
                msg["meeting_id"].as_str().unwrap_or("?"),
                msg["duration"].as_f64().unwrap_or(0.0)
            )
        }
        Some("Error") => eprintln!("server error: {msg}"),
        _ => {}
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
