//! SQLite backend, the embedded default. One file in the data directory, WAL journal, foreign
//! keys on. Write transactions start with `BEGIN IMMEDIATE` so concurrent writers wait on the
//! busy timeout instead of failing a lock upgrade half-way.
//!
//! Durability: `synchronous=NORMAL` by default, where WAL syncs at checkpoints only, so a power
//! cut or OS crash can lose the last commits (never corrupt the file; a crash of the process
//! alone loses nothing). `synchronous=full` in the URL (`--sqlite-synchronous full`) syncs the
//! WAL at every commit, at the cost of one fsync per write transaction.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};
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

type Db = Sqlite;

pub struct SqliteStore {
    pool: Pool<Sqlite>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";
    const QUARANTINE_TABLE: &'static str = "quarantine_records";
    /// SQLite has no row locks: the claim is one UPDATE statement, and SQLite runs one writer at
    /// a time, so two claimers cannot take the same row.
    const CLAIM_LOCK: &'static str = "";
    /// A write transaction holds the whole database (`BEGIN IMMEDIATE`): no row locks needed.
    const ROW_LOCK: &'static str = "";

    /// One process owns a SQLite file: nothing shares it beside the store.
    fn shared_pool(&self) -> Option<sqlx::PgPool> {
        None
    }

    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let (url, synchronous) = split_synchronous(url)?;
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(max_connections.max(1)).connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests that check connection settings with raw SQL.
    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    /// SQLite has no row-level security: the tenant is scoped by every query's `tenant_id`.
    async fn tenant_tx(&self, _tenant: Uuid) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn system_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Reads take no write lock: a deferred transaction reads one WAL snapshot while a writer
    /// goes on.
    async fn read_tx(&self, _tenant: Uuid) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    async fn system_read_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    /// SQLite's own checks: page-level integrity and foreign keys.
    async fn storage_problems(&self) -> StoreResult<Vec<String>> {
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.pool).await?;
        let mut problems: Vec<String> = integrity.into_iter().filter(|r| r != "ok").collect();
        let fk: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&self.pool).await?;
        problems.extend(fk.into_iter().map(|(t,)| format!("foreign key check failed in {t}")));
        Ok(problems)
    }

    /// A consistent copy of the database file (`VACUUM INTO`), safe while the server runs.
    pub async fn backup(&self, to: &std::path::Path) -> StoreResult<()> {
        sqlx::query("VACUUM INTO $1").bind(to.to_string_lossy().into_owned()).execute(&self.pool).await?;
        Ok(())
    }
}

/// Takes the `synchronous` parameter (`normal`, the default, or `full`) out of a SQLite URL:
/// sqlx refuses parameters it does not know.
fn split_synchronous(url: &str) -> anyhow::Result<(String, SqliteSynchronous)> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), SqliteSynchronous::Normal)) };
    let mut synchronous = SqliteSynchronous::Normal;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                synchronous = match value.to_ascii_lowercase().as_str() {
                    "normal" => SqliteSynchronous::Normal,
                    "full" => SqliteSynchronous::Full,
                    _ => anyhow::bail!("unknown SQLite synchronous setting {value:?} (expected normal or full)"),
                }
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    Ok((url, synchronous))
}

sql_helpers!(SqliteStore);
impl_tenant_store!(SqliteStore);
impl_meeting_store!(SqliteStore);
impl_task_store!(SqliteStore);
impl_live_session_store!(SqliteStore);
impl_job_store!(SqliteStore);
impl_integration_store!(SqliteStore);
impl_notification_store!(SqliteStore);
impl_ops_store!(SqliteStore);
impl_voiceprint_store!(SqliteStore);
impl_recording_store!(SqliteStore);
