//! Tenants, their users and their API keys. Tenant creation and API-key lookup are system
//! operations (no tenant is known yet); everything else acts inside one tenant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;

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
    pub default_model: Option<Option<String>>,
    pub glossary: Option<Vec<String>>,
    pub record_sessions: Option<bool>,
    /// 1..=3650 (checked by the caller and the database); `Some(None)` keeps recordings for ever.
    pub recording_retention_days: Option<Option<i32>>,
}

/// A partial update: `None` leaves a column as it is; `Some(None)` clears a nullable column.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub slack_user_id: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `None` for the key created with a tenant: it belongs to the new owner.
    pub user_id: Option<Uuid>,
    pub name: String,
    pub prefix: String,
    pub key_hash: Vec<u8>,
}

#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
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
    async fn create_user(&self, tenant: Uuid, user: NewUser) -> StoreResult<User>;
    async fn get_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User>;
    async fn list_users(&self, tenant: Uuid, deleted: bool) -> StoreResult<Vec<User>>;
    async fn update_user(&self, tenant: Uuid, id: Uuid, patch: UserPatch) -> StoreResult<User>;
    /// Soft delete; the user's unfinished tasks become unassigned (D-092, decision in docs) and
    /// their enrolled voice is deleted.
    async fn soft_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User>;
    /// Physical delete; refused while the user hosts meetings (D-074).
    async fn hard_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn create_api_key(&self, tenant: Uuid, key: NewApiKey) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, tenant: Uuid, user: Option<Uuid>) -> StoreResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, tenant: Uuid, id: Uuid) -> StoreResult<ApiKey>;
    /// System scope: finds a key by prefix with its live owner, for authentication.
    async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<(ApiKey, User)>;
    async fn touch_api_key(&self, tenant: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// A browser sign-in with `key`, valid until `expires_at`; returns its id. The tenant's
    /// expired sign-ins go at the same time.
    async fn create_web_session(
        &self,
        tenant: Uuid,
        user: Uuid,
        key: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Uuid>;
    /// System scope: whether the sign-in exists, has not ended and has not expired.
    async fn web_session_is_live(&self, id: Uuid) -> StoreResult<bool>;
    /// Signs out: the sign-in ends now (again: no change).
    async fn end_web_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
}

macro_rules! impl_tenant_store {
    ($ty:ty) => {
        impl $ty {
            /// A user, the OWNER a tenant is created with or one added later.
            async fn insert_user(
                tx: &mut Tx,
                tenant: Uuid,
                user: &NewUser,
                role: Role,
                now: DateTime<Utc>,
            ) -> StoreResult<User> {
                Ok(sqlx::query_as(
                    "INSERT INTO users (id, tenant_id, email, name, role, slack_user_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(&user.email)
                .bind(&user.name)
                .bind(role)
                .bind(&user.slack_user_id)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?)
            }

            /// An API key of `user`, the one a tenant is created with or one minted later.
            async fn insert_api_key(
                tx: &mut Tx,
                tenant: Uuid,
                user: Uuid,
                key: &NewApiKey,
                now: DateTime<Utc>,
            ) -> StoreResult<ApiKey> {
                Ok(sqlx::query_as(
                    "INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(user)
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.key_hash)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::TenantStore for $ty {
            async fn create_tenant(
                &self,
                name: &str,
                slug: &str,
                owner: NewUser,
                key: NewApiKey,
            ) -> StoreResult<(Tenant, User, ApiKey)> {
                let (id, now) = (Uuid::new_v4(), now());
                // The new tenant's own transaction: its rows are the only ones it writes.
                let mut tx = self.tenant_tx(id).await?;
                let tenant: Tenant = sqlx::query_as(
                    "INSERT INTO tenants (id, name, slug, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING *",
                )
                .bind(id)
                .bind(name)
                .bind(slug)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let user = Self::insert_user(&mut tx, tenant.id, &owner, Role::Owner, now).await?;
                let key = Self::insert_api_key(&mut tx, tenant.id, user.id, &key, now).await?;
                tx.commit().await?;
                Ok((tenant, user, key))
            }

            async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
                let tx = self.system_read_tx().await?;
                fetch_one_committed(tx, sqlx::query_as("SELECT * FROM tenants WHERE slug = $1").bind(slug)).await
            }

            async fn count_tenants(&self) -> StoreResult<i64> {
                let mut tx = self.system_read_tx().await?;
                let n = sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn get_tenant(&self, tenant: Uuid) -> StoreResult<Tenant> {
                let mut tx = self.read_tx(tenant).await?;
                let row =
                    sqlx::query_as("SELECT * FROM tenants WHERE id = $1").bind(tenant).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn update_tenant(&self, tenant: Uuid, patch: $crate::store::TenantPatch) -> StoreResult<Tenant> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE tenants SET name = COALESCE($2, name), \
                     default_language = CASE WHEN $3 THEN $4 ELSE default_language END, \
                     default_model = CASE WHEN $5 THEN $6 ELSE default_model END, updated_at = $7, \
                     glossary = COALESCE($8, glossary), record_sessions = COALESCE($9, record_sessions), \
                     recording_retention_days = CASE WHEN $10 THEN $11 ELSE recording_retention_days END \
                     WHERE id = $1 RETURNING *",
                )
                .bind(tenant)
                .bind(&patch.name)
                .bind_nullable(patch.default_language)
                .bind_nullable(patch.default_model)
                .bind(now())
                .bind(patch.glossary.map(sqlx::types::Json))
                .bind(patch.record_sessions)
                .bind_nullable(patch.recording_retention_days);
                fetch_one_committed(tx, query).await
            }

            async fn delete_tenant(&self, tenant: Uuid) -> StoreResult<()> {
                // Its rows go by cascade, which row-level security does not filter.
                let mut tx = self.tenant_tx(tenant).await?;
                let done = sqlx::query("DELETE FROM tenants WHERE id = $1").bind(tenant).execute(&mut *tx).await?;
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
                let row = Self::insert_user(&mut tx, tenant, &user, user.role, now()).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn get_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User> {
                self.get_live_row("users", tenant, id).await
            }

            async fn list_users(&self, tenant: Uuid, deleted: bool) -> StoreResult<Vec<User>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM users WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(deleted);
                fetch_all_committed(tx, query).await
            }

            async fn update_user(&self, tenant: Uuid, id: Uuid, patch: UserPatch) -> StoreResult<User> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE users SET name = COALESCE($3, name), role = COALESCE($4, role), \
                     slack_user_id = CASE WHEN $5 THEN $6 ELSE slack_user_id END, updated_at = $7 \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(&patch.name)
                .bind(patch.role)
                .bind_nullable(patch.slack_user_id)
                .bind(now());
                fetch_one_committed(tx, query).await
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
                // A voice is biometric data: it goes with the user, and a restore does not bring it back.
                sqlx::query("DELETE FROM voiceprints WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let query = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 \
                     AND revoked_at IS NULL",
                )
                .bind(tenant)
                .bind(id)
                .bind(now);
                execute_committed(tx, query).await
            }

            async fn restore_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<User> {
                self.restore_row("users", tenant, id).await
            }

            async fn hard_delete_user(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let hosted: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM meetings WHERE tenant_id = $1 AND host_id = $2")
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
                live_row::<User>(&mut tx, "users", tenant, user_id)
                    .await
                    .map_err(|e| e.missing_is_rule("user_not_found", "user_id", "no such user in this tenant"))?;
                let row = Self::insert_api_key(&mut tx, tenant, user_id, &key, now()).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn list_api_keys(&self, tenant: Uuid, user: Option<Uuid>) -> StoreResult<Vec<ApiKey>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM api_keys WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(user);
                fetch_all_committed(tx, query).await
            }

            async fn revoke_api_key(&self, tenant: Uuid, id: Uuid) -> StoreResult<ApiKey> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<(ApiKey, User)> {
                // The tenant is not known yet: the key names it.
                let mut tx = self.system_read_tx().await?;
                let key: ApiKey =
                    sqlx::query_as("SELECT * FROM api_keys WHERE prefix = $1").bind(prefix).fetch_one(&mut *tx).await?;
                let user: User =
                    sqlx::query_as("SELECT * FROM users WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL")
                        .bind(key.user_id)
                        .bind(key.tenant_id)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok((key, user))
            }

            async fn touch_api_key(&self, tenant: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .bind(at);
                execute_committed(tx, query).await
            }

            async fn create_web_session(
                &self,
                tenant: Uuid,
                user: Uuid,
                key: Uuid,
                expires_at: DateTime<Utc>,
            ) -> StoreResult<Uuid> {
                let mut tx = self.tenant_tx(tenant).await?;
                let (id, now) = (Uuid::new_v4(), now());
                sqlx::query("DELETE FROM web_sessions WHERE tenant_id = $1 AND expires_at < $2")
                    .bind(tenant)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let query = sqlx::query(
                    "INSERT INTO web_sessions (id, tenant_id, user_id, api_key_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(tenant)
                .bind(user)
                .bind(key)
                .bind(now)
                .bind(expires_at);
                execute_committed(tx, query).await?;
                Ok(id)
            }

            async fn web_session_is_live(&self, id: Uuid) -> StoreResult<bool> {
                let mut tx = self.system_read_tx().await?;
                let live: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM web_sessions WHERE id = $1 AND ended_at IS NULL AND expires_at > $2",
                )
                .bind(id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(live > 0)
            }

            async fn end_web_session(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query(
                    "UPDATE web_sessions SET ended_at = COALESCE(ended_at, $3) WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(now());
                execute_committed(tx, query).await
            }
        }
    };
}

pub(super) use impl_tenant_store;
