use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

/// `stt_status_enum`; the spec names only PENDING, the rest is decision D-179.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "stt_status_enum", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SttStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Meeting {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub host_id: Uuid,
    pub audio_file_url: Option<String>,
    /// Seconds of audio.
    pub audio_duration: Option<i32>,
    pub stt_status: SttStatus,
    pub transcript_text: Option<String>,
    #[schema(value_type = Option<Vec<super::TranscriptSegment>>)]
    pub transcript_segments: Option<Json<Vec<super::TranscriptSegment>>>,
    #[schema(value_type = Option<Vec<super::SpeakerLabel>>)]
    pub speaker_labels: Option<Json<Vec<super::SpeakerLabel>>>,
    pub ai_summary: Option<String>,
    #[schema(value_type = Option<Vec<super::ActionItem>>)]
    pub ai_action_items: Option<Json<Vec<super::ActionItem>>>,
    /// What the meeting decided, as the minutes read it.
    #[schema(value_type = Option<Vec<super::MinutesNote>>)]
    pub ai_decisions: Option<Json<Vec<super::MinutesNote>>>,
    /// What the meeting raised and left open.
    #[schema(value_type = Option<Vec<super::MinutesNote>>)]
    pub ai_open_questions: Option<Json<Vec<super::MinutesNote>>>,
    pub slack_message_ts: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Audio of the live session that is not in the transcript (see [`super::TranscriptGap`]).
    #[schema(value_type = Option<Vec<super::TranscriptGap>>)]
    pub transcript_gaps: Option<Json<Vec<super::TranscriptGap>>>,
    /// The language the meeting was transcribed in (a Whisper code such as `ko`): the live
    /// session's `language`, or the one it detected and locked; `null` when not known.
    pub language: Option<String>,
}
