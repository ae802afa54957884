//! PostgreSQL backend. Every transaction switches to a role that row-level security binds, with
//! `SET LOCAL` (it ends with the transaction, so this is safe behind a transaction-mode pooler,
//! D-163): a tenant's transaction to `authenticated_user` with `app.current_tenant_id` set; the
//! few cross-tenant system operations to `ddalkkak_system`, whose policies let it read every row
//! and write only job states, retention deletes and tenant-less quarantine rows. Nothing runs as
//! the login itself, which may be the schema owner (it migrates first) or `ddalkkak_app`, a login
//! with no table privilege of its own (the schema must be migrated already). See "Database roles"
//! in `docs/decisions.md`.

use std::time::Duration;

use anyhow::Context as _;
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
        Self::migrate(&pool).await?;
        Ok(Self { pool })
    }

    fn shared_pool(&self) -> Option<Pool<Postgres>> {
        Some(self.pool.clone())
    }

    /// Applies pending migrations when the login may: the schema is empty, or the login is (a
    /// member of) its owner. Any other login, `ddalkkak_app` in production, only checks that
    /// every migration this build knows is applied.
    async fn migrate(pool: &Pool<Postgres>) -> anyhow::Result<()> {
        let migrator = sqlx::migrate!("migrations/postgres");
        let owner: Option<bool> = sqlx::query_scalar(
            "SELECT pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_class c \
             WHERE c.oid = to_regclass('public._sqlx_migrations')",
        )
        .fetch_optional(pool)
        .await?;
        if owner.unwrap_or(true) {
            migrator.run(pool).await.context("applying migrations (as the schema owner, or on an empty database)")?;
            return Ok(());
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await?;
        let missing: Vec<String> = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| format!("{}_{}", m.version, m.description.replace(' ', "_")))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "the database lacks migrations {}: run `ddalkkak migrate` with the schema owner's URL first",
            missing.join(", ")
        );
        Ok(())
    }

    /// The role `pg_dump` reads as, with row security on: row-level security is forced, so with it
    /// off (`pg_dump`'s default) only a superuser or a BYPASSRLS role may read the tables, and
    /// the system role reads every row through its policies. `None` before the migration that
    /// created it, when the owner still reads everything.
    pub async fn dump_role(url: &str) -> anyhow::Result<Option<&'static str>> {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        let usable: bool = sqlx::query_scalar(
            "SELECT COALESCE((SELECT pg_has_role(current_user, r.oid, 'MEMBER') \
             AND has_table_privilege(r.oid, to_regclass('public.tenants'), 'SELECT') \
             FROM pg_roles r WHERE r.rolname = 'ddalkkak_system'), false)",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(usable.then_some("ddalkkak_system"))
    }

    /// The pool, for tests that check RLS with raw SQL: its connections are the login's, which
    /// the store itself never uses without switching role.
    pub fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn tenant_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        // A formatted Uuid is hex and hyphens only, so inlining it cannot inject SQL; one round trip.
        let begin = format!("BEGIN; SET LOCAL ROLE authenticated_user; SET LOCAL app.current_tenant_id = '{tenant}'");
        Ok(self.pool.begin_with(begin).await?)
    }

    async fn system_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin_with("BEGIN; SET LOCAL ROLE ddalkkak_system").await?)
    }

    /// Reads: the tenant's RLS scope in a READ ONLY transaction.
    async fn read_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        let begin =
            format!("BEGIN READ ONLY; SET LOCAL ROLE authenticated_user; SET LOCAL app.current_tenant_id = '{tenant}'");
        Ok(self.pool.begin_with(begin).await?)
    }

    async fn system_read_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin_with("BEGIN READ ONLY; SET LOCAL ROLE ddalkkak_system").await?)
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
