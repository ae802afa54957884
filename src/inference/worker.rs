//! [`ModelWorker`]: how every model runs (Whisper, Silero VAD, the speaker encoder, the LLM).
//!
//! A worker is a bounded queue served by dedicated OS threads, each owning its own copy of the
//! model, so no model call ever runs on the async runtime. The worker
//! - loads the models on their threads and returns only once all are loaded (a missing file
//!   fails the start, not the first request);
//! - serves one batch at a time per thread; a batch that panics fails its callers (their reply
//!   channels drop) and the thread goes on with the next one;
//! - records per-batch metrics (`ddalkkak_model_batch_*`, labelled with the worker's name);
//! - publishes its [`WorkerHealth`] on a `watch` channel, which `/readyz` reads;
//! - when dropped, closes its queue (callers see "stopped"), lets the threads finish what was
//!   queued, and joins them.
//!
//! The queue policy is the queue's own ([`WorkQueue`]): Whisper's two lanes (finals first,
//! partials coalesced per stream, `asr::engine`) or a plain FIFO ([`BoundedQueue`]: VAD,
//! diarization, LLM).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{Notify, watch};

/// Failed batches in a row after which a worker is reported not ready.
const FAILING_AFTER: u32 = 3;

/// Work waiting for a [`ModelWorker`]'s threads.
pub trait WorkQueue: Send + Sync + 'static {
    type Batch: Send + 'static;
    /// Blocks until there is work; `None` once closed and drained.
    fn take(&self) -> Option<Self::Batch>;
    /// Refuses new work from now on; what is queued is still taken.
    fn close(&self);
    /// Items waiting.
    fn waiting(&self) -> usize;
}

/// How a batch went: its size, and whether the model failed on it.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub items: usize,
    pub ok: bool,
}

/// A worker's state, published after every batch and whenever a thread stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHealth {
    pub name: Arc<str>,
    /// Threads started.
    pub threads: usize,
    /// Threads still serving the queue (fewer than `threads`: one died, or the worker stopped).
    pub running: usize,
    pub batches: u64,
    pub failed_batches: u64,
    /// Failed batches in a row: a model that fails every call is not ready.
    pub consecutive_failures: u32,
}

impl WorkerHealth {
    pub fn is_ready(&self) -> bool {
        self.running == self.threads && self.consecutive_failures < FAILING_AFTER
    }
}

pub struct ModelWorker<Q: WorkQueue> {
    queue: Arc<Q>,
    threads: Vec<JoinHandle<()>>,
    health: watch::Receiver<WorkerHealth>,
}

impl<Q: WorkQueue> ModelWorker<Q> {
    /// Starts one thread per loader; each loads its model on its own thread (so a thread's
    /// settings, e.g. its priority, apply to the model's runtime threads) and then serves `queue`
    /// with `serve`. Returns once every model is loaded, or the first loading error.
    pub fn start<M, E, L, S>(name: &str, queue: Arc<Q>, loaders: Vec<L>, serve: S) -> Result<Self, E>
    where
        L: FnOnce() -> Result<M, E> + Send + 'static,
        E: Send + 'static + From<std::io::Error>,
        S: Fn(&mut M, Q::Batch) -> Served + Clone + Send + 'static,
    {
        let name: Arc<str> = Arc::from(name);
        let (health_tx, health) = watch::channel(WorkerHealth {
            name: name.clone(),
            threads: loaders.len(),
            running: loaders.len(),
            batches: 0,
            failed_batches: 0,
            consecutive_failures: 0,
        });
        let health_tx = Arc::new(health_tx);
        let (loaded_tx, loaded) = std::sync::mpsc::channel::<Result<(), E>>();
        // Dropped on any error below: the queue closes and the threads started are joined.
        let mut worker = Self { queue, threads: Vec::new(), health };
        let count = loaders.len();
        for (i, load) in loaders.into_iter().enumerate() {
            let (queue, serve, health, loaded) =
                (worker.queue.clone(), serve.clone(), health_tx.clone(), loaded_tx.clone());
            let name = name.clone();
            let thread_name = if count == 1 { name.to_string() } else { format!("{name}-{i}") };
            let spawned = std::thread::Builder::new().name(thread_name).spawn(move || {
                let _running = Running(health.clone());
                let mut model = match load() {
                    Ok(model) => model,
                    Err(e) => {
                        let _ = loaded.send(Err(e));
                        return;
                    }
                };
                let _ = loaded.send(Ok(()));
                drop(loaded);
                serve_queue(&name, &*queue, &mut model, &serve, &health);
            });
            worker.threads.push(spawned?);
        }
        drop(loaded_tx);
        for _ in 0..count {
            // A thread that died while loading (a panic) drops its sender without a word.
            let result = loaded.recv().unwrap_or_else(|_| {
                Err(std::io::Error::other("a model thread stopped while loading its model").into())
            });
            result?;
        }
        Ok(worker)
    }

    pub fn queue(&self) -> &Arc<Q> {
        &self.queue
    }

    pub fn health(&self) -> watch::Receiver<WorkerHealth> {
        self.health.clone()
    }
}

impl<Q: WorkQueue> Drop for ModelWorker<Q> {
    fn drop(&mut self) {
        self.queue.close();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Counts a thread as running until it ends, however it ends.
struct Running(Arc<watch::Sender<WorkerHealth>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|h| h.running -= 1);
    }
}

fn serve_queue<Q: WorkQueue, M>(
    name: &str,
    queue: &Q,
    model: &mut M,
    serve: &impl Fn(&mut M, Q::Batch) -> Served,
    health: &watch::Sender<WorkerHealth>,
) {
    while let Some(batch) = queue.take() {
        let started = Instant::now();
        let served = catch_unwind(AssertUnwindSafe(|| serve(model, batch))).unwrap_or_else(|_| {
            tracing::error!(worker = name, "a model batch panicked; its callers get an error");
            Served { items: 0, ok: false }
        });
        crate::metrics::model_batch(name, served.items, started.elapsed(), served.ok, queue.waiting());
        health.send_modify(|h| {
            h.batches += 1;
            if served.ok {
                h.consecutive_failures = 0;
            } else {
                h.failed_batches += 1;
                h.consecutive_failures += 1;
            }
        });
    }
}

/// A FIFO of at most `capacity` items, one item per batch.
pub struct BoundedQueue<T> {
    state: Mutex<Fifo<T>>,
    ready: Condvar,
    /// Signalled when an item is taken or the queue closes.
    room: Notify,
    capacity: usize,
}

struct Fifo<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// Why an item was not queued; it comes back to the caller.
pub enum Refused<T> {
    Full(T),
    Closed(T),
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Fifo { items: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
            room: Notify::new(),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Fifo<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`, or hands it back at once when the queue is full or closed.
    pub fn try_push(&self, item: T) -> Result<(), Refused<T>> {
        let mut fifo = self.lock();
        if fifo.closed {
            return Err(Refused::Closed(item));
        }
        if fifo.items.len() >= self.capacity {
            return Err(Refused::Full(item));
        }
        fifo.items.push_back(item);
        drop(fifo);
        self.ready.notify_one();
        Ok(())
    }

    /// Queues `item`, waiting for room; hands it back only when the queue is closed.
    pub async fn push(&self, mut item: T) -> Result<(), T> {
        loop {
            // Registered before trying, so room made in between still wakes us.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(item) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed(back)) => return Err(back),
                Err(Refused::Full(back)) => item = back,
            }
            room.await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

impl<T: Send + 'static> WorkQueue for BoundedQueue<T> {
    type Batch = T;

    fn take(&self) -> Option<T> {
        let mut fifo = self.lock();
        loop {
            if let Some(item) = fifo.items.pop_front() {
                drop(fifo);
                self.room.notify_waiters();
                return Some(item);
            }
            if fifo.closed {
                return None;
            }
            fifo = self.ready.wait(fifo).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.room.notify_waiters();
    }

    fn waiting(&self) -> usize {
        self.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Job = (u32, std::sync::mpsc::Sender<u32>);

    /// Two threads that double numbers; 7 fails, 13 panics.
    fn doubler(queue: &Arc<BoundedQueue<Job>>) -> ModelWorker<BoundedQueue<Job>> {
        let loaders = vec![|| Ok::<_, std::io::Error>(2u32); 2];
        ModelWorker::start("doubler", queue.clone(), loaders, |factor: &mut u32, (n, reply): Job| {
            assert!(n != 13, "unlucky");
            let _ = reply.send(n * *factor);
            Served { items: 1, ok: n != 7 }
        })
        .unwrap()
    }

    #[tokio::test]
    async fn serves_the_queue_and_reports_health() {
        let queue = BoundedQueue::new(4);
        let worker = doubler(&queue);
        let (tx, rx) = std::sync::mpsc::channel();
        for n in [1, 2, 3] {
            assert!(queue.try_push((n, tx.clone())).is_ok());
        }
        let mut got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, [2, 4, 6]);
        let mut health = worker.health();
        let h = health.wait_for(|h| h.batches == 3).await.unwrap().clone();
        assert!(h.is_ready(), "{h:?}");
        assert_eq!((h.threads, h.running, h.failed_batches), (2, 2, 0));
    }

    #[tokio::test]
    async fn failing_and_panicking_batches_make_it_not_ready_but_keep_it_serving() {
        let queue = BoundedQueue::new(8);
        let worker = doubler(&queue);
        let (tx, rx) = std::sync::mpsc::channel();
        for n in [7, 13, 7] {
            assert!(queue.try_push((n, tx.clone())).is_ok());
        }
        let mut health = worker.health();
        let h = health.wait_for(|h| h.batches == 3).await.unwrap().clone();
        assert_eq!((h.failed_batches, h.consecutive_failures, h.running), (3, 3, 2));
        assert!(!h.is_ready());
        // Still serving after the panic.
        queue.try_push((5, tx.clone())).ok().unwrap();
        let mut replies = std::iter::from_fn(|| rx.recv_timeout(std::time::Duration::from_secs(10)).ok());
        assert_eq!(replies.find(|&v| v == 10), Some(10));
        let h = health.wait_for(|h| h.batches == 4).await.unwrap().clone();
        assert!(h.is_ready());
    }

    #[test]
    fn a_full_queue_refuses_and_a_dropped_worker_closes_it() {
        let queue = BoundedQueue::<u32>::new(1);
        assert!(queue.try_push(1).is_ok());
        assert!(matches!(queue.try_push(2), Err(Refused::Full(2))));
        // No worker serves it yet: dropping one that serves it drains it, then closes it.
        let worker =
            ModelWorker::start("sink", queue.clone(), vec![|| Ok::<_, std::io::Error>(())], |_: &mut (), _| Served {
                items: 1,
                ok: true,
            })
            .unwrap();
        drop(worker);
        assert_eq!(queue.waiting(), 0);
        assert!(matches!(queue.try_push(3), Err(Refused::Closed(3))));
    }

    #[test]
    fn a_model_that_fails_to_load_fails_the_start() {
        let queue = BoundedQueue::<u32>::new(1);
        let loaders: Vec<Box<dyn FnOnce() -> Result<(), std::io::Error> + Send>> =
            vec![Box::new(|| Ok(())), Box::new(|| Err(std::io::Error::other("no such model")))];
        let started =
            ModelWorker::start("broken", queue.clone(), loaders, |_: &mut (), _| Served { items: 1, ok: true });
        assert_eq!(started.err().map(|e| e.to_string()), Some("no such model".to_owned()));
        assert!(queue.is_closed());
    }

    #[tokio::test]
    async fn push_waits_for_room() {
        let queue = BoundedQueue::<u32>::new(1);
        queue.try_push(1).ok().unwrap();
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(2).await.is_ok() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert_eq!(queue.take(), Some(1));
        assert!(waiting.await.unwrap());
        assert_eq!(queue.take(), Some(2));
    }
}
