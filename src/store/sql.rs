//! What the aggregates' SQL (`tenants.rs`, `meetings.rs`, …) shares. Each aggregate's
//! `impl_*_store!` macro, and [`sql_helpers!`] once (with the backend's store type), are expanded
//! in a backend's module, which must provide:
//! - `pool: sqlx::Pool<Db>`
//! - `async fn tenant_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Db>>`: a write
//!   transaction in which only `tenant`'s rows are visible (RLS in PostgreSQL), and `read_tx`,
//!   the same for reads (no write lock on SQLite, READ ONLY on PostgreSQL);
//! - `system_tx` / `system_read_tx`: the same for the few cross-tenant operations (on
//!   PostgreSQL the role `ddalkkak_system`, which reads every tenant's rows but writes only job
//!   states, retention deletes and tenant-less quarantine rows: a system operation that writes
//!   anything else needs a policy in a migration, or a tenant transaction);
//! - `const QUARANTINE_TABLE: &str`, `const BACKEND: &str` and `const CLAIM_LOCK: &str` (the
//!   row-lock clause of a job claim).
//!
//! Parameters are `$n` in both dialects. Timestamps are always bound by the application
//! (`domain::now()`), never taken from the database clock, so both backends store the same shape;
//! statements that return a row set `updated_at` themselves, because SQLite's RETURNING does not
//! see what its AFTER UPDATE trigger writes (the triggers stay as a backstop for other writers).
//!
//! Every query runs in one of those transactions, never on `pool` directly: on PostgreSQL the
//! login itself may hold no table privilege at all. Every method opens one transaction and
//! commits it last; an error drops it, which rolls it back. When the last step is one
//! statement, `fetch_one_committed`, `fetch_all_committed` or `execute_committed` runs it and
//! commits; a row looked up, soft-deleted, restored or deleted by id in a transaction of its own
//! is one of the store's `*_row` methods.

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

/// The transaction type, the statements and the checks that several aggregates' queries share,
/// expanded in each backend's module next to the aggregates' SQL.
macro_rules! sql_helpers {
    ($store:ty) => {
        type Tx = sqlx::Transaction<'static, Db>;
        /// A statement of `sqlx::query_as` with its parameters bound, not run yet.
        type QueryAs<'q, T> = sqlx::query::QueryAs<'q, Db, T, <Db as sqlx::Database>::Arguments<'q>>;
        /// A statement of `sqlx::query` (no rows back) with its parameters bound, not run yet.
        type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

        /// A row type this backend decodes (`#[derive(sqlx::FromRow)]`).
        trait DbRow: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin {}
        impl<T> DbRow for T where T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin {}

        /// Runs `query`, the last statement of `tx`, and commits; returns its one row (NotFound
        /// when there is none).
        async fn fetch_one_committed<T: DbRow>(mut tx: Tx, query: QueryAs<'_, T>) -> StoreResult<T> {
            let row = query.fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        }

        /// Runs `query`, the last statement of `tx`, and commits; returns its rows.
        async fn fetch_all_committed<T: DbRow>(mut tx: Tx, query: QueryAs<'_, T>) -> StoreResult<Vec<T>> {
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        }

        /// Runs `query`, the last statement of `tx`, and commits.
        async fn execute_committed(mut tx: Tx, query: Query<'_>) -> StoreResult<()> {
            query.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Runs `query`, the last statement of `tx`, and commits; returns one page of its rows.
        /// `query` lists newest first and ends in the keyset, whose three parameters this binds:
        /// `AND ($n IS NULL OR (created_at, id) < ($n, $n+1)) ORDER BY created_at DESC, id DESC
        /// LIMIT $n+2`. One row more than `limit` is fetched to tell whether a next page exists.
        async fn fetch_page_committed<T: DbRow>(
            tx: Tx,
            query: QueryAs<'_, T>,
            after: Option<Cursor>,
            limit: u32,
            key: impl Fn(&T) -> Cursor,
        ) -> StoreResult<Page<T>> {
            let query = query.bind(after.map(|c| c.created_at)).bind(after.map(|c| c.id)).bind(i64::from(limit) + 1);
            let rows = fetch_all_committed(tx, query).await?;
            Ok(page(rows, limit, key))
        }

        /// Binds a PATCH field of a nullable column as the two parameters of
        /// `column = CASE WHEN $n THEN $n+1 ELSE column END`: whether the field was sent, and its
        /// new value (`Some(None)` clears the column; `None` leaves it).
        trait BindNullable<'q>: Sized {
            fn bind_nullable<V>(self, field: Option<Option<V>>) -> Self
            where
                V: 'q + Send + sqlx::Encode<'q, Db> + sqlx::Type<Db>;
        }

        impl<'q, T> BindNullable<'q> for QueryAs<'q, T> {
            fn bind_nullable<V>(self, field: Option<Option<V>>) -> Self
            where
                V: 'q + Send + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
            {
                self.bind(field.is_some()).bind(field.flatten())
            }
        }

        /// Runs a write to a claimed job, fenced by its claim (`attempts = … AND status = 'RUNNING'`);
        /// when it touches no row, the claim expired and another worker holds the job now.
        async fn execute_fenced(tx: &mut Tx, query: Query<'_>) -> StoreResult<()> {
            if query.execute(&mut **tx).await?.rows_affected() == 0 {
                return Err(StoreError::rule(
                    "claim_lost",
                    "job",
                    "the job's claim expired and another worker took it",
                ));
            }
            Ok(())
        }

        /// Queues the `kind` job of `meeting`, or queues it again from scratch.
        async fn queue_job(
            tx: &mut Tx,
            tenant: Uuid,
            kind: &str,
            meeting: Uuid,
            now: DateTime<Utc>,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, meeting_id, status, attempts, run_after, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, 'QUEUED', 0, $5, $5, $5) \
                 ON CONFLICT (kind, meeting_id) DO UPDATE SET status = 'QUEUED', attempts = 0, \
                 run_after = excluded.run_after, locked_until = NULL, last_error = NULL, \
                 updated_at = excluded.updated_at",
            )
            .bind(Uuid::new_v4())
            .bind(tenant)
            .bind(kind)
            .bind(meeting)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// A new version of a meeting's transcript: the one `session` (of that meeting) makes.
        async fn insert_version(
            tx: &mut Tx,
            session: &RealtimeSession,
            source: $crate::domain::TranscriptSource,
            model: Option<&str>,
            language: Option<&str>,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, model, language, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(session.id)
            .bind(session.tenant_id)
            .bind(session.meeting_id)
            .bind(source)
            .bind(model)
            .bind(language)
            .bind(session.started_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Deletes the unfinished transcription of a recording: its session (finals by cascade) and
        /// its version, when the session is a recording's and still ACTIVE.
        async fn delete_unfinished_transcription(tx: &mut Tx, tenant: Uuid, session: Uuid) -> StoreResult<()> {
            let deleted = sqlx::query(
                "DELETE FROM realtime_sessions WHERE tenant_id = $1 AND id = $2 AND status = 'ACTIVE' \
                 AND source = 'RECORDING'",
            )
            .bind(tenant)
            .bind(session)
            .execute(&mut **tx)
            .await?;
            if deleted.rows_affected() > 0 {
                sqlx::query(
                    "DELETE FROM transcript_versions WHERE tenant_id = $1 AND id = $2 AND completed_at IS NULL",
                )
                .bind(tenant)
                .bind(session)
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        async fn succeed_job(tx: &mut Tx, job: &Job, now: DateTime<Utc>) -> StoreResult<()> {
            let query = sqlx::query(
                "UPDATE jobs SET status = 'SUCCEEDED', locked_until = NULL, last_error = NULL, updated_at = $4 \
                 WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND status = 'RUNNING'",
            )
            .bind(job.tenant_id)
            .bind(job.id)
            .bind(job.attempts)
            .bind(now);
            execute_fenced(tx, query).await
        }

        // Table names below are literals of this file, never input: formatting them is safe.

        /// The row of `tenant` with this id, whatever its state; NotFound when there is none.
        async fn tenant_row<T: DbRow>(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
            let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2");
            Ok(sqlx::query_as(&sql).bind(tenant).bind(id).fetch_one(&mut **tx).await?)
        }

        /// The live (not soft-deleted) row of `tenant` with this id; NotFound otherwise. With
        /// `"users"`, `"meetings"` and `"tasks"`, the only tables with soft delete.
        async fn live_row<T: DbRow>(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
            let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL");
            Ok(sqlx::query_as(&sql).bind(tenant).bind(id).fetch_one(&mut **tx).await?)
        }

        /// A row of a tenant by id, read, soft-deleted, restored or deleted in a transaction of its
        /// own: the `get_*`, `soft_delete_*`, `restore_*` and `*delete_*` methods of the aggregates.
        impl $store {
            async fn get_tenant_row<T: DbRow>(&self, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
                let mut tx = self.read_tx(tenant).await?;
                let row = tenant_row(&mut tx, table, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_live_row<T: DbRow>(&self, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
                let mut tx = self.read_tx(tenant).await?;
                let row = live_row(&mut tx, table, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn soft_delete_row(&self, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                soft_delete(&mut tx, table, tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn restore_row<T: DbRow>(&self, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = restore(&mut tx, table, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn hard_delete_row(&self, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                delete_row(&mut tx, table, tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }
        }

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
        async fn restore<T: DbRow>(tx: &mut Tx, table: &'static str, tenant: Uuid, id: Uuid) -> StoreResult<T> {
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
            live_row::<Meeting>(tx, "meetings", tenant, id)
                .await
                .map_err(|e| e.missing_is_rule("meeting_not_found", "meeting_id", "no such meeting in this tenant"))?;
            Ok(())
        }

        /// D-098/D-110: the assignee must be a live user of this tenant.
        async fn require_assignee(tx: &mut Tx, tenant: Uuid, assignee: Option<Uuid>) -> StoreResult<()> {
            let Some(id) = assignee else { return Ok(()) };
            live_row::<User>(tx, "users", tenant, id).await.map_err(|e| {
                e.missing_is_rule(
                    "assignee_not_in_tenant",
                    "assignee_id",
                    "the assignee must be an active user of this tenant",
                )
            })?;
            Ok(())
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
