//! Integrations (Slack): tokens arrive already encrypted.

use async_trait::async_trait;
use uuid::Uuid;

use super::*;

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub service_type: ServiceType,
    /// Already encrypted by the caller.
    pub access_token: Option<String>,
    pub is_active: bool,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    pub access_token: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub channel: Option<Option<String>>,
}

#[async_trait]
pub trait IntegrationStore: Send + Sync + 'static {
    async fn create_integration(&self, tenant: Uuid, integration: NewIntegration) -> StoreResult<Integration>;
    async fn get_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<Integration>;
    async fn list_integrations(&self, tenant: Uuid) -> StoreResult<Vec<Integration>>;
    async fn update_integration(&self, tenant: Uuid, id: Uuid, patch: IntegrationPatch) -> StoreResult<Integration>;
    /// Physical delete (decision D-123).
    async fn delete_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
}

macro_rules! impl_integration_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::IntegrationStore for $ty {
            async fn create_integration(&self, tenant: Uuid, new: NewIntegration) -> StoreResult<Integration> {
                let tx = self.tenant_tx(tenant).await?;
                let now = now();
                let query = sqlx::query_as(
                    "INSERT INTO integrations (id, tenant_id, service_type, access_token, is_active, channel, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $7, $6, $6) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(new.service_type)
                .bind(&new.access_token)
                .bind(new.is_active)
                .bind(now)
                .bind(&new.channel);
                fetch_one_committed(tx, query).await
            }

            async fn get_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<Integration> {
                self.get_tenant_row("integrations", tenant, id).await
            }

            async fn list_integrations(&self, tenant: Uuid) -> StoreResult<Vec<Integration>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as("SELECT * FROM integrations WHERE tenant_id = $1 ORDER BY service_type")
                    .bind(tenant);
                fetch_all_committed(tx, query).await
            }

            async fn update_integration(
                &self,
                tenant: Uuid,
                id: Uuid,
                patch: IntegrationPatch,
            ) -> StoreResult<Integration> {
                let tx = self.tenant_tx(tenant).await?;
                let query = sqlx::query_as(
                    "UPDATE integrations SET is_active = COALESCE($3, is_active), \
                     access_token = CASE WHEN $4 THEN $5 ELSE access_token END, updated_at = $6, \
                     channel = CASE WHEN $7 THEN $8 ELSE channel END \
                     WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(patch.is_active)
                .bind_nullable(patch.access_token)
                .bind(now())
                .bind_nullable(patch.channel);
                fetch_one_committed(tx, query).await
            }

            async fn delete_integration(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                self.hard_delete_row("integrations", tenant, id).await
            }
        }
    };
}

pub(super) use impl_integration_store;
