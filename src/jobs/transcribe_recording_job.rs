//! The `transcribe_recording` job, enqueued with a meeting's uploaded recording: the recording is
//! transcribed by the live service's models (`session::recording_session`) and the meeting
//! finished as a live one is, its meeting-intelligence job queued in the same transaction.

use std::sync::Arc;

use async_trait::async_trait;

use super::job_runner::{JobError, JobHandler};
use crate::domain::{Job, Recording};
use crate::session::{LiveService, RecordingError};
use crate::storage::{Recordings, StorageError};
use crate::store::{ErrorTable, StoreError};

pub struct TranscribeRecordingJob {
    pub live: Arc<LiveService>,
    pub recordings: Recordings,
}

#[async_trait]
impl JobHandler for TranscribeRecordingJob {
    fn kind(&self) -> &'static str {
        Job::TRANSCRIBE_RECORDING
    }

    fn max_attempts(&self) -> i32 {
        3
    }

    fn error_table(&self) -> ErrorTable {
        ErrorTable::Meetings
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let store = &self.live.store;
        let meeting =
            job.meeting_id.ok_or_else(|| JobError::permanent("transcribe_recording job without a meeting"))?;
        let recording = match store.get_recording(job.tenant_id, meeting).await {
            Ok(Some((recording, _))) => recording,
            Ok(None) | Err(StoreError::NotFound) => {
                return Err(JobError::permanent("the meeting or its recording was deleted"));
            }
            Err(e) => return Err(e.into()),
        };
        let recording = match (recording.storage_key.is_empty(), recording.source_url.clone()) {
            (true, Some(url)) => self.fetch(job, &url).await?,
            (true, None) => return Err(JobError::permanent("the recording has neither a file nor a URL")),
            (false, _) => recording,
        };
        let path = self.recordings.storage.path(&recording.storage_key);
        match self.live.transcribe_recording(job, path).await {
            Ok(done) => {
                tracing::info!(%meeting, seconds = done.audio_seconds, utterances = done.transcribed,
                    resumed = done.resumed, "recording transcribed");
                Ok(())
            }
            // The file itself is at fault: no attempt can do better.
            Err(RecordingError::Audio(e)) => {
                Err(self.give_up(job, format!("the recording does not decode: {e}")).await)
            }
            Err(RecordingError::Inference(e)) => Err(JobError::retryable(format!("transcribing failed: {e}"))),
            Err(RecordingError::Store(e)) => Err(e.into()),
        }
    }
}

impl TranscribeRecordingJob {
    /// Fetches the recording's URL into the storage (the same checks as an upload); a URL or a
    /// file that can never work fails the meeting, the network's trouble is retried.
    async fn fetch(&self, job: &Job, url: &str) -> Result<Recording, JobError> {
        let (tenant, meeting) = (job.tenant_id, job.meeting_id.unwrap_or_default());
        let body = match self.recordings.fetcher.open(url).await {
            Ok(body) => body,
            Err(e) if e.is_transient() => return Err(JobError::retryable(e.to_string())),
            Err(e) => return Err(self.give_up(job, e.to_string()).await),
        };
        let stored = match self.recordings.storage.store(tenant, meeting, body, self.recordings.max_bytes).await {
            Ok(stored) => stored,
            Err(e @ (StorageError::Body(_) | StorageError::Io(_))) => return Err(JobError::retryable(e.to_string())),
            Err(e) => return Err(self.give_up(job, format!("the URL's content: {e}")).await),
        };
        let path = self.recordings.storage.path(&stored.key);
        let opened =
            tokio::task::spawn_blocking(move || crate::audio::AudioReader::open(&path).map(|r| r.duration_ms()))
                .await
                .map_err(|e| JobError::retryable(e.to_string()))?;
        let duration_ms = match opened {
            Ok(duration_ms) => duration_ms,
            Err(e) => {
                let _ = self.recordings.storage.delete(&stored.key).await;
                return Err(self.give_up(job, format!("the URL's content does not decode: {e}")).await);
            }
        };
        tracing::info!(%meeting, bytes = stored.bytes, format = stored.format, "recording fetched");
        let recorded = self
            .live
            .store
            .record_fetched_recording(job, &stored.key, stored.format, stored.bytes as i64, duration_ms)
            .await;
        if recorded.is_err() {
            let _ = self.recordings.storage.delete(&stored.key).await;
        }
        Ok(recorded?)
    }

    /// The recording can never be transcribed: its meeting is FAILED and the job fails for good.
    async fn give_up(&self, job: &Job, why: String) -> JobError {
        if let Err(e) = self.live.store.fail_recording_transcription(job).await {
            tracing::warn!(meeting = ?job.meeting_id, error = %e, "marking the meeting FAILED failed");
        }
        JobError::permanent(why)
    }
}
