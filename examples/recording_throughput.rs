//! Throughput of uploaded-recording transcription through the real server: uploads a WAV made of
//! the given files (looped to `--minutes`), waits for its `transcribe_recording` job and prints
//! the real-time factor, CPU and peak RSS, with and without diarization.
//!
//! ```sh
//! cargo run --release --example recording_throughput -- models/testdata/pyannote_sample.wav --minutes 10
//! cargo run --release --example recording_throughput -- a.wav b.wav --minutes 30 --workers 2 --diarize
//! ```

#[path = "shared/process_usage.rs"]
mod process_usage;
use process_usage::process_usage;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ddalkkak::commands::live::LiveSetup;
use ddalkkak::inference::asr::Precision;
use ddalkkak::session::LiveConfig;
use ddalkkak::storage::{RecordingStorage, Recordings, UrlFetcher};
use ddalkkak::{App, AppConfig, Database, Keys};
use tokio_util::sync::CancellationToken;

struct Args {
    audio: Vec<PathBuf>,
    minutes: f64,
    workers: usize,
    diarize: bool,
    models_dir: PathBuf,
    /// A text (or STM) file with the reference transcript of the given files, in order; looped
    /// as the audio is.
    reference: Option<PathBuf>,
    /// Where to write the meeting's transcript (for scoring it beside another system's).
    transcript_out: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        audio: Vec::new(),
        minutes: 10.0,
        workers: 1,
        diarize: false,
        models_dir: PathBuf::from(std::env::var("DDALKKAK_MODELS_DIR").unwrap_or_else(|_| "models".into())),
        reference: None,
        transcript_out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => args.minutes = it.next().and_then(|v| v.parse().ok()).expect("--minutes N"),
            "--workers" => args.workers = it.next().and_then(|v| v.parse().ok()).expect("--workers N"),
            "--diarize" => args.diarize = true,
            "--models-dir" => args.models_dir = it.next().map(PathBuf::from).expect("--models-dir DIR"),
            "--reference" => args.reference = it.next().map(PathBuf::from),
            "--transcript-out" => args.transcript_out = it.next().map(PathBuf::from),
            file => args.audio.push(PathBuf::from(file)),
        }
    }
    assert!(!args.audio.is_empty(), "usage: recording_throughput FILE… [--minutes N] [--workers N] [--diarize]");
    args
}

/// 16 kHz mono 16-bit PCM as a WAV file.
fn wav(samples: &[f32]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    for part in [&b"RIFF"[..], &(36 + data).to_le_bytes(), b"WAVEfmt ", &16u32.to_le_bytes(), &1u16.to_le_bytes()] {
        out.extend_from_slice(part);
    }
    for part in [&1u16.to_le_bytes()[..], &16_000u32.to_le_bytes(), &32_000u32.to_le_bytes(), &2u16.to_le_bytes()] {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    // RUST_LOG=ddalkkak::inference::asr=debug shows each batch's encoder and decoder time.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let mut one = Vec::new();
    for file in &args.audio {
        one.extend(ddalkkak::audio::load_16k_mono(file)?);
    }
    let target = (args.minutes * 60.0 * 16_000.0) as usize;
    let loops = target.max(one.len()).div_ceil(one.len().max(1));
    let samples: Vec<f32> = one.iter().copied().cycle().take(target.max(one.len())).collect();
    let seconds = samples.len() as f64 / 16_000.0;
    let body = wav(&samples);
    drop((samples, one));

    let dir = tempfile::tempdir()?;
    let live = LiveSetup {
        models_dir: args.models_dir.clone(),
        precision: Precision::Int8,
        asr_workers: args.workers,
        config: LiveConfig::default(),
        stand_ins: None,
    };
    let recordings = Recordings {
        storage: RecordingStorage::new(dir.path().join("recordings")),
        max_bytes: u64::MAX,
        fetcher: UrlFetcher::new(Vec::new(), Duration::from_secs(60)),
    };
    let database = Database::Connect { url: ddalkkak::store::sqlite_url(dir.path()), max_connections: 8 };
    let keys = Keys { encryption: [1; 32], token_signing: [2; 32] };
    let config = AppConfig { live: Some(live), recordings: Some(recordings), ..AppConfig::new(database, keys) };
    let app = App::build(config).await?;
    let tenant = ddalkkak::admin::create_tenant(&**app.store(), "Bench", "bench", "bench@example.com", None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone().cancelled_owned()));
    let http = reqwest::Client::new();

    let meeting: serde_json::Value = http
        .post(format!("{base}/v1/meetings"))
        .bearer_auth(&tenant.api_key)
        .json(&serde_json::json!({"title": "Throughput"}))
        .send()
        .await?
        .json()
        .await?;
    let id = meeting["id"].as_str().expect("meeting id").to_owned();
    let (cpu_before, ..) = process_usage("self");
    let started = Instant::now();
    let upload = http
        .put(format!("{base}/v1/meetings/{id}/recording?diarize={}", args.diarize))
        .bearer_auth(&tenant.api_key)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(upload.status().as_u16() == 202, "upload: {}", upload.text().await?);
    let status = loop {
        let r: serde_json::Value = http
            .get(format!("{base}/v1/meetings/{id}/recording"))
            .bearer_auth(&tenant.api_key)
            .send()
            .await?
            .json()
            .await?;
        if r["status"] == "succeeded" || r["status"] == "failed" {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let (cpu_after, _, peak) = process_usage("self");
    anyhow::ensure!(status["status"] == "succeeded", "transcription failed: {status}");
    let meeting: serde_json::Value =
        http.get(format!("{base}/v1/meetings/{id}")).bearer_auth(&tenant.api_key).send().await?.json().await?;
    let hypothesis = meeting["transcript_text"].as_str().unwrap_or_default();
    if let Some(path) = &args.transcript_out {
        std::fs::write(path, hypothesis)?;
    }
    let wer = match &args.reference {
        Some(path) => {
            // STM lines carry the text after five fields; a plain text file is the text.
            let text = std::fs::read_to_string(path)?;
            let stm = text.lines().filter_map(|l| l.splitn(6, ' ').nth(5)).collect::<Vec<_>>().join(" ");
            let one = if path.extension().is_some_and(|e| e == "stm") { stm } else { text };
            let reference = vec![one.as_str(); loops].join(" ");
            format!("{:.1}", 100.0 * ddalkkak_eval::wer::wer(&reference, hypothesis))
        }
        None => "-".into(),
    };
    println!("| audio s | diarize | ASR workers | wall s | × real time | CPU % | peak RSS MiB | WER % |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {seconds:.0} | {} | {} | {wall:.1} | {:.1} | {:.0} | {:.0} | {wer} |",
        args.diarize,
        args.workers,
        seconds / wall,
        100.0 * (cpu_after - cpu_before) / wall,
        peak as f64 / (1 << 20) as f64
    );
    shutdown.cancel();
    server.await??;
    Ok(())
}
