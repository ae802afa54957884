//! The retention purge (D-135): error-isolation records and quarantined rows past their
//! retention, ENDED realtime sessions past theirs, and recordings (files and rows) of meetings
//! deleted longer than the trash window or older than their tenant's `recording_retention_days`,
//! are deleted on a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::storage::RecordingStorage;
use crate::store::{PurgeCutoffs, PurgeReport, Store, StoreResult};

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub meetings_error: chrono::Duration,
    pub ai_error_log: chrono::Duration,
    pub integration_error_log: chrono::Duration,
    pub quarantine: chrono::Duration,
    pub ended_sessions: chrono::Duration,
    /// How long a soft-deleted meeting keeps its recording (a restore brings it back); then
    /// the recording is deleted, file and row.
    pub deleted_meeting_recordings: chrono::Duration,
}

impl Default for Retention {
    /// The spec's periods: 30, 7, 3 and 90 days (D-130..D-133); ended sessions are temporary
    /// data (D-122), kept 7 days for support; a deleted meeting's recording 7 days (the trash
    /// window, docs/decisions.md).
    fn default() -> Self {
        Self {
            meetings_error: chrono::Duration::days(30),
            ai_error_log: chrono::Duration::days(7),
            integration_error_log: chrono::Duration::days(3),
            quarantine: chrono::Duration::days(90),
            ended_sessions: chrono::Duration::days(7),
            deleted_meeting_recordings: chrono::Duration::days(7),
        }
    }
}

impl Retention {
    pub fn cutoffs(&self, now: DateTime<Utc>) -> PurgeCutoffs {
        PurgeCutoffs {
            meetings_error: now - self.meetings_error,
            ai_error_log: now - self.ai_error_log,
            integration_error_log: now - self.integration_error_log,
            quarantine: now - self.quarantine,
            ended_sessions: now - self.ended_sessions,
            deleted_meeting_recordings: now - self.deleted_meeting_recordings,
            now,
        }
    }
}

pub struct RetentionJob {
    pub store: Arc<dyn Store>,
    /// Where the purged recordings' files are; `None`: the server keeps none.
    pub recordings: Option<RecordingStorage>,
    pub retention: Retention,
    pub interval: Duration,
}

impl RetentionJob {
    pub async fn run_once(&self) -> StoreResult<PurgeReport> {
        self.purge_at(crate::domain::now()).await
    }

    /// One purge as if it were `now` (tests look into the future with it). The rows go first;
    /// then the purged recordings' files, whose failures are logged (`RecordingStorage::discard`).
    pub async fn purge_at(&self, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        let report = self.store.purge_expired(self.retention.cutoffs(now)).await?;
        if let Some(storage) = &self.recordings {
            storage.discard(&report.recordings.keys).await;
        }
        for (table, rows) in [
            ("meetings_error", report.meetings_error),
            ("ai_error_log", report.ai_error_log),
            ("integration_error_log", report.integration_error_log),
            ("quarantine", report.quarantine),
            ("realtime_sessions", report.ended_sessions),
            ("recordings_expired", report.recordings.expired),
            ("recordings_of_deleted_meetings", report.recordings.of_deleted_meetings),
        ] {
            metrics::retention_purged(table, rows);
        }
        Ok(report)
    }

    /// Purges now and then every `interval` until `shutdown`. A failed round is logged and
    /// retried at the next tick: retention is eventually enforced, never fatal.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => match self.run_once().await {
                    Ok(report) => tracing::debug!(?report, "retention purge"),
                    Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying next interval"),
                },
            }
        }
    }
}
