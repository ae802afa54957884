//! `/v1/api-keys`: mint (shown once), list, revoke. Members manage their own keys; ADMINs any
//! key of the tenant.

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
use crate::model::{ApiKey, Role};
use crate::store::NewApiKey;
use crate::validate::Validator;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Defaults to the caller; another user's key requires ADMIN.
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
    }
    let mut v = Validator::new();
    v.text("name", &body.name, 100);
    v.finish().map_err(ApiError::Validation)?;
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
    if !who.role.at_least(Role::Admin) {
        let own = state.store.list_api_keys(who.tenant_id, Some(who.user_id)).await?;
        if !own.iter().any(|k| k.id == id) {
            return Err(ApiError::NotFound);
        }
    }
    Ok(Json(state.store.revoke_api_key(who.tenant_id, id).await?))
}
