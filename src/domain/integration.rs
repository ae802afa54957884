use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `integration_service_enum` (D-015).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "integration_service_enum", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    Slack,
    Teams,
    Notion,
}

/// An external integration. `access_token` holds AES-256-GCM ciphertext (see
/// `auth::TokenCipher`); it is never serialized.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Integration {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub service_type: ServiceType,
    pub access_token: Option<String>,
    pub is_active: bool,
    /// Slack: the channel id summaries are posted to (the host's DM when unset).
    pub channel: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
