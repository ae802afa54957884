use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A decision or an open question of a meeting's minutes (`meetings.ai_decisions`,
/// `meetings.ai_open_questions`): one sentence, tied to the transcript lines that say it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MinutesNote {
    pub text: String,
    /// `seq` of the transcript segments that say it.
    #[serde(default)]
    pub source_segments: Vec<i64>,
}
