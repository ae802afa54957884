//! Builds the live-transcription service for [`crate::App::build`]: checks that the models are
//! there (a missing one fails with the `models/fetch.sh` command to run), loads ONNX Runtime,
//! starts one ASR engine per served model, the VAD thread and the diarization thread, and
//! recovers sessions a crash left open. [`SpeechModels`] stand in for the fetched models where
//! a test of the protocol needs no speech recognised.

use crate::storage::RecordingStorage;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::models::{ModelPaths, require_live_models};
use crate::auth::VoiceprintCipher;
use crate::inference::asr::{AsrEngine, AsrHandle, DecodeOptions, EncoderWindow, EngineConfig, Precision, Recognizer};
use crate::inference::diarize::{DiarizeHandle, DiarizeWorker, ReclusterConfig, TrackerConfig};
use crate::inference::vad_worker::{SpeechDetector, VadHandle, VadWorker};
use crate::inference::worker::WorkerHealth;
use crate::inference::{InferenceError, OrtRuntime, Threads};
use crate::session::{CaptionHub, LiveConfig, LiveEngines, LiveService, ServedModel};
use crate::store::Store;

/// VAD requests waiting before sessions are told `Overloaded`.
const VAD_QUEUE: usize = 1024;

#[derive(Debug, Clone)]
pub struct LiveSetup {
    pub models_dir: PathBuf,
    pub precision: Precision,
    /// ASR worker threads per served model (each with its own model copy); 0: one per core.
    pub asr_workers: usize,
    pub config: LiveConfig,
    /// Models in place of the fetched ones (`models_dir` and `precision` are then unused); `None`
    /// in the server.
    pub stand_ins: Option<Arc<dyn SpeechModels>>,
}

impl LiveSetup {
    /// Fails, naming the `models/fetch.sh` command to run, when a model this setup needs is missing.
    pub fn require_models(&self) -> anyhow::Result<()> {
        if self.stand_ins.is_some() {
            return Ok(());
        }
        require_live_models(&ModelPaths::new(&self.models_dir), &self.config.models)
    }
}

/// Speech models other than the fetched ONNX ones, made on the worker threads that run them.
/// The tests of the live protocol (bad input, limits, timeouts, viewers) run scripted ones, so
/// they need no `models/fetch.sh` and no model time; diarization is then unavailable.
pub trait SpeechModels: std::fmt::Debug + Send + Sync + 'static {
    /// The recognizer of served model `name`, one per ASR worker.
    fn recognizer(&self, name: &str) -> Result<Box<dyn Recognizer>, InferenceError>;
    /// The speech detector of the VAD worker.
    fn detector(&self) -> Result<Box<dyn SpeechDetector>, InferenceError>;
}

/// Everything started for live sessions; the model threads stop when this is dropped.
pub struct Live {
    pub service: Arc<LiveService>,
    /// One engine per served model.
    pub asr: Vec<AsrEngine>,
    pub vad: VadWorker,
    /// `None` without the speaker model: `diarize=true` is refused (422).
    pub diarize: Option<DiarizeWorker>,
}

impl Live {
    /// Health of every model worker, for `/readyz`.
    pub fn health(&self) -> Vec<watch::Receiver<WorkerHealth>> {
        let asr = self.asr.iter().map(AsrEngine::health);
        asr.chain([self.vad.health()]).chain(self.diarize.as_ref().map(DiarizeWorker::health)).collect()
    }
}

/// `voiceprints` opens the tenants' enrolled voices when meetings' speakers are named.
pub async fn start_live(
    setup: LiveSetup,
    store: Arc<dyn Store>,
    voiceprints: VoiceprintCipher,
    captions: Arc<CaptionHub>,
    recordings: Option<RecordingStorage>,
    shutdown: CancellationToken,
) -> anyhow::Result<Live> {
    let (names, config) = (setup.config.models.clone(), setup.config.clone());
    anyhow::ensure!(!names.is_empty(), "no ASR model to serve");
    setup.require_models()?;
    let (asr, vad, diarize) = tokio::task::spawn_blocking(move || match setup.stand_ins.clone() {
        Some(models) => start_stand_ins(models, &names, setup.asr_workers),
        None => load_fetched(&setup, &names),
    })
    .await??;
    let (asr, models): (Vec<AsrEngine>, Vec<ServedModel>) =
        asr.into_iter().map(|(name, (engine, handle))| (engine, ServedModel::new(name, handle))).unzip();
    let (vad, vad_handle) = vad;
    let (diarize, diarize_handle) = diarize.unzip();
    let engines = LiveEngines { models, vad: vad_handle, diarize: diarize_handle };
    let service = LiveService::new(engines, voiceprints, store, captions, recordings, config, shutdown);
    let recovered = service.recover_orphans().await.context("recovering sessions left open by a crash")?;
    if recovered > 0 {
        tracing::warn!(recovered, "finalized sessions left open by the previous run");
    }
    Ok(Live { service, asr, vad, diarize })
}

/// The engines started for the served models (by name), the VAD, and the diarizer if any.
type Started = (Vec<(String, (AsrEngine, AsrHandle))>, (VadWorker, VadHandle), Option<(DiarizeWorker, DiarizeHandle)>);

/// The fetched ONNX models: Whisper per served model, Silero VAD, and the speaker encoder when
/// it was fetched (blocking: loads every model).
fn load_fetched(setup: &LiveSetup, names: &[String]) -> anyhow::Result<Started> {
    let paths = ModelPaths::new(&setup.models_dir);
    // Every served model gets the workers one model would: a model nobody is using costs
    // memory (its weights per worker), not CPU, so English sessions on tiny.en keep their
    // capacity while no Korean session runs; under mixed load the OS shares the cores.
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
    let mut asr = Vec::new();
    for model in names {
        let engine = AsrEngine::start(&runtime, &paths.whisper(model), config.clone())
            .with_context(|| format!("loading whisper-{model}"))?;
        asr.push((model.clone(), engine));
    }
    let vad_runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: 1 })?;
    let vad = VadWorker::start(&vad_runtime, &paths.vad(), VAD_QUEUE).context("loading Silero VAD")?;
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
}

/// [`SpeechModels`] on the same engines and queues as the fetched models; no diarization.
fn start_stand_ins(models: Arc<dyn SpeechModels>, names: &[String], workers: usize) -> anyhow::Result<Started> {
    let defaults = EngineConfig::default();
    let mut asr = Vec::new();
    for name in names {
        let loaders: Vec<_> = (0..workers.max(1))
            .map(|_| {
                let (models, name) = (models.clone(), name.clone());
                move || models.recognizer(&name)
            })
            .collect();
        asr.push((name.clone(), AsrEngine::start_with(name, defaults.queue_capacity, defaults.max_batch, loaders)?));
    }
    let vad = VadWorker::start_with(move || models.detector(), VAD_QUEUE)?;
    Ok((asr, vad, None))
}
