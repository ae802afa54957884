//! Persistence. [`Store`] is the one interface the rest of the server uses; [`PgStore`] and
//! [`SqliteStore`] implement it over the migrations in `migrations/{postgres,sqlite}`.
//!
//! Both backends run the same SQL text (written once in `common.rs`); what differs — opening a
//! tenant transaction (PostgreSQL switches to the RLS-bound role), naming constraint violations —
//! lives in each backend's file. Every tenant method scopes its queries by `tenant_id` in SQL as
//! well, so isolation does not rest on RLS alone (D-088, D-111).

mod common;
mod error;
mod postgres;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::model::{
    ApiKey, Integration, Job, Meeting, Notification, RealtimeSession, Role, ServiceType, SessionStatus, SttStatus,
    Task, TaskStatus, Tenant, TranscriptFinal, TranscriptGap, UsageDay, User,
};

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the database named by `url` (`postgres://…` or `sqlite://…`) and runs its migrations.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    } else {
        anyhow::bail!("unsupported database URL (expected postgres:// or sqlite://)")
    }
}

/// The embedded default: a SQLite file inside the data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("ddalkkak.db").display())
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub slack_user_id: Option<String>,
}

/// A partial update: `None` leaves a column as it is; `Some(None)` clears a nullable column.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub default_language: Option<Option<String>>,
}

/// A partial update: `None` leaves a column as it is; `Some(None)` clears a nullable column.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub slack_user_id: Option<Option<String>>,
}

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
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// List soft-deleted meetings instead of live ones.
    pub deleted: bool,
}

/// Keyset pagination over `(created_at, id)` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone)]
pub struct NewTask {
    pub meeting_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<DateTime<Utc>>,
    pub is_ai_generated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Option<Uuid>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub meeting_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Uuid>,
    pub meeting_id: Option<Uuid>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub service_type: ServiceType,
    /// Already encrypted by the caller.
    pub access_token: Option<String>,
    pub is_active: bool,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    pub access_token: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub channel: Option<Option<String>>,
}

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
    /// The `ai_action_items` JSON (an array).
    pub action_items: Value,
    /// Created only when the meeting has no AI tasks yet; `is_ai_generated` and `meeting_id`
    /// are set by the store.
    pub tasks: Vec<NewTask>,
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

/// Which error-isolation table a record goes to (D-130..D-132), with its retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTable {
    /// `meetings_error`, 30 days.
    Meetings,
    /// `ai_error_log`, 7 days.
    Ai,
    /// `integration_error_log`, 3 days.
    Integration,
}

#[derive(Debug, Clone)]
pub struct ErrorRecord {
    pub table: ErrorTable,
    /// The meeting (for `Meetings`/`Ai`) or integration the error concerns.
    pub subject_id: Option<Uuid>,
    pub trace_id: Option<Uuid>,
    pub payload: Value,
    pub error: String,
}

/// Counts that the retention job removed, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub meetings_error: u64,
    pub ai_error_log: u64,
    pub integration_error_log: u64,
    pub quarantine: u64,
    pub ended_sessions: u64,
}

/// Cut-off instants for [`Store::purge_expired`]: rows older than these go.
#[derive(Debug, Clone, Copy)]
pub struct PurgeCutoffs {
    pub meetings_error: DateTime<Utc>,
    pub ai_error_log: DateTime<Utc>,
    pub integration_error_log: DateTime<Utc>,
    pub quarantine: DateTime<Utc>,
    pub ended_sessions: DateTime<Utc>,
}

/// Live totals of a tenant, next to the daily `usage_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTotals {
    pub users: i64,
    pub meetings: i64,
    pub tasks: i64,
    pub active_sessions: i64,
}

/// Everything the server stores. Methods taking `tenant` act only inside that tenant; the few
/// without one (tenant creation, API-key lookup, retention) are system operations.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;

    // --- tenants (system scope) ---
    /// Creates a tenant with its OWNER and the owner's first API key, in one transaction.
    async fn create_tenant(
        &self,
        name: &str,
        slug: &str,
        owner: NewUser,
        key: NewApiKey,
    ) -> StoreResult<(Tenant, User, ApiKey)>;
    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant>;
    async fn count_tenants(&self) -> StoreResult<i64>;
    async fn get_tenant(&self, tenant: Uuid) -> StoreResult<Tenant>;
    async fn update_tenant(&self, tenant: Uuid, patch: TenantPatch) -> StoreResult<Tenant>;
    /// Physically deletes the tenant and, by cascade, everything it owns (D-089).
    async fn delete_tenant(&self, tenant: Uuid) -> StoreResult<()>;

    // --- users ---
    async fn create_user(&self, tenant: Uuid, user: NewUser) -> StoreResult<User>;
    async fn get_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User>;
    async fn list_users(&self, tenant: Uuid, deleted: bool) -> StoreResult<Vec<User>>;
    async fn update_user(&self, tenant: Uuid, id: Uuid, patch: UserPatch) -> StoreResult<User>;
    /// Soft delete; the user's unfinished tasks become unassigned (D-092, decision in docs).
    async fn soft_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User>;
    /// Physical delete; refused while the user hosts meetings (D-074).
    async fn hard_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;

    // --- API keys ---
    async fn create_api_key(&self, tenant: Uuid, key: NewApiKey) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, tenant: Uuid, user: Option<Uuid>) -> StoreResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, tenant: Uuid, id: Uuid) -> StoreResult<ApiKey>;
    /// System scope: finds a key by prefix with its live owner, for authentication.
    async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<(ApiKey, User)>;
    async fn touch_api_key(&self, tenant: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;

    // --- meetings ---
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
    async fn soft_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting>;
    /// Physical delete (tasks survive as orphans, D-095); used by purges and tests.
    async fn hard_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;

    // --- tasks ---
    /// Enforces the task rules of the spec: an AI task needs a meeting (D-096), the meeting and
    /// the assignee must be live rows of the same tenant (D-098, D-115).
    async fn create_task(&self, tenant: Uuid, task: NewTask) -> StoreResult<Task>;
    async fn get_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task>;
    async fn list_tasks(
        &self,
        tenant: Uuid,
        filter: &TaskFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> StoreResult<Page<Task>>;
    /// Applies the same rules as `create_task` plus the status machine ([`TaskStatus::can_become`]).
    async fn update_task(&self, tenant: Uuid, id: Uuid, patch: TaskPatch) -> StoreResult<Task>;
    async fn soft_delete_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task>;

    // --- realtime sessions ---
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

    // --- live sessions (socket actor) ---
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
    /// One transaction: the meeting gets its transcript assembled from the stored finals,
    /// speaker labels, duration and stt_status COMPLETED; the session becomes ENDED; the
    /// meeting-intelligence job is enqueued when there is any text. Finalizing an ENDED session
    /// again changes nothing and returns the meeting.
    async fn finalize_live_session(
        &self,
        tenant: Uuid,
        session: Uuid,
        audio_seconds: Option<f64>,
    ) -> StoreResult<Meeting>;
    /// System scope: sessions `server_instance` left ACTIVE (it crashed), oldest first.
    async fn orphaned_sessions(&self, server_instance: &str) -> StoreResult<Vec<RealtimeSession>>;
    /// Jobs of a meeting.
    async fn list_jobs(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<Vec<Job>>;

    // --- durable jobs (system scope: a worker serves every tenant) ---
    /// Claims the oldest runnable job of `kind`: QUEUED and due, or RUNNING with an expired lease
    /// (its worker died). The claim increments `attempts`, which fences every later write of this
    /// claim, and leases the job until now + `lease`. Concurrent claimers never get the same job
    /// (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite runs one writer at a time).
    async fn claim_job(&self, kind: &str, lease: chrono::Duration) -> StoreResult<Option<Job>>;
    /// Extends a claimed job's lease; `StoreError::Rule{code: "claim_lost"}` if the claim is stale.
    async fn renew_job(&self, job: &Job, lease: chrono::Duration) -> StoreResult<()>;
    /// Ends a claim that did not succeed (see [`JobSettlement`]); fenced like `renew_job`.
    async fn settle_job(&self, job: &Job, settlement: JobSettlement) -> StoreResult<()>;
    /// One transaction, fenced by the claim: the meeting gets `ai_summary` and `ai_action_items`;
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

    // --- integrations ---
    async fn create_integration(&self, tenant: Uuid, integration: NewIntegration) -> StoreResult<Integration>;
    async fn get_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<Integration>;
    async fn list_integrations(&self, tenant: Uuid) -> StoreResult<Vec<Integration>>;
    async fn update_integration(&self, tenant: Uuid, id: Uuid, patch: IntegrationPatch) -> StoreResult<Integration>;
    /// Physical delete (decision D-123).
    async fn delete_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;

    // --- notifications, usage, error isolation ---
    async fn create_notification(
        &self,
        tenant: Uuid,
        user: Uuid,
        kind: &str,
        message: &str,
    ) -> StoreResult<Notification>;
    async fn list_notifications(&self, tenant: Uuid, user: Uuid, unread_only: bool) -> StoreResult<Vec<Notification>>;
    async fn mark_notification_read(&self, tenant: Uuid, user: Uuid, id: Uuid) -> StoreResult<Notification>;
    /// Adds to a tenant's counters for `date` (an idempotent-shape upsert on `(tenant_id, date)`).
    async fn add_usage(
        &self,
        tenant: Uuid,
        date: NaiveDate,
        meetings: i32,
        audio_minutes: i32,
        ai_requests: i32,
    ) -> StoreResult<()>;
    async fn usage(&self, tenant: Uuid, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<UsageDay>>;
    async fn tenant_totals(&self, tenant: Uuid) -> StoreResult<TenantTotals>;
    async fn record_error(&self, tenant: Uuid, record: ErrorRecord) -> StoreResult<Uuid>;
    async fn count_errors(&self, tenant: Uuid, table: ErrorTable) -> StoreResult<i64>;
    /// Moves a corrupted record to quarantine (D-133).
    async fn quarantine(
        &self,
        tenant: Option<Uuid>,
        source_table: &str,
        source_id: Option<Uuid>,
        payload: Value,
        reason: &str,
    ) -> StoreResult<Uuid>;
    /// System scope: deletes error records, quarantined rows and ENDED sessions past retention.
    async fn purge_expired(&self, cutoffs: PurgeCutoffs) -> StoreResult<PurgeReport>;

    // --- operations (D-143/D-145: backup before deploying, verify after) ---
    /// Integrity checks a migration or restore must pass: row counts per table, and every
    /// problem found (orphaned references, broken invariants, storage corruption).
    async fn verify(&self) -> StoreResult<VerifyReport>;
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub row_counts: Vec<(String, i64)>,
    pub problems: Vec<String>,
}

/// Tables and the references each must satisfy: (table, column, referenced table).
pub(crate) const REFERENCES: [(&str, &str, &str); 26] = [
    ("users", "tenant_id", "tenants"),
    ("meetings", "tenant_id", "tenants"),
    ("meetings", "host_id", "users"),
    ("tasks", "tenant_id", "tenants"),
    ("tasks", "meeting_id", "meetings"),
    ("tasks", "assignee_id", "users"),
    ("realtime_sessions", "tenant_id", "tenants"),
    ("realtime_sessions", "meeting_id", "meetings"),
    ("realtime_sessions", "host_id", "users"),
    ("integrations", "tenant_id", "tenants"),
    ("api_keys", "tenant_id", "tenants"),
    ("api_keys", "user_id", "users"),
    ("notifications", "tenant_id", "tenants"),
    ("notifications", "user_id", "users"),
    ("usage_stats", "tenant_id", "tenants"),
    ("meetings_error", "tenant_id", "tenants"),
    ("meetings_error", "meeting_id", "meetings"),
    ("ai_error_log", "tenant_id", "tenants"),
    ("ai_error_log", "meeting_id", "meetings"),
    ("integration_error_log", "tenant_id", "tenants"),
    ("integration_error_log", "integration_id", "integrations"),
    ("transcript_finals", "tenant_id", "tenants"),
    ("transcript_finals", "session_id", "realtime_sessions"),
    ("transcript_finals", "meeting_id", "meetings"),
    ("jobs", "tenant_id", "tenants"),
    ("jobs", "meeting_id", "meetings"),
];

/// What a live session starts with.
#[derive(Debug, Clone)]
pub struct NewLiveSession {
    pub host_id: Uuid,
    pub title: String,
    pub socket_id: String,
    pub server_instance: String,
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
    pub words: Value,
}

/// A stored final's speakers after re-clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalSpeakers {
    pub seq: i32,
    pub speaker: Option<i32>,
    /// The words with their `speaker` fields.
    pub words: Value,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `None` for the key created with a tenant: it belongs to the new owner.
    pub user_id: Option<Uuid>,
    pub name: String,
    pub prefix: String,
    pub key_hash: Vec<u8>,
}
