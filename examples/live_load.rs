//! Live load: N clients stream real speech at real-time pace over loopback to a server in this
//! process (SQLite, the real model), for N = each of `--streams`, and the table says how the
//! server keeps up.
//!
//! ```text
//! cargo run --release --example live_load -- [--streams 1,4,8,16] [--seconds 40]
//!     [--audio FILE]... [--models-dir models] [--asr-workers 0=per core] [--precision int8|fp32]
//!     [--max-utterance-ms 15000] [--diarize true] [--llm qwen0.5b [--llm-nice 19]]
//!     [--servers HOST:PORT,… --key API_KEY [--pids PID,…]] [--korean K]
//!     [--ramp-secs 0] [--max-final-wait-ms 1000 (0: off)]
//! ```
//!
//! The models are not fetched here: `bash models/fetch.sh` first (with `--llm NAME` for `--llm`).
//!
//! `--llm NAME` keeps the summary LLM busy the whole time (a 30-minute meeting of the
//! action-item evaluation set, extracted over and over, on every core at `--llm-nice`): what a
//! meeting's summary job costs the live sessions running beside it.
//!
//! Definitions (the same ones the side-by-side benchmark applies to other servers):
//! - final latency: from the moment the client has sent the audio up to the end of a final
//!   (`start + duration` of that `Results`) to the moment the final arrives; it includes the
//!   endpointing wait;
//! - partial cadence: time between consecutive partials of the same utterance;
//! - lag growth: median final latency of the second half of the run minus the first half (a
//!   server that keeps up stays near 0; one that falls behind grows with the run's length);
//! - CPU: process CPU time / wall time (200 % = both cores); RSS: the process's peak (sampled).
//!
//! `--servers`: no server in this process; the clients stream to these running servers instead,
//! client i to server i mod n (instances behind a load balancer that spreads streams evenly), and
//! CPU and RSS are those of the processes `--pids` (summed; RSS is the largest peak of one). With
//! `benches/scale_out/run.sh` this measures 1, 2 and 3 instances on one PostgreSQL database.
//!
//! `--korean K`: K more clients stream Korean speech (the Korean fixtures, `language=ko`, so
//! Whisper base serves them beside tiny.en) alongside each N; the table's rows stay the English
//! streams' figures and a second row per N gives the Korean streams' finals.
//!
//! Each client streams the audio files one after another (looping) from its own offset, in
//! 100 ms linear16 frames, with `interim_results=true`. `--ramp-secs R`: the clients start one
//! after another over R seconds instead of all at once, as people join meetings, so admission
//! by lag (`--max-final-wait-ms`) sees the load of the sessions already running; "refused" counts
//! the clients turned away.

#[path = "shared/process_usage.rs"]
mod process_usage;
#[path = "shared/speech_client.rs"]
mod speech_client;
use process_usage::process_usage;
use speech_client::{percentile, stream_speech};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ddalkkak::commands::live::LiveSetup;
use ddalkkak::inference::asr::Precision;
use ddalkkak::inference::llm::{LlmWorker, LlmWorkerOptions, Precision as LlmPrecision};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::intelligence::MeetingExtractor;
use ddalkkak::session::LiveConfig;
use ddalkkak::{App, AppConfig, Database, Keys};
use ddalkkak_eval::action_items::EvalMeeting;
use tokio_util::sync::CancellationToken;

struct Args {
    streams: Vec<usize>,
    seconds: f64,
    audio: Vec<PathBuf>,
    models_dir: PathBuf,
    workers: usize,
    precision: Precision,
    max_utterance_ms: u32,
    /// Streams ask for speakers (`diarize=true`): the cost of streaming diarization.
    diarize: bool,
    /// An LLM extracting in the background the whole time, at this niceness.
    llm: Option<String>,
    llm_nice: i32,
    /// Running servers to stream to, with a key of theirs, and their processes.
    servers: Vec<String>,
    key: Option<String>,
    pids: Vec<String>,
    /// Korean streams (base) beside the English ones.
    korean: usize,
    ramp_secs: f64,
    max_final_wait_ms: u32,
}

fn parse_args() -> Args {
    let mut args = Args {
        streams: vec![1, 4, 8, 12, 16, 20],
        seconds: 40.0,
        audio: Vec::new(),
        models_dir: PathBuf::from("models"),
        workers: 0,
        precision: Precision::Int8,
        max_utterance_ms: LiveConfig::default().max_utterance_ms,
        diarize: false,
        llm: None,
        llm_nice: 19,
        servers: Vec::new(),
        key: None,
        pids: Vec::new(),
        korean: 0,
        ramp_secs: 0.0,
        max_final_wait_ms: ddalkkak::session::DEFAULT_MAX_FINAL_WAIT_MS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--streams" => {
                args.streams = value.split(',').map(|n| n.trim().parse().expect("--streams 1,4,8")).collect()
            }
            "--seconds" => args.seconds = value.parse().expect("--seconds N"),
            "--audio" => args.audio.push(value.into()),
            "--models-dir" => args.models_dir = value.into(),
            "--asr-workers" => args.workers = value.parse().expect("--asr-workers N"),
            "--max-utterance-ms" => args.max_utterance_ms = value.parse().expect("--max-utterance-ms N"),
            "--diarize" => args.diarize = value.parse().expect("--diarize true|false"),
            "--llm" => args.llm = Some(value),
            "--llm-nice" => args.llm_nice = value.parse().expect("--llm-nice 0..=19"),
            "--servers" => args.servers = value.split(',').map(str::to_owned).collect(),
            "--key" => args.key = Some(value),
            "--pids" => args.pids = value.split(',').map(str::to_owned).collect(),
            "--korean" => args.korean = value.parse().expect("--korean K"),
            "--ramp-secs" => args.ramp_secs = value.parse().expect("--ramp-secs R"),
            "--max-final-wait-ms" => args.max_final_wait_ms = value.parse().expect("--max-final-wait-ms N"),
            "--precision" => {
                args.precision = if value == "fp32" { Precision::Fp32 } else { Precision::Int8 };
            }
            other => panic!("unknown flag {other}"),
        }
    }
    if args.audio.is_empty() {
        args.audio.push(args.models_dir.join("testdata/pyannote_sample.wav"));
    }
    args
}

/// Starts the LLM worker and a task that keeps it extracting until `shutdown`.
fn background_llm(
    args: &Args,
    name: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, Arc<LlmWorker<MeetingExtractor>>)> {
    let paths = ddalkkak::commands::ModelPaths::new(&args.models_dir);
    let runtime = OrtRuntime::load(&paths.ort_library(), Threads::default())?;
    let options = LlmWorkerOptions { nice: args.llm_nice, ..LlmWorkerOptions::default() };
    let worker =
        Arc::new(LlmWorker::<MeetingExtractor>::start(&runtime, &paths.llm(name), LlmPrecision::Int8, options)?);
    let set = EvalMeeting::load_dir(std::path::Path::new("tests/fixtures/action_items"))?;
    let meeting = EvalMeeting::concatenated("All-hands", &set, 1800.0).ok_or_else(|| anyhow::anyhow!("empty set"))?;
    let input = meeting.input();
    let w = worker.clone();
    let task = tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            if let Err(e) = w.extract(input.clone()).await {
                eprintln!("background extraction failed: {e}");
                return;
            }
        }
    });
    Ok((task, worker))
}

/// A server in this process (SQLite, the models of `args`), running until `shutdown`: its
/// address and a key.
async fn serve_here(args: &Args, shutdown: CancellationToken) -> anyhow::Result<(std::net::SocketAddr, String)> {
    let dir = tempfile::tempdir()?.keep();
    let max = args.streams.iter().copied().max().unwrap_or(1) + args.korean;
    let models = if args.korean > 0 { vec!["tiny.en".into(), "base".into()] } else { LiveConfig::default().models };
    let live = LiveSetup {
        models_dir: args.models_dir.clone(),
        precision: args.precision,
        asr_workers: args.workers,
        config: LiveConfig {
            max_sessions: max,
            // Every stream is one tenant's, on one key.
            max_sessions_per_tenant: max,
            max_sessions_per_key: max,
            max_backlog: usize::MAX,
            max_final_wait: (args.max_final_wait_ms > 0).then(|| Duration::from_millis(args.max_final_wait_ms.into())),
            max_utterance_ms: args.max_utterance_ms,
            models,
            ..LiveConfig::default()
        },
        stand_ins: None,
    };
    let database = Database::Connect { url: ddalkkak::store::sqlite_url(&dir), max_connections: 8 };
    let keys = Keys { encryption: [1; 32], token_signing: [2; 32] };
    let app = App::build(AppConfig { live: Some(live), ..AppConfig::new(database, keys) }).await?;
    let tenant = ddalkkak::admin::create_tenant(&**app.store(), "Load", "load", "load@example.com", None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(app.run(listener, shutdown.cancelled_owned()));
    Ok((addr, tenant.api_key))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `RUST_LOG=ddalkkak::inference::asr::transcriber=debug`: every batch's frames, tokens and
    // encode/decode time (`benches/live_flops.py` reads them).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let args = parse_args();
    let mut pcm = Vec::new();
    for file in &args.audio {
        let audio = ddalkkak::audio::load_16k_mono(file)?;
        pcm.extend(audio.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16));
    }
    let pcm = Arc::new(pcm);
    let mut korean_pcm = Vec::new();
    if args.korean > 0 {
        for file in ["tests/fixtures/korean/azure_test_audio.flac", "tests/fixtures/korean/picovoice_test_ko.flac"] {
            let audio = ddalkkak::audio::load_16k_mono(std::path::Path::new(file))?;
            korean_pcm.extend(audio.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16));
        }
    }
    let korean_pcm = Arc::new(korean_pcm);
    eprintln!("audio: {:.1} s from {} file(s), looped", pcm.len() as f64 / 16_000.0, args.audio.len());

    let shutdown = CancellationToken::new();
    let query = format!("encoding=linear16&sample_rate=16000&interim_results=true&diarize={}", args.diarize);
    let (urls, key, pids) = if args.servers.is_empty() {
        let (addr, key) = serve_here(&args, shutdown.clone()).await?;
        (vec![format!("ws://{addr}/v1/listen?{query}")], key, vec!["self".to_owned()])
    } else {
        let key = args.key.clone().ok_or_else(|| anyhow::anyhow!("--servers needs --key"))?;
        let urls = args.servers.iter().map(|s| format!("ws://{s}/v1/listen?{query}")).collect();
        (urls, key, args.pids.clone())
    };
    let llm = match &args.llm {
        Some(name) => Some(background_llm(&args, name, shutdown.clone())?),
        None => None,
    };
    // CPU seconds of the measured processes together, and the largest resident size of one now.
    let usage = Arc::new(move || {
        pids.iter().map(|p| process_usage(p)).fold((0.0, 0), |(cpu, rss), (c, now, _)| (cpu + c, rss.max(now)))
    });

    println!(
        "| streams | finals | final p50 s | final p95 s | partial gap p50 s | partial gap p95 s | lag growth s | CPU % | peak RSS MiB | refused/errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut best = None;
    for &n in &args.streams {
        let (cpu0, _) = usage();
        let wall = Instant::now();
        let clients: Vec<_> = (0..n + args.korean)
            .map(|i| {
                let (url, audio, k) = match i.checked_sub(n) {
                    None => (urls[i % urls.len()].clone(), pcm.clone(), (i, n)),
                    Some(k) => (format!("{}&language=ko", urls[i % urls.len()]), korean_pcm.clone(), (k, args.korean)),
                };
                let offset = (k.0 * audio.len() / k.1.max(1)) / 1600 * 1600;
                let start = Duration::from_secs_f64(args.ramp_secs * i as f64 / (n + args.korean) as f64);
                let (key, seconds) = (key.clone(), args.seconds);
                tokio::spawn(async move {
                    tokio::time::sleep(start).await;
                    stream_speech(url, key, audio, offset, seconds).await
                })
            })
            .collect();
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = tokio::spawn({
            let (peak, usage) = (peak.clone(), usage.clone());
            async move {
                loop {
                    peak.fetch_max(usage().1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        });
        let mut stats = Vec::new();
        for c in clients {
            stats.push(c.await?);
        }
        let korean = stats.split_off(n);
        let korean_row = (!korean.is_empty()).then(|| {
            let mut latencies: Vec<f64> = korean.iter().flat_map(|s| s.finals.iter().map(|f| f.1)).collect();
            let failed =
                korean.iter().filter(|s| s.refused).count() + korean.iter().map(|s| s.errors.len()).sum::<usize>();
            format!(
                "| {n} + {} Korean: the Korean finals | {} | {:.2} | {:.2} | | | | | | {failed} |",
                args.korean,
                latencies.len(),
                percentile(&mut latencies, 0.5),
                percentile(&mut latencies, 0.95)
            )
        });
        sampler.abort();
        let (cpu1, rss) = usage();
        let peak_rss = peak.load(Ordering::Relaxed).max(rss);
        let cpu = (cpu1 - cpu0) / wall.elapsed().as_secs_f64() * 100.0;
        let mut latencies: Vec<f64> = stats.iter().flat_map(|s| s.finals.iter().map(|f| f.1)).collect();
        let mut gaps: Vec<f64> = stats.iter().flat_map(|s| s.partial_gaps.iter().copied()).collect();
        let half = args.seconds / 2.0;
        let mut first: Vec<f64> =
            stats.iter().flat_map(|s| s.finals.iter().filter(|f| f.0 < half).map(|f| f.1)).collect();
        let mut second: Vec<f64> =
            stats.iter().flat_map(|s| s.finals.iter().filter(|f| f.0 >= half).map(|f| f.1)).collect();
        let growth = percentile(&mut second, 0.5) - percentile(&mut first, 0.5);
        let refused = stats.iter().filter(|s| s.refused).count();
        let errors: usize = stats.iter().map(|s| s.errors.len()).sum();
        let (p50, p95) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.95));
        println!(
            "| {n} | {} | {p50:.2} | {p95:.2} | {:.2} | {:.2} | {growth:+.2} | {cpu:.0} | {:.0} | {refused}/{errors} |",
            latencies.len(),
            percentile(&mut gaps, 0.5),
            percentile(&mut gaps, 0.95),
            peak_rss as f64 / (1 << 20) as f64,
        );
        if let Some(row) = korean_row {
            println!("{row}");
        }
        if p95 <= 1.5 && growth < 0.5 && refused == 0 && errors == 0 {
            best = Some(n);
        }
    }
    match best {
        Some(n) => println!("\nlargest N with p95 final latency <= 1.5 s and no lag growth: {n}"),
        None => println!("\nno N met p95 final latency <= 1.5 s without lag growth"),
    }
    if let Some((llm, worker)) = llm {
        let p = *worker.progress().borrow();
        println!(
            "LLM {} at nice {} in the background: {} extractions finished, the running one at chunk {:?}",
            args.llm.as_deref().unwrap_or_default(),
            args.llm_nice,
            p.completed,
            p.current.map(|c| (c.chunk, c.chunks, c.tokens))
        );
        llm.abort();
    }
    shutdown.cancel();
    Ok(())
}
