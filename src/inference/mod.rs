//! Model work. Every ONNX Runtime session is built by [`OrtRuntime::session`], here and nowhere
//! else, so thread counts and optimisation settings are decided in one place. Sessions are used
//! only on the threads of a [`worker::ModelWorker`], never inside async tasks.

pub mod asr;
pub mod diarize;
pub mod llm;
pub mod vad;
pub mod vad_worker;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("ONNX Runtime library not found at {0} (run `ddalkkak models fetch`)")]
    MissingRuntime(PathBuf),
    #[error("model file not found: {0} (run `ddalkkak models fetch`)")]
    MissingModel(PathBuf),
    #[error("ONNX Runtime: {0}")]
    Ort(#[from] ort::Error),
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the inference engine has stopped")]
    EngineStopped,
    #[error("starting a model thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("the inference engine is overloaded")]
    Overloaded,
    /// A newer partial of the same stream took this one's place in the queue.
    #[error("superseded by a newer request")]
    Superseded,
}

/// Thread settings of every session; one value for the whole process.
#[derive(Debug, Clone, Copy)]
pub struct Threads {
    /// Threads inside one operator (matrix multiplications).
    pub intra_op: usize,
}

impl Default for Threads {
    fn default() -> Self {
        Self { intra_op: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) }
    }
}

/// The loaded ONNX Runtime shared library (`load-dynamic`): initialised once per process.
#[derive(Clone, Copy)]
pub struct OrtRuntime {
    env: &'static ort::environment::Environment,
    threads: Threads,
}

/// The environment lives as long as the process; sessions refer to it.
static ORT_INIT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

impl OrtRuntime {
    /// Loads `libonnxruntime.so` from `library` (once; later calls reuse it).
    pub fn load(library: &Path, threads: Threads) -> Result<Self, InferenceError> {
        if !library.exists() {
            return Err(InferenceError::MissingRuntime(library.to_owned()));
        }
        let init = ORT_INIT.get_or_init(|| {
            let builder = ort::init_from(library).map_err(|e| e.to_string())?;
            builder.with_name("ddalkkak").build().map_err(|e| e.to_string())
        });
        match init {
            Ok(env) => Ok(Self { env, threads }),
            Err(e) => Err(InferenceError::Config(format!("loading ONNX Runtime: {e}"))),
        }
    }

    /// The same runtime with other thread settings (the LLM worker runs with fewer threads, off
    /// the cores live sessions need).
    pub fn with_threads(&self, threads: Threads) -> Self {
        Self { env: self.env, threads }
    }

    /// The one place sessions are built.
    pub fn session(&self, model: &Path) -> Result<Session, InferenceError> {
        if !model.exists() {
            return Err(InferenceError::MissingModel(model.to_owned()));
        }
        // No CPU arena and no memory pattern: live batches and decoder steps change shape all the
        // time, and the arena keeps the high-water mark of every shape (GBs under load).
        let session = Session::builder(self.env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(ort::Error::from)?
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(ort::Error::from)?
            .with_memory_pattern(false)
            .map_err(ort::Error::from)?
            .with_intra_threads(self.threads.intra_op)
            .map_err(ort::Error::from)?
            .with_inter_threads(1)
            .map_err(ort::Error::from)?
            .commit_from_file(model)?;
        Ok(session)
    }
}
