use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A message for one user (D-174), e.g. "action items ready".
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub is_read: bool,
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// The text of an `ACTION_ITEMS_READY` notification: `count` tasks of the meeting `title`.
    pub fn action_items_message(count: usize, title: &str) -> String {
        format!("{count} action item{} from \"{title}\" assigned to you", if count == 1 { "" } else { "s" })
    }
}
