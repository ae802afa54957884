//! Korean character error rate, offline and live, on one audio set: each clip is transcribed by
//! the in-process Whisper (`--model`, greedy, int8, language `ko`: what `ddalkkak transcribe
//! --model base --language ko --beam-size 1 --int8` does) and streamed to a running server's
//! `/v1/listen?language=ko` at `--speed` × real time; both are scored against the reference with a
//! space- and punctuation-insensitive CER, per clip and over the whole set (errors / characters).
//!
//! ```text
//! cargo run --release -- serve &     # serves tiny.en and base
//! cargo run --release --example korean_cer -- --key "$(cat data/secrets/owner-api-key)" \
//!     tests/fixtures/korean/transcripts.tsv
//! ```
//!
//! The set is a TSV with a header whose columns include `path` (or `file`) and `text`, paths
//! relative to the TSV's folder (`tests/fixtures/korean/transcripts.tsv`, or a folder laid out
//! the same way).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ddalkkak::inference::asr::{DecodeOptions, Precision, Transcriber};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak_eval::wer::cer;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser)]
struct Args {
    /// TSV with `path`/`file` and `text` columns.
    set: PathBuf,
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    url: String,
    #[arg(long, env = "DDALKKAK_API_KEY", hide_env_values = true)]
    key: String,
    #[arg(long, default_value = "base")]
    model: String,
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    #[arg(long, default_value_t = 4.0)]
    speed: f64,
    /// Ask for interim results (`interim_results=true`): their stable-prefix finals then count.
    #[arg(long)]
    interim: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let clips = read_set(&args.set)?;
    let paths = ddalkkak::commands::ModelPaths::new(&args.models_dir);
    let runtime = OrtRuntime::load(&paths.ort_library(), Threads::default())?;
    let mut whisper = Transcriber::load(&runtime, &paths.whisper(&args.model), Precision::Int8)?;
    let options = DecodeOptions { beam_size: 1, language: Some("ko".into()), ..DecodeOptions::default() };
    let (mut chars, mut offline_errors, mut live_errors) = (0.0, 0.0, 0.0);
    println!("clip\tseconds\toffline CER\tlive CER");
    for (path, reference) in &clips {
        let audio = ddalkkak::audio::load_16k_mono(path)?;
        let offline: String = whisper
            .transcribe(&audio, &options, |_, _| {})?
            .iter()
            .map(|s| s.text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        let live = stream(&args, &audio).await?;
        let n = reference.chars().filter(|c| c.is_alphanumeric()).count() as f64;
        let (off, on) = (cer(reference, &offline), cer(reference, &live));
        chars += n;
        offline_errors += off * n;
        live_errors += on * n;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("{name}\t{:.1}\t{:.1} %\t{:.1} %", audio.len() as f64 / 16_000.0, off * 100.0, on * 100.0);
    }
    println!(
        "all {} clips\t\t{:.1} %\t{:.1} %",
        clips.len(),
        offline_errors / chars * 100.0,
        live_errors / chars * 100.0
    );
    Ok(())
}

fn read_set(tsv: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let text = std::fs::read_to_string(tsv)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(h));
    let (Some(path), Some(reference)) = (column(&["path", "file"]), column(&["text"])) else {
        anyhow::bail!("{} needs `path` (or `file`) and `text` columns", tsv.display());
    };
    let dir = tsv.parent().unwrap_or(Path::new("."));
    Ok(lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.len() > path.max(reference) && !f[reference].trim().is_empty())
        .map(|f| (dir.join(f[path]), f[reference].to_owned()))
        .collect())
}

/// Streams 16 kHz audio as linear16 in 100 ms frames and returns the finals' text.
async fn stream(args: &Args, audio: &[f32]) -> anyhow::Result<String> {
    let url = format!(
        "{}/v1/listen?encoding=linear16&sample_rate=16000&language=ko&interim_results={}",
        args.url, args.interim
    );
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {}", args.key))?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    let (mut tx, mut rx) = socket.split();
    let reader = tokio::spawn(async move {
        let mut finals = Vec::new();
        while let Some(Ok(message)) = rx.next().await {
            let Message::Text(text) = message else { continue };
            let m: Value = serde_json::from_str(&text).unwrap_or_default();
            if m["type"] == "Results" && m["is_final"] == true {
                let t = m["channel"]["alternatives"][0]["transcript"].as_str().unwrap_or_default();
                finals.push(t.trim().to_owned());
            }
        }
        finals.join(" ")
    });
    let frame = Duration::from_secs_f64(0.1 / args.speed);
    for chunk in audio.chunks(1600) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
        tx.send(Message::Binary(bytes.into())).await?;
        tokio::time::sleep(frame).await;
    }
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await?;
    Ok(reader.await?)
}
