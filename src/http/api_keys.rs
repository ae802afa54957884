//! `/v1/api-keys`: mint (shown once), list, revoke. Members manage their own keys; an ADMIN or
//! OWNER manages the keys of users whose role is not above its own (a key acts as its user, so
//! minting one for a higher role would be a privilege escalation).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Principal};
use crate::auth::ApiKeySecret;
use crate::domain::{ApiKey, Role};
use crate::store::NewApiKey;
use crate::validate::Validator;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Defaults to the caller; another user's key requires ADMIN and a role at least the user's.
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The key itself. It is not stored and cannot be shown again.
    pub secret: String,
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKey>), (status = "4XX", body = Problem)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<ApiKey>>> {
    let only = (!who.role.at_least(Role::Admin)).then_some(who.user_id);
    Ok(Json(state.store.list_api_keys(who.tenant_id, only).await?))
}

#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let user_id = body.user_id.unwrap_or(who.user_id);
    if user_id != who.user_id {
        who.require(Role::Admin)?;
        let target = state.store.get_user(who.tenant_id, user_id).await?;
        require_outranks(&who, target.role)?;
    }
    let mut v = Validator::new();
    v.text("name", &body.name, 100);
    v.finish()?;
    let secret = ApiKeySecret::generate();
    let new = NewApiKey {
        user_id: Some(user_id),
        name: body.name.trim().to_owned(),
        prefix: secret.prefix.clone(),
        key_hash: secret.hash(),
    };
    let api_key = state.store.create_api_key(who.tenant_id, new).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { api_key, secret: secret.full })))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKey), (status = "4XX", body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKey>> {
    let only = (!who.role.at_least(Role::Admin)).then_some(who.user_id);
    let key = state.store.list_api_keys(who.tenant_id, only).await?.into_iter().find(|k| k.id == id);
    let key = key.ok_or(ApiError::NotFound)?;
    if key.user_id != who.user_id {
        let holder = state.store.get_user(who.tenant_id, key.user_id).await?;
        require_outranks(&who, holder.role)?;
    }
    Ok(Json(state.store.revoke_api_key(who.tenant_id, id).await?))
}

/// Another user's keys are managed only by a caller whose role is at least that user's.
fn require_outranks(who: &Principal, target: Role) -> ApiResult<()> {
    if who.role.at_least(target) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only a user with at least that user's role may manage its keys"))
    }
}
