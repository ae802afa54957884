//! Uploaded recordings and their transcription. The file itself lies in the recording storage
//! (`storage::RecordingStorage`); the row says where, and how far the `transcribe_recording`
//! job got. The job's finals are stored under a session of source RECORDING with the live
//! session calls (`LiveSessionStore::append_final`, `relabel_finals`), so a job that dies
//! resumes after its last stored final and the meeting is assembled as a live one is.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::domain::Recording;

/// A recording stored and sniffed, or named by URL (then `storage_key` and `format` are empty
/// and `bytes` 0 until the job fetched it), to attach to its meeting.
#[derive(Debug, Clone)]
pub struct NewRecording {
    pub storage_key: String,
    pub source_url: Option<String>,
    pub format: String,
    pub bytes: i64,
    pub language: Option<String>,
    pub model: Option<String>,
    pub diarize: bool,
    /// Words to expect (Deepgram's `keyterm`), checked by the caller.
    pub keyterms: Vec<String>,
    /// Where to send the result, and how (`POST`/`PUT`), checked by the caller.
    pub callback: Option<(String, &'static str)>,
    /// From the container's header, when it says.
    pub duration_ms: Option<i64>,
}

/// How a recording is transcribed again, checked by the caller.
#[derive(Debug, Clone)]
pub struct Retranscription {
    pub model: String,
    pub language: Option<String>,
    pub diarize: bool,
}

#[async_trait]
pub trait RecordingStore: Send + Sync + 'static {
    /// One transaction: the meeting (not deleted, stt_status PENDING or FAILED: never streamed
    /// live, or an earlier recording failed) gets the recording, stt_status PROCESSING, and a
    /// queued `transcribe_recording` job (an earlier failed one is queued again from scratch).
    /// Returns the recording and the storage key of the one it replaced, for the caller to
    /// delete. `Rule{code: "meeting_has_transcript"}` for a meeting that was transcribed or is
    /// being transcribed.
    async fn attach_recording(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        recording: NewRecording,
    ) -> StoreResult<(Recording, Option<String>)>;
    /// A live session's recording begins: the meeting (its session's, not deleted) gets a
    /// recording row of the session with the file's header written so far.
    /// `Rule{code: "meeting_has_recording"}` when the meeting has one.
    async fn start_live_recording(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        session: Uuid,
        storage_key: &str,
        format: &str,
        bytes: i64,
    ) -> StoreResult<Recording>;
    /// The live recording ended whole: its length and size. A recording deleted meanwhile is left
    /// deleted.
    async fn finish_live_recording(&self, tenant: Uuid, meeting: Uuid, bytes: i64, duration_ms: i64)
    -> StoreResult<()>;
    /// The meeting's recording with its job, if it has one.
    async fn get_recording(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<Option<(Recording, Option<Job>)>>;
    /// One transaction, fenced by the claim: the session that holds the job's finals (created
    /// on the first attempt, the same one after), the attempt's start time.
    async fn begin_recording_transcription(&self, job: &Job) -> StoreResult<(Recording, RealtimeSession)>;
    /// Fenced by the claim: the file fetched from the recording's `source_url` is stored.
    async fn record_fetched_recording(
        &self,
        job: &Job,
        storage_key: &str,
        format: &str,
        bytes: i64,
        duration_ms: Option<i64>,
    ) -> StoreResult<crate::domain::Recording>;
    /// Fenced by the claim: how much of the file is transcribed, and its length once known. A
    /// cancelled job (the recording deleted) fails here with `claim_lost`.
    async fn record_recording_progress(
        &self,
        job: &Job,
        processed_ms: i64,
        duration_ms: Option<i64>,
    ) -> StoreResult<()>;
    /// One transaction, fenced by the claim: the meeting assembled from the session's finals
    /// (as `LiveSessionStore::finalize_live_session` does, the meeting-intelligence job queued
    /// when there is text), the recording fully processed, the job SUCCEEDED.
    async fn complete_recording_transcription(
        &self,
        job: &Job,
        audio_seconds: f64,
        language: Option<&str>,
        identities: &std::collections::BTreeMap<i32, crate::domain::SpeakerIdentity>,
    ) -> StoreResult<Meeting>;
    /// One transaction: the meeting's recording is queued to be transcribed again with `options`
    /// (its `transcribe_recording` job from scratch), as a new version of the meeting's transcript
    /// (source RETRANSCRIBE) under a session of its own. The meeting keeps its transcript and
    /// stt_status until that version completes, and for good if it fails. An unfinished earlier
    /// transcription of the recording goes (session, finals, version); a pre-recorded request's
    /// callback is not sent again. Rules `no_recording` (none kept, or a URL not fetched),
    /// `transcription_in_progress` (a live session or a transcription of the meeting is running
    /// or queued), `meeting_not_transcribed` (no transcript to redo: the first transcription of
    /// its recording failed).
    async fn retranscribe_recording(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        options: Retranscription,
    ) -> StoreResult<crate::domain::TranscriptVersion>;
    /// The recording cannot be transcribed (corrupt past its header): its meeting is FAILED.
    async fn fail_recording_transcription(&self, job: &Job) -> StoreResult<()>;
    /// One transaction: the recording row is deleted (with the session and finals of a
    /// transcription that did not finish), a queued or running job is FAILED ("cancelled": a
    /// running worker stops at its next progress write), and a meeting still PROCESSING returns
    /// to PENDING; a finished transcript stays. A live session's recording goes alone (the
    /// session and its meeting stay as they are). Returns the storage key to delete. `NotFound`
    /// when the meeting has no recording.
    async fn delete_recording(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<String>;
}

macro_rules! impl_recording_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RecordingStore for $ty {
            async fn attach_recording(
                &self,
                tenant: Uuid,
                meeting_id: Uuid,
                new: $crate::store::NewRecording,
            ) -> StoreResult<($crate::domain::Recording, Option<String>)> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                let meeting: Meeting = live_row(&mut tx, "meetings", tenant, meeting_id).await?;
                if !matches!(meeting.stt_status, SttStatus::Pending | SttStatus::Failed) {
                    return Err(StoreError::rule(
                        "meeting_has_transcript",
                        "meeting",
                        "the meeting was transcribed or is being transcribed",
                    ));
                }
                let replaced: Option<(String, Option<Uuid>)> =
                    sqlx::query_as("SELECT storage_key, session_id FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((_, Some(session))) = &replaced {
                    // The failed transcription's session and finals go with its recording.
                    delete_unfinished_transcription(&mut tx, tenant, *session).await?;
                }
                let recording = sqlx::query_as(
                    "INSERT INTO recordings (meeting_id, tenant_id, storage_key, format, bytes, language, model, \
                     diarize, duration_ms, processed_ms, created_at, updated_at, source_url, keyterms, callback_url, \
                     callback_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10, $11, $12, $13, $14) \
                     ON CONFLICT (meeting_id) DO UPDATE SET storage_key = excluded.storage_key, \
                     source_url = excluded.source_url, \
                     format = excluded.format, bytes = excluded.bytes, language = excluded.language, \
                     model = excluded.model, diarize = excluded.diarize, duration_ms = excluded.duration_ms, \
                     keyterms = excluded.keyterms, callback_url = excluded.callback_url, \
                     callback_method = excluded.callback_method, \
                     processed_ms = 0, session_id = NULL, started_at = NULL, created_at = excluded.created_at, \
                     updated_at = excluded.updated_at RETURNING *",
                )
                .bind(meeting_id)
                .bind(tenant)
                .bind(&new.storage_key)
                .bind(&new.format)
                .bind(new.bytes)
                .bind(&new.language)
                .bind(&new.model)
                .bind(new.diarize)
                .bind(new.duration_ms)
                .bind(now)
                .bind(&new.source_url)
                .bind(sqlx::types::Json(&new.keyterms))
                .bind(new.callback.as_ref().map(|c| &c.0))
                .bind(new.callback.as_ref().map(|c| c.1))
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE meetings SET stt_status = 'PROCESSING', updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                queue_job(&mut tx, tenant, Job::TRANSCRIBE_RECORDING, meeting_id, now).await?;
                tx.commit().await?;
                Ok((recording, replaced.map(|(key, _)| key)))
            }

            async fn start_live_recording(
                &self,
                tenant: Uuid,
                meeting_id: Uuid,
                session: Uuid,
                storage_key: &str,
                format: &str,
                bytes: i64,
            ) -> StoreResult<$crate::domain::Recording> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<Meeting>(&mut tx, "meetings", tenant, meeting_id).await?;
                let recording = sqlx::query_as(
                    "INSERT INTO recordings (meeting_id, tenant_id, storage_key, format, bytes, diarize, processed_ms, \
                     session_id, started_at, created_at, updated_at, keyterms, live) \
                     VALUES ($1, $2, $3, $4, $5, FALSE, 0, $6, $7, $7, $7, $8, TRUE) \
                     ON CONFLICT (meeting_id) DO NOTHING RETURNING *",
                )
                .bind(meeting_id)
                .bind(tenant)
                .bind(storage_key)
                .bind(format)
                .bind(bytes)
                .bind(session)
                .bind(now)
                .bind(sqlx::types::Json(Vec::<String>::new()))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::rule("meeting_has_recording", "record", "the meeting has a recording"))?;
                tx.commit().await?;
                Ok(recording)
            }

            async fn finish_live_recording(
                &self,
                tenant: Uuid,
                meeting: Uuid,
                bytes: i64,
                duration_ms: i64,
            ) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                sqlx::query(
                    "UPDATE recordings SET bytes = $3, duration_ms = $4, processed_ms = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND meeting_id = $2 AND live",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(bytes)
                .bind(duration_ms)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_recording(
                &self,
                tenant: Uuid,
                meeting: Uuid,
            ) -> StoreResult<Option<($crate::domain::Recording, Option<Job>)>> {
                let mut tx = self.read_tx(tenant).await?;
                live_row::<Meeting>(&mut tx, "meetings", tenant, meeting).await?;
                let recording: Option<$crate::domain::Recording> =
                    sqlx::query_as("SELECT * FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(recording) = recording else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let job = sqlx::query_as("SELECT * FROM jobs WHERE tenant_id = $1 AND meeting_id = $2 AND kind = $3")
                    .bind(tenant)
                    .bind(meeting)
                    .bind(Job::TRANSCRIBE_RECORDING)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some((recording, job)))
            }

            async fn begin_recording_transcription(
                &self,
                job: &Job,
            ) -> StoreResult<($crate::domain::Recording, RealtimeSession)> {
                let now = now();
                let tenant = job.tenant_id;
                let meeting_id = job.meeting_id.ok_or(StoreError::NotFound)?;
                let mut tx = self.tenant_tx(tenant).await?;
                Self::fence(&mut tx, job).await?;
                let recording: $crate::domain::Recording =
                    sqlx::query_as("SELECT * FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let session: RealtimeSession = match recording.session_id {
                    Some(id) => tenant_row(&mut tx, "realtime_sessions", tenant, id).await?,
                    None => {
                        let meeting: Meeting = tenant_row(&mut tx, "meetings", tenant, meeting_id).await?;
                        let session = Self::insert_recording_session(&mut tx, tenant, &meeting, now).await?;
                        let (model, language) = (recording.model.as_deref(), recording.language.as_deref());
                        let source = $crate::domain::TranscriptSource::Recording;
                        insert_version(&mut tx, &session, source, model, language).await?;
                        session
                    }
                };
                let recording = sqlx::query_as(
                    "UPDATE recordings SET session_id = $3, started_at = $4, updated_at = $4 \
                     WHERE tenant_id = $1 AND meeting_id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(session.id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((recording, session))
            }

            async fn record_fetched_recording(
                &self,
                job: &Job,
                storage_key: &str,
                format: &str,
                bytes: i64,
                duration_ms: Option<i64>,
            ) -> StoreResult<$crate::domain::Recording> {
                let mut tx = self.tenant_tx(job.tenant_id).await?;
                Self::fence(&mut tx, job).await?;
                let recording = sqlx::query_as(
                    "UPDATE recordings SET storage_key = $3, format = $4, bytes = $5, duration_ms = $6, updated_at = $7 \
                     WHERE tenant_id = $1 AND meeting_id = $2 RETURNING *",
                )
                .bind(job.tenant_id)
                .bind(job.meeting_id)
                .bind(storage_key)
                .bind(format)
                .bind(bytes)
                .bind(duration_ms)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(recording)
            }

            async fn record_recording_progress(
                &self,
                job: &Job,
                processed_ms: i64,
                duration_ms: Option<i64>,
            ) -> StoreResult<()> {
                let mut tx = self.tenant_tx(job.tenant_id).await?;
                Self::fence(&mut tx, job).await?;
                sqlx::query(
                    "UPDATE recordings SET processed_ms = $3, duration_ms = COALESCE($4, duration_ms), \
                     updated_at = $5 WHERE tenant_id = $1 AND meeting_id = $2",
                )
                .bind(job.tenant_id)
                .bind(job.meeting_id)
                .bind(processed_ms)
                .bind(duration_ms)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn complete_recording_transcription(
                &self,
                job: &Job,
                audio_seconds: f64,
                language: Option<&str>,
                identities: &std::collections::BTreeMap<i32, $crate::domain::SpeakerIdentity>,
            ) -> StoreResult<Meeting> {
                let now = now();
                let tenant = job.tenant_id;
                let meeting_id = job.meeting_id.ok_or(StoreError::NotFound)?;
                let mut tx = self.tenant_tx(tenant).await?;
                succeed_job(&mut tx, job, now).await?;
                let recording: $crate::domain::Recording =
                    sqlx::query_as("SELECT * FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let session = recording.session_id.ok_or(StoreError::NotFound)?;
                Self::finalize_session(&mut tx, tenant, session, Some(audio_seconds), language, identities).await?;
                let duration_ms = (audio_seconds * 1000.0).round() as i64;
                sqlx::query(
                    "UPDATE recordings SET processed_ms = $3, duration_ms = $3, updated_at = $4 \
                     WHERE tenant_id = $1 AND meeting_id = $2",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(duration_ms)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if recording.callback_url.is_some() {
                    queue_job(&mut tx, tenant, Job::DELIVER_CALLBACK, meeting_id, now).await?;
                }
                let meeting = tenant_row(&mut tx, "meetings", tenant, meeting_id).await?;
                tx.commit().await?;
                Ok(meeting)
            }

            async fn retranscribe_recording(
                &self,
                tenant: Uuid,
                meeting_id: Uuid,
                options: $crate::store::Retranscription,
            ) -> StoreResult<$crate::domain::TranscriptVersion> {
                use $crate::domain::{RecordingTranscription, TranscriptSource, TranscriptVersion, TranscriptVersionRow};
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                // The meeting's write lock first: of two requests for one meeting, the second
                // finds the first one's job queued.
                let meeting: Meeting = sqlx::query_as(
                    "UPDATE meetings SET updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL \
                     RETURNING *",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                let recording: Option<$crate::domain::Recording> =
                    sqlx::query_as("SELECT * FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(recording) = recording.filter(|r| !r.storage_key.is_empty()) else {
                    return Err(StoreError::rule(
                        "no_recording",
                        "meeting",
                        "the meeting kept no recording to transcribe again: upload one \
                         (PUT /v1/meetings/{id}/recording), or stream with record=true",
                    ));
                };
                let job: Option<JobStatus> =
                    sqlx::query_scalar("SELECT status FROM jobs WHERE tenant_id = $1 AND meeting_id = $2 AND kind = $3")
                        .bind(tenant)
                        .bind(meeting_id)
                        .bind(Job::TRANSCRIBE_RECORDING)
                        .fetch_optional(&mut *tx)
                        .await?;
                if meeting.stt_status == SttStatus::Processing
                    || matches!(job, Some(JobStatus::Queued | JobStatus::Running))
                {
                    return Err(StoreError::rule(
                        "transcription_in_progress",
                        "meeting",
                        "the meeting is being transcribed; ask again once that is done",
                    ));
                }
                if meeting.stt_status != SttStatus::Completed {
                    return Err(StoreError::rule(
                        "meeting_not_transcribed",
                        "meeting",
                        "the meeting has no transcript to redo: its recording failed to transcribe; \
                         upload it again (PUT /v1/meetings/{id}/recording)",
                    ));
                }
                if let Some(session) = recording.session_id {
                    delete_unfinished_transcription(&mut tx, tenant, session).await?;
                }
                let session = Self::insert_recording_session(&mut tx, tenant, &meeting, now).await?;
                let language = options.language.as_deref();
                insert_version(&mut tx, &session, TranscriptSource::Retranscribe, Some(&options.model), language).await?;
                sqlx::query(
                    "UPDATE recordings SET model = $3, language = $4, diarize = $5, session_id = $6, \
                     processed_ms = 0, started_at = NULL, callback_url = NULL, callback_method = NULL, \
                     updated_at = $7 WHERE tenant_id = $1 AND meeting_id = $2",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(&options.model)
                .bind(&options.language)
                .bind(options.diarize)
                .bind(session.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                queue_job(&mut tx, tenant, Job::TRANSCRIBE_RECORDING, meeting_id, now).await?;
                let row: TranscriptVersionRow = tenant_row(&mut tx, "transcript_versions", tenant, session.id).await?;
                tx.commit().await?;
                let transcription = RecordingTranscription { session: Some(session.id), job: Some(JobStatus::Queued) };
                Ok(TranscriptVersion::of_rows(std::slice::from_ref(&row), transcription).remove(0))
            }

            async fn fail_recording_transcription(&self, job: &Job) -> StoreResult<()> {
                let (tenant, now) = (job.tenant_id, now());
                let meeting = job.meeting_id.ok_or(StoreError::NotFound)?;
                let mut tx = self.tenant_tx(tenant).await?;
                sqlx::query(
                    "UPDATE meetings SET stt_status = 'FAILED', updated_at = $3 \
                     WHERE tenant_id = $1 AND id = $2 AND stt_status = 'PROCESSING'",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let callback: Option<Option<String>> =
                    sqlx::query_scalar("SELECT callback_url FROM recordings WHERE tenant_id = $1 AND meeting_id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_optional(&mut *tx)
                        .await?;
                if callback.flatten().is_some() {
                    queue_job(&mut tx, tenant, Job::DELIVER_CALLBACK, meeting, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_recording(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<String> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<Meeting>(&mut tx, "meetings", tenant, meeting).await?;
                let key = Self::remove_recording(&mut tx, tenant, meeting, now()).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(key)
            }
        }

        impl $ty {
            /// A session of source RECORDING for a transcription of `meeting`'s recording: its
            /// finals go there; owned by the job's claim, not by a heartbeat.
            async fn insert_recording_session(
                tx: &mut Tx,
                tenant: Uuid,
                meeting: &Meeting,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<RealtimeSession> {
                let id = Uuid::new_v4();
                Ok(sqlx::query_as(
                    "INSERT INTO realtime_sessions (id, tenant_id, meeting_id, host_id, socket_id, server_instance, \
                     status, started_at, source) VALUES ($1, $2, $3, $4, $5, NULL, 'ACTIVE', $6, 'RECORDING') \
                     RETURNING *",
                )
                .bind(id)
                .bind(tenant)
                .bind(meeting.id)
                .bind(meeting.host_id)
                .bind(format!("recording:{id}"))
                .bind(now)
                .fetch_one(&mut **tx)
                .await?)
            }

            /// Deletes the meeting's recording row in `tx`, with what goes with it (see
            /// [`RecordingStore::delete_recording`]); returns its storage key, `None` when the
            /// meeting has no recording.
            async fn remove_recording(
                tx: &mut Tx,
                tenant: Uuid,
                meeting: Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<Option<String>> {
                let removed: Option<(String, Option<Uuid>, bool)> = sqlx::query_as(
                    "DELETE FROM recordings WHERE tenant_id = $1 AND meeting_id = $2 \
                     RETURNING storage_key, session_id, live",
                )
                .bind(tenant)
                .bind(meeting)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((key, session, live)) = removed else { return Ok(None) };
                // A live recording has a job only when it is being transcribed again.
                sqlx::query(
                    "UPDATE jobs SET status = 'FAILED', last_error = 'cancelled: the recording was deleted', \
                     locked_until = NULL, updated_at = $4 \
                     WHERE tenant_id = $1 AND meeting_id = $2 AND kind = $3 AND status IN ('QUEUED', 'RUNNING')",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(Job::TRANSCRIBE_RECORDING)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                if let Some(session) = session {
                    delete_unfinished_transcription(tx, tenant, session).await?;
                }
                if live {
                    // Its meeting is its live session's, finalized as that session ends.
                    return Ok(Some(key));
                }
                sqlx::query(
                    "UPDATE meetings SET stt_status = 'PENDING', updated_at = $3 \
                     WHERE tenant_id = $1 AND id = $2 AND stt_status = 'PROCESSING'",
                )
                .bind(tenant)
                .bind(meeting)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(Some(key))
            }

            /// The recordings part of `OpsStore::purge_expired`: of every tenant, the recordings of
            /// meetings soft-deleted before `cutoffs.deleted_meeting_recordings`, and those older
            /// than the tenant's `recording_retention_days` at `cutoffs.now`; never one being
            /// transcribed (its job queued or running) or a live one still written (its session
            /// ACTIVE). The tenants come from a system read; each tenant's rows go in its own
            /// transaction, as all tenant data is written.
            async fn purge_recordings(
                &self,
                cutoffs: &$crate::store::PurgeCutoffs,
            ) -> StoreResult<$crate::store::RecordingPurge> {
                let mut tx = self.system_read_tx().await?;
                let tenants: Vec<(Uuid, Option<i32>)> = sqlx::query_as(
                    "SELECT t.id, t.recording_retention_days FROM tenants t \
                     WHERE EXISTS (SELECT 1 FROM recordings r JOIN meetings m ON m.id = r.meeting_id \
                                   WHERE r.tenant_id = t.id \
                                   AND (t.recording_retention_days IS NOT NULL OR m.deleted_at < $1))",
                )
                .bind(cutoffs.deleted_meeting_recordings)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut purge = $crate::store::RecordingPurge::default();
                for (tenant, days) in tenants {
                    let expired_before = days.map(|d| cutoffs.now - chrono::Duration::days(d.into()));
                    let mut tx = self.tenant_tx(tenant).await?;
                    let due: Vec<(Uuid, bool)> = sqlx::query_as(
                        "SELECT r.meeting_id, (m.deleted_at IS NOT NULL AND m.deleted_at < $2) FROM recordings r \
                         JOIN meetings m ON m.tenant_id = r.tenant_id AND m.id = r.meeting_id \
                         WHERE r.tenant_id = $1 AND (m.deleted_at < $2 OR r.created_at < $3) \
                         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.tenant_id = r.tenant_id \
                             AND j.meeting_id = r.meeting_id AND j.kind = $4 AND j.status IN ('QUEUED', 'RUNNING')) \
                         AND NOT (r.live AND EXISTS (SELECT 1 FROM realtime_sessions s \
                             WHERE s.tenant_id = r.tenant_id AND s.id = r.session_id AND s.status = 'ACTIVE' \
                             AND s.source = 'LIVE'))",
                    )
                    .bind(tenant)
                    .bind(cutoffs.deleted_meeting_recordings)
                    .bind(expired_before)
                    .bind(Job::TRANSCRIBE_RECORDING)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (meeting, deleted) in due {
                        if let Some(key) = Self::remove_recording(&mut tx, tenant, meeting, now()).await? {
                            *(if deleted { &mut purge.of_deleted_meetings } else { &mut purge.expired }) += 1;
                            purge.keys.extend(Some(key).filter(|k| !k.is_empty()));
                        }
                    }
                    tx.commit().await?;
                }
                Ok(purge)
            }

            /// Fails with `claim_lost` unless `job` still holds its claim (another worker took it,
            /// or the job was cancelled).
            async fn fence(tx: &mut Tx, job: &Job) -> StoreResult<()> {
                let query = sqlx::query(
                    "UPDATE jobs SET updated_at = updated_at \
                     WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND status = 'RUNNING'",
                )
                .bind(job.tenant_id)
                .bind(job.id)
                .bind(job.attempts);
                execute_fenced(tx, query).await
            }
        }
    };
}

pub(super) use impl_recording_store;
