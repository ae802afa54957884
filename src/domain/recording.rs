use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

/// A meeting's uploaded recording and how far its transcription got (`recordings`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Recording {
    pub meeting_id: Uuid,
    pub tenant_id: Uuid,
    /// Where the file lies in the recording storage.
    #[serde(skip)]
    pub storage_key: String,
    /// The URL it is fetched from, when the client named one (empty `storage_key` until then).
    pub source_url: Option<String>,
    /// The container sniffed from the content: `wav`, `flac`, `mp3`, `ogg`, `webm`, …
    pub format: String,
    pub bytes: i64,
    /// Fixed language for the transcription; `None`: detected.
    pub language: Option<String>,
    /// Served Whisper model; `None`: the tenant's default.
    pub model: Option<String>,
    pub diarize: bool,
    /// Words to expect in this recording (Deepgram's `keyterm`), before the tenant's glossary.
    #[schema(value_type = Vec<String>)]
    pub keyterms: Json<Vec<String>>,
    pub duration_ms: Option<i64>,
    pub processed_ms: i64,
    /// The transcription's session (its finals), once the job started.
    pub session_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the finished transcript is sent (Deepgram's `callback`); it may hold the client's
    /// secret, so it is never shown.
    #[serde(skip)]
    pub callback_url: Option<String>,
    /// `POST` or `PUT`.
    #[serde(skip)]
    pub callback_method: Option<String>,
    /// The audio of the live session `session_id`, kept as it was streamed (`record=true`); no
    /// job transcribes it.
    pub live: bool,
}
