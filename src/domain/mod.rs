//! Row types of the data model (`../migrations`), shared by the store, the HTTP layer and the
//! OpenAPI document. Enums map to PostgreSQL enum types and to checked TEXT in SQLite.

mod action_item;
mod api_key;
mod integration;
mod job;
mod meeting;
mod minutes_note;
mod notification;
mod realtime_session;
mod recording;
mod task;
mod tenant;
mod transcript;
mod transcript_final;
mod transcript_gap;
mod transcript_version;
mod usage;
mod user;
mod voiceprint;

pub use action_item::ActionItem;
pub use api_key::ApiKey;
pub use integration::{Integration, ServiceType};
pub use job::{Job, JobStatus};
pub use meeting::{Meeting, SttStatus};
pub use minutes_note::MinutesNote;
pub use notification::{Notification, Wording};
pub use realtime_session::{RealtimeSession, SessionStatus};
pub use recording::Recording;
pub use task::{Task, TaskStatus};
pub use tenant::Tenant;
pub use transcript::{
    AssembledTranscript, EvidenceKind, IdentityEvidence, SpeakerIdentity, SpeakerLabel, TranscriptSegment, Word,
    name_speaker,
};
pub use transcript_final::TranscriptFinal;
pub use transcript_gap::TranscriptGap;
pub use transcript_version::{
    RecordingTranscription, TranscriptSource, TranscriptVersion, TranscriptVersionRow, VersionStatus, VersionTranscript,
};
pub use usage::UsageDay;
pub use user::{Role, User};
pub use voiceprint::{SealedVoiceprint, Voiceprint};

/// Timestamps are kept in UTC with microsecond precision, the resolution PostgreSQL stores, so a
/// value read back from either backend equals the one written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
