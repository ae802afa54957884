//! Voice activity for live streams on a [`ModelWorker`] thread: a [`SpeechDetector`] (Silero
//! VAD in the server). Each stream keeps its [`VadState`] and lends it with the audio; the
//! worker runs the chunks and hands both back. One small model serves every session.
//!
//! Queue policy: a request finding the queue full is refused at once (`Overloaded`); the
//! session keeps its audio and state and treats the chunk as it treats any VAD failure.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use super::vad::{CHUNK, SileroVad, VadState};
use super::worker::{BoundedQueue, ModelWorker, Refused, Served, WorkerHealth};
use super::{InferenceError, OrtRuntime};

/// Speech probability of audio chunks, for streams whose state the caller keeps.
pub trait SpeechDetector: Send + 'static {
    /// Probability that the next [`CHUNK`] samples are speech, continuing `stream`.
    fn probability_of(&mut self, stream: &mut VadState, chunk: &[f32]) -> Result<f32, InferenceError>;
}

impl SpeechDetector for SileroVad {
    fn probability_of(&mut self, stream: &mut VadState, chunk: &[f32]) -> Result<f32, InferenceError> {
        SileroVad::probability_of(self, stream, chunk)
    }
}

impl SpeechDetector for Box<dyn SpeechDetector> {
    fn probability_of(&mut self, stream: &mut VadState, chunk: &[f32]) -> Result<f32, InferenceError> {
        (**self).probability_of(stream, chunk)
    }
}

struct VadRequest {
    state: VadState,
    audio: Vec<f32>,
    reply: oneshot::Sender<VadAnswer>,
}

/// The stream's state and audio, handed back, with the probabilities.
pub type VadAnswer = (VadState, Vec<f32>, Result<Vec<f32>, InferenceError>);

#[derive(Clone)]
pub struct VadHandle {
    queue: Arc<BoundedQueue<VadRequest>>,
}

/// The VAD thread; dropping it stops and joins it.
pub struct VadWorker {
    worker: ModelWorker<BoundedQueue<VadRequest>>,
}

impl VadWorker {
    /// Silero VAD from `model`; `capacity`: requests waiting before callers are told
    /// `Overloaded`.
    pub fn start(
        runtime: &OrtRuntime,
        model: &Path,
        capacity: usize,
    ) -> Result<(VadWorker, VadHandle), InferenceError> {
        let (runtime, model) = (*runtime, model.to_owned());
        Self::start_with(move || SileroVad::load(&runtime, &model), capacity)
    }

    /// The worker over any [`SpeechDetector`], loaded on the worker's thread.
    pub fn start_with<D: SpeechDetector>(
        load: impl FnOnce() -> Result<D, InferenceError> + Send + 'static,
        capacity: usize,
    ) -> Result<(VadWorker, VadHandle), InferenceError> {
        let queue = BoundedQueue::new(capacity);
        let worker = ModelWorker::start("vad", queue.clone(), vec![load], |vad: &mut D, request: VadRequest| {
            let VadRequest { mut state, audio, reply } = request;
            let probs: Result<Vec<f32>, _> = audio.chunks(CHUNK).map(|c| vad.probability_of(&mut state, c)).collect();
            let ok = probs.is_ok();
            let _ = reply.send((state, audio, probs));
            Served { items: 1, ok }
        })?;
        Ok((VadWorker { worker }, VadHandle { queue }))
    }

    pub fn health(&self) -> watch::Receiver<WorkerHealth> {
        self.worker.health()
    }
}

impl VadHandle {
    /// Speech probability per `CHUNK` of `audio` (a multiple of `CHUNK` long), continuing `state`.
    pub async fn probabilities(&self, state: VadState, audio: Vec<f32>) -> VadAnswer {
        let (reply, rx) = oneshot::channel();
        match self.queue.try_push(VadRequest { state, audio, reply }) {
            Ok(()) => {
                rx.await.unwrap_or_else(|_| (VadState::default(), Vec::new(), Err(InferenceError::EngineStopped)))
            }
            Err(Refused::Full(r)) => (r.state, r.audio, Err(InferenceError::Overloaded)),
            Err(Refused::Closed(r)) => (r.state, r.audio, Err(InferenceError::EngineStopped)),
        }
    }
}
