//! [`LlmWorker`]: a model on a [`ModelWorker`] thread behind an async handle, serving one
//! [`LlmHandler`] (what the model is used for is the handler's business).
//!
//! Generation takes seconds to minutes of CPU, so it never runs on the async runtime: requests
//! go through a bounded queue to one thread that owns the model. **Queue policy**: when
//! `queue_capacity` requests already wait, [`LlmWorker::submit`] fails at once with
//! [`LlmError::Overloaded`] instead of waiting; the caller is the durable job worker, which
//! keeps the job and retries later, so nothing is lost and no task piles up in memory. A caller
//! that stops waiting (its future dropped) cancels its request: a queued one is skipped, a
//! running one stops after the current token, as it does when the worker is dropped.
//!
//! **CPU policy**: the model uses every core (`intra_op_threads`), but its thread and the ONNX
//! Runtime threads it creates run at a low scheduling priority (`nice`, Linux): live sessions
//! at the normal priority take the cores whenever they need them, and a summary only uses what
//! they leave. A fixed thread count could not do both: one thread wastes an idle machine, two
//! threads at equal priority slow live captions down.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use super::error::LlmError;
use super::generator::Generator;
use super::model::Precision;
use crate::inference::worker::{BoundedQueue, ModelWorker, Refused, Served, WorkerHealth};
use crate::inference::{OrtRuntime, Threads};

/// What an [`LlmWorker`] runs: built on the worker thread around the loaded model, then given
/// one request at a time.
pub trait LlmHandler: Sized + 'static {
    /// The handler's own settings ([`LlmWorkerOptions::handler`]).
    type Options: Send + 'static;
    type Request: Send + 'static;
    type Response: Send + 'static;
    /// Where a running request stands; published after every generated token.
    type Progress: Copy + Send + Sync + 'static;

    fn load(generator: Generator, options: Self::Options) -> Result<Self, LlmError>;

    /// Serves one request; `progress` is told how it goes and may cancel it by returning false.
    fn handle(
        &mut self,
        request: &Self::Request,
        progress: &mut dyn FnMut(Self::Progress) -> bool,
    ) -> Result<Self::Response, LlmError>;
}

#[derive(Debug, Clone)]
pub struct LlmWorkerOptions<O> {
    /// Requests waiting beyond the running one; more are refused (`Overloaded`).
    pub queue_capacity: usize,
    /// Threads inside one operator of the LLM's session.
    pub intra_op_threads: usize,
    /// Niceness of the LLM's threads (0 = unchanged, 19 = lowest priority); see the module
    /// header.
    pub nice: i32,
    /// Handed to [`LlmHandler::load`].
    pub handler: O,
}

impl<O: Default> Default for LlmWorkerOptions<O> {
    fn default() -> Self {
        Self { queue_capacity: 8, intra_op_threads: Threads::default().intra_op, nice: 19, handler: O::default() }
    }
}

/// What the worker is doing, published on a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmProgress<P> {
    /// Requests finished (successfully or not) since start.
    pub completed: u64,
    /// The running request's progress; `None` when idle.
    pub current: Option<P>,
}

impl<P> Default for LlmProgress<P> {
    fn default() -> Self {
        Self { completed: 0, current: None }
    }
}

struct Request<H: LlmHandler> {
    request: H::Request,
    reply: oneshot::Sender<Result<H::Response, LlmError>>,
}

pub struct LlmWorker<H: LlmHandler> {
    queue: Arc<BoundedQueue<Request<H>>>,
    progress: watch::Receiver<LlmProgress<H::Progress>>,
    worker: ModelWorker<BoundedQueue<Request<H>>>,
}

impl<H: LlmHandler> LlmWorker<H> {
    /// Loads the model (on the worker thread; this call blocks until it is loaded, so missing
    /// files fail here) and starts serving.
    pub fn start(
        runtime: &OrtRuntime,
        model_dir: &Path,
        precision: Precision,
        options: LlmWorkerOptions<H::Options>,
    ) -> Result<Self, LlmError> {
        let runtime = runtime.with_threads(Threads { intra_op: options.intra_op_threads.max(1) });
        let queue = BoundedQueue::new(options.queue_capacity);
        let (progress_tx, progress) = watch::channel(LlmProgress::default());
        let dir = model_dir.to_owned();
        let (handler, nice) = (options.handler, options.nice);
        let load = move || {
            // Before the session exists: its thread pool inherits this thread's priority.
            lower_priority(nice);
            Generator::load(&runtime, &dir, precision).and_then(|g| H::load(g, handler))
        };
        let closing = queue.clone();
        let progress_tx = Arc::new(progress_tx);
        let worker = ModelWorker::start("llm", queue.clone(), vec![load], move |handler: &mut H, request| {
            serve(handler, request, &progress_tx, &closing)
        })?;
        Ok(Self { queue, progress, worker })
    }

    /// The handler's response to `request` (see the module header for the queue policy).
    pub async fn submit(&self, request: H::Request) -> Result<H::Response, LlmError> {
        let (reply, rx) = oneshot::channel();
        self.queue.try_push(Request { request, reply }).map_err(|e| match e {
            Refused::Full(_) => LlmError::Overloaded,
            Refused::Closed(_) => LlmError::Stopped,
        })?;
        rx.await.map_err(|_| LlmError::Stopped)?
    }

    /// Progress of the running request, updated after every generated token.
    pub fn progress(&self) -> watch::Receiver<LlmProgress<H::Progress>> {
        self.progress.clone()
    }

    pub fn health(&self) -> watch::Receiver<WorkerHealth> {
        self.worker.health()
    }

    /// Stops taking requests, stops the running one after its current token and joins the
    /// thread (blocking).
    pub fn shutdown(self) {
        drop(self);
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

fn serve<H: LlmHandler>(
    handler: &mut H,
    Request { request, reply }: Request<H>,
    progress: &watch::Sender<LlmProgress<H::Progress>>,
    queue: &BoundedQueue<Request<H>>,
) -> Served {
    if reply.is_closed() {
        return Served { items: 0, ok: true };
    }
    let completed = progress.borrow().completed;
    let mut report = |p: H::Progress| {
        progress.send_replace(LlmProgress { completed, current: Some(p) });
        !reply.is_closed() && !queue.is_closed()
    };
    let result = handler.handle(&request, &mut report);
    progress.send_replace(LlmProgress { completed: completed + 1, current: None });
    // Output the model could not be made to give (a dead end, unparsable JSON) is the model
    // failing; a cancelled or too-long request is not.
    let ok = !matches!(result, Err(LlmError::Ort(_) | LlmError::Inference(_) | LlmError::ConstraintDeadEnd(_)));
    let _ = reply.send(result);
    Served { items: 1, ok }
}
