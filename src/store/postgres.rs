//! PostgreSQL backend. Tenant transactions run as the RLS-bound role `authenticated_user` with
//! `app.current_tenant_id` set (both `SET LOCAL`, so they end with the transaction and are safe
//! behind a transaction-mode pooler, D-163).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres, Transaction};
use uuid::Uuid;

use super::integrations::impl_integration_store;
use super::jobs::impl_job_store;
use super::live_sessions::impl_live_session_store;
use super::meetings::impl_meeting_store;
use super::notifications::impl_notification_store;
use super::ops::impl_ops_store;
use super::recordings::impl_recording_store;
use super::sql::{like_pattern, page, sql_helpers};
use super::tasks::impl_task_store;
use super::tenants::impl_tenant_store;
use super::voiceprints::impl_voiceprint_store;
use super::*;
use crate::domain::now;

type Db = Postgres;

pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";
    const QUARANTINE_TABLE: &'static str = "quarantine.records";
    /// Concurrent job claimers skip each other's rows instead of waiting on them.
    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";
    /// A row read to be changed in the same transaction is locked until it ends.
    const ROW_LOCK: &'static str = "FOR UPDATE";

    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.application_name("ddalkkak"))
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    fn shared_pool(&self) -> Option<Pool<Postgres>> {
        Some(self.pool.clone())
    }

    /// The pool, for tests that check RLS with raw SQL.
    pub fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn tenant_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        // A formatted Uuid is hex and hyphens only, so inlining it cannot inject SQL; one round trip.
        let begin = format!("BEGIN; SET LOCAL ROLE authenticated_user; SET LOCAL app.current_tenant_id = '{tenant}'");
        Ok(self.pool.begin_with(begin).await?)
    }

    async fn system_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Reads: the tenant's RLS scope in a READ ONLY transaction.
    async fn read_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        let begin =
            format!("BEGIN READ ONLY; SET LOCAL ROLE authenticated_user; SET LOCAL app.current_tenant_id = '{tenant}'");
        Ok(self.pool.begin_with(begin).await?)
    }

    async fn system_read_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin_with("BEGIN READ ONLY").await?)
    }

    /// Constraints left NOT VALID (e.g. by a hand-made migration) are problems.
    async fn storage_problems(&self) -> StoreResult<Vec<String>> {
        let invalid: Vec<String> = sqlx::query_scalar(
            "SELECT conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE n.nspname IN ('public', 'quarantine') AND NOT c.convalidated",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(invalid.into_iter().map(|c| format!("constraint {c} is not validated")).collect())
    }
}

sql_helpers!(PgStore);
impl_tenant_store!(PgStore);
impl_meeting_store!(PgStore);
impl_task_store!(PgStore);
impl_live_session_store!(PgStore);
impl_job_store!(PgStore);
impl_integration_store!(PgStore);
impl_notification_store!(PgStore);
impl_ops_store!(PgStore);
impl_voiceprint_store!(PgStore);
impl_recording_store!(PgStore);
