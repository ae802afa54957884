//! The `deliver_callback` job: a pre-recorded request made with Deepgram's `callback=` gets its
//! result sent to that URL when its transcription ends: Deepgram's response shape (with
//! `utterances` and `paragraphs`) for a finished meeting, `{err_code, err_msg, request_id}` for
//! a failed one. Sent through the same address rules as a fetched recording (no private
//! addresses unless allowed), retried with the job queue's backoff while the receiver fails.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use super::job_runner::{JobError, JobHandler};
use crate::domain::{Job, SttStatus};
use crate::session::LiveService;
use crate::storage::UrlFetcher;
use crate::store::{ErrorTable, StoreError};

pub struct DeliverCallbackJob {
    pub live: Arc<LiveService>,
    pub fetcher: UrlFetcher,
}

/// What a failed request's callback receives (Deepgram's error body).
#[derive(Serialize)]
struct CallbackError<'a> {
    err_code: &'a str,
    err_msg: String,
    request_id: Uuid,
}

#[async_trait]
impl JobHandler for DeliverCallbackJob {
    fn kind(&self) -> &'static str {
        Job::DELIVER_CALLBACK
    }

    fn max_attempts(&self) -> i32 {
        10
    }

    fn error_table(&self) -> ErrorTable {
        ErrorTable::Meetings
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let store = &self.live.store;
        let meeting_id = job.meeting_id.ok_or_else(|| JobError::permanent("deliver_callback job without a meeting"))?;
        let recording = match store.get_recording(job.tenant_id, meeting_id).await {
            Ok(Some((recording, _))) => recording,
            Ok(None) | Err(StoreError::NotFound) => {
                return Err(JobError::permanent("the meeting or its recording was deleted"));
            }
            Err(e) => return Err(e.into()),
        };
        let (Some(url), Some(method)) = (recording.callback_url.as_deref(), recording.callback_method.as_deref())
        else {
            return Err(JobError::permanent("the recording has no callback"));
        };
        let meeting = store.get_meeting(job.tenant_id, meeting_id).await?;
        let body = match meeting.stt_status {
            SttStatus::Completed => {
                let model = self.live.served_model(recording.model.as_deref());
                serde_json::to_vec(&crate::http::prerecorded::response(&meeting, model, true, true))
            }
            _ => serde_json::to_vec(&CallbackError {
                err_code: "transcription_failed",
                err_msg: "the recording could not be transcribed".into(),
                request_id: meeting_id,
            }),
        }
        .map_err(|e| JobError::permanent(e.to_string()))?;
        let method = if method == "PUT" { reqwest::Method::PUT } else { reqwest::Method::POST };
        match self.fetcher.deliver(url, method, body).await {
            Ok(()) => {
                tracing::info!(meeting = %meeting_id, "pre-recorded result sent to its callback");
                store.complete_job(job).await?;
                Ok(())
            }
            Err(e) if e.is_transient() => Err(JobError::retryable(format!("callback: {e}"))),
            Err(e) => Err(JobError::permanent(format!("callback: {e}"))),
        }
    }
}
