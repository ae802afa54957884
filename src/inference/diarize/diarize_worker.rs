//! Streaming diarization for live sessions on its own OS thread. The thread owns the speaker
//! encoder (one ONNX session for every stream) and each stream's [`SpeakerTracker`]; requests of
//! one stream are served in order, so its final utterances are tracked in order. At the end of a
//! session the stream's history is re-clustered there too, off the async runtime.
//!
//! Queue policy: `observe` never waits. When the queue is full the utterance is not tracked (its
//! words get no speaker live); the end-of-meeting re-clustering still labels what was tracked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use super::reclustering::{ReclusterConfig, Reclustered, recluster};
use super::speaker_encoder::SpeakerEncoder;
use super::speaker_tracker::{SpeakerTracker, SpeakerTurn, TrackerConfig, speech_embedding};
use crate::inference::worker::{BoundedQueue, ModelWorker, Refused, Served, WorkerHealth};
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
    /// A voiceprint to enroll: one person's speech, silence removed.
    Voiceprint {
        speech: Vec<f32>,
        reply: oneshot::Sender<Result<Option<Vec<f32>>, InferenceError>>,
    },
}

#[derive(Clone)]
pub struct DiarizeHandle {
    queue: Arc<BoundedQueue<Request>>,
}

/// The diarization thread; dropping it stops and joins it.
pub struct DiarizeWorker {
    worker: ModelWorker<BoundedQueue<Request>>,
}

/// What the thread owns: the encoder and every stream's tracker.
struct Diarizer {
    encoder: SpeakerEncoder,
    streams: HashMap<u64, SpeakerTracker>,
    tracker: TrackerConfig,
    reclustering: ReclusterConfig,
}

impl Diarizer {
    fn serve(&mut self, request: Request) -> Served {
        match request {
            Request::Observe { stream, start, audio, reply } => {
                let tracker = self.streams.entry(stream).or_insert_with(|| SpeakerTracker::new(self.tracker));
                let turns = tracker.observe(&mut self.encoder, start, &audio);
                let ok = turns.is_ok();
                let _ = reply.send(turns);
                Served { items: 1, ok }
            }
            Request::Finish { stream, reply } => {
                let result = match self.streams.remove(&stream) {
                    Some(t) => recluster(t.history(), &self.reclustering),
                    None => Reclustered::default(),
                };
                let _ = reply.send(result);
                Served { items: 1, ok: true }
            }
            Request::Voiceprint { speech, reply } => {
                let result = speech_embedding(&mut self.encoder, &self.tracker, &speech);
                let ok = result.is_ok();
                let _ = reply.send(result);
                Served { items: 1, ok }
            }
        }
    }
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
        let queue = BoundedQueue::new(capacity);
        let (runtime, model) = (*runtime, model.to_owned());
        let load = move || {
            let encoder = SpeakerEncoder::load(&runtime, &model)?;
            Ok::<_, InferenceError>(Diarizer { encoder, streams: HashMap::new(), tracker, reclustering })
        };
        let worker = ModelWorker::start("diarize", queue.clone(), vec![load], Diarizer::serve)?;
        Ok((DiarizeWorker { worker }, DiarizeHandle { queue }))
    }

    pub fn health(&self) -> watch::Receiver<WorkerHealth> {
        self.worker.health()
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
        match self.queue.try_push(Request::Observe { stream, start, audio, reply }) {
            Ok(()) => Ok(rx),
            Err(Refused::Full(_)) => Err(InferenceError::Overloaded),
            Err(Refused::Closed(_)) => Err(InferenceError::EngineStopped),
        }
    }

    /// [`DiarizeHandle::observe`] that waits for a queue slot instead of being refused: for a
    /// recording, which has no live deadline.
    pub async fn observe_waiting(
        &self,
        stream: u64,
        start: u64,
        audio: Vec<f32>,
    ) -> Result<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>, InferenceError> {
        let (reply, rx) = oneshot::channel();
        self.queue
            .push(Request::Observe { stream, start, audio, reply })
            .await
            .map_err(|_| InferenceError::EngineStopped)?;
        Ok(rx)
    }

    /// Re-clusters the whole stream and forgets it. Waits for a queue slot: the end of a
    /// session must not lose its tracker.
    pub async fn finish(&self, stream: u64) -> Result<Reclustered, InferenceError> {
        let (reply, rx) = oneshot::channel();
        self.queue.push(Request::Finish { stream, reply }).await.map_err(|_| InferenceError::EngineStopped)?;
        rx.await.map_err(|_| InferenceError::EngineStopped)
    }

    /// The voiceprint of `speech` (16 kHz, one person, silence removed), computed on the
    /// diarization thread ([`speech_embedding`]); `None` when it gives no finite embedding.
    /// Refused at once when the queue is full: live sessions come first.
    pub async fn voiceprint(&self, speech: Vec<f32>) -> Result<Option<Vec<f32>>, InferenceError> {
        let (reply, rx) = oneshot::channel();
        match self.queue.try_push(Request::Voiceprint { speech, reply }) {
            Ok(()) => rx.await.map_err(|_| InferenceError::EngineStopped)?,
            Err(Refused::Full(_)) => Err(InferenceError::Overloaded),
            Err(Refused::Closed(_)) => Err(InferenceError::EngineStopped),
        }
    }
}
