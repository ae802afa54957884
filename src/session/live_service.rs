//! Everything live sessions share: the ASR and VAD handles, the store, the caption hub,
//! admission control, and the tracker that owns every socket actor so shutdown can drain them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::caption_hub::CaptionHub;
use super::served_model::ServedModel;
use crate::inference::diarize::DiarizeHandle;
use crate::inference::vad_worker::VadHandle;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Sessions beyond this are refused with 503 `overloaded`.
    pub max_sessions: usize,
    /// Also refused while this many finals wait in the ASR queue: the engine is behind.
    pub max_backlog: usize,
    /// No audio and no KeepAlive for this long closes the session (4000).
    pub idle_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Identifies this process in `realtime_sessions.server_instance` (crash recovery).
    pub server_instance: String,
    /// The served Whisper models, e.g. `tiny.en`, `base`; the first serves sessions that name
    /// neither a model nor a language (see [`super::served_model`]).
    pub models: Vec<String>,
    pub max_utterance_ms: u32,
    /// A client that has not read a final for this long is closed (4001).
    pub slow_consumer_timeout: Duration,
    /// Finals of one session waiting for ASR before reading its socket pauses.
    pub max_pending_finals: usize,
    /// At shutdown, pending finals get this long; what is left is reported as a transcript gap.
    /// A session that ends otherwise waits for all of its finals.
    pub drain_timeout: Duration,
    /// A session's audio may run at most this far ahead of the wall-clock time since it started;
    /// beyond that reading pauses until real time catches up (backpressure, not an error). Lets
    /// clients send faster than real time in bursts, but not unboundedly.
    pub max_audio_ahead: Duration,
    /// After a session ends, connected viewers (and a client that asked with
    /// `wait_for_action_items=true`) wait up to this long for the action items. Zero (the
    /// default, for a server without an LLM): nobody waits.
    pub action_items_wait: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_sessions: 32,
            max_backlog: 48,
            idle_timeout: Duration::from_secs(10),
            max_frame_bytes: 1 << 20,
            server_instance: "local".into(),
            models: vec!["tiny.en".into()],
            max_utterance_ms: 15_000,
            slow_consumer_timeout: Duration::from_secs(5),
            max_pending_finals: 4,
            drain_timeout: Duration::from_secs(20),
            max_audio_ahead: Duration::from_secs(120),
            action_items_wait: Duration::ZERO,
        }
    }
}

pub struct LiveService {
    /// One engine per served model, in `LiveConfig::models` order.
    pub models: Vec<ServedModel>,
    pub vad: VadHandle,
    /// Speaker tracking for `diarize=true`; `None` without the speaker model.
    pub diarize: Option<DiarizeHandle>,
    pub store: Arc<dyn Store>,
    /// Shared with the meeting-intelligence job, which announces action items to viewers.
    pub captions: Arc<CaptionHub>,
    pub config: LiveConfig,
    /// Cancelled at shutdown: actors flush, finalize and close with 1001.
    pub shutdown: CancellationToken,
    pub actors: TaskTracker,
    active: AtomicUsize,
}

/// Held by an admitted session; dropping it frees the slot.
pub struct Admission {
    service: Arc<LiveService>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.service.active.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::live_sessions(self.service.active.load(Ordering::Acquire));
    }
}

impl LiveService {
    pub fn new(
        models: Vec<ServedModel>,
        vad: VadHandle,
        diarize: Option<DiarizeHandle>,
        store: Arc<dyn Store>,
        config: LiveConfig,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            models,
            vad,
            diarize,
            store,
            captions: Arc::new(CaptionHub::default()),
            config,
            shutdown,
            actors: TaskTracker::new(),
            active: AtomicUsize::new(0),
        })
    }

    /// Admission control: refuse early rather than make every session slower.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let backlog: usize = self.models.iter().map(|m| m.asr.backlog().0).sum();
        if self.shutdown.is_cancelled() || backlog >= self.config.max_backlog {
            return None;
        }
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.config.max_sessions).then_some(n + 1))
            .is_ok();
        if admitted {
            crate::metrics::live_sessions(self.active.load(Ordering::Acquire));
        }
        admitted.then(|| Admission { service: self.clone() })
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Finalizes the sessions this instance left ACTIVE when it last stopped without draining
    /// (a crash): their meetings are assembled from the finals stored so far.
    pub async fn recover_orphans(&self) -> anyhow::Result<usize> {
        let orphans = self.store.orphaned_sessions(&self.config.server_instance).await?;
        for session in &orphans {
            let meeting = self.store.finalize_live_session(session.tenant_id, session.id, None).await?;
            tracing::warn!(session = %session.id, meeting = %meeting.id, "recovered a session left open by a crash");
        }
        Ok(orphans.len())
    }

    /// Stops admitting, tells every actor to drain, and waits up to `timeout` for them.
    pub async fn drain(&self, timeout: Duration) {
        self.shutdown.cancel();
        self.actors.close();
        if tokio::time::timeout(timeout, self.actors.wait()).await.is_err() {
            tracing::warn!(
                left = self.actors.len(),
                "live sessions did not drain in time; the next start recovers them"
            );
        }
    }
}
