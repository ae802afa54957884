//! What the aggregates' SQL (`tenants.rs`, `meetings.rs`, …) shares. Each aggregate's
//! `impl_*_store!` macro, and [`sql_helpers!`] once, are expanded in a backend's module, which
//! must provide:
//! - `pool: sqlx::Pool<Db>`
//! - `async fn tenant_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Db>>`: a write
//!   transaction in which only `tenant`'s rows are visible (RLS in PostgreSQL), and `read_tx`,
//!   the same for reads (no write lock on SQLite, READ ONLY on PostgreSQL);
//! - `system_tx` / `system_read_tx`: the same for the few cross-tenant operations;
//! - `const QUARANTINE_TABLE: &str`, `const BACKEND: &str` and `const CLAIM_LOCK: &str` (the
//!   row-lock clause of a job claim).
//!
//! Parameters are `$n` in both dialects. Timestamps are always bound by the application
//! (`domain::now()`), never taken from the database clock, so both backends store the same shape;
//! statements that return a row set `updated_at` themselves, because SQLite's RETURNING does not
//! see what its AFTER UPDATE trigger writes (the triggers stay as a backstop for other writers).

/// Escapes `%`, `_` and `\` so user text is matched literally by `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Splits `limit + 1` fetched rows into a page and the cursor of its last row.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> super::Cursor) -> super::Page<T> {
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(&key)
    } else {
        None
    };
    super::Page { items: rows, next }
}

/// The transaction type and the checks that several aggregates' queries share, expanded in
/// each backend's module next to the aggregates' SQL.
macro_rules! sql_helpers {
    () => {
        type Tx = sqlx::Transaction<'static, Db>;

        /// A fenced write touched no row: another worker holds the job now.
        fn claim_held(rows: u64) -> StoreResult<()> {
            if rows == 0 {
                return Err(StoreError::rule(
                    "claim_lost",
                    "job",
                    "the job's claim expired and another worker took it",
                ));
            }
            Ok(())
        }

        async fn succeed_job(tx: &mut Tx, job: &Job, now: DateTime<Utc>) -> StoreResult<()> {
            let done = sqlx::query(
                "UPDATE jobs SET status = 'SUCCEEDED', locked_until = NULL, last_error = NULL, updated_at = $4 \
                 WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND status = 'RUNNING'",
            )
            .bind(job.tenant_id)
            .bind(job.id)
            .bind(job.attempts)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            claim_held(done.rows_affected())
        }

        async fn live_user(tx: &mut Tx, tenant: Uuid, id: Uuid) -> StoreResult<User> {
            Ok(sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
                .bind(tenant)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?)
        }

        async fn live_meeting(tx: &mut Tx, tenant: Uuid, id: Uuid) -> StoreResult<Meeting> {
            Ok(sqlx::query_as("SELECT * FROM meetings WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
                .bind(tenant)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?)
        }

        async fn live_task(tx: &mut Tx, tenant: Uuid, id: Uuid) -> StoreResult<Task> {
            Ok(sqlx::query_as("SELECT * FROM tasks WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
                .bind(tenant)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?)
        }

        // Table names below are literals of this file, never input: formatting them is safe.

        /// Soft delete (D-118..D-120): a live row gets `deleted_at`; anything else is NotFound.
        async fn soft_delete(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<()> {
            let now = now();
            let sql = format!(
                "UPDATE {table} SET deleted_at = $3, updated_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
            );
            let done = sqlx::query(&sql).bind(tenant).bind(id).bind(now).execute(&mut **tx).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }

        /// Undoes a soft delete; a live or missing row is NotFound.
        async fn restore<T>(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T>
        where
            T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
        {
            let sql = format!(
                "UPDATE {table} SET deleted_at = NULL, updated_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NOT NULL RETURNING *"
            );
            Ok(sqlx::query_as(&sql).bind(tenant).bind(id).bind(now()).fetch_one(&mut **tx).await?)
        }

        /// Physical delete of one row of the tenant; NotFound when there is none.
        async fn delete_row(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<()> {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
            let done = sqlx::query(&sql).bind(tenant).bind(id).execute(&mut **tx).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }

        /// D-096/D-109: an AI-generated task needs a meeting.
        fn ai_task_rule(is_ai_generated: bool, meeting_id: Option<Uuid>) -> StoreResult<()> {
            if is_ai_generated && meeting_id.is_none() {
                return Err(StoreError::rule(
                    "ai_task_requires_meeting",
                    "meeting_id",
                    "an AI-generated task must belong to a meeting",
                ));
            }
            Ok(())
        }

        /// D-115: a task's meeting must be a live meeting of this tenant; another tenant's id
        /// looks exactly like a missing one.
        async fn require_meeting(tx: &mut Tx, tenant: Uuid, meeting: Option<Uuid>) -> StoreResult<()> {
            let Some(id) = meeting else { return Ok(()) };
            match live_meeting(tx, tenant, id).await {
                Err(StoreError::NotFound) => {
                    Err(StoreError::rule("meeting_not_found", "meeting_id", "no such meeting in this tenant"))
                }
                other => other.map(drop),
            }
        }

        /// D-098/D-110: the assignee must be a live user of this tenant.
        async fn require_assignee(tx: &mut Tx, tenant: Uuid, assignee: Option<Uuid>) -> StoreResult<()> {
            let Some(id) = assignee else { return Ok(()) };
            match live_user(tx, tenant, id).await {
                Err(StoreError::NotFound) => Err(StoreError::rule(
                    "assignee_not_in_tenant",
                    "assignee_id",
                    "the assignee must be an active user of this tenant",
                )),
                other => other.map(drop),
            }
        }

        async fn add_usage(
            tx: &mut Tx,
            tenant: Uuid,
            date: NaiveDate,
            meetings: i32,
            audio_minutes: i32,
            ai_requests: i32,
        ) -> StoreResult<()> {
            let now = now();
            sqlx::query(
                "INSERT INTO usage_stats (id, tenant_id, date, meetings_count, audio_minutes, ai_requests, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (tenant_id, date) DO UPDATE SET \
                 meetings_count = usage_stats.meetings_count + excluded.meetings_count, \
                 audio_minutes = usage_stats.audio_minutes + excluded.audio_minutes, \
                 ai_requests = usage_stats.ai_requests + excluded.ai_requests",
            )
            .bind(Uuid::new_v4())
            .bind(tenant)
            .bind(date)
            .bind(meetings)
            .bind(audio_minutes)
            .bind(ai_requests)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
}

pub(super) use sql_helpers;
