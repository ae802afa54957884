//! [`SessionSweeper`]: finalizes live sessions whose owner stopped giving signs of life (its
//! instance crashed, was killed or lost the database for good), on whichever instance sweeps
//! first. A live session's actor stamps `realtime_sessions.heartbeat_at` every
//! `LiveConfig::heartbeat_interval`; one silent for `stale_after` gets its meeting assembled from
//! the finals stored so far, as a restart of its own instance would do, and its caption viewers
//! (on every instance, through the relay) hear that the session ended before its minutes can.
//!
//! After the sweeper itself could not reach the database it waits `stale_after` of health before
//! sweeping again: every live actor has touched its session by then, so an outage that silenced
//! everyone does not look like every owner died.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::session::{CaptionEvent, CaptionHub, ServerMessage};
use crate::store::{Store, StoreResult};

pub struct SessionSweeper {
    pub store: Arc<dyn Store>,
    pub captions: Arc<CaptionHub>,
    /// A session with no heartbeat for this long has lost its owner.
    pub stale_after: Duration,
    pub interval: Duration,
}

impl SessionSweeper {
    /// Finalizes every stale session; returns how many.
    pub async fn sweep_once(&self) -> StoreResult<usize> {
        let stale_after = chrono::Duration::from_std(self.stale_after).unwrap_or(chrono::Duration::MAX);
        let stale = self.store.stale_sessions(crate::domain::now() - stale_after).await?;
        for session in &stale {
            // Its tracker is gone: no voices to compare, speakers stay numbered.
            let meeting = self
                .store
                .finalize_live_session(session.tenant_id, session.id, None, None, &Default::default())
                .await?;
            tracing::warn!(session = %session.id, meeting = %meeting.id, instance = ?session.server_instance,
                heartbeat = ?session.heartbeat_at, "finalized a live session whose owner went silent");
            // Said before the job queued with the meeting can announce its action items.
            let ended = ServerMessage::SessionEnded {
                session_id: session.id,
                meeting_id: meeting.id,
                duration: meeting.audio_duration.map_or(0.0, f64::from),
            };
            let minutes_follow = meeting.transcript_text.as_ref().is_some_and(|t| !t.is_empty());
            self.captions.announce(meeting.id, CaptionEvent::session_ended(ended, minutes_follow));
        }
        Ok(stale.len())
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut healthy_since = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if healthy_since.elapsed() < self.stale_after {
                // Only probe: live actors may not have had the chance to touch their sessions.
                if let Err(e) = self.store.ping().await {
                    tracing::debug!(error = %e, "session sweeper: database away");
                    healthy_since = Instant::now();
                }
                continue;
            }
            match self.sweep_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(finalized = n, "session sweep"),
                Err(e) => {
                    tracing::warn!(error = %e, "session sweep failed; waiting for the database to stay up");
                    healthy_since = Instant::now();
                }
            }
        }
    }
}
