use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `job_status_enum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "job_status_enum", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// A durable background job (the meeting-intelligence job is enqueued when a live meeting is
/// finalized, in the same transaction).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub meeting_id: Option<Uuid>,
    pub status: JobStatus,
    pub attempts: i32,
    pub run_after: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// Summary and action items of a finalized meeting.
    pub const MEETING_INTELLIGENCE: &'static str = "meeting_intelligence";
    /// Posting a meeting's summary to the tenant's Slack; enqueued when the intelligence job
    /// succeeds.
    pub const SLACK_POST: &'static str = "slack_post";
    /// Transcribing a meeting's uploaded recording; enqueued with the upload.
    pub const TRANSCRIBE_RECORDING: &'static str = "transcribe_recording";
    /// Sending a pre-recorded request's result to its `callback` URL; enqueued when its
    /// transcription ends, finished or failed.
    pub const DELIVER_CALLBACK: &'static str = "deliver_callback";
}
