//! The ASR engine: Whisper on dedicated OS threads behind a cheap, cloneable [`AsrHandle`].
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

use tokio::sync::{Notify, oneshot, watch};

use super::decoding::{self, DecodeOptions};
use super::model::Precision;
use super::transcriber::{DecodeContext, EncoderWindow, LanguageChoice, Transcriber, UtteranceText};
use crate::inference::worker::{ModelWorker, Served, WorkQueue, WorkerHealth};
use crate::inference::{InferenceError, OrtRuntime};

/// Most partials encoded together.
const MAX_PARTIAL_BATCH: usize = 2;

type Reply = oneshot::Sender<Result<UtteranceText, InferenceError>>;

/// One utterance (16 kHz mono, at most 30 s) to transcribe.
struct AsrRequest {
    audio: Vec<f32>,
    /// Its language (fixed, or detected among all languages or a few; English-only models
    /// ignore it) and keyterms.
    context: DecodeContext,
    /// The stream a partial belongs to; `None` for finals.
    partial_of: Option<u64>,
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
    /// Loads one model per worker (errors surface here, not on the first request) and starts them.
    pub fn start(
        runtime: &OrtRuntime,
        model_dir: &std::path::Path,
        config: EngineConfig,
    ) -> Result<(AsrEngine, AsrHandle), InferenceError> {
        let queue = Arc::new(AsrQueue {
            lanes: Mutex::default(),
            ready: Condvar::new(),
            room: Notify::new(),
            capacity: config.queue_capacity,
            max_batch: config.max_batch.max(1),
        });
        let (languages_tx, languages) = std::sync::mpsc::channel();
        let loaders: Vec<_> = (0..config.workers.max(1))
            .map(|_| {
                let (runtime, dir, precision, languages) =
                    (*runtime, model_dir.to_owned(), config.precision, languages_tx.clone());
                move || {
                    let transcriber = Transcriber::load(&runtime, &dir, precision)?;
                    let _ = languages.send(transcriber.languages());
                    Ok::<_, InferenceError>(transcriber)
                }
            })
            .collect();
        let name = model_dir.file_name().map_or("whisper".into(), |n| n.to_string_lossy());
        let worker = ModelWorker::start(&format!("asr-{name}"), queue.clone(), loaders, move |transcriber, batch| {
            serve_batch(transcriber, batch, &config)
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
        lane.push_back(AsrRequest { audio, context, partial_of: None, reply });
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
        lanes.partials.push_back(AsrRequest { audio, context, partial_of: Some(stream), reply });
        drop(lanes);
        self.queue.ready.notify_one();
        Ok(rx)
    }

    /// Requests waiting: (finals, partials).
    pub fn backlog(&self) -> (usize, usize) {
        let lanes = self.queue.lock();
        (lanes.finals.len(), lanes.partials.len())
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

fn serve_batch(transcriber: &mut Transcriber, mut batch: Vec<AsrRequest>, config: &EngineConfig) -> Served {
    // A session that went away no longer waits for its answer.
    batch.retain(|r| !r.reply.is_closed());
    let items = batch.len();
    if batch.is_empty() {
        return Served { items, ok: true };
    }
    // A batch is all finals or all partials.
    let partials = batch[0].partial_of.is_some();
    let window = if partials { config.partial_window } else { config.window };
    let audio: Vec<&[f32]> = batch.iter().map(|r| r.audio.as_slice()).collect();
    let contexts: Vec<DecodeContext> = batch.iter().map(|r| r.context.clone()).collect();
    match transcribe(transcriber, &audio, &contexts, window, !partials, &config.options) {
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

/// Transcribes with `window`; with `recheck`, an utterance whose trimmed-window text repeats
/// itself (compression ratio over the threshold, Whisper's own loop test, or a phrase repeated at
/// the end: [`decoding::ends_in_loop`]) is transcribed again
/// with the full 30 s window, which tiny.en needs to know where speech ends.
fn transcribe(
    transcriber: &mut Transcriber,
    audio: &[&[f32]],
    contexts: &[DecodeContext],
    window: EncoderWindow,
    recheck: bool,
    options: &DecodeOptions,
) -> Result<Vec<UtteranceText>, InferenceError> {
    transcriber.window = window;
    let mut results = transcriber.transcribe_utterances(audio, contexts, options)?;
    if recheck && window == EncoderWindow::Trimmed {
        let limit = options.compression_ratio_threshold.unwrap_or(2.4);
        let loops = |r: &UtteranceText| {
            let text: String = r.segments.iter().map(|s| s.text.as_str()).collect();
            r.segments.iter().any(|s| s.compression_ratio > limit) || decoding::ends_in_loop(&text)
        };
        let looping: Vec<usize> = (0..results.len()).filter(|&i| loops(&results[i])).collect();
        if !looping.is_empty() {
            transcriber.window = EncoderWindow::Full;
            let again: Vec<&[f32]> = looping.iter().map(|&i| audio[i]).collect();
            // The language the first pass used (detected or asked) holds for the second.
            let again_contexts: Vec<DecodeContext> = looping
                .iter()
                .map(|&i| DecodeContext {
                    language: results[i].language.clone().map_or(LanguageChoice::Detect, LanguageChoice::Fixed),
                    keyterms: contexts[i].keyterms.clone(),
                })
                .collect();
            for (i, text) in
                looping.into_iter().zip(transcriber.transcribe_utterances(&again, &again_contexts, options)?)
            {
                // Still the first pass's detection, if there was one.
                results[i] = UtteranceText { language_probability: results[i].language_probability, ..text };
            }
        }
    }
    Ok(results)
}
