//! The durable job queue (claim with a lease, renew, settle; fenced by `attempts`) and the
//! writes that complete a job together with its result.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;

/// How a claimed job ends when it did not succeed.
#[derive(Debug, Clone)]
pub enum JobSettlement {
    /// Back to QUEUED, due at `at`, with the error kept in `last_error`.
    Retry { at: DateTime<Utc>, error: String },
    /// FAILED for good.
    Fail { error: String },
    /// Back to QUEUED now without counting the attempt (the server is shutting down).
    Release,
}

/// What the meeting-intelligence job writes.
#[derive(Debug, Clone)]
pub struct MeetingIntelligence {
    pub summary: String,
    pub action_items: Vec<crate::domain::ActionItem>,
    pub decisions: Vec<crate::domain::MinutesNote>,
    pub open_questions: Vec<crate::domain::MinutesNote>,
    /// Created only when the meeting has no AI tasks yet; `is_ai_generated` and `meeting_id`
    /// are set by the store.
    pub tasks: Vec<NewTask>,
    /// The meeting's speakers with who they are; `None` leaves them as they are.
    pub speaker_labels: Option<Vec<crate::domain::SpeakerLabel>>,
}

#[derive(Debug, Clone)]
pub struct IntelligenceReport {
    pub meeting: Meeting,
    /// The tasks this run created (empty when an earlier run had created them).
    pub created: Vec<Task>,
    /// Users notified.
    pub notified: Vec<Uuid>,
    pub slack_queued: bool,
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Jobs of a meeting.
    async fn list_jobs(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<Vec<Job>>;
    /// Claims a runnable job of `kind` (QUEUED and due, or RUNNING with an expired lease: its
    /// worker died), tenants taking turns: the job of the tenant served least recently (no job of
    /// this kind started yet, else the oldest last start or end), then the oldest. One tenant's
    /// hundred meetings do not starve another tenant's one. The claim increments `attempts`, which fences every later write of this
    /// claim, and leases the job until now + `lease`. Concurrent claimers never get the same job
    /// (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite runs one writer at a time).
    async fn claim_job(&self, kind: &str, lease: chrono::Duration) -> StoreResult<Option<Job>>;
    /// Extends a claimed job's lease; `StoreError::Rule{code: "claim_lost"}` if the claim is stale.
    async fn renew_job(&self, job: &Job, lease: chrono::Duration) -> StoreResult<()>;
    /// Ends a claim that did not succeed (see [`JobSettlement`]); fenced like `renew_job`.
    async fn settle_job(&self, job: &Job, settlement: JobSettlement) -> StoreResult<()>;
    /// One transaction, fenced by the claim: the meeting gets `ai_summary`, `ai_action_items`,
    /// `ai_decisions` and `ai_open_questions`;
    /// its AI tasks are created unless the meeting already has some (a second run of the job
    /// creates none); one notification per assignee; a `slack_post` job when the tenant has an
    /// active Slack integration with a token; the job becomes SUCCEEDED.
    async fn complete_meeting_intelligence(
        &self,
        job: &Job,
        result: MeetingIntelligence,
    ) -> StoreResult<IntelligenceReport>;
    /// Stores the posted message's `ts` on the meeting and marks the `slack_post` job SUCCEEDED.
    async fn complete_slack_post(&self, job: &Job, message_ts: &str) -> StoreResult<()>;
    /// Fenced by the claim: a job whose work left nothing to store (a callback sent) SUCCEEDED.
    async fn complete_job(&self, job: &Job) -> StoreResult<()>;
}

macro_rules! impl_job_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::JobStore for $ty {
            async fn list_jobs(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<Vec<Job>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM jobs WHERE tenant_id = $1 AND meeting_id = $2 ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(meeting);
                fetch_all_committed(tx, query).await
            }

            async fn claim_job(&self, kind: &str, lease: chrono::Duration) -> StoreResult<Option<Job>> {
                let now = now();
                let mut tx = self.system_tx().await?;
                let sql = format!(
                    "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, locked_until = $3, updated_at = $2 \
                     WHERE id = (SELECT id FROM jobs WHERE kind = $1 AND run_after <= $2 \
                     AND (status = 'QUEUED' OR (status = 'RUNNING' AND locked_until < $2)) \
                     ORDER BY (SELECT MAX(served.updated_at) FROM jobs served WHERE served.tenant_id = jobs.tenant_id \
                     AND served.kind = $1 AND served.status <> 'QUEUED') NULLS FIRST, run_after, id LIMIT 1 {}) \
                     RETURNING *",
                    Self::CLAIM_LOCK
                );
                let job = sqlx::query_as(&sql).bind(kind).bind(now).bind(now + lease).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok(job)
            }

            async fn renew_job(&self, job: &Job, lease: chrono::Duration) -> StoreResult<()> {
                let now = now();
                let mut tx = self.system_tx().await?;
                let query = sqlx::query(
                    "UPDATE jobs SET locked_until = $3, updated_at = $4 \
                     WHERE id = $1 AND attempts = $2 AND status = 'RUNNING'",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(now + lease)
                .bind(now);
                execute_fenced(&mut tx, query).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn settle_job(&self, job: &Job, settlement: JobSettlement) -> StoreResult<()> {
                let now = now();
                let (status, run_after, attempts, error) = match &settlement {
                    JobSettlement::Retry { at, error } => ("QUEUED", *at, job.attempts, Some(error.as_str())),
                    JobSettlement::Fail { error } => ("FAILED", job.run_after, job.attempts, Some(error.as_str())),
                    JobSettlement::Release => ("QUEUED", now, job.attempts - 1, None),
                };
                let mut tx = self.system_tx().await?;
                let sql = format!(
                    "UPDATE jobs SET status = '{status}', run_after = $3, attempts = $4, \
                     last_error = COALESCE($5, last_error), locked_until = NULL, updated_at = $6 \
                     WHERE id = $1 AND attempts = $2 AND status = 'RUNNING'"
                );
                let query = sqlx::query(&sql)
                    .bind(job.id)
                    .bind(job.attempts)
                    .bind(run_after)
                    .bind(attempts.max(0))
                    .bind(error)
                    .bind(now);
                execute_fenced(&mut tx, query).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn complete_meeting_intelligence(
                &self,
                job: &Job,
                result: MeetingIntelligence,
            ) -> StoreResult<IntelligenceReport> {
                let now = now();
                let tenant = job.tenant_id;
                let meeting_id = job.meeting_id.ok_or(StoreError::NotFound)?;
                let mut tx = self.tenant_tx(tenant).await?;
                succeed_job(&mut tx, job, now).await?;
                let meeting: Meeting = sqlx::query_as(
                    "UPDATE meetings SET ai_summary = $3, ai_action_items = $4, updated_at = $5, \
                     speaker_labels = COALESCE($6, speaker_labels), ai_decisions = $7, ai_open_questions = $8 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(&result.summary)
                .bind(sqlx::types::Json(&result.action_items))
                .bind(now)
                .bind(result.speaker_labels.as_ref().map(sqlx::types::Json))
                .bind(sqlx::types::Json(&result.decisions))
                .bind(sqlx::types::Json(&result.open_questions))
                .fetch_one(&mut *tx)
                .await?;
                // Soft-deleted AI tasks count too: a user who deleted one does not want it back.
                let existing: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND meeting_id = $2 AND is_ai_generated",
                )
                .bind(tenant)
                .bind(meeting_id)
                .fetch_one(&mut *tx)
                .await?;
                let mut created: Vec<Task> = Vec::new();
                if existing == 0 {
                    for task in &result.tasks {
                        // An assignee deleted since resolution leaves the task unassigned.
                        let assignee = match task.assignee_id {
                            Some(id) => live_row::<User>(&mut tx, "users", tenant, id).await.ok().map(|u| u.id),
                            None => None,
                        };
                        let row = sqlx::query_as(
                            "INSERT INTO tasks (id, tenant_id, meeting_id, title, description, status, assignee_id, \
                             due_date, is_ai_generated, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, 'TODO', $6, $7, TRUE, $8, $8) RETURNING *",
                        )
                        .bind(Uuid::new_v4())
                        .bind(tenant)
                        .bind(meeting_id)
                        .bind(&task.title)
                        .bind(&task.description)
                        .bind(assignee)
                        .bind(task.due_date)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        created.push(row);
                    }
                }
                let mut notified: Vec<Uuid> = created.iter().filter_map(|t| t.assignee_id).collect();
                notified.sort();
                notified.dedup();
                for user in &notified {
                    let mine = created.iter().filter(|t| t.assignee_id == Some(*user)).count();
                    let message = Notification::action_items_message(
                        mine,
                        &meeting.title,
                        Wording::of(meeting.language.as_deref()),
                    );
                    sqlx::query(
                        "INSERT INTO notifications (id, tenant_id, user_id, type, message, is_read, created_at) \
                         VALUES ($1, $2, $3, 'ACTION_ITEMS_READY', $4, FALSE, $5)",
                    )
                    .bind(Uuid::new_v4())
                    .bind(tenant)
                    .bind(user)
                    .bind(&message)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                // D-104: an inactive (disconnected) Slack integration posts nothing.
                let slack_queued = sqlx::query(
                    "INSERT INTO jobs (id, tenant_id, kind, meeting_id, status, attempts, run_after, created_at, \
                     updated_at) SELECT $1, $2, $3, $4, 'QUEUED', 0, $5, $5, $5 WHERE EXISTS (SELECT 1 FROM \
                     integrations WHERE tenant_id = $2 AND service_type = 'SLACK' AND is_active \
                     AND access_token IS NOT NULL) ON CONFLICT (kind, meeting_id) DO NOTHING",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(Job::SLACK_POST)
                .bind(meeting_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                tx.commit().await?;
                Ok(IntelligenceReport { meeting, created, notified, slack_queued })
            }

            async fn complete_slack_post(&self, job: &Job, message_ts: &str) -> StoreResult<()> {
                let now = now();
                let mut tx = self.tenant_tx(job.tenant_id).await?;
                succeed_job(&mut tx, job, now).await?;
                let query = sqlx::query(
                    "UPDATE meetings SET slack_message_ts = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(job.tenant_id)
                .bind(job.meeting_id)
                .bind(message_ts)
                .bind(now);
                execute_committed(tx, query).await
            }

            async fn complete_job(&self, job: &Job) -> StoreResult<()> {
                let mut tx = self.tenant_tx(job.tenant_id).await?;
                succeed_job(&mut tx, job, now()).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_job_store;
