//! The ASR engine: Whisper on dedicated OS threads behind a cheap, cloneable [`AsrHandle`].
//!
//! Requests go through one bounded queue. A worker takes the first request it finds, then
//! whatever else is already waiting (up to `max_batch`), runs their encoder windows as one batch
//! and decodes each. When the queue is full, [`AsrHandle::submit`] fails at once with
//! `Overloaded`: callers refuse new work early instead of everyone getting slower.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::decoding::DecodeOptions;
use super::model::Precision;
use super::transcriber::{Segment, Transcriber};
use crate::inference::{InferenceError, OrtRuntime};

/// One utterance (16 kHz mono, at most 30 s) to transcribe.
pub struct AsrRequest {
    pub audio: Vec<f32>,
    reply: oneshot::Sender<Result<Vec<Segment>, InferenceError>>,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads, each with its own copy of the model.
    pub workers: usize,
    /// Requests waiting beyond this are refused (`Overloaded`).
    pub queue_capacity: usize,
    /// Most requests encoded together.
    pub max_batch: usize,
    pub precision: Precision,
    pub options: DecodeOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            queue_capacity: 64,
            max_batch: 8,
            precision: Precision::Fp32,
            options: DecodeOptions { beam_size: 1, condition_on_previous_text: false, ..DecodeOptions::default() },
        }
    }
}

#[derive(Clone)]
pub struct AsrHandle {
    tx: SyncSender<AsrRequest>,
}

/// Owns the worker threads; dropping every handle and then this joins them.
pub struct AsrEngine {
    workers: Vec<JoinHandle<()>>,
}

impl AsrEngine {
    /// Loads one model per worker (errors surface here, not on the first request) and starts them.
    pub fn start(
        runtime: &OrtRuntime,
        model_dir: &std::path::Path,
        config: EngineConfig,
    ) -> Result<(AsrEngine, AsrHandle), InferenceError> {
        let (tx, rx) = sync_channel(config.queue_capacity);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let transcriber = Transcriber::load(runtime, model_dir, config.precision)?;
            let (rx, config) = (rx.clone(), config.clone());
            let worker = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || run_worker(transcriber, rx, config))
                .map_err(|e| InferenceError::Config(format!("spawning ASR worker: {e}")))?;
            workers.push(worker);
        }
        Ok((AsrEngine { workers }, AsrHandle { tx }))
    }

    /// Waits for the workers to finish; they stop once every handle is dropped and the queue
    /// is drained.
    pub fn join(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

impl AsrHandle {
    /// Queues an utterance; fails immediately with `Overloaded` when the queue is full.
    pub fn submit(
        &self,
        audio: Vec<f32>,
    ) -> Result<oneshot::Receiver<Result<Vec<Segment>, InferenceError>>, InferenceError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(AsrRequest { audio, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(InferenceError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(InferenceError::EngineStopped),
        }
    }

    /// Transcribes an utterance (queueing it, then awaiting the result without blocking).
    pub async fn transcribe(&self, audio: Vec<f32>) -> Result<Vec<Segment>, InferenceError> {
        self.submit(audio)?.await.map_err(|_| InferenceError::EngineStopped)?
    }
}

fn run_worker(mut transcriber: Transcriber, rx: Arc<Mutex<Receiver<AsrRequest>>>, config: EngineConfig) {
    loop {
        let batch = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < config.max_batch {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let audio: Vec<&[f32]> = batch.iter().map(|r| r.audio.as_slice()).collect();
        match transcriber.transcribe_utterances(&audio, &config.options) {
            Ok(results) => {
                for (request, segments) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(Ok(segments));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "ASR batch failed");
                let message = e.to_string();
                for request in batch {
                    let _ = request.reply.send(Err(InferenceError::Config(message.clone())));
                }
            }
        }
    }
}
