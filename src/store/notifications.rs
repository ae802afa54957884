//! Notifications of a user.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    async fn create_notification(
        &self,
        tenant: Uuid,
        user: Uuid,
        kind: &str,
        message: &str,
    ) -> StoreResult<Notification>;
    async fn list_notifications(&self, tenant: Uuid, user: Uuid, unread_only: bool) -> StoreResult<Vec<Notification>>;
    async fn mark_notification_read(&self, tenant: Uuid, user: Uuid, id: Uuid) -> StoreResult<Notification>;
}

macro_rules! impl_notification_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::NotificationStore for $ty {
            async fn create_notification(
                &self,
                tenant: Uuid,
                user: Uuid,
                kind: &str,
                message: &str,
            ) -> StoreResult<Notification> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<User>(&mut tx, "users", tenant, user).await?;
                let query = sqlx::query_as(
                    "INSERT INTO notifications (id, tenant_id, user_id, type, message, is_read, created_at) \
                     VALUES ($1, $2, $3, $4, $5, FALSE, $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(user)
                .bind(kind)
                .bind(message)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn list_notifications(
                &self,
                tenant: Uuid,
                user: Uuid,
                unread_only: bool,
            ) -> StoreResult<Vec<Notification>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM notifications WHERE tenant_id = $1 AND user_id = $2 \
                     AND (NOT $3 OR NOT is_read) ORDER BY created_at DESC, id DESC",
                )
                .bind(tenant)
                .bind(user)
                .bind(unread_only);
                fetch_all_committed(tx, query).await
            }

            async fn mark_notification_read(&self, tenant: Uuid, user: Uuid, id: Uuid) -> StoreResult<Notification> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE notifications SET is_read = TRUE WHERE tenant_id = $1 AND user_id = $2 AND id = $3 \
                     RETURNING *",
                )
                .bind(tenant)
                .bind(user)
                .bind(id);
                fetch_one_committed(tx, query).await
            }
        }
    };
}

pub(super) use impl_notification_store;
