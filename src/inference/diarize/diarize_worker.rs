//! Streaming diarization for live sessions on its own OS thread. The thread owns the speaker
//! encoder (one ONNX session for every stream) and each stream's [`SpeakerTracker`]; requests of
//! one stream are served in order, so its final utterances are tracked in order. At the end of a
//! session the stream's history is re-clustered there too, off the async runtime.
//!
//! Queue policy: `observe` never waits. When the queue is full the utterance is not tracked (its
//! words get no speaker live); the end-of-meeting re-clustering still labels what was tracked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::reclustering::{ReclusterConfig, Reclustered, recluster};
use super::speaker_encoder::SpeakerEncoder;
use super::speaker_tracker::{SpeakerTracker, SpeakerTurn, TrackerConfig};
use crate::inference::{InferenceError, OrtRuntime};

enum Request {
    Observe {
        stream: u64,
        start: u64,
        audio: Vec<f32>,
        reply: oneshot::Sender<Result<Vec<SpeakerTurn>, InferenceError>>,
    },
    Finish {
        stream: u64,
        reply: oneshot::Sender<Reclustered>,
    },
}

#[derive(Clone)]
pub struct DiarizeHandle {
    tx: SyncSender<Request>,
}

pub struct DiarizeWorker {
    thread: JoinHandle<()>,
}

impl DiarizeWorker {
    /// `capacity`: requests waiting before `observe` is refused.
    pub fn start(
        runtime: &OrtRuntime,
        model: &Path,
        tracker: TrackerConfig,
        reclustering: ReclusterConfig,
        capacity: usize,
    ) -> Result<(DiarizeWorker, DiarizeHandle), InferenceError> {
        let mut encoder = SpeakerEncoder::load(runtime, model)?;
        let (tx, rx) = sync_channel::<Request>(capacity);
        let thread = std::thread::Builder::new()
            .name("diarize".into())
            .spawn(move || {
                let mut streams: HashMap<u64, SpeakerTracker> = HashMap::new();
                while let Ok(request) = rx.recv() {
                    match request {
                        Request::Observe { stream, start, audio, reply } => {
                            let tracker = streams.entry(stream).or_insert_with(|| SpeakerTracker::new(tracker));
                            let _ = reply.send(tracker.observe(&mut encoder, start, &audio));
                        }
                        Request::Finish { stream, reply } => {
                            let result = match streams.remove(&stream) {
                                Some(t) => recluster(t.history(), &reclustering),
                                None => Reclustered::default(),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
            })
            .map_err(|e| InferenceError::Config(format!("spawning diarization worker: {e}")))?;
        Ok((DiarizeWorker { thread }, DiarizeHandle { tx }))
    }

    /// Returns once every handle is dropped and the queue is drained.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

impl DiarizeHandle {
    /// Tracks a final utterance of `stream` (16 kHz; `start`: its first sample's index in the
    /// stream); the reply has its speaker turns.
    pub fn observe(
        &self,
        stream: u64,
        start: u64,
        audio: Vec<f32>,
    ) -> Result<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>, InferenceError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request::Observe { stream, start, audio, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(InferenceError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(InferenceError::EngineStopped),
        }
    }

    /// Re-clusters the whole stream and forgets it. Waits for a queue slot: the end of a
    /// session must not lose its tracker.
    pub async fn finish(&self, stream: u64) -> Result<Reclustered, InferenceError> {
        loop {
            let (reply, rx) = oneshot::channel();
            match self.tx.try_send(Request::Finish { stream, reply }) {
                Ok(()) => return rx.await.map_err(|_| InferenceError::EngineStopped),
                Err(TrySendError::Full(_)) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                Err(TrySendError::Disconnected(_)) => return Err(InferenceError::EngineStopped),
            }
        }
    }
}
