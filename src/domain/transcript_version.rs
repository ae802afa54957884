use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{JobStatus, SpeakerLabel, TranscriptSegment};

/// What made a version of a meeting's transcript: `transcript_source_enum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "transcript_source_enum", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "lowercase")]
pub enum TranscriptSource {
    /// A live session (`/v1/listen`).
    Live,
    /// The first transcription of an uploaded or fetched recording.
    Recording,
    /// `POST /v1/meetings/{id}/retranscribe`: the meeting's recording transcribed again.
    Retranscribe,
}

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Its transcription job waits for a worker.
    Queued,
    /// Being transcribed (a live session still streaming, or a job at work).
    Running,
    /// Finished: it became the meeting's transcript, and may since have been replaced.
    Completed,
    /// Its transcription failed or was replaced before it finished; the meeting kept the
    /// transcript it had.
    Failed,
}

/// A row of `transcript_versions`: one transcription of a meeting, under the id of the session
/// its finals were stored under. The transcript columns are set once a newer version replaced it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TranscriptVersionRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub meeting_id: Uuid,
    pub source: TranscriptSource,
    pub model: Option<String>,
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub transcript_text: Option<String>,
    pub transcript_segments: Option<Json<Vec<TranscriptSegment>>>,
    pub speaker_labels: Option<Json<Vec<SpeakerLabel>>>,
}

/// One version of a meeting's transcript, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TranscriptVersion {
    pub id: Uuid,
    pub meeting_id: Uuid,
    pub source: TranscriptSource,
    /// The served Whisper model, when known (versions made before versions were kept have none).
    pub model: Option<String>,
    /// The language asked for, or the one decoded in once it completed.
    pub language: Option<String>,
    pub status: VersionStatus,
    /// Whether this is the meeting's transcript now: the newest completed version.
    pub current: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// What the meeting's recording transcription is doing: which session it writes and its job's
/// state; it decides the status of a version that has not completed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordingTranscription {
    pub session: Option<Uuid>,
    pub job: Option<JobStatus>,
}

impl TranscriptVersion {
    /// The versions of one meeting from their rows (oldest first): the newest completed one is
    /// current; one not completed is running while its live session streams or its job works on
    /// it, failed once its job failed or another transcription took the recording.
    pub fn of_rows(rows: &[TranscriptVersionRow], recording: RecordingTranscription) -> Vec<TranscriptVersion> {
        let current =
            rows.iter().filter(|r| r.completed_at.is_some()).max_by_key(|r| (r.completed_at, r.id)).map(|r| r.id);
        rows.iter()
            .map(|r| {
                let status = match (r.completed_at, r.source) {
                    (Some(_), _) => VersionStatus::Completed,
                    // Finalized by the session, or by recovery after a crash: never abandoned.
                    (None, TranscriptSource::Live) => VersionStatus::Running,
                    (None, _) if recording.session != Some(r.id) => VersionStatus::Failed,
                    (None, _) => match recording.job {
                        Some(JobStatus::Queued) => VersionStatus::Queued,
                        Some(JobStatus::Running) => VersionStatus::Running,
                        _ => VersionStatus::Failed,
                    },
                };
                TranscriptVersion {
                    id: r.id,
                    meeting_id: r.meeting_id,
                    source: r.source,
                    model: r.model.clone(),
                    language: r.language.clone(),
                    status,
                    current: current == Some(r.id),
                    created_at: r.created_at,
                    completed_at: r.completed_at,
                }
            })
            .collect()
    }
}

/// A version with its transcript: the meeting's own for the current version, the one kept on its
/// row for a replaced one, nothing for a version that did not complete.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionTranscript {
    #[serde(flatten)]
    pub version: TranscriptVersion,
    pub text: Option<String>,
    pub segments: Vec<TranscriptSegment>,
    pub speaker_labels: Vec<SpeakerLabel>,
}
