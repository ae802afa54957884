use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What may be known about a user's enrolled voice: that it exists. The embedding itself never
/// leaves the server (biometric data; see docs/decisions.md, "Voice enrollment").
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Voiceprint {
    pub user_id: Uuid,
    pub enrolled_at: DateTime<Utc>,
    /// Milliseconds of speech (silence removed) it was computed from.
    pub speech_ms: i32,
}

/// A tenant user's voiceprint as stored, still sealed (`auth::VoiceprintCipher`), with the
/// user's name: what a finished meeting's speakers are compared with.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedVoiceprint {
    pub user_id: Uuid,
    pub name: String,
    pub embedding: String,
}
