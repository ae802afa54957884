//! Silero VAD for live streams on its own OS thread. Each stream keeps its [`VadState`] and
//! lends it with the audio; the worker runs the chunks and hands both back. One small model
//! serves every session, and no model call ever runs on the async runtime.

use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::vad::{CHUNK, SileroVad, VadState};
use super::{InferenceError, OrtRuntime};

struct VadRequest {
    state: VadState,
    audio: Vec<f32>,
    reply: oneshot::Sender<VadAnswer>,
}

/// The stream's state and audio, handed back, with the probabilities.
pub type VadAnswer = (VadState, Vec<f32>, Result<Vec<f32>, InferenceError>);

#[derive(Clone)]
pub struct VadHandle {
    tx: SyncSender<VadRequest>,
}

pub struct VadWorker {
    thread: JoinHandle<()>,
}

impl VadWorker {
    /// `capacity`: requests waiting before callers are told `Overloaded`.
    pub fn start(
        runtime: &OrtRuntime,
        model: &Path,
        capacity: usize,
    ) -> Result<(VadWorker, VadHandle), InferenceError> {
        let mut vad = SileroVad::load(runtime, model)?;
        let (tx, rx) = sync_channel::<VadRequest>(capacity);
        let thread = std::thread::Builder::new()
            .name("vad".into())
            .spawn(move || {
                while let Ok(VadRequest { mut state, audio, reply }) = rx.recv() {
                    let probs = audio.chunks(CHUNK).map(|c| vad.probability_of(&mut state, c)).collect();
                    let _ = reply.send((state, audio, probs));
                }
            })
            .map_err(|e| InferenceError::Config(format!("spawning VAD worker: {e}")))?;
        Ok((VadWorker { thread }, VadHandle { tx }))
    }

    /// Returns once every handle is dropped and the queue is drained.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

impl VadHandle {
    /// Speech probability per `CHUNK` of `audio` (a multiple of `CHUNK` long), continuing `state`.
    pub async fn probabilities(&self, state: VadState, audio: Vec<f32>) -> VadAnswer {
        let (reply, rx) = oneshot::channel();
        let request = VadRequest { state, audio, reply };
        match self.tx.try_send(request) {
            Ok(()) => {
                rx.await.unwrap_or_else(|_| (VadState::default(), Vec::new(), Err(InferenceError::EngineStopped)))
            }
            Err(TrySendError::Full(r)) => (r.state, r.audio, Err(InferenceError::Overloaded)),
            Err(TrySendError::Disconnected(r)) => (r.state, r.audio, Err(InferenceError::EngineStopped)),
        }
    }
}
