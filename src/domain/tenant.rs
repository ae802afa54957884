use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

/// An organisation; every other row belongs to exactly one tenant (D-088).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// Language of live sessions that name none (`ko`, `en`, `multi` to detect); `None`: the
    /// server's first served model decides.
    pub default_language: Option<String>,
    /// Served model (`base`, `tiny.en`) of live sessions that name neither a model nor a
    /// language; `None`: `default_language` (else the server's first model) decides.
    pub default_model: Option<String>,
    /// Words every session and recording of the tenant expects (people's names, product names,
    /// jargon), given to Whisper after a session's own `keyterm`s.
    #[schema(value_type = Vec<String>)]
    pub glossary: Json<Vec<String>>,
    /// Live sessions keep their audio as their meeting's recording unless the client says
    /// `record=false` (on servers that keep recordings).
    pub record_sessions: bool,
    /// Days the tenant's recordings are kept before the retention job deletes them (their files
    /// and rows; meetings, transcripts and minutes stay); `None`: kept for ever.
    pub recording_retention_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
