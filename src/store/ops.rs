//! Operations: health, usage, error isolation tables, quarantine, retention and the integrity
//! check.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::*;

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

/// Counts that the retention job removed, per table, and the recordings' files to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub meetings_error: u64,
    pub ai_error_log: u64,
    pub integration_error_log: u64,
    pub quarantine: u64,
    pub ended_sessions: u64,
    pub recordings: RecordingPurge,
}

/// The recordings [`Store::purge_expired`] deleted; their files are the caller's to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingPurge {
    /// Older than their tenant's `recording_retention_days`.
    pub expired: u64,
    /// Of meetings soft-deleted longer than the trash window.
    pub of_deleted_meetings: u64,
    /// Storage keys of their files (none for a recording named by URL and never fetched).
    pub keys: Vec<String>,
}

/// Cut-off instants for [`Store::purge_expired`]: rows older than these go.
#[derive(Debug, Clone, Copy)]
pub struct PurgeCutoffs {
    pub meetings_error: DateTime<Utc>,
    pub ai_error_log: DateTime<Utc>,
    pub integration_error_log: DateTime<Utc>,
    pub quarantine: DateTime<Utc>,
    pub ended_sessions: DateTime<Utc>,
    /// Recordings of meetings soft-deleted before this go (the trash window: until then a
    /// restore brings the recording back).
    pub deleted_meeting_recordings: DateTime<Utc>,
    /// The purge's instant: each tenant's `recording_retention_days` counts back from it.
    pub now: DateTime<Utc>,
}

/// Live totals of a tenant, next to the daily `usage_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTotals {
    pub users: i64,
    pub meetings: i64,
    pub tasks: i64,
    pub active_sessions: i64,
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

#[async_trait]
pub trait OpsStore: Send + Sync + 'static {
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;
    /// The PostgreSQL pool, for what shares the database beside the store (the caption relay's
    /// `LISTEN`/`NOTIFY`); `None` on SQLite.
    fn postgres_pool(&self) -> Option<sqlx::PgPool>;
    /// Integrity checks a migration or restore must pass: row counts per table, and every
    /// problem found (orphaned references, broken invariants, storage corruption).
    async fn verify(&self) -> StoreResult<VerifyReport>;
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
    /// System scope: deletes error records, quarantined rows and ENDED sessions past retention;
    /// then, each tenant in its own transaction, the recordings past the trash window or the
    /// tenant's retention (never one being transcribed or still written by its live session),
    /// returning their storage keys.
    async fn purge_expired(&self, cutoffs: PurgeCutoffs) -> StoreResult<PurgeReport>;
}

macro_rules! impl_ops_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::OpsStore for $ty {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            fn postgres_pool(&self) -> Option<sqlx::PgPool> {
                self.shared_pool()
            }

            async fn verify(&self) -> StoreResult<VerifyReport> {
                let mut report = VerifyReport::default();
                // Every tenant's rows, in one snapshot.
                let mut tx = self.system_read_tx().await?;
                let mut tables: Vec<&str> = $crate::store::ops::REFERENCES.iter().map(|r| r.0).collect();
                tables.insert(0, "tenants");
                tables.dedup();
                for table in tables {
                    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                        .fetch_one(&mut *tx)
                        .await?;
                    report.row_counts.push((table.to_owned(), n));
                }
                // References: held by foreign keys, but a restore, a manual edit or (SQLite) a
                // writer with foreign keys off can break them.
                for (table, column, parent) in $crate::store::ops::REFERENCES {
                    let orphans: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM {table} c WHERE c.{column} IS NOT NULL \
                         AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
                    ))
                    .fetch_one(&mut *tx)
                    .await?;
                    if orphans > 0 {
                        report.problems.push(format!("{orphans} rows of {table}.{column} point at no {parent} row"));
                    }
                }
                // Invariants of the data model that no single constraint states.
                let checks = [
                    (
                        "tenants without a live OWNER (D-091)",
                        "SELECT COUNT(*) FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM users u \
                         WHERE u.tenant_id = t.id AND u.role = 'OWNER' AND u.deleted_at IS NULL)",
                    ),
                    (
                        "rows linked across tenants (D-088)",
                        "SELECT (SELECT COUNT(*) FROM tasks t JOIN meetings m ON m.id = t.meeting_id \
                         WHERE m.tenant_id <> t.tenant_id) + (SELECT COUNT(*) FROM tasks t JOIN users u \
                         ON u.id = t.assignee_id WHERE u.tenant_id <> t.tenant_id) + (SELECT COUNT(*) \
                         FROM meetings m JOIN users u ON u.id = m.host_id WHERE u.tenant_id <> m.tenant_id)",
                    ),
                ];
                for (what, sql) in checks {
                    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await?;
                    if n > 0 {
                        report.problems.push(format!("{n} {what}"));
                    }
                }
                tx.commit().await?;
                report.problems.extend(self.storage_problems().await?);
                Ok(report)
            }

            async fn add_usage(
                &self,
                tenant: Uuid,
                date: NaiveDate,
                meetings: i32,
                audio_minutes: i32,
                ai_requests: i32,
            ) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                add_usage(&mut tx, tenant, date, meetings, audio_minutes, ai_requests).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn usage(&self, tenant: Uuid, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<UsageDay>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT date, meetings_count, audio_minutes, ai_requests FROM usage_stats \
                     WHERE tenant_id = $1 AND date >= $2 AND date <= $3 ORDER BY date",
                )
                .bind(tenant)
                .bind(from)
                .bind(to);
                fetch_all_committed(tx, query).await
            }

            async fn tenant_totals(&self, tenant: Uuid) -> StoreResult<TenantTotals> {
                let mut tx = self.read_tx(tenant).await?;
                let (users, meetings, tasks, active_sessions): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT \
                     (SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND deleted_at IS NULL), \
                     (SELECT COUNT(*) FROM meetings WHERE tenant_id = $1 AND deleted_at IS NULL), \
                     (SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND deleted_at IS NULL), \
                     (SELECT COUNT(*) FROM realtime_sessions WHERE tenant_id = $1 AND status = 'ACTIVE')",
                )
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(TenantTotals { users, meetings, tasks, active_sessions })
            }

            async fn record_error(&self, tenant: Uuid, record: ErrorRecord) -> StoreResult<Uuid> {
                let sql = match record.table {
                    ErrorTable::Meetings => {
                        "INSERT INTO meetings_error (id, tenant_id, meeting_id, trace_id, payload, error, status, occurred_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7)"
                    }
                    ErrorTable::Ai => {
                        "INSERT INTO ai_error_log (id, tenant_id, meeting_id, trace_id, payload, error, status, occurred_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7)"
                    }
                    ErrorTable::Integration => {
                        "INSERT INTO integration_error_log (id, tenant_id, integration_id, trace_id, payload, error, \
                         status, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7)"
                    }
                };
                let id = Uuid::new_v4();
                let mut tx = self.tenant_tx(tenant).await?;
                sqlx::query(sql)
                    .bind(id)
                    .bind(tenant)
                    .bind(record.subject_id)
                    .bind(record.trace_id)
                    .bind(sqlx::types::Json(&record.payload))
                    .bind(&record.error)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn count_errors(&self, tenant: Uuid, table: ErrorTable) -> StoreResult<i64> {
                let sql = match table {
                    ErrorTable::Meetings => "SELECT COUNT(*) FROM meetings_error WHERE tenant_id = $1",
                    ErrorTable::Ai => "SELECT COUNT(*) FROM ai_error_log WHERE tenant_id = $1",
                    ErrorTable::Integration => "SELECT COUNT(*) FROM integration_error_log WHERE tenant_id = $1",
                };
                let mut tx = self.read_tx(tenant).await?;
                let n = sqlx::query_scalar(sql).bind(tenant).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn quarantine(
                &self,
                tenant: Option<Uuid>,
                source_table: &str,
                source_id: Option<Uuid>,
                payload: serde_json::Value,
                reason: &str,
            ) -> StoreResult<Uuid> {
                let id = Uuid::new_v4();
                let mut tx = match tenant {
                    Some(t) => self.tenant_tx(t).await?,
                    None => self.system_tx().await?,
                };
                sqlx::query(&format!(
                    "INSERT INTO {} (id, tenant_id, source_table, source_id, payload, reason, status, quarantined_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7)",
                    Self::QUARANTINE_TABLE
                ))
                .bind(id)
                .bind(tenant)
                .bind(source_table)
                .bind(source_id)
                .bind(sqlx::types::Json(&payload))
                .bind(reason)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn purge_expired(&self, cutoffs: PurgeCutoffs) -> StoreResult<PurgeReport> {
                let quarantine = format!("DELETE FROM {} WHERE quarantined_at < $1", Self::QUARANTINE_TABLE);
                let steps: [(&str, DateTime<Utc>); 5] = [
                    ("DELETE FROM meetings_error WHERE occurred_at < $1", cutoffs.meetings_error),
                    ("DELETE FROM ai_error_log WHERE occurred_at < $1", cutoffs.ai_error_log),
                    ("DELETE FROM integration_error_log WHERE occurred_at < $1", cutoffs.integration_error_log),
                    (&quarantine, cutoffs.quarantine),
                    ("DELETE FROM realtime_sessions WHERE status = 'ENDED' AND ended_at < $1", cutoffs.ended_sessions),
                ];
                let mut tx = self.system_tx().await?;
                let mut counts = [0u64; 5];
                for (count, (sql, cutoff)) in counts.iter_mut().zip(steps) {
                    *count = sqlx::query(sql).bind(cutoff).execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                let recordings = self.purge_recordings(&cutoffs).await?;
                let [meetings_error, ai_error_log, integration_error_log, quarantine, ended_sessions] = counts;
                Ok(PurgeReport {
                    meetings_error,
                    ai_error_log,
                    integration_error_log,
                    quarantine,
                    ended_sessions,
                    recordings,
                })
            }
        }
    };
}

pub(super) use impl_ops_store;
