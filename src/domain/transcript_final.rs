use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

/// One final result of a live session, stored as soon as it is produced (never revised). The
/// meeting's transcript is assembled from these when the session ends, or after a crash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct TranscriptFinal {
    pub session_id: Uuid,
    /// 0, 1, 2… in the order the finals were sent.
    pub seq: i32,
    pub tenant_id: Uuid,
    pub meeting_id: Uuid,
    /// Milliseconds from the start of the session's audio.
    pub start_ms: i32,
    pub end_ms: i32,
    pub speaker: Option<i32>,
    pub text: String,
    #[schema(value_type = Vec<super::Word>)]
    pub words: Json<Vec<super::Word>>,
    pub created_at: DateTime<Utc>,
}
