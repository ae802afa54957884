//! Builds the live-transcription service for `serve`: fetches the models when missing, loads
//! ONNX Runtime, starts the ASR engine, the VAD thread and the diarization thread, and recovers sessions a crash left
//! open.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::models::{ModelPaths, ensure_models};
use crate::inference::asr::{AsrEngine, DecodeOptions, EncoderWindow, EngineConfig, Precision};
use crate::inference::diarize::{DiarizeWorker, ReclusterConfig, TrackerConfig};
use crate::inference::vad_worker::VadWorker;
use crate::inference::{OrtRuntime, Threads};
use crate::session::{LiveConfig, LiveService};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct LiveSetup {
    pub models_dir: PathBuf,
    pub precision: Precision,
    /// ASR worker threads (each with its own model copy); 0: one per core.
    pub asr_workers: usize,
    /// Fetch missing models (`models/fetch.sh`) instead of failing.
    pub fetch: bool,
    pub config: LiveConfig,
}

/// Everything started for live sessions; the threads stop when the service is dropped.
pub struct Live {
    pub service: Arc<LiveService>,
    pub asr: AsrEngine,
    pub vad: VadWorker,
    /// `None` without the speaker model: `diarize=true` is refused (422).
    pub diarize: Option<DiarizeWorker>,
}

pub async fn start_live(setup: LiveSetup, store: Arc<dyn Store>, shutdown: CancellationToken) -> anyhow::Result<Live> {
    let paths = ModelPaths::new(&setup.models_dir);
    let model = setup.config.model_name.clone();
    if setup.fetch {
        let (paths, model) = (paths.clone(), model.clone());
        tokio::task::spawn_blocking(move || ensure_models(&paths, &model)).await??;
    }
    let (asr, vad, diarize) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if setup.asr_workers == 0 { cores } else { setup.asr_workers };
        let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: (cores / workers).max(1) })?;
        // Trimmed encoder windows (speech + 2 s) cost a fraction of Whisper's 30 s; a final whose
        // text loops is redone with the full window (see the engine).
        // Greedy, and no temperature fallback: a fallback re-decodes up to five times with five
        // samples each, seconds of latency for one utterance; the hallucination filter of the
        // socket actor handles what the fallback would have caught on silence.
        let options = DecodeOptions { temperatures: vec![0.0], best_of: 1, ..EngineConfig::default().options };
        let config = EngineConfig {
            workers,
            precision: setup.precision,
            window: EncoderWindow::Trimmed,
            partial_window: EncoderWindow::Trimmed,
            options,
            ..EngineConfig::default()
        };
        let asr = AsrEngine::start(&runtime, &paths.whisper(&model), config)
            .with_context(|| format!("loading whisper-{model}"))?;
        let vad_runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: 1 })?;
        let vad = VadWorker::start(&vad_runtime, &paths.vad(), 1024).context("loading Silero VAD")?;
        let diarize = if paths.has_speaker() {
            let tracker = TrackerConfig::default();
            let reclustering = ReclusterConfig { max_speakers: tracker.max_speakers, ..ReclusterConfig::default() };
            let worker = DiarizeWorker::start(&vad_runtime, &paths.speaker(), tracker, reclustering, 256)
                .context("loading the speaker encoder")?;
            Some(worker)
        } else {
            tracing::warn!("speaker model missing (models/fetch.sh): diarize=true will be refused");
            None
        };
        Ok((asr, vad, diarize))
    })
    .await??;
    let (asr, asr_handle) = asr;
    let (vad, vad_handle) = vad;
    let (diarize, diarize_handle) = diarize.unzip();
    let service = LiveService::new(asr_handle, vad_handle, diarize_handle, store, setup.config, shutdown);
    let recovered = service.recover_orphans().await.context("recovering sessions left open by a crash")?;
    if recovered > 0 {
        tracing::warn!(recovered, "finalized sessions left open by the previous run");
    }
    Ok(Live { service, asr, vad, diarize })
}
