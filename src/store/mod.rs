//! Persistence. [`Store`] is the one interface the rest of the server uses, made of one trait per
//! aggregate, each in the file named after it: [`TenantStore`] (tenants, users, API keys),
//! [`MeetingStore`], [`TaskStore`], [`LiveSessionStore`] (live sessions and their finals),
//! [`JobStore`], [`IntegrationStore`], [`NotificationStore`], [`OpsStore`] (health, usage, error
//! tables, retention, integrity) and [`VoiceprintStore`] (enrolled voices, sealed) and [`RecordingStore`] (uploaded recordings and their transcription). Callers hold an `Arc<dyn Store>` and call any of
//! them without importing the aggregate traits.
//!
//! [`PgStore`] and [`SqliteStore`] implement every trait with the same SQL text: each aggregate's
//! file holds its trait and a macro with the SQL, which both backends expand; `sql.rs` holds the
//! helpers those queries share. What differs between the backends (opening a tenant transaction:
//! PostgreSQL switches to the RLS-bound role; naming constraint violations) lives in each
//! backend's file. Every tenant method scopes its queries by `tenant_id` in SQL as well, so
//! isolation does not rest on RLS alone (D-088, D-111).

mod error;
mod integrations;
mod jobs;
mod live_sessions;
mod meetings;
mod notifications;
mod ops;
mod postgres;
mod recordings;
mod sql;
mod sqlite;
mod tasks;
mod tenants;
mod voiceprints;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    ApiKey, Integration, Job, JobStatus, Meeting, Notification, RealtimeSession, Role, ServiceType, SessionStatus,
    SttStatus, Task, TaskStatus, Tenant, TranscriptFinal, TranscriptGap, UsageDay, User, Wording,
};

pub use error::StoreError;
pub use integrations::{IntegrationPatch, IntegrationStore, NewIntegration};
pub use jobs::{IntelligenceReport, JobSettlement, JobStore, MeetingIntelligence};
pub use live_sessions::{FinalSpeakers, LiveSessionStore, NewFinal, NewLiveSession};
pub use meetings::{MeetingFilter, MeetingPatch, MeetingStore, NewMeeting};
pub use notifications::NotificationStore;
pub use ops::{
    ErrorRecord, ErrorTable, OpsStore, PurgeCutoffs, PurgeReport, RecordingPurge, TenantTotals, VerifyReport,
};
pub use postgres::PgStore;
pub use recordings::{NewRecording, RecordingStore, Retranscription};
pub use sqlite::SqliteStore;
pub use tasks::{NewTask, TaskFilter, TaskPatch, TaskStore};
pub use tenants::{NewApiKey, NewUser, TenantPatch, TenantStore, UserPatch};
pub use voiceprints::VoiceprintStore;

/// Everything the server stores. Methods taking `tenant` act only inside that tenant; the few
/// without one (API-key lookup, job claims, the session sweeper, retention) are system
/// operations, and tenant creation writes in the new tenant's own scope.
pub trait Store:
    TenantStore
    + MeetingStore
    + TaskStore
    + LiveSessionStore
    + JobStore
    + IntegrationStore
    + NotificationStore
    + OpsStore
    + VoiceprintStore
    + RecordingStore
{
}

impl<T> Store for T where
    T: TenantStore
        + MeetingStore
        + TaskStore
        + LiveSessionStore
        + JobStore
        + IntegrationStore
        + NotificationStore
        + OpsStore
        + VoiceprintStore
        + RecordingStore
{
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the database named by `url` (`postgres://…` or `sqlite://…`) and runs its migrations (on
/// PostgreSQL, a login that does not own the schema checks that they ran instead).
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
