//! Live sessions and their finals: a session starts with its meeting, every final is stored as it
//! is produced, and the session is finalized (transcript assembled, job queued) in one
//! transaction, by the session itself or by crash recovery.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;

/// What a live session starts with.
#[derive(Debug, Clone)]
pub struct NewLiveSession {
    pub host_id: Uuid,
    pub title: String,
    pub socket_id: String,
    pub server_instance: String,
    /// The session's fixed `language`, stored on the meeting from the start (so a meeting
    /// recovered after a crash keeps it); a detected one is stored when it is finalized.
    pub language: Option<String>,
    /// The served Whisper model, kept with the session's version of the transcript.
    pub model: Option<String>,
}

/// A final result to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFinal {
    pub session_id: Uuid,
    pub meeting_id: Uuid,
    pub seq: i32,
    pub start_ms: i32,
    pub end_ms: i32,
    pub speaker: Option<i32>,
    pub text: String,
    pub words: Vec<crate::domain::Word>,
}

/// A stored final's speakers after re-clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalSpeakers {
    pub seq: i32,
    pub speaker: Option<i32>,
    /// The words with their `speaker` fields.
    pub words: Vec<crate::domain::Word>,
}

#[async_trait]
pub trait LiveSessionStore: Send + Sync + 'static {
    async fn create_realtime_session(
        &self,
        tenant: Uuid,
        host_id: Uuid,
        meeting_id: Option<Uuid>,
        socket_id: &str,
    ) -> StoreResult<RealtimeSession>;
    async fn end_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession>;
    async fn get_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession>;
    async fn list_realtime_sessions(
        &self,
        tenant: Uuid,
        status: Option<SessionStatus>,
    ) -> StoreResult<Vec<RealtimeSession>>;
    /// One transaction: a meeting (stt_status PROCESSING) and its ACTIVE session owned by
    /// `live.server_instance`.
    async fn start_live_session(&self, tenant: Uuid, live: NewLiveSession) -> StoreResult<(RealtimeSession, Meeting)>;
    /// Stores one final; `seq` must be the next number of the session (a replay of a stored
    /// `seq` with the same content is accepted, so a retried write is harmless).
    async fn append_final(&self, tenant: Uuid, segment: NewFinal) -> StoreResult<()>;
    async fn list_finals(&self, tenant: Uuid, session: Uuid) -> StoreResult<Vec<TranscriptFinal>>;
    /// One transaction: new speakers for stored finals (end-of-meeting re-clustering).
    async fn relabel_finals(&self, tenant: Uuid, session: Uuid, finals: Vec<FinalSpeakers>) -> StoreResult<()>;
    /// Adds to the meeting's list of audio stretches missing from its transcript.
    async fn add_transcript_gaps(&self, tenant: Uuid, meeting: Uuid, gaps: &[TranscriptGap]) -> StoreResult<()>;
    /// The language a live session detected and locked, stored on its meeting at once, so a
    /// meeting recovered after a crash keeps it too.
    async fn set_meeting_language(&self, tenant: Uuid, meeting: Uuid, language: &str) -> StoreResult<()>;
    /// One transaction: the meeting gets its transcript assembled from the stored finals,
    /// speaker labels (with `identities`: who some speakers are, by their number in the finals),
    /// duration and stt_status COMPLETED; the session becomes ENDED; the meeting-intelligence
    /// job is enqueued when there is any text. `language`, when given, is the language the
    /// session decoded in (else the meeting keeps the one it started with). Finalizing an ENDED
    /// session again changes nothing and returns the meeting.
    async fn finalize_live_session(
        &self,
        tenant: Uuid,
        session: Uuid,
        audio_seconds: Option<f64>,
        language: Option<&str>,
        identities: &std::collections::BTreeMap<i32, crate::domain::SpeakerIdentity>,
    ) -> StoreResult<Meeting>;
    /// System scope: sessions `server_instance` left ACTIVE (it crashed), oldest first.
    async fn orphaned_sessions(&self, server_instance: &str) -> StoreResult<Vec<RealtimeSession>>;
    /// The owning actor is alive: `heartbeat_at = now` while the session is ACTIVE.
    async fn touch_session(&self, tenant: Uuid, session: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// System scope: ACTIVE sessions with no sign of life (heartbeat, else start) since
    /// `before`, oldest first.
    async fn stale_sessions(&self, before: DateTime<Utc>) -> StoreResult<Vec<RealtimeSession>>;
}

macro_rules! impl_live_session_store {
    ($ty:ty) => {
        impl $ty {
            /// The stored finals of a session, in order: listed, and assembled when it is finalized.
            fn session_finals<'q>(tenant: Uuid, session: Uuid) -> QueryAs<'q, TranscriptFinal> {
                sqlx::query_as("SELECT * FROM transcript_finals WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq")
                    .bind(tenant)
                    .bind(session)
            }

            /// Assembles the session's stored finals into its meeting (COMPLETED), ends the session
            /// and queues the meeting-intelligence job when there is text, inside `tx`; nothing
            /// happens to a session already ENDED. Returns the meeting's id.
            async fn finalize_session(
                tx: &mut Tx,
                tenant: Uuid,
                session: Uuid,
                audio_seconds: Option<f64>,
                language: Option<&str>,
                identities: &std::collections::BTreeMap<i32, $crate::domain::SpeakerIdentity>,
            ) -> StoreResult<Uuid> {
                let now = now();
                // Locked: of two instances finalizing one session (sweepers racing), the second
                // waits, then finds it ENDED.
                let sql =
                    format!("SELECT * FROM realtime_sessions WHERE tenant_id = $1 AND id = $2 {}", Self::ROW_LOCK);
                let row: RealtimeSession = sqlx::query_as(&sql).bind(tenant).bind(session).fetch_one(&mut **tx).await?;
                let meeting_id = row.meeting_id.ok_or(StoreError::NotFound)?;
                if row.status == SessionStatus::Active {
                    let finals = Self::session_finals(tenant, session).fetch_all(&mut **tx).await?;
                    let transcript = $crate::domain::AssembledTranscript::from_finals(&finals, identities);
                    let seconds = audio_seconds.unwrap_or(transcript.last_end_ms as f64 / 1000.0);
                    let duration = Some(seconds.ceil() as i32).filter(|&d| d > 0);
                    // The transcript it replaces (a re-transcription) stays readable as the version
                    // it was, its speakers named as they were.
                    let previous: Meeting = tenant_row(tx, "meetings", tenant, meeting_id).await?;
                    sqlx::query(
                        "UPDATE transcript_versions SET transcript_text = $3, transcript_segments = $4, \
                         speaker_labels = $5 WHERE tenant_id = $1 AND id = (SELECT id FROM transcript_versions \
                         WHERE tenant_id = $1 AND meeting_id = $2 AND completed_at IS NOT NULL \
                         ORDER BY completed_at DESC, id DESC LIMIT 1)",
                    )
                    .bind(tenant)
                    .bind(meeting_id)
                    .bind(&previous.transcript_text)
                    .bind(&previous.transcript_segments)
                    .bind(&previous.speaker_labels)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "UPDATE meetings SET transcript_text = $3, transcript_segments = $4, speaker_labels = $5, \
                         audio_duration = $6, stt_status = 'COMPLETED', updated_at = $7, \
                         language = COALESCE($8, language) WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant)
                    .bind(meeting_id)
                    .bind(&transcript.text)
                    .bind(sqlx::types::Json(&transcript.segments))
                    .bind(sqlx::types::Json(&transcript.speaker_labels))
                    .bind(duration)
                    .bind(now)
                    .bind(language)
                    .execute(&mut **tx)
                    .await?;
                    let source: String = sqlx::query_scalar(
                        "UPDATE realtime_sessions SET status = 'ENDED', ended_at = $3 WHERE tenant_id = $1 AND id = $2 \
                         RETURNING source",
                    )
                    .bind(tenant)
                    .bind(session)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    // The session's version is the meeting's transcript now. Sessions started
                    // before versions were kept get their row here.
                    let source = match source.as_str() {
                        "RECORDING" => $crate::domain::TranscriptSource::Recording,
                        _ => $crate::domain::TranscriptSource::Live,
                    };
                    sqlx::query(
                        "INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, language, created_at, \
                         completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
                         completed_at = excluded.completed_at, \
                         language = COALESCE($8, transcript_versions.language, excluded.language)",
                    )
                    .bind(session)
                    .bind(tenant)
                    .bind(meeting_id)
                    .bind(source)
                    .bind(language.or(previous.language.as_deref()))
                    .bind(row.started_at)
                    .bind(now)
                    .bind(language)
                    .execute(&mut **tx)
                    .await?;
                    // Queued again after a re-transcription: the minutes come from the new text
                    // (the store creates the AI tasks only once).
                    if !transcript.text.is_empty() {
                        queue_job(tx, tenant, Job::MEETING_INTELLIGENCE, meeting_id, now).await?;
                    }
                }
                Ok(meeting_id)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::LiveSessionStore for $ty {
            async fn create_realtime_session(
                &self,
                tenant: Uuid,
                host_id: Uuid,
                meeting_id: Option<Uuid>,
                socket_id: &str,
            ) -> StoreResult<RealtimeSession> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<User>(&mut tx, "users", tenant, host_id).await?;
                if let Some(meeting) = meeting_id {
                    live_row::<Meeting>(&mut tx, "meetings", tenant, meeting).await?;
                }
                let query = sqlx::query_as(
                    "INSERT INTO realtime_sessions (id, tenant_id, meeting_id, host_id, socket_id, status, started_at) \
                     VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(meeting_id)
                .bind(host_id)
                .bind(socket_id)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn end_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession> {
                let tx = self.tenant_tx(tenant).await?;
                // Ending twice is harmless: the first end time stays.
                let query = sqlx::query_as(
                    "UPDATE realtime_sessions SET status = 'ENDED', ended_at = COALESCE(ended_at, $3) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn get_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession> {
                self.get_tenant_row("realtime_sessions", tenant, id).await
            }

            async fn list_realtime_sessions(
                &self,
                tenant: Uuid,
                status: Option<SessionStatus>,
            ) -> StoreResult<Vec<RealtimeSession>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM realtime_sessions WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
                     AND source = 'LIVE' ORDER BY started_at DESC, id DESC",
                )
                .bind(tenant)
                .bind(status);
                fetch_all_committed(tx, query).await
            }

            async fn start_live_session(
                &self,
                tenant: Uuid,
                live: NewLiveSession,
            ) -> StoreResult<(RealtimeSession, Meeting)> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<User>(&mut tx, "users", tenant, live.host_id).await?;
                let meeting: Meeting = sqlx::query_as(
                    "INSERT INTO meetings (id, tenant_id, title, host_id, stt_status, language, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, 'PROCESSING', $5, $6, $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(&live.title)
                .bind(live.host_id)
                .bind(&live.language)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                add_usage(&mut tx, tenant, now.date_naive(), 1, 0, 0).await?;
                let session: RealtimeSession = sqlx::query_as(
                    "INSERT INTO realtime_sessions (id, tenant_id, meeting_id, host_id, socket_id, server_instance, \
                     status, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(meeting.id)
                .bind(live.host_id)
                .bind(&live.socket_id)
                .bind(&live.server_instance)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let source = $crate::domain::TranscriptSource::Live;
                insert_version(&mut tx, &session, source, live.model.as_deref(), live.language.as_deref()).await?;
                tx.commit().await?;
                Ok((session, meeting))
            }

            async fn append_final(&self, tenant: Uuid, f: NewFinal) -> StoreResult<()> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query(
                    "INSERT INTO transcript_finals (session_id, seq, tenant_id, meeting_id, start_ms, end_ms, \
                     speaker, text, words, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (session_id, seq) DO NOTHING",
                )
                .bind(f.session_id)
                .bind(f.seq)
                .bind(tenant)
                .bind(f.meeting_id)
                .bind(f.start_ms)
                .bind(f.end_ms)
                .bind(f.speaker)
                .bind(&f.text)
                .bind(sqlx::types::Json(&f.words))
                .bind(now());
                execute_committed(tx, query).await
            }

            async fn list_finals(&self, tenant: Uuid, session: Uuid) -> StoreResult<Vec<TranscriptFinal>> {
                let tx = self.read_tx(tenant).await?;
                fetch_all_committed(tx, Self::session_finals(tenant, session)).await
            }

            async fn relabel_finals(&self, tenant: Uuid, session: Uuid, finals: Vec<FinalSpeakers>) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                for f in &finals {
                    sqlx::query(
                        "UPDATE transcript_finals SET speaker = $4, words = $5 \
                         WHERE tenant_id = $1 AND session_id = $2 AND seq = $3",
                    )
                    .bind(tenant)
                    .bind(session)
                    .bind(f.seq)
                    .bind(f.speaker)
                    .bind(sqlx::types::Json(&f.words))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn set_meeting_language(&self, tenant: Uuid, meeting: Uuid, language: &str) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let done =
                    sqlx::query("UPDATE meetings SET language = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .bind(language)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_transcript_gaps(
                &self,
                tenant: Uuid,
                meeting: Uuid,
                gaps: &[crate::domain::TranscriptGap],
            ) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let stored: Option<sqlx::types::Json<Vec<crate::domain::TranscriptGap>>> =
                    sqlx::query_scalar("SELECT transcript_gaps FROM meetings WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_one(&mut *tx)
                        .await?;
                let mut all = stored.map(|j| j.0).unwrap_or_default();
                all.extend_from_slice(gaps);
                let query = sqlx::query("UPDATE meetings SET transcript_gaps = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(meeting)
                    .bind(sqlx::types::Json(&all));
                execute_committed(tx, query).await
            }

            async fn finalize_live_session(
                &self,
                tenant: Uuid,
                session: Uuid,
                audio_seconds: Option<f64>,
                language: Option<&str>,
                identities: &std::collections::BTreeMap<i32, $crate::domain::SpeakerIdentity>,
            ) -> StoreResult<Meeting> {
                let mut tx = self.tenant_tx(tenant).await?;
                let meeting_id =
                    Self::finalize_session(&mut tx, tenant, session, audio_seconds, language, identities).await?;
                let meeting = tenant_row(&mut tx, "meetings", tenant, meeting_id).await?;
                tx.commit().await?;
                Ok(meeting)
            }

            async fn orphaned_sessions(&self, server_instance: &str) -> StoreResult<Vec<RealtimeSession>> {
                let tx = self.system_read_tx().await?;
                let query = sqlx::query_as(
                    "SELECT * FROM realtime_sessions WHERE status = 'ACTIVE' AND server_instance = $1 \
                     AND source = 'LIVE' ORDER BY started_at, id",
                )
                .bind(server_instance);
                fetch_all_committed(tx, query).await
            }

            async fn touch_session(&self, tenant: Uuid, session: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query(
                    "UPDATE realtime_sessions SET heartbeat_at = $3 \
                     WHERE tenant_id = $1 AND id = $2 AND status = 'ACTIVE'",
                )
                .bind(tenant)
                .bind(session)
                .bind(now);
                execute_committed(tx, query).await
            }

            async fn stale_sessions(&self, before: DateTime<Utc>) -> StoreResult<Vec<RealtimeSession>> {
                let tx = self.system_read_tx().await?;
                let query = sqlx::query_as(
                    "SELECT * FROM realtime_sessions WHERE status = 'ACTIVE' AND source = 'LIVE' \
                     AND COALESCE(heartbeat_at, started_at) < $1 ORDER BY started_at, id",
                )
                .bind(before);
                fetch_all_committed(tx, query).await
            }
        }
    };
}

pub(super) use impl_live_session_store;
