//! The ASR engine: a [`Recognizer`] (Whisper, [`WhisperRecognizer`]) on dedicated OS threads
//! behind a cheap, cloneable [`AsrHandle`].
//!
//! Requests wait in one queue with two lanes. Finals (end of an utterance: what gets stored)
//! always go first and are refused only when their lane is full. Partials (a live preview of
//! the utterance so far) coalesce: a new partial from the same stream replaces the one still
//! waiting, whose receiver then sees [`InferenceError::Superseded`]; so under load each stream
//! gets fewer, fresher partials instead of a growing backlog. A worker takes the first request
//! it finds plus whatever else is waiting (up to `max_batch`, finals first), runs their encoder
//! windows as one batch and decodes each. Each request carries its session's
//! [`DecodeContext`]: the language (fixed, or detected on the utterance by a multilingual model,
//! possibly among a few languages) and the words to expect, so sessions in different languages
//! share one batch (keyterms cost a second decode of their sessions' utterances). A session
//! waiting to queue a final awaits room in the lane ([`AsrHandle::submit`]): finals are never
//! refused for load, the session's own reading pauses instead. Recordings' utterances wait in a
//! third, background lane, served only when neither live lane has work.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot, watch};

use super::decoding::DecodeOptions;
use super::model::Precision;
use super::recognizer::{Purpose, Recognizer, WhisperRecognizer};
use super::transcriber::{DecodeContext, EncoderWindow, UtteranceText};
use crate::inference::worker::{ModelWorker, Served, WorkQueue, WorkerHealth};
use crate::inference::{InferenceError, OrtRuntime};

/// Most partials encoded together.
const MAX_PARTIAL_BATCH: usize = 2;
/// How long the turnaround of the last finals answered still counts as the engine's lag.
const LAG_MEMORY: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<UtteranceText, InferenceError>>;

/// One utterance (16 kHz mono, at most 30 s) to transcribe.
struct AsrRequest {
    audio: Vec<f32>,
    /// Its language (fixed, or detected among all languages or a few; English-only models
    /// ignore it) and keyterms.
    context: DecodeContext,
    /// The stream a partial belongs to; `None` for finals.
    partial_of: Option<u64>,
    queued: Instant,
    reply: Reply,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads, each with its own copy of the model.
    pub workers: usize,
    /// Finals waiting beyond this are refused (`Overloaded`); partials have a lane as large.
    pub queue_capacity: usize,
    /// Most requests encoded together.
    pub max_batch: usize,
    pub precision: Precision,
    /// Encoder window of finals: what is stored.
    pub window: EncoderWindow,
    /// Encoder window of partials: previews, replaced by the final.
    pub partial_window: EncoderWindow,
    pub options: DecodeOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            queue_capacity: 64,
            max_batch: 8,
            precision: Precision::Fp32,
            window: EncoderWindow::Full,
            partial_window: EncoderWindow::Trimmed,
            options: DecodeOptions { beam_size: 1, condition_on_previous_text: false, ..DecodeOptions::default() },
        }
    }
}

#[derive(Default)]
struct Lanes {
    finals: VecDeque<AsrRequest>,
    partials: VecDeque<AsrRequest>,
    /// Utterances of recordings: served when no live session waits.
    background: VecDeque<AsrRequest>,
    /// When a worker last answered finals, and the longest any of them took from being queued.
    last_finals_done: Option<(Instant, Duration)>,
    closed: bool,
}

/// The engine's [`WorkQueue`]: three lanes, finals first, then partials, then recordings.
struct AsrQueue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
    /// Signalled when workers take finals: room in the finals lane.
    room: Notify,
    capacity: usize,
    max_batch: usize,
}

impl AsrQueue {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WorkQueue for AsrQueue {
    type Batch = Vec<AsrRequest>;

    fn take(&self) -> Option<Vec<AsrRequest>> {
        let mut lanes = self.lock();
        while lanes.finals.is_empty() && lanes.partials.is_empty() && lanes.background.is_empty() {
            if lanes.closed {
                return None;
            }
            lanes = self.ready.wait(lanes).unwrap_or_else(|e| e.into_inner());
        }
        // Finals never share a batch with partials, and partial batches stay small, so a final
        // waits for at most one short partial batch per worker.
        let (lane, max) = if !lanes.finals.is_empty() {
            (&mut lanes.finals, self.max_batch)
        } else if !lanes.partials.is_empty() {
            (&mut lanes.partials, self.max_batch.min(MAX_PARTIAL_BATCH))
        } else {
            (&mut lanes.background, self.max_batch)
        };
        let n = lane.len().min(max);
        let taken: Vec<AsrRequest> = lane.drain(..n).collect();
        drop(lanes);
        self.room.notify_waiters();
        Some(taken)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.room.notify_waiters();
    }

    fn waiting(&self) -> usize {
        let lanes = self.lock();
        lanes.finals.len() + lanes.partials.len() + lanes.background.len()
    }
}

#[derive(Clone)]
pub struct AsrHandle {
    queue: Arc<AsrQueue>,
    languages: Arc<[String]>,
}

/// The worker threads of one Whisper model; dropping it stops and joins them.
pub struct AsrEngine {
    worker: ModelWorker<AsrQueue>,
}

impl AsrEngine {
    /// Loads one Whisper model per worker (errors surface here, not on the first request) and
    /// starts them.
    pub fn start(
        runtime: &OrtRuntime,
        model_dir: &std::path::Path,
        config: EngineConfig,
    ) -> Result<(AsrEngine, AsrHandle), InferenceError> {
        let loaders: Vec<_> = (0..config.workers.max(1))
            .map(|_| {
                let (runtime, dir, config) = (*runtime, model_dir.to_owned(), config.clone());
                move || {
                    let EngineConfig { precision, window, partial_window, options, .. } = config;
                    WhisperRecognizer::load(&runtime, &dir, precision, window, partial_window, options)
                }
            })
            .collect();
        let name = model_dir.file_name().map_or("whisper".into(), |n| n.to_string_lossy());
        Self::start_with(&name, config.queue_capacity, config.max_batch, loaders)
    }

    /// The engine over any [`Recognizer`], one worker thread per loader (each loads on its own
    /// thread); `queue_capacity` and `max_batch` as in [`EngineConfig`].
    pub fn start_with<R, L>(
        name: &str,
        queue_capacity: usize,
        max_batch: usize,
        loaders: Vec<L>,
    ) -> Result<(AsrEngine, AsrHandle), InferenceError>
    where
        R: Recognizer,
        L: FnOnce() -> Result<R, InferenceError> + Send + 'static,
    {
        let queue = Arc::new(AsrQueue {
            lanes: Mutex::default(),
            ready: Condvar::new(),
            room: Notify::new(),
            capacity: queue_capacity,
            max_batch: max_batch.max(1),
        });
        let (languages_tx, languages) = std::sync::mpsc::channel();
        let loaders: Vec<_> = loaders
            .into_iter()
            .map(|load| {
                let languages = languages_tx.clone();
                move || {
                    let recognizer = load()?;
                    let _ = languages.send(recognizer.languages());
                    Ok::<_, InferenceError>(recognizer)
                }
            })
            .collect();
        let answered = queue.clone();
        let worker = ModelWorker::start(&format!("asr-{name}"), queue.clone(), loaders, move |recognizer, batch| {
            serve_batch(recognizer, batch, &answered)
        })?;
        let languages: Vec<String> = languages.try_recv().unwrap_or_default();
        Ok((AsrEngine { worker }, AsrHandle { queue, languages: languages.into() }))
    }

    pub fn health(&self) -> watch::Receiver<WorkerHealth> {
        self.worker.health()
    }

    /// Stops taking requests, finishes what is queued and joins the workers (blocking).
    pub fn join(self) {
        drop(self);
    }
}

pub type Pending = oneshot::Receiver<Result<UtteranceText, InferenceError>>;

impl AsrHandle {
    /// Queues a final, waiting while the finals lane is full; fails only when the engine stopped.
    pub async fn submit(&self, audio: Vec<f32>, context: DecodeContext) -> Result<Pending, InferenceError> {
        let mut request = (audio, context);
        loop {
            // Registered before the check, so a worker that makes room in between still wakes us.
            let room = self.queue.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(request.0, request.1, false) {
                Err(Refused::Full(audio, context)) => request = (audio, context),
                other => return other.map_err(InferenceError::from),
            }
            room.await;
        }
    }

    /// Queues an utterance of a recording in the background lane, which workers serve only when
    /// no live final or partial waits, so a recording never delays a live session by more than
    /// the batch a worker is running; waits while that lane is full.
    pub async fn submit_background(&self, audio: Vec<f32>, context: DecodeContext) -> Result<Pending, InferenceError> {
        let mut request = (audio, context);
        loop {
            let room = self.queue.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(request.0, request.1, true) {
                Err(Refused::Full(audio, context)) => request = (audio, context),
                other => return other.map_err(InferenceError::from),
            }
            room.await;
        }
    }

    /// Queues a final, or refuses at once with `Overloaded` when the finals lane is full.
    pub fn try_submit_final(&self, audio: Vec<f32>, context: DecodeContext) -> Result<Pending, InferenceError> {
        self.try_push(audio, context, false).map_err(InferenceError::from)
    }

    fn try_push(&self, audio: Vec<f32>, context: DecodeContext, background: bool) -> Result<Pending, Refused> {
        let mut lanes = self.queue.lock();
        if lanes.closed {
            return Err(Refused::Stopped);
        }
        let lane = if background { &mut lanes.background } else { &mut lanes.finals };
        if lane.len() >= self.queue.capacity {
            return Err(Refused::Full(audio, context));
        }
        let (reply, rx) = oneshot::channel();
        lane.push_back(AsrRequest { audio, context, partial_of: None, queued: Instant::now(), reply });
        drop(lanes);
        self.queue.ready.notify_one();
        Ok(rx)
    }

    /// Language codes sessions may ask for (empty: an English-only model).
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Queues a partial of `stream`, replacing the one of the same stream still waiting.
    pub fn submit_partial(
        &self,
        stream: u64,
        audio: Vec<f32>,
        context: DecodeContext,
    ) -> Result<Pending, InferenceError> {
        let (reply, rx) = oneshot::channel();
        let mut lanes = self.queue.lock();
        if let Some(waiting) = lanes.partials.iter_mut().find(|r| r.partial_of == Some(stream)) {
            waiting.audio = audio;
            waiting.context = context;
            let _ = std::mem::replace(&mut waiting.reply, reply).send(Err(InferenceError::Superseded));
            return Ok(rx);
        }
        if lanes.partials.len() >= self.queue.capacity {
            return Err(InferenceError::Overloaded);
        }
        lanes.partials.push_back(AsrRequest {
            audio,
            context,
            partial_of: Some(stream),
            queued: Instant::now(),
            reply,
        });
        drop(lanes);
        self.queue.ready.notify_one();
        Ok(rx)
    }

    /// Requests waiting: (finals, partials).
    pub fn backlog(&self) -> (usize, usize) {
        let lanes = self.queue.lock();
        (lanes.finals.len(), lanes.partials.len())
    }

    /// How far behind the finals are: how long the oldest final still waiting has waited, or,
    /// when finals were answered within the last 2 s, the longest of those took from being
    /// queued to being answered (whichever is longer). It is the part of a final's latency that
    /// load adds to: waiting, and decoding in ever larger batches.
    pub fn finals_lag(&self) -> Duration {
        let lanes = self.queue.lock();
        let now = Instant::now();
        let waiting = lanes.finals.front().map_or(Duration::ZERO, |r| now - r.queued);
        let recent = lanes.last_finals_done.filter(|(at, _)| now - *at < LAG_MEMORY).map_or(Duration::ZERO, |(_, t)| t);
        waiting.max(recent)
    }
}

/// Why a final was not queued; a full lane hands the request back for another try.
enum Refused {
    Full(Vec<f32>, DecodeContext),
    Stopped,
}

impl From<Refused> for InferenceError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Full(..) => InferenceError::Overloaded,
            Refused::Stopped => InferenceError::EngineStopped,
        }
    }
}

fn serve_batch(recognizer: &mut impl Recognizer, mut batch: Vec<AsrRequest>, queue: &AsrQueue) -> Served {
    // A session that went away no longer waits for its answer.
    batch.retain(|r| !r.reply.is_closed());
    let items = batch.len();
    if batch.is_empty() {
        return Served { items, ok: true };
    }
    // A batch is all finals or all partials.
    let purpose = if batch[0].partial_of.is_some() { Purpose::Partial } else { Purpose::Final };
    let audio: Vec<&[f32]> = batch.iter().map(|r| r.audio.as_slice()).collect();
    let contexts: Vec<DecodeContext> = batch.iter().map(|r| r.context.clone()).collect();
    let result = recognizer.transcribe(&audio, &contexts, purpose);
    if purpose == Purpose::Final {
        let now = Instant::now();
        let longest = batch.iter().map(|r| now - r.queued).max().unwrap_or_default();
        queue.lock().last_finals_done = Some((now, longest));
    }
    match result {
        Ok(results) => {
            for (request, segments) in batch.into_iter().zip(results) {
                let _ = request.reply.send(Ok(segments));
            }
            Served { items, ok: true }
        }
        Err(e) => {
            tracing::error!(error = %e, batch = items, "ASR batch failed");
            let message = e.to_string();
            for request in batch {
                let _ = request.reply.send(Err(InferenceError::Config(message.clone())));
            }
            Served { items, ok: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Serves one batch each time the test opens the gate, and notes (purpose, length) of each
    /// utterance it was given; an utterance's length is its name in these tests.
    struct Gated {
        gate: mpsc::Receiver<()>,
        served: mpsc::Sender<(Purpose, usize)>,
    }

    impl Recognizer for Gated {
        fn languages(&self) -> Vec<String> {
            Vec::new()
        }

        fn transcribe(
            &mut self,
            audio: &[&[f32]],
            _: &[DecodeContext],
            purpose: Purpose,
        ) -> Result<Vec<UtteranceText>, InferenceError> {
            let _ = self.gate.recv_timeout(Duration::from_secs(10));
            for a in audio {
                let _ = self.served.send((purpose, a.len()));
            }
            Ok(vec![UtteranceText::default(); audio.len()])
        }
    }

    /// An engine on one [`Gated`] worker: the gate to open once per batch, and what it served.
    fn gated(
        capacity: usize,
        max_batch: usize,
    ) -> (AsrEngine, AsrHandle, mpsc::Sender<()>, mpsc::Receiver<(Purpose, usize)>) {
        let (open, gate) = mpsc::channel();
        let (served_tx, served) = mpsc::channel();
        let load = move || Ok(Gated { gate, served: served_tx });
        let (engine, asr) = AsrEngine::start_with("gated", capacity, max_batch, vec![load]).unwrap();
        (engine, asr, open, served)
    }

    /// Waits until the worker has taken everything queued.
    async fn all_taken(asr: &AsrHandle) {
        while asr.backlog() != (0, 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn finals_go_first_and_a_streams_waiting_partial_is_replaced() {
        let (_engine, asr, open, served) = gated(8, 8);
        let context = DecodeContext::default();

        // The worker takes this one and waits at the gate.
        let busy = asr.submit_partial(9, vec![0.0; 1], context.clone()).unwrap();
        all_taken(&asr).await;
        let replaced = asr.submit_partial(1, vec![0.0; 2], context.clone()).unwrap();
        let newer = asr.submit_partial(1, vec![0.0; 3], context.clone()).unwrap();
        let other = asr.submit_partial(2, vec![0.0; 4], context.clone()).unwrap();
        let last = asr.submit(vec![0.0; 5], context.clone()).await.unwrap();
        assert_eq!(asr.backlog(), (1, 2), "one final; stream 1's two partials became one");
        assert!(matches!(replaced.await.unwrap(), Err(InferenceError::Superseded)));

        for _ in 0..3 {
            open.send(()).unwrap();
        }
        for pending in [busy, last, newer, other] {
            assert!(pending.await.unwrap().is_ok());
        }
        let order: Vec<(Purpose, usize)> = served.try_iter().collect();
        let expected = [(Purpose::Partial, 1), (Purpose::Final, 5), (Purpose::Partial, 3), (Purpose::Partial, 4)];
        assert_eq!(order, expected, "the final before the partials that queued first");
    }

    #[tokio::test]
    async fn finals_lag_is_how_long_finals_wait() {
        let (_engine, asr, open, _served) = gated(8, 8);
        let context = DecodeContext::default();
        assert_eq!(asr.finals_lag(), Duration::ZERO);
        let busy = asr.submit(vec![0.0; 1], context.clone()).await.unwrap();
        all_taken(&asr).await;
        assert!(asr.finals_lag() < Duration::from_millis(100), "taken at once");
        let waiting = asr.submit(vec![0.0; 2], context.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lag = asr.finals_lag();
        assert!(lag >= Duration::from_millis(300) && lag < Duration::from_secs(2), "{lag:?}");
        open.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        // Answered after 300 ms, the next one taken: the lag stays for a while, then it is history.
        all_taken(&asr).await;
        assert!(asr.finals_lag() >= Duration::from_millis(300));
        open.send(()).unwrap();
        assert!(waiting.await.unwrap().is_ok());
        tokio::time::sleep(LAG_MEMORY).await;
        assert_eq!(asr.finals_lag(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_full_finals_lane_refuses_try_submit_and_makes_submit_wait() {
        let (_engine, asr, open, served) = gated(1, 1);
        let context = DecodeContext::default();
        let busy = asr.submit(vec![0.0; 1], context.clone()).await.unwrap();
        all_taken(&asr).await;
        let queued = asr.submit(vec![0.0; 2], context.clone()).await.unwrap();
        assert!(matches!(asr.try_submit_final(vec![0.0; 3], context.clone()), Err(InferenceError::Overloaded)));
        // `submit` waits for room instead of failing: the lane frees when the worker takes one.
        let waiting = tokio::spawn({
            let (asr, context) = (asr.clone(), context.clone());
            async move { asr.submit(vec![0.0; 4], context).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no room yet");
        for _ in 0..3 {
            open.send(()).unwrap();
        }
        let waited = waiting.await.unwrap().unwrap();
        for pending in [busy, queued, waited] {
            assert!(pending.await.unwrap().is_ok());
        }
        let lengths: Vec<usize> = served.try_iter().map(|(_, n)| n).collect();
        assert_eq!(lengths, [1, 2, 4]);
    }
}
