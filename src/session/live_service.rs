//! Everything live sessions share: the ASR and VAD handles, the store, the caption hub,
//! admission control (server-wide, per tenant and per API key; caption viewers per session and
//! per tenant), and the tracker that owns every socket actor so shutdown can drain them.

use super::live_minutes::MinutesDrafting;
use super::live_recorder::settle_after_crash;
use crate::storage::RecordingStorage;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::caption_hub::CaptionHub;
use super::served_model::ServedModel;
use crate::auth::VoiceprintCipher;
use crate::inference::diarize::DiarizeHandle;
use crate::inference::vad_worker::VadHandle;
use crate::store::Store;

/// Measured on the side-by-side benchmark's conversation (docs/benchmarks.md, "Live load").
pub const DEFAULT_SPLIT_PAUSE_MS: u32 = 160;
pub const DEFAULT_SPLIT_AFTER_MS: u32 = 3_000;
pub const DEFAULT_SETTLE_AFTER_MS: u32 = 2_000;
/// Measured with `examples/live_load.rs --ramp-secs` (docs/benchmarks.md, "Admission by lag").
pub const DEFAULT_MAX_FINAL_WAIT_MS: u32 = 1_000;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Sessions beyond this are refused with 503 `overloaded`.
    pub max_sessions: usize,
    /// Open sessions of one tenant; beyond this 429 `tenant_session_quota`.
    pub max_sessions_per_tenant: usize,
    /// Open sessions of one API key (a stream token counts for the key that minted it); beyond
    /// this 429 `key_session_quota`.
    pub max_sessions_per_key: usize,
    /// A session is ended after this long, as a `CloseStream` would end it, with close 4002
    /// `max_duration`.
    pub max_session_duration: Duration,
    /// Caption viewers of one session; beyond this 503 `too_many_viewers`.
    pub max_viewers_per_session: usize,
    /// Caption viewers of one tenant, all sessions together; beyond this 429 `tenant_viewer_quota`.
    pub max_viewers_per_tenant: usize,
    /// A WebSocket viewer is pinged every third of this and closed (4000 `idle_timeout`) when it
    /// has answered nothing for this long.
    pub viewer_timeout: Duration,
    /// Also refused while this many finals wait in the ASR queue: the engine is behind.
    pub max_backlog: usize,
    /// Also refused while finals take longer than this from being queued to being answered
    /// ([`AsrHandle::finals_lag`](crate::inference::asr::AsrHandle::finals_lag)): the machine
    /// serves as many sessions as it keeps up with, whatever its cores and models. `None`: off.
    pub max_final_wait: Option<Duration>,
    /// No audio and no KeepAlive for this long closes the session (4000).
    pub idle_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Identifies this process in `realtime_sessions.server_instance` (crash recovery).
    pub server_instance: String,
    /// The served Whisper models, e.g. `tiny.en`, `base`; the first serves sessions that name
    /// neither a model nor a language (see [`super::served_model`]).
    pub models: Vec<String>,
    pub max_utterance_ms: u32,
    /// A pause this long splits an utterance already `split_after_ms` long when speech resumes
    /// (see [`super::utterance_segmenter`]); `None`: only the endpoint and the length cap end one.
    pub split_pause_ms: Option<u32>,
    pub split_after_ms: u32,
    /// With partials, leading segments two consecutive partials agree on become a final once
    /// they reach this far (ms) into the utterance (see [`super::local_agreement`]); `None`: off.
    pub settle_after_ms: Option<u32>,
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
    /// How often a session's actor stamps `realtime_sessions.heartbeat_at` (the session sweeper
    /// finalizes sessions silent for `RunOptions::stale_session_after`).
    pub heartbeat_interval: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_sessions: 32,
            max_sessions_per_tenant: 16,
            max_sessions_per_key: 8,
            max_session_duration: Duration::from_secs(4 * 3600),
            max_viewers_per_session: 500,
            max_viewers_per_tenant: 1000,
            viewer_timeout: Duration::from_secs(60),
            max_backlog: 48,
            max_final_wait: Some(Duration::from_millis(DEFAULT_MAX_FINAL_WAIT_MS as u64)),
            idle_timeout: Duration::from_secs(10),
            max_frame_bytes: 1 << 20,
            server_instance: "local".into(),
            models: vec!["tiny.en".into()],
            max_utterance_ms: 15_000,
            split_pause_ms: Some(DEFAULT_SPLIT_PAUSE_MS),
            split_after_ms: DEFAULT_SPLIT_AFTER_MS,
            settle_after_ms: Some(DEFAULT_SETTLE_AFTER_MS),
            slow_consumer_timeout: Duration::from_secs(5),
            max_pending_finals: 4,
            drain_timeout: Duration::from_secs(20),
            max_audio_ahead: Duration::from_secs(120),
            action_items_wait: Duration::ZERO,
            heartbeat_interval: Duration::from_secs(15),
        }
    }
}

/// The model threads' handles live sessions use.
pub struct LiveEngines {
    /// One engine per served model, in `LiveConfig::models` order.
    pub models: Vec<ServedModel>,
    pub vad: VadHandle,
    pub diarize: Option<DiarizeHandle>,
}

pub struct LiveService {
    /// One engine per served model, in `LiveConfig::models` order.
    pub models: Vec<ServedModel>,
    pub vad: VadHandle,
    /// Speaker tracking for `diarize=true`; `None` without the speaker model.
    pub diarize: Option<DiarizeHandle>,
    /// Opens the tenant's enrolled voices when a meeting's speakers are named.
    pub voiceprints: VoiceprintCipher,
    pub store: Arc<dyn Store>,
    /// Shared with the meeting-intelligence job, which announces action items to viewers (and,
    /// when instances share PostgreSQL, relayed to and from the other instances).
    pub captions: Arc<CaptionHub>,
    /// Where sessions with `record=true` keep their audio; `None`: the server keeps none.
    pub recordings: Option<RecordingStorage>,
    /// How live sessions draft their action items while they run, when an LLM is served.
    minutes: OnceLock<MinutesDrafting>,
    pub config: LiveConfig,
    /// Cancelled at shutdown: actors flush, finalize and close with 1001.
    pub shutdown: CancellationToken,
    /// A child of `shutdown`, cancelled before it (for the shutdown delay): no new session is
    /// admitted, while the ones open go on.
    pub draining: CancellationToken,
    pub actors: TaskTracker,
    active: AtomicUsize,
    /// Open sessions per tenant and per API key.
    tenant_sessions: Arc<SlotCounts<Uuid>>,
    key_sessions: Arc<SlotCounts<String>>,
    /// Caption viewers per session and per tenant.
    session_viewers: Arc<SlotCounts<Uuid>>,
    tenant_viewers: Arc<SlotCounts<Uuid>>,
}

/// Why a session or a viewer is not admitted; mapped to HTTP once, in `http/error.rs`
/// (docs/protocol.md): the server or the session has no room (503), or the caller's tenant or
/// key holds as many as it may (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    #[error("no capacity for another live session now; retry shortly")]
    Overloaded,
    #[error("this server is shutting down; connect again to reach another one")]
    ShuttingDown,
    #[error("this tenant has {0} live sessions open, as many as it may; end one first")]
    TenantSessions(usize),
    #[error("this API key has {0} live sessions open, as many as it may; end one first")]
    KeySessions(usize),
    #[error("this session has {0} viewers, as many as it takes")]
    SessionViewers(usize),
    #[error("this tenant has {0} caption viewers connected, as many as it may")]
    TenantViewers(usize),
}

/// Who asks for a session: the tenant, and the API key behind the credential (its prefix; a
/// stream token names the key that minted it).
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub key: String,
}

/// Held by an admitted session; dropping it frees its slots (server, tenant, key).
pub struct Admission {
    service: Arc<LiveService>,
    _tenant: Slot<Uuid>,
    _key: Slot<String>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.service.active.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::live_sessions(self.service.active.load(Ordering::Acquire));
    }
}

/// Held by a connected caption viewer; dropping it frees its slots (session, tenant).
pub struct ViewerSlot {
    _session: Slot<Uuid>,
    _tenant: Slot<Uuid>,
}

/// Slots held per key (a tenant, an API key, a session). Taking one checks and increments under
/// the map entry's lock, so concurrent requests cannot both take the last one.
struct SlotCounts<K: Hash + Eq>(DashMap<K, usize>);

impl<K: Hash + Eq> Default for SlotCounts<K> {
    fn default() -> Self {
        Self(DashMap::new())
    }
}

impl<K: Hash + Eq + Clone> SlotCounts<K> {
    fn take(self: &Arc<Self>, key: K, limit: usize) -> Option<Slot<K>> {
        let mut held = self.0.entry(key.clone()).or_insert(0);
        if *held >= limit {
            drop(held);
            self.0.remove_if(&key, |_, n| *n == 0);
            return None;
        }
        *held += 1;
        Some(Slot { counts: self.clone(), key })
    }
}

/// One taken slot; dropping it gives the slot back (and forgets keys that hold none).
struct Slot<K: Hash + Eq> {
    counts: Arc<SlotCounts<K>>,
    key: K,
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        if let Some(mut held) = self.counts.0.get_mut(&self.key) {
            *held = held.saturating_sub(1);
        }
        self.counts.0.remove_if(&self.key, |_, n| *n == 0);
    }
}

impl LiveService {
    pub fn new(
        engines: LiveEngines,
        voiceprints: VoiceprintCipher,
        store: Arc<dyn Store>,
        captions: Arc<CaptionHub>,
        recordings: Option<RecordingStorage>,
        config: LiveConfig,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        // Exported from the start: an autoscaler reading it gets 0, not a missing series.
        crate::metrics::live_sessions(0);
        let LiveEngines { models, vad, diarize } = engines;
        Arc::new(Self {
            models,
            vad,
            diarize,
            voiceprints,
            store,
            captions,
            recordings,
            minutes: OnceLock::new(),
            config,
            draining: shutdown.child_token(),
            shutdown,
            actors: TaskTracker::new(),
            active: AtomicUsize::new(0),
            tenant_sessions: Arc::default(),
            key_sessions: Arc::default(),
            session_viewers: Arc::default(),
            tenant_viewers: Arc::default(),
        })
    }

    /// Admission control: refuse early rather than make every session slower. The caller's own
    /// quotas are checked first (a tenant at its quota is told so even when the server is also
    /// full); a draining server refuses everyone first. Every slot taken is given back when the
    /// [`Admission`] is dropped.
    pub fn admit(self: &Arc<Self>, caller: Caller) -> Result<Admission, AdmissionError> {
        let c = &self.config;
        // Before the quotas: whatever they say, the client's next try belongs on another instance.
        if self.draining.is_cancelled() {
            return Err(AdmissionError::ShuttingDown);
        }
        let tenant = self
            .tenant_sessions
            .take(caller.tenant_id, c.max_sessions_per_tenant)
            .ok_or(AdmissionError::TenantSessions(c.max_sessions_per_tenant))?;
        let key = self
            .key_sessions
            .take(caller.key, c.max_sessions_per_key)
            .ok_or(AdmissionError::KeySessions(c.max_sessions_per_key))?;
        if self.backlog() >= c.max_backlog || self.behind().is_some() {
            return Err(AdmissionError::Overloaded);
        }
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < c.max_sessions).then_some(n + 1))
            .map_err(|_| AdmissionError::Overloaded)?;
        crate::metrics::live_sessions(self.active.load(Ordering::Acquire));
        Ok(Admission { service: self.clone(), _tenant: tenant, _key: key })
    }

    /// A caption viewer of `session` (of `tenant_id`): at most `max_viewers_per_session` per
    /// session and `max_viewers_per_tenant` per tenant.
    pub fn admit_viewer(&self, session: Uuid, tenant_id: Uuid) -> Result<ViewerSlot, AdmissionError> {
        let c = &self.config;
        let tenant = self
            .tenant_viewers
            .take(tenant_id, c.max_viewers_per_tenant)
            .ok_or(AdmissionError::TenantViewers(c.max_viewers_per_tenant))?;
        let session = self
            .session_viewers
            .take(session, c.max_viewers_per_session)
            .ok_or(AdmissionError::SessionViewers(c.max_viewers_per_session))?;
        Ok(ViewerSlot { _session: session, _tenant: tenant })
    }

    /// The served model a recording was transcribed with (its stored name), else the first.
    /// Live sessions started from now on draft their action items so.
    pub fn draft_minutes_with(&self, drafting: MinutesDrafting) {
        let _ = self.minutes.set(drafting);
    }

    pub fn minutes_drafting(&self) -> Option<&MinutesDrafting> {
        self.minutes.get()
    }

    pub fn served_model(&self, name: Option<&str>) -> &ServedModel {
        name.and_then(|name| self.models.iter().find(|m| m.name == name)).unwrap_or(&self.models[0])
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Finals waiting for ASR, all served models together.
    fn backlog(&self) -> usize {
        self.models.iter().map(|m| m.asr.backlog().0).sum()
    }

    /// How long finals take in ASR, when that is over `max_final_wait`. The served models share
    /// the cores, so one model behind means the machine is.
    fn behind(&self) -> Option<Duration> {
        let max = self.config.max_final_wait?;
        let lag = self.models.iter().map(|m| m.asr.finals_lag()).max().unwrap_or_default();
        (lag > max).then_some(lag)
    }

    /// Why a new session would be refused for lack of room now (`/readyz/streams`): the admission
    /// limit is reached, or ASR is too far behind. `None`: there is room.
    pub fn full(&self) -> Option<String> {
        let (active, max) = (self.active_sessions(), self.config.max_sessions);
        if active >= max {
            return Some(format!("full: {active} of {max} live sessions"));
        }
        let backlog = self.backlog();
        if backlog >= self.config.max_backlog {
            return Some(format!("full: {backlog} finals waiting for ASR"));
        }
        self.behind().map(|lag| format!("full: finals wait {:.1} s for ASR", lag.as_secs_f64()))
    }

    /// Finalizes the sessions this instance left ACTIVE when it last stopped without draining
    /// (a crash): their meetings are assembled from the finals stored so far.
    pub async fn recover_orphans(&self) -> anyhow::Result<usize> {
        let orphans = self.store.orphaned_sessions(&self.config.server_instance).await?;
        for session in &orphans {
            // The tracker died with the process: no voices to compare, speakers stay numbered.
            let meeting = self
                .store
                .finalize_live_session(session.tenant_id, session.id, None, None, &Default::default())
                .await?;
            tracing::warn!(session = %session.id, meeting = %meeting.id, "recovered a session left open by a crash");
            if let Some(storage) = &self.recordings
                && let Err(e) = settle_after_crash(storage, &*self.store, session.tenant_id, meeting.id).await
            {
                tracing::warn!(meeting = %meeting.id, error = %e, "the recovered session's recording keeps its first size");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_per_key_and_given_back_when_dropped() {
        let counts = Arc::new(SlotCounts::default());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = counts.take(a, 2).unwrap();
        let second = counts.take(a, 2).unwrap();
        assert!(counts.take(a, 2).is_none(), "a holds its two");
        let other = counts.take(b, 2).expect("b has its own count");
        drop(second);
        let again = counts.take(a, 2).expect("a slot given back is free again");
        drop((first, again, other));
        assert!(counts.0.is_empty(), "keys holding nothing are forgotten");
        assert!(counts.take(a, 0).is_none());
        assert!(counts.0.is_empty(), "a refusal leaves nothing behind");
    }
}
