use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One action item of a meeting's minutes (`meetings.ai_action_items`): what was said next to
/// what it was resolved to. The tasks made from it are separate rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ActionItem {
    pub title: String,
    pub description: String,
    /// The owner as named in the meeting.
    pub assignee: Option<String>,
    /// The user that name resolved to, if any.
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<NaiveDate>,
    /// The words the due date was said in.
    pub due_date_text: Option<String>,
    /// `seq` of the transcript segments that say it.
    #[serde(default)]
    pub source_segments: Vec<i64>,
}
