//! Meetings: registered, listed, renamed, soft-deleted and restored; the versions of their
//! transcripts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;

#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub title: String,
    pub host_id: Uuid,
    pub audio_file_url: Option<String>,
    /// Seconds, for a recording registered after the fact; must be positive (D-087).
    pub audio_duration: Option<i32>,
    pub stt_status: SttStatus,
}

#[derive(Debug, Clone, Default)]
pub struct MeetingPatch {
    pub title: Option<String>,
}

/// Filters for [`Store::list_meetings`]; results are newest first.
#[derive(Debug, Clone, Default)]
pub struct MeetingFilter {
    pub stt_status: Option<SttStatus>,
    pub host_id: Option<Uuid>,
    /// Case-insensitive substring of the title or of the transcript (the finalized text, or
    /// the finals stored so far while the meeting is still live); matched literally (`%`, `_`
    /// are no wildcards) and by characters, so a Hangul word is found inside a longer one
    /// ("회의록" in "회의록을"). A scan of the tenant's meetings: docs/decisions.md, "Transcript
    /// search".
    pub text_contains: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// List soft-deleted meetings instead of live ones.
    pub deleted: bool,
}

#[async_trait]
pub trait MeetingStore: Send + Sync + 'static {
    async fn create_meeting(&self, tenant: Uuid, meeting: NewMeeting) -> StoreResult<Meeting>;
    async fn get_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting>;
    async fn list_meetings(
        &self,
        tenant: Uuid,
        filter: &MeetingFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> StoreResult<Page<Meeting>>;
    async fn update_meeting(&self, tenant: Uuid, id: Uuid, patch: MeetingPatch) -> StoreResult<Meeting>;
    /// Names stored speaker `speaker` as the tenant's live user `user` (`None`: unnamed again),
    /// merging it into another speaker already that user (`domain::name_speaker`), in one
    /// transaction. Rules `unknown_speaker`, `user_not_in_tenant`.
    async fn name_meeting_speaker(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        speaker: i32,
        user: Option<Uuid>,
    ) -> StoreResult<Meeting>;
    /// The versions of the meeting's transcript, oldest first (`TranscriptVersion::of_rows`).
    async fn list_transcript_versions(
        &self,
        tenant: Uuid,
        meeting: Uuid,
    ) -> StoreResult<Vec<crate::domain::TranscriptVersion>>;
    /// One version with its transcript; `NotFound` when the meeting has no such version.
    async fn get_transcript_version(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        version: Uuid,
    ) -> StoreResult<crate::domain::VersionTranscript>;
    async fn soft_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting>;
    /// Physical delete (tasks survive as orphans, D-095); used by purges and tests. Returns the
    /// storage key of the meeting's recording, whose file the caller removes.
    async fn hard_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<String>>;
}

macro_rules! impl_meeting_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::MeetingStore for $ty {
            async fn create_meeting(&self, tenant: Uuid, meeting: NewMeeting) -> StoreResult<Meeting> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<User>(&mut tx, "users", tenant, meeting.host_id).await.map_err(|e| {
                    e.missing_is_rule("host_not_found", "host_id", "the host is not a user of this tenant")
                })?;
                let row = sqlx::query_as(
                    "INSERT INTO meetings (id, tenant_id, title, host_id, audio_file_url, audio_duration, \
                     stt_status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(&meeting.title)
                .bind(meeting.host_id)
                .bind(&meeting.audio_file_url)
                .bind(meeting.audio_duration)
                .bind(meeting.stt_status)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                add_usage(&mut tx, tenant, now.date_naive(), 1, 0, 0).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting> {
                self.get_live_row("meetings", tenant, id).await
            }

            async fn list_meetings(
                &self,
                tenant: Uuid,
                filter: &MeetingFilter,
                after: Option<Cursor>,
                limit: u32,
            ) -> StoreResult<Page<Meeting>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM meetings WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     AND ($3 IS NULL OR stt_status = $3) AND ($4 IS NULL OR host_id = $4) \
                     AND ($5 IS NULL OR lower(title) LIKE $5 ESCAPE '\\' \
                          OR lower(transcript_text) LIKE $5 ESCAPE '\\' \
                          OR (stt_status = 'PROCESSING' AND EXISTS (SELECT 1 FROM transcript_finals f \
                              WHERE f.tenant_id = $1 AND f.meeting_id = meetings.id \
                              AND lower(f.text) LIKE $5 ESCAPE '\\'))) \
                     AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7) \
                     AND ($8 IS NULL OR (created_at, id) < ($8, $9)) \
                     ORDER BY created_at DESC, id DESC LIMIT $10",
                )
                .bind(tenant)
                .bind(filter.deleted)
                .bind(filter.stt_status)
                .bind(filter.host_id)
                .bind(filter.text_contains.as_deref().map(like_pattern))
                .bind(filter.created_from)
                .bind(filter.created_to);
                let key = |m: &Meeting| Cursor { created_at: m.created_at, id: m.id };
                fetch_page_committed(tx, query, after, limit, key).await
            }

            async fn update_meeting(&self, tenant: Uuid, id: Uuid, patch: MeetingPatch) -> StoreResult<Meeting> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE meetings SET title = COALESCE($3, title), updated_at = $4 \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(&patch.title)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn name_meeting_speaker(
                &self,
                tenant: Uuid,
                meeting: Uuid,
                speaker: i32,
                user: Option<Uuid>,
            ) -> StoreResult<Meeting> {
                use $crate::domain::{EvidenceKind, IdentityEvidence, SpeakerIdentity};
                let mut tx = self.tenant_tx(tenant).await?;
                // The row's write lock first: two renames of one meeting apply one after the other.
                let row: Meeting = sqlx::query_as(
                    "UPDATE meetings SET updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL \
                     RETURNING *",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(now())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                let identity = match user {
                    Some(id) => {
                        let person = live_row::<User>(&mut tx, "users", tenant, id).await.map_err(|e| {
                            e.missing_is_rule(
                                "user_not_in_tenant",
                                "user_id",
                                "the user must be an active user of this tenant",
                            )
                        })?;
                        Some(SpeakerIdentity {
                            user_id: person.id,
                            name: person.name,
                            confidence: 1.0,
                            evidence: vec![IdentityEvidence { seq: None, kind: EvidenceKind::Assigned, weight: 0 }],
                        })
                    }
                    None => None,
                };
                let mut labels = row.speaker_labels.map(|j| j.0).unwrap_or_default();
                let mut segments = row.transcript_segments.map(|j| j.0).unwrap_or_default();
                if !$crate::domain::name_speaker(&mut labels, &mut segments, speaker, identity) {
                    return Err(StoreError::rule("unknown_speaker", "speaker", "the meeting has no such speaker"));
                }
                let query = sqlx::query_as(
                    "UPDATE meetings SET speaker_labels = $3, transcript_segments = $4 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(sqlx::types::Json(&labels))
                .bind(sqlx::types::Json(&segments));
                fetch_one_committed(tx, query).await
            }

            async fn list_transcript_versions(
                &self,
                tenant: Uuid,
                meeting: Uuid,
            ) -> StoreResult<Vec<$crate::domain::TranscriptVersion>> {
                let mut tx = self.read_tx(tenant).await?;
                live_row::<Meeting>(&mut tx, "meetings", tenant, meeting).await?;
                let (rows, transcription) = Self::transcript_versions(&mut tx, tenant, meeting).await?;
                tx.commit().await?;
                Ok($crate::domain::TranscriptVersion::of_rows(&rows, transcription))
            }

            async fn get_transcript_version(
                &self,
                tenant: Uuid,
                meeting: Uuid,
                version: Uuid,
            ) -> StoreResult<$crate::domain::VersionTranscript> {
                let mut tx = self.read_tx(tenant).await?;
                let row: Meeting = live_row(&mut tx, "meetings", tenant, meeting).await?;
                let (rows, transcription) = Self::transcript_versions(&mut tx, tenant, meeting).await?;
                tx.commit().await?;
                let versions = $crate::domain::TranscriptVersion::of_rows(&rows, transcription);
                let (stored, version) =
                    rows.into_iter().zip(versions).find(|(r, _)| r.id == version).ok_or(StoreError::NotFound)?;
                // The current version is the meeting's transcript, speakers named since included.
                let (text, segments, labels) = if version.current {
                    (row.transcript_text, row.transcript_segments, row.speaker_labels)
                } else {
                    (stored.transcript_text, stored.transcript_segments, stored.speaker_labels)
                };
                Ok($crate::domain::VersionTranscript {
                    version,
                    text,
                    segments: segments.map(|j| j.0).unwrap_or_default(),
                    speaker_labels: labels.map(|j| j.0).unwrap_or_default(),
                })
            }

            async fn soft_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                self.soft_delete_row("meetings", tenant, id).await
            }

            async fn restore_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting> {
                self.restore_row("meetings", tenant, id).await
            }

            async fn hard_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<String>> {
                let mut tx = self.tenant_tx(tenant).await?;
                // The cascade would take the recording's row too, but not tell where its file is.
                let key: Option<String> = sqlx::query_scalar(
                    "DELETE FROM recordings WHERE tenant_id = $1 AND meeting_id = $2 RETURNING storage_key",
                )
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                delete_row(&mut tx, "meetings", tenant, id).await?;
                tx.commit().await?;
                Ok(key.filter(|k| !k.is_empty()))
            }
        }

        impl $ty {
            /// The meeting's version rows, oldest first, and what its recording's transcription
            /// is doing (which decides the state of an unfinished version).
            async fn transcript_versions(
                tx: &mut Tx,
                tenant: Uuid,
                meeting: Uuid,
            ) -> StoreResult<(Vec<$crate::domain::TranscriptVersionRow>, $crate::domain::RecordingTranscription)> {
                let rows = sqlx::query_as(
                    "SELECT * FROM transcript_versions WHERE tenant_id = $1 AND meeting_id = $2 \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(meeting)
                .fetch_all(&mut **tx)
                .await?;
                let session: Option<Option<Uuid>> =
                    sqlx::query_scalar("SELECT session_id FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_optional(&mut **tx)
                        .await?;
                let job = sqlx::query_scalar(
                    "SELECT status FROM jobs WHERE tenant_id = $1 AND meeting_id = $2 AND kind = $3",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(Job::TRANSCRIBE_RECORDING)
                .fetch_optional(&mut **tx)
                .await?;
                Ok((rows, $crate::domain::RecordingTranscription { session: session.flatten(), job }))
            }
        }
    };
}

pub(super) use impl_meeting_store;
