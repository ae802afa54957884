//! The SQL both backends share. `impl_store!` writes the whole [`Store`](super::Store)
//! implementation for a backend type, which must provide:
//! - `pool: sqlx::Pool<DB>`
//! - `async fn tenant_tx(&self, tenant: Uuid) -> StoreResult<Transaction<'static, DB>>`: a
//!   transaction in which only `tenant`'s rows are visible (RLS in PostgreSQL);
//! - `async fn system_tx(&self) -> StoreResult<Transaction<'static, DB>>`: a transaction for the
//!   few cross-tenant operations;
//! - `const QUARANTINE_TABLE: &str`, `const BACKEND: &str` and `const CLAIM_LOCK: &str` (the
//!   row-lock clause of a job claim).
//!
//! Parameters are `$n` in both dialects. Timestamps are always bound by the application
//! (`model::now()`), never taken from the database clock, so both backends store the same shape;
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

/// A meeting's transcript as assembled from its session's finals.
pub(crate) struct AssembledTranscript {
    /// One line per final.
    pub text: String,
    /// `[{seq, speaker, start, end, text, words}]`, seconds.
    pub segments: serde_json::Value,
    /// `[{speaker, label, total_seconds, first_seen}]` for finals that carry a speaker.
    pub speaker_labels: serde_json::Value,
    pub last_end_ms: i32,
}

pub(crate) fn assemble_transcript(finals: &[crate::model::TranscriptFinal]) -> AssembledTranscript {
    use serde_json::json;
    let secs = |ms: i32| ms as f64 / 1000.0;
    let mut speakers: std::collections::BTreeMap<i32, (f64, f64)> = Default::default();
    for f in finals {
        if let Some(s) = f.speaker {
            let entry = speakers.entry(s).or_insert((0.0, secs(f.start_ms)));
            entry.0 += secs(f.end_ms - f.start_ms);
        }
    }
    AssembledTranscript {
        text: finals.iter().map(|f| f.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n"),
        segments: finals
            .iter()
            .map(|f| {
                json!({"seq": f.seq, "speaker": f.speaker, "start": secs(f.start_ms), "end": secs(f.end_ms),
                       "text": f.text, "words": f.words.0})
            })
            .collect(),
        speaker_labels: speakers
            .iter()
            .map(|(s, (total, first))| {
                json!({"speaker": s, "label": format!("Speaker {}", s + 1),
                       "total_seconds": (total * 100.0).round() / 100.0, "first_seen": first})
            })
            .collect(),
        last_end_ms: finals.iter().map(|f| f.end_ms).max().unwrap_or(0),
    }
}

macro_rules! impl_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn verify(&self) -> StoreResult<VerifyReport> {
                let mut report = VerifyReport::default();
                let mut tables: Vec<&str> = REFERENCES.iter().map(|r| r.0).collect();
                tables.insert(0, "tenants");
                tables.dedup();
                for table in tables {
                    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                        .fetch_one(&self.pool)
                        .await?;
                    report.row_counts.push((table.to_owned(), n));
                }
                // References: held by foreign keys, but a restore, a manual edit or (SQLite) a
                // writer with foreign keys off can break them.
                for (table, column, parent) in REFERENCES {
                    let orphans: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM {table} c WHERE c.{column} IS NOT NULL \
                         AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
                    ))
                    .fetch_one(&self.pool)
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
                    let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
                    if n > 0 {
                        report.problems.push(format!("{n} {what}"));
                    }
                }
                report.problems.extend(self.storage_problems().await?);
                Ok(report)
            }

            async fn create_tenant(
                &self,
                name: &str,
                slug: &str,
                owner: NewUser,
                key: NewApiKey,
            ) -> StoreResult<(Tenant, User, ApiKey)> {
                let now = now();
                let mut tx = self.system_tx().await?;
                let tenant: Tenant = sqlx::query_as(
                    "INSERT INTO tenants (id, name, slug, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(name)
                .bind(slug)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let user: User = sqlx::query_as(INSERT_USER)
                    .bind(Uuid::new_v4())
                    .bind(tenant.id)
                    .bind(&owner.email)
                    .bind(&owner.name)
                    .bind(Role::Owner)
                    .bind(&owner.slack_user_id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let key: ApiKey = sqlx::query_as(INSERT_API_KEY)
                    .bind(Uuid::new_v4())
                    .bind(tenant.id)
                    .bind(user.id)
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&key.key_hash)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((tenant, user, key))
            }

            async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
                Ok(sqlx::query_as("SELECT * FROM tenants WHERE slug = $1")
                    .bind(slug)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn count_tenants(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(&self.pool).await?)
            }

            async fn get_tenant(&self, tenant: Uuid) -> StoreResult<Tenant> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
                    .bind(tenant)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn update_tenant(&self, tenant: Uuid, patch: $crate::store::TenantPatch) -> StoreResult<Tenant> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE tenants SET name = COALESCE($2, name), \
                     default_language = CASE WHEN $3 THEN $4 ELSE default_language END, updated_at = $5 \
                     WHERE id = $1 RETURNING *",
                )
                .bind(tenant)
                .bind(&patch.name)
                .bind(patch.default_language.is_some())
                .bind(patch.default_language.flatten())
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn delete_tenant(&self, tenant: Uuid) -> StoreResult<()> {
                let mut tx = self.system_tx().await?;
                let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_user(&self, tenant: Uuid, user: NewUser) -> StoreResult<User> {
                let mut tx = self.tenant_tx(tenant).await?;
                // D-106: look the email up first, so the common case gets a clean answer; the
                // partial unique index still decides races.
                let taken: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND lower(email) = lower($2) \
                     AND deleted_at IS NULL",
                )
                .bind(tenant)
                .bind(&user.email)
                .fetch_one(&mut *tx)
                .await?;
                if taken > 0 {
                    return Err(StoreError::Constraint("uq_users_tenant_email".into()));
                }
                let row = sqlx::query_as(INSERT_USER)
                    .bind(Uuid::new_v4())
                    .bind(tenant)
                    .bind(&user.email)
                    .bind(&user.name)
                    .bind(user.role)
                    .bind(&user.slack_user_id)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = live_user(&mut tx, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_users(&self, tenant: Uuid, deleted: bool) -> StoreResult<Vec<User>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM users WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(deleted)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn update_user(&self, tenant: Uuid, id: Uuid, patch: UserPatch) -> StoreResult<User> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE users SET name = COALESCE($3, name), role = COALESCE($4, role), \
                     slack_user_id = CASE WHEN $5 THEN $6 ELSE slack_user_id END, updated_at = $7 \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(&patch.name)
                .bind(patch.role)
                .bind(patch.slack_user_id.is_some())
                .bind(patch.slack_user_id.flatten())
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn soft_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                soft_delete(&mut tx, "users", tenant, id).await?;
                // Open work of a departed user goes back to the pool; finished tasks keep their
                // assignee for the record (D-092 with D-118).
                sqlx::query(
                    "UPDATE tasks SET assignee_id = NULL WHERE tenant_id = $1 AND assignee_id = $2 \
                     AND status <> 'DONE'",
                )
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 \
                     AND revoked_at IS NULL",
                )
                .bind(tenant)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn restore_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = restore(&mut tx, "users", tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn hard_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let hosted: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM meetings WHERE tenant_id = $1 AND host_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if hosted > 0 {
                    return Err(StoreError::Constraint("fk_meetings_users_host".into()));
                }
                delete_row(&mut tx, "users", tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_api_key(&self, tenant: Uuid, key: NewApiKey) -> StoreResult<ApiKey> {
                let mut tx = self.tenant_tx(tenant).await?;
                let user_id = key.user_id.ok_or(StoreError::rule(
                    "user_not_found",
                    "user_id",
                    "an API key must belong to a user",
                ))?;
                live_user(&mut tx, tenant, user_id).await.map_err(|e| match e {
                    StoreError::NotFound => {
                        StoreError::rule("user_not_found", "user_id", "no such user in this tenant")
                    }
                    other => other,
                })?;
                let row = sqlx::query_as(INSERT_API_KEY)
                    .bind(Uuid::new_v4())
                    .bind(tenant)
                    .bind(user_id)
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&key.key_hash)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_api_keys(&self, tenant: Uuid, user: Option<Uuid>) -> StoreResult<Vec<ApiKey>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM api_keys WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn revoke_api_key(&self, tenant: Uuid, id: Uuid) -> StoreResult<ApiKey> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<(ApiKey, User)> {
                let key: ApiKey = sqlx::query_as("SELECT * FROM api_keys WHERE prefix = $1")
                    .bind(prefix)
                    .fetch_one(&self.pool)
                    .await?;
                let user: User = sqlx::query_as(
                    "SELECT * FROM users WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL",
                )
                .bind(key.user_id)
                .bind(key.tenant_id)
                .fetch_one(&self.pool)
                .await?;
                Ok((key, user))
            }

            async fn touch_api_key(&self, tenant: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_meeting(&self, tenant: Uuid, meeting: NewMeeting) -> StoreResult<Meeting> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                live_user(&mut tx, tenant, meeting.host_id).await.map_err(|e| match e {
                    StoreError::NotFound => {
                        StoreError::rule("host_not_found", "host_id", "the host is not a user of this tenant")
                    }
                    other => other,
                })?;
                let row = sqlx::query_as(
                    "INSERT INTO meetings (id, tenant_id, title, host_id, audio_file_url, audio_duration, \
                     stt_status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(&meeting.title)
                .bind(meeting.host_id)
                .bind(&meeting.audio_file_url)
                .bind(meeting.audio_duration)
                .bind(meeting.stt_status)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                add_usage(&mut tx, tenant, now.date_naive(), 1, 0, 0).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = live_meeting(&mut tx, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_meetings(
                &self,
                tenant: Uuid,
                filter: &MeetingFilter,
                after: Option<Cursor>,
                limit: u32,
            ) -> StoreResult<Page<Meeting>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows: Vec<Meeting> = sqlx::query_as(
                    "SELECT * FROM meetings WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     AND ($3 IS NULL OR stt_status = $3) AND ($4 IS NULL OR host_id = $4) \
                     AND ($5 IS NULL OR lower(title) LIKE $5 ESCAPE '\\') \
                     AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7) \
                     AND ($8 IS NULL OR (created_at, id) < ($8, $9)) \
                     ORDER BY created_at DESC, id DESC LIMIT $10",
                )
                .bind(tenant)
                .bind(filter.deleted)
                .bind(filter.stt_status)
                .bind(filter.host_id)
                .bind(filter.title_contains.as_deref().map(like_pattern))
                .bind(filter.created_from)
                .bind(filter.created_to)
                .bind(after.map(|c| c.created_at))
                .bind(after.map(|c| c.id))
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(page(rows, limit, |m| Cursor { created_at: m.created_at, id: m.id }))
            }

            async fn update_meeting(&self, tenant: Uuid, id: Uuid, patch: MeetingPatch) -> StoreResult<Meeting> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE meetings SET title = COALESCE($3, title), updated_at = $4 \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(&patch.title)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn soft_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                soft_delete(&mut tx, "meetings", tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn restore_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<Meeting> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = restore(&mut tx, "meetings", tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn hard_delete_meeting(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                delete_row(&mut tx, "meetings", tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_task(&self, tenant: Uuid, task: NewTask) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                ai_task_rule(task.is_ai_generated, task.meeting_id)?;
                require_meeting(&mut tx, tenant, task.meeting_id).await?;
                require_assignee(&mut tx, tenant, task.assignee_id).await?;
                let now = now();
                let row = sqlx::query_as(
                    "INSERT INTO tasks (id, tenant_id, meeting_id, title, description, status, assignee_id, \
                     due_date, is_ai_generated, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(task.meeting_id)
                .bind(&task.title)
                .bind(&task.description)
                .bind(task.status)
                .bind(task.assignee_id)
                .bind(task.due_date)
                .bind(task.is_ai_generated)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = live_task(&mut tx, tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_tasks(
                &self,
                tenant: Uuid,
                filter: &TaskFilter,
                after: Option<Cursor>,
                limit: u32,
            ) -> StoreResult<Page<Task>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows: Vec<Task> = sqlx::query_as(
                    "SELECT * FROM tasks WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR assignee_id = $4) \
                     AND ($5 IS NULL OR meeting_id = $5) \
                     AND ($6 IS NULL OR (created_at, id) < ($6, $7)) \
                     ORDER BY created_at DESC, id DESC LIMIT $8",
                )
                .bind(tenant)
                .bind(filter.deleted)
                .bind(filter.status)
                .bind(filter.assignee_id)
                .bind(filter.meeting_id)
                .bind(after.map(|c| c.created_at))
                .bind(after.map(|c| c.id))
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(page(rows, limit, |t| Cursor { created_at: t.created_at, id: t.id }))
            }

            async fn update_task(&self, tenant: Uuid, id: Uuid, patch: TaskPatch) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                let current = live_task(&mut tx, tenant, id).await?;
                let status = patch.status.unwrap_or(current.status);
                if !current.status.can_become(status) {
                    return Err(StoreError::rule(
                        "invalid_status_transition",
                        "status",
                        "this status change is not allowed (a DONE task is reopened as TODO)",
                    ));
                }
                let meeting_id = patch.meeting_id.unwrap_or(current.meeting_id);
                let assignee_id = patch.assignee_id.unwrap_or(current.assignee_id);
                ai_task_rule(current.is_ai_generated, meeting_id)?;
                // Only links that change are checked: a task may keep pointing at a meeting or an
                // assignee that was soft-deleted after it was linked (D-112).
                if meeting_id != current.meeting_id {
                    require_meeting(&mut tx, tenant, meeting_id).await?;
                }
                if assignee_id != current.assignee_id {
                    require_assignee(&mut tx, tenant, assignee_id).await?;
                }
                let row = sqlx::query_as(
                    "UPDATE tasks SET title = $3, description = $4, status = $5, assignee_id = $6, \
                     due_date = $7, meeting_id = $8, updated_at = $9 WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(patch.title.as_ref().unwrap_or(&current.title))
                .bind(patch.description.unwrap_or(current.description))
                .bind(status)
                .bind(assignee_id)
                .bind(patch.due_date.unwrap_or(current.due_date))
                .bind(meeting_id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn soft_delete_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                soft_delete(&mut tx, "tasks", tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn restore_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = restore(&mut tx, "tasks", tenant, id).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn create_realtime_session(
                &self,
                tenant: Uuid,
                host_id: Uuid,
                meeting_id: Option<Uuid>,
                socket_id: &str,
            ) -> StoreResult<RealtimeSession> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_user(&mut tx, tenant, host_id).await?;
                if let Some(meeting) = meeting_id {
                    live_meeting(&mut tx, tenant, meeting).await?;
                }
                let row = sqlx::query_as(
                    "INSERT INTO realtime_sessions (id, tenant_id, meeting_id, host_id, socket_id, status, started_at) \
                     VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(meeting_id)
                .bind(host_id)
                .bind(socket_id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn end_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession> {
                let mut tx = self.tenant_tx(tenant).await?;
                // Ending twice is harmless: the first end time stays.
                let row = sqlx::query_as(
                    "UPDATE realtime_sessions SET status = 'ENDED', ended_at = COALESCE(ended_at, $3) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_realtime_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<RealtimeSession> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as("SELECT * FROM realtime_sessions WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_realtime_sessions(
                &self,
                tenant: Uuid,
                status: Option<SessionStatus>,
            ) -> StoreResult<Vec<RealtimeSession>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM realtime_sessions WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
                     ORDER BY started_at DESC, id DESC",
                )
                .bind(tenant)
                .bind(status)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn start_live_session(
                &self,
                tenant: Uuid,
                live: NewLiveSession,
            ) -> StoreResult<(RealtimeSession, Meeting)> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                live_user(&mut tx, tenant, live.host_id).await?;
                let meeting: Meeting = sqlx::query_as(
                    "INSERT INTO meetings (id, tenant_id, title, host_id, stt_status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'PROCESSING', $5, $5) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(&live.title)
                .bind(live.host_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                add_usage(&mut tx, tenant, now.date_naive(), 1, 0, 0).await?;
                let session = sqlx::query_as(
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
                tx.commit().await?;
                Ok((session, meeting))
            }

            async fn append_final(&self, tenant: Uuid, f: NewFinal) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                sqlx::query(
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
                .bind(now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_finals(&self, tenant: Uuid, session: Uuid) -> StoreResult<Vec<TranscriptFinal>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM transcript_finals WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq",
                )
                .bind(tenant)
                .bind(session)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
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

            async fn add_transcript_gaps(
                &self,
                tenant: Uuid,
                meeting: Uuid,
                gaps: &[crate::model::TranscriptGap],
            ) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let stored: Option<sqlx::types::Json<Vec<crate::model::TranscriptGap>>> =
                    sqlx::query_scalar("SELECT transcript_gaps FROM meetings WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_one(&mut *tx)
                        .await?;
                let mut all = stored.map(|j| j.0).unwrap_or_default();
                all.extend_from_slice(gaps);
                sqlx::query("UPDATE meetings SET transcript_gaps = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(meeting)
                    .bind(sqlx::types::Json(&all))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn finalize_live_session(
                &self,
                tenant: Uuid,
                session: Uuid,
                audio_seconds: Option<f64>,
            ) -> StoreResult<Meeting> {
                let now = now();
                let mut tx = self.tenant_tx(tenant).await?;
                let row: RealtimeSession =
                    sqlx::query_as("SELECT * FROM realtime_sessions WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant)
                        .bind(session)
                        .fetch_one(&mut *tx)
                        .await?;
                let meeting_id = row.meeting_id.ok_or(StoreError::NotFound)?;
                if row.status == SessionStatus::Active {
                    let finals: Vec<TranscriptFinal> = sqlx::query_as(
                        "SELECT * FROM transcript_finals WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq",
                    )
                    .bind(tenant)
                    .bind(session)
                    .fetch_all(&mut *tx)
                    .await?;
                    let transcript = $crate::store::common::assemble_transcript(&finals);
                    let seconds = audio_seconds.unwrap_or(transcript.last_end_ms as f64 / 1000.0);
                    let duration = Some(seconds.ceil() as i32).filter(|&d| d > 0);
                    sqlx::query(
                        "UPDATE meetings SET transcript_text = $3, transcript_segments = $4, speaker_labels = $5, \
                         audio_duration = $6, stt_status = 'COMPLETED', updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant)
                    .bind(meeting_id)
                    .bind(&transcript.text)
                    .bind(sqlx::types::Json(&transcript.segments))
                    .bind(sqlx::types::Json(&transcript.speaker_labels))
                    .bind(duration)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE realtime_sessions SET status = 'ENDED', ended_at = $3 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant)
                    .bind(session)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if !transcript.text.is_empty() {
                        sqlx::query(
                            "INSERT INTO jobs (id, tenant_id, kind, meeting_id, status, attempts, run_after, \
                             created_at, updated_at) VALUES ($1, $2, $3, $4, 'QUEUED', 0, $5, $5, $5) \
                             ON CONFLICT (kind, meeting_id) DO NOTHING",
                        )
                        .bind(Uuid::new_v4())
                        .bind(tenant)
                        .bind(Job::MEETING_INTELLIGENCE)
                        .bind(meeting_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let meeting = sqlx::query_as("SELECT * FROM meetings WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(meeting_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(meeting)
            }

            async fn orphaned_sessions(&self, server_instance: &str) -> StoreResult<Vec<RealtimeSession>> {
                let mut tx = self.system_tx().await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM realtime_sessions WHERE status = 'ACTIVE' AND server_instance = $1 \
                     ORDER BY started_at, id",
                )
                .bind(server_instance)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn list_jobs(&self, tenant: Uuid, meeting: Uuid) -> StoreResult<Vec<Job>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows =
                    sqlx::query_as("SELECT * FROM jobs WHERE tenant_id = $1 AND meeting_id = $2 ORDER BY created_at, id")
                        .bind(tenant)
                        .bind(meeting)
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn claim_job(&self, kind: &str, lease: chrono::Duration) -> StoreResult<Option<Job>> {
                let now = now();
                let mut tx = self.system_tx().await?;
                let sql = format!(
                    "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, locked_until = $3, updated_at = $2 \
                     WHERE id = (SELECT id FROM jobs WHERE kind = $1 AND run_after <= $2 \
                     AND (status = 'QUEUED' OR (status = 'RUNNING' AND locked_until < $2)) \
                     ORDER BY run_after, id LIMIT 1 {}) RETURNING *",
                    Self::CLAIM_LOCK
                );
                let job = sqlx::query_as(&sql).bind(kind).bind(now).bind(now + lease).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok(job)
            }

            async fn renew_job(&self, job: &Job, lease: chrono::Duration) -> StoreResult<()> {
                let now = now();
                let mut tx = self.system_tx().await?;
                let done = sqlx::query(
                    "UPDATE jobs SET locked_until = $3, updated_at = $4 \
                     WHERE id = $1 AND attempts = $2 AND status = 'RUNNING'",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(now + lease)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                claim_held(done.rows_affected())?;
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
                let done = sqlx::query(&sql)
                    .bind(job.id)
                    .bind(job.attempts)
                    .bind(run_after)
                    .bind(attempts.max(0))
                    .bind(error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                claim_held(done.rows_affected())?;
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
                    "UPDATE meetings SET ai_summary = $3, ai_action_items = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(meeting_id)
                .bind(&result.summary)
                .bind(sqlx::types::Json(&result.action_items))
                .bind(now)
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
                            Some(id) => live_user(&mut tx, tenant, id).await.ok().map(|u| u.id),
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
                    let message = format!(
                        "{mine} action item{} from \"{}\" assigned to you",
                        if mine == 1 { "" } else { "s" },
                        meeting.title
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
                sqlx::query("UPDATE meetings SET slack_message_ts = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                    .bind(job.tenant_id)
                    .bind(job.meeting_id)
                    .bind(message_ts)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_integration(&self, tenant: Uuid, new: NewIntegration) -> StoreResult<Integration> {
                let mut tx = self.tenant_tx(tenant).await?;
                let now = now();
                let row = sqlx::query_as(
                    "INSERT INTO integrations (id, tenant_id, service_type, access_token, is_active, channel, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $7, $6, $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(new.service_type)
                .bind(&new.access_token)
                .bind(new.is_active)
                .bind(now)
                .bind(&new.channel)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<Integration> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as("SELECT * FROM integrations WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_integrations(&self, tenant: Uuid) -> StoreResult<Vec<Integration>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM integrations WHERE tenant_id = $1 ORDER BY service_type",
                )
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn update_integration(
                &self,
                tenant: Uuid,
                id: Uuid,
                patch: IntegrationPatch,
            ) -> StoreResult<Integration> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE integrations SET is_active = COALESCE($3, is_active), \
                     access_token = CASE WHEN $4 THEN $5 ELSE access_token END, updated_at = $6, \
                     channel = CASE WHEN $7 THEN $8 ELSE channel END \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(patch.is_active)
                .bind(patch.access_token.is_some())
                .bind(patch.access_token.flatten())
                .bind(now())
                .bind(patch.channel.is_some())
                .bind(patch.channel.flatten())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn delete_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                delete_row(&mut tx, "integrations", tenant, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_notification(
                &self,
                tenant: Uuid,
                user: Uuid,
                kind: &str,
                message: &str,
            ) -> StoreResult<Notification> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_user(&mut tx, tenant, user).await?;
                let row = sqlx::query_as(
                    "INSERT INTO notifications (id, tenant_id, user_id, type, message, is_read, created_at) \
                     VALUES ($1, $2, $3, $4, $5, FALSE, $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(user)
                .bind(kind)
                .bind(message)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_notifications(
                &self,
                tenant: Uuid,
                user: Uuid,
                unread_only: bool,
            ) -> StoreResult<Vec<Notification>> {
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM notifications WHERE tenant_id = $1 AND user_id = $2 \
                     AND (NOT $3 OR NOT is_read) ORDER BY created_at DESC, id DESC",
                )
                .bind(tenant)
                .bind(user)
                .bind(unread_only)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn mark_notification_read(
                &self,
                tenant: Uuid,
                user: Uuid,
                id: Uuid,
            ) -> StoreResult<Notification> {
                let mut tx = self.tenant_tx(tenant).await?;
                let row = sqlx::query_as(
                    "UPDATE notifications SET is_read = TRUE WHERE tenant_id = $1 AND user_id = $2 AND id = $3 \
                     RETURNING *",
                )
                .bind(tenant)
                .bind(user)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
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
                let mut tx = self.tenant_tx(tenant).await?;
                let rows = sqlx::query_as(
                    "SELECT date, meetings_count, audio_minutes, ai_requests FROM usage_stats \
                     WHERE tenant_id = $1 AND date >= $2 AND date <= $3 ORDER BY date",
                )
                .bind(tenant)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn tenant_totals(&self, tenant: Uuid) -> StoreResult<TenantTotals> {
                let mut tx = self.tenant_tx(tenant).await?;
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
                let mut tx = self.tenant_tx(tenant).await?;
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
                let [meetings_error, ai_error_log, integration_error_log, quarantine, ended_sessions] = counts;
                let report = PurgeReport { meetings_error, ai_error_log, integration_error_log, quarantine, ended_sessions };
                tx.commit().await?;
                Ok(report)
            }
        }

        const INSERT_USER: &str = "INSERT INTO users (id, tenant_id, email, name, role, slack_user_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *";
        const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *";

        type Tx = sqlx::Transaction<'static, Db>;

        /// A fenced write touched no row: another worker holds the job now.
        fn claim_held(rows: u64) -> StoreResult<()> {
            if rows == 0 {
                return Err(StoreError::rule("claim_lost", "job", "the job's claim expired and another worker took it"));
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

pub(crate) use impl_store;
