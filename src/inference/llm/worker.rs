//! [`LlmWorker`]: the extraction model on a dedicated OS thread behind an async handle.
//!
//! Generation takes seconds to minutes of CPU, so it never runs on the async runtime: requests
//! go through a bounded queue to one thread that owns the model. **Queue policy**: when
//! `queue_capacity` requests already wait, [`LlmWorker::extract`] fails at once with
//! [`LlmError::Overloaded`] instead of waiting; the caller is the durable job worker, which
//! keeps the job and retries later, so nothing is lost and no task piles up in memory. A caller
//! that stops waiting (its future dropped) cancels its request: a queued one is skipped, a
//! running one stops after the current token.
//!
//! **CPU policy**: the model uses every core (`intra_op_threads`), but its thread and the ONNX
//! Runtime threads it creates run at a low scheduling priority (`nice`, Linux): live sessions
//! at the normal priority take the cores whenever they need them, and a summary only uses what
//! they leave. A fixed thread count could not do both: one thread wastes an idle machine, two
//! threads at equal priority slow live captions down.

use std::path::Path;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use super::error::LlmError;
use super::extraction::{Extraction, MeetingInput};
use super::generator::Generator;
use super::meeting_extractor::{ExtractOptions, ExtractProgress, ExtractStats, MeetingExtractor};
use super::model::Precision;
use crate::inference::{OrtRuntime, Threads};

#[derive(Debug, Clone)]
pub struct LlmWorkerOptions {
    /// Requests waiting beyond the running one; more are refused (`Overloaded`).
    pub queue_capacity: usize,
    /// Threads inside one operator of the LLM's session.
    pub intra_op_threads: usize,
    /// Niceness of the LLM's threads (0 = unchanged, 19 = lowest priority); see the module
    /// header.
    pub nice: i32,
    pub extract: ExtractOptions,
}

impl Default for LlmWorkerOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 8,
            intra_op_threads: Threads::default().intra_op,
            nice: 19,
            extract: ExtractOptions::default(),
        }
    }
}

/// What the worker is doing, published on a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlmProgress {
    /// Requests finished (successfully or not) since start.
    pub completed: u64,
    /// The running request's progress; `None` when idle.
    pub current: Option<ExtractProgress>,
}

type Reply = oneshot::Sender<Result<(Extraction, ExtractStats), LlmError>>;

struct Request {
    input: MeetingInput,
    reply: Reply,
}

pub struct LlmWorker {
    queue: mpsc::Sender<Request>,
    progress: watch::Receiver<LlmProgress>,
    thread: Option<JoinHandle<()>>,
}

impl LlmWorker {
    /// Loads the model (on the worker thread; this call blocks until it is loaded, so missing
    /// files fail here) and starts serving.
    pub fn start(
        runtime: &OrtRuntime,
        model_dir: &Path,
        precision: Precision,
        options: LlmWorkerOptions,
    ) -> Result<Self, LlmError> {
        let runtime = runtime.with_threads(Threads { intra_op: options.intra_op_threads.max(1) });
        let (queue, requests) = mpsc::channel(options.queue_capacity.max(1));
        let (progress_tx, progress) = watch::channel(LlmProgress::default());
        let (loaded_tx, loaded) = std::sync::mpsc::sync_channel(1);
        let dir = model_dir.to_owned();
        let (extract, nice) = (options.extract, options.nice);
        let thread = std::thread::Builder::new()
            .name("llm".into())
            .spawn(move || {
                // Before the session exists: its thread pool inherits this thread's priority.
                lower_priority(nice);
                let extractor =
                    Generator::load(&runtime, &dir, precision).and_then(|g| MeetingExtractor::new(g, extract));
                match extractor {
                    Ok(extractor) => {
                        let _ = loaded_tx.send(Ok(()));
                        serve(extractor, requests, &progress_tx);
                    }
                    Err(e) => {
                        let _ = loaded_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| LlmError::Config(format!("spawning the LLM thread: {e}")))?;
        loaded.recv().map_err(|_| LlmError::Stopped)??;
        Ok(Self { queue, progress, thread: Some(thread) })
    }

    /// Summary and action items of `input` (see the module header for the queue policy).
    pub async fn extract(&self, input: MeetingInput) -> Result<Extraction, LlmError> {
        Ok(self.extract_with_stats(input).await?.0)
    }

    /// [`extract`](Self::extract) plus what it cost.
    pub async fn extract_with_stats(&self, input: MeetingInput) -> Result<(Extraction, ExtractStats), LlmError> {
        let (reply, rx) = oneshot::channel();
        self.queue.try_send(Request { input, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LlmError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => LlmError::Stopped,
        })?;
        rx.await.map_err(|_| LlmError::Stopped)?
    }

    /// Progress of the running request, updated after every generated token.
    pub fn progress(&self) -> watch::Receiver<LlmProgress> {
        self.progress.clone()
    }

    /// Stops taking requests, lets the running one finish and joins the thread (blocking).
    pub fn shutdown(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// Sets the calling thread's niceness (Linux keeps it per thread, and threads it creates
/// inherit it). A failure (a platform without it) only costs the priority, so it is logged.
#[allow(unsafe_code, reason = "libc::setpriority is the only way to set a thread's niceness")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority has no memory effects; `who = 0` is the calling thread on Linux.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
        if rc != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower the LLM thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::warn!(nice, "thread priorities are only set on Linux; the LLM runs at normal priority");
}

fn serve(
    mut extractor: MeetingExtractor,
    mut requests: mpsc::Receiver<Request>,
    progress: &watch::Sender<LlmProgress>,
) {
    let mut completed = 0;
    while let Some(Request { input, reply }) = requests.blocking_recv() {
        if reply.is_closed() {
            continue;
        }
        let mut report = |p: ExtractProgress| {
            progress.send_replace(LlmProgress { completed, current: Some(p) });
            if p.tokens.is_multiple_of(64) {
                tracing::debug!(chunk = p.chunk, chunks = p.chunks, tokens = p.tokens, "generating");
            }
            !reply.is_closed()
        };
        let result = extractor.extract(&input, &mut report);
        match &result {
            Ok((extraction, stats)) => tracing::info!(
                lines = input.lines.len(),
                items = extraction.action_items.len(),
                chunks = stats.chunks,
                generated_tokens = stats.generated_tokens,
                seconds = stats.total_time.as_secs_f32(),
                "extraction done"
            ),
            Err(LlmError::Cancelled) => tracing::info!("extraction cancelled by its caller"),
            Err(e) => tracing::warn!(error = %e, "extraction failed"),
        }
        completed += 1;
        progress.send_replace(LlmProgress { completed, current: None });
        let _ = reply.send(result);
    }
}
