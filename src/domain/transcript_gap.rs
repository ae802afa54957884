use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stretch of a live session's audio that was accepted but is not in the transcript, and why.
/// The client was told when it happened (`TranscriptGap` message); the meeting keeps the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptGap {
    /// Seconds from the start of the stream.
    pub start: f64,
    pub end: f64,
    /// `engine_stopped`, `shutdown_deadline`, `not_stored`.
    pub reason: String,
}
