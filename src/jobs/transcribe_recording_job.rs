//! The `transcribe_recording` job, enqueued with a meeting's uploaded recording: the recording is
//! transcribed by the live service's models (`session::recording_session`) and the meeting
//! finished as a live one is, its meeting-intelligence job queued in the same transaction.

use std::sync::Arc;

use async_trait::async_trait;

use super::job_runner::{JobError, JobHandler};
use crate::domain::Job;
use crate::session::{LiveService, RecordingError};
use crate::storage::RecordingStorage;
use crate::store::{ErrorTable, StoreError};

pub struct TranscribeRecordingJob {
    pub live: Arc<LiveService>,
    pub storage: RecordingStorage,
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
        let path = self.storage.path(&recording.storage_key);
        match self.live.transcribe_recording(job, path).await {
            Ok(done) => {
                tracing::info!(%meeting, seconds = done.audio_seconds, utterances = done.transcribed,
                    resumed = done.resumed, "recording transcribed");
                Ok(())
            }
            Err(RecordingError::Audio(e)) => {
                // The file itself is at fault: no attempt can do better.
                if let Err(failed) = store.fail_recording_transcription(job).await {
                    tracing::warn!(%meeting, error = %failed, "marking the meeting FAILED failed");
                }
                Err(JobError::permanent(format!("the recording does not decode: {e}")))
            }
            Err(RecordingError::Inference(e)) => Err(JobError::retryable(format!("transcribing failed: {e}"))),
            Err(RecordingError::Store(e)) => Err(e.into()),
        }
    }
}
