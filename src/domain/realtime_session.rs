use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `session_status_enum` (D-014).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "session_status_enum", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Active,
    Ended,
}

/// One live WebSocket stream (D-099): created ACTIVE when the socket opens, ENDED when it closes.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct RealtimeSession {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub meeting_id: Option<Uuid>,
    pub host_id: Uuid,
    pub socket_id: String,
    /// The server process that owns the session while it is ACTIVE (crash recovery).
    pub server_instance: Option<String>,
    pub status: SessionStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The owning actor's last sign of life while ACTIVE (a session silent for long is swept).
    pub heartbeat_at: Option<DateTime<Utc>>,
}
