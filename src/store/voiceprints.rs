//! Enrolled voices: one sealed speaker embedding per user. The store keeps the sealed text
//! opaque; sealing and opening are `auth::VoiceprintCipher`'s. Deletes are physical (biometric
//! data), and a user's soft delete removes the voice too (`TenantStore::soft_delete_user`).

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::domain::{SealedVoiceprint, Voiceprint};

#[async_trait]
pub trait VoiceprintStore: Send + Sync + 'static {
    /// Enrolls (or replaces) the voice of a live user of the tenant.
    async fn put_voiceprint(
        &self,
        tenant: Uuid,
        user: Uuid,
        sealed: &str,
        model: &str,
        speech_ms: i32,
    ) -> StoreResult<Voiceprint>;
    /// `None` when the user has enrolled no voice.
    async fn get_voiceprint(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<Voiceprint>>;
    /// `NotFound` when there is none.
    async fn delete_voiceprint(&self, tenant: Uuid, user: Uuid) -> StoreResult<()>;
    /// The sealed voices of the tenant's live users computed with `model`.
    async fn list_sealed_voiceprints(&self, tenant: Uuid, model: &str) -> StoreResult<Vec<SealedVoiceprint>>;
}

macro_rules! impl_voiceprint_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::VoiceprintStore for $ty {
            async fn put_voiceprint(
                &self,
                tenant: Uuid,
                user: Uuid,
                sealed: &str,
                model: &str,
                speech_ms: i32,
            ) -> StoreResult<$crate::domain::Voiceprint> {
                let mut tx = self.tenant_tx(tenant).await?;
                live_row::<User>(&mut tx, "users", tenant, user).await?;
                let query = sqlx::query_as(
                    "INSERT INTO voiceprints (user_id, tenant_id, embedding, model, speech_ms, enrolled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET \
                     embedding = excluded.embedding, model = excluded.model, speech_ms = excluded.speech_ms, \
                     enrolled_at = excluded.enrolled_at RETURNING user_id, enrolled_at, speech_ms",
                )
                .bind(user)
                .bind(tenant)
                .bind(sealed)
                .bind(model)
                .bind(speech_ms)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn get_voiceprint(
                &self,
                tenant: Uuid,
                user: Uuid,
            ) -> StoreResult<Option<$crate::domain::Voiceprint>> {
                let mut tx = self.read_tx(tenant).await?;
                let found = sqlx::query_as(
                    "SELECT user_id, enrolled_at, speech_ms FROM voiceprints WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(found)
            }

            async fn delete_voiceprint(&self, tenant: Uuid, user: Uuid) -> StoreResult<()> {
                let mut tx = self.tenant_tx(tenant).await?;
                let deleted = sqlx::query("DELETE FROM voiceprints WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn list_sealed_voiceprints(
                &self,
                tenant: Uuid,
                model: &str,
            ) -> StoreResult<Vec<$crate::domain::SealedVoiceprint>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT v.user_id, u.name, v.embedding FROM voiceprints v \
                     JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.user_id \
                     WHERE v.tenant_id = $1 AND v.model = $2 AND u.deleted_at IS NULL ORDER BY v.user_id",
                )
                .bind(tenant)
                .bind(model);
                fetch_all_committed(tx, query).await
            }
        }
    };
}

pub(super) use impl_voiceprint_store;
