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
    /// The text of an `ACTION_ITEMS_READY` notification: `count` tasks of the meeting `title`,
    /// in the meeting's language.
    pub fn action_items_message(count: usize, title: &str, language: Wording) -> String {
        match language {
            Wording::Korean => format!("\"{title}\" 회의에서 할 일 {count}개가 배정되었습니다"),
            Wording::English => {
                format!("{count} action item{} from \"{title}\" assigned to you", if count == 1 { "" } else { "s" })
            }
        }
    }
}

/// The language of what the server writes about a meeting for people (notifications, Slack
/// messages): the meeting's own language where the server has the words, else English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    English,
    Korean,
}

impl Wording {
    /// From a meeting's `language` (a Whisper code; `None` when not known).
    pub fn of(language: Option<&str>) -> Self {
        match language {
            Some("ko") => Wording::Korean,
            _ => Wording::English,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_korean_meeting_notifies_in_korean() {
        assert_eq!(
            Notification::action_items_message(2, "주간 회의", Wording::of(Some("ko"))),
            "\"주간 회의\" 회의에서 할 일 2개가 배정되었습니다"
        );
        assert_eq!(
            Notification::action_items_message(1, "Weekly", Wording::of(None)),
            "1 action item from \"Weekly\" assigned to you"
        );
        assert_eq!(Wording::of(Some("ja")), Wording::English);
    }
}
