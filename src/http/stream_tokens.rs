//! `POST /v1/stream-tokens`: a backend holding an API key mints a short-lived token that a
//! browser page uses to open a live stream (or watch captions) without ever seeing the key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, Principal};
use crate::auth::{StreamClaims, StreamScope};
use crate::domain::now;

pub const DEFAULT_TTL_SECONDS: i64 = 300;
pub const MAX_TTL_SECONDS: i64 = 3600;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStreamToken {
    /// `stream` (default) opens a session; `view` watches captions (`web` is refused here).
    pub scope: Option<StreamScope>,
    /// For `view`: the session to watch.
    pub session_id: Option<Uuid>,
    /// 30..=3600, default 300.
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamToken {
    pub token: String,
    pub scope: StreamScope,
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/stream-tokens", tag = "auth", request_body = CreateStreamToken,
    responses((status = 201, body = StreamToken), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateStreamToken>,
) -> ApiResult<(StatusCode, Json<StreamToken>)> {
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(30..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::field("ttl_seconds", "out_of_range", format!("must be 30..={MAX_TTL_SECONDS}")));
    }
    let scope = body.scope.unwrap_or(StreamScope::Stream);
    if scope == StreamScope::Web {
        return Err(ApiError::field("scope", "invalid", "web sessions come from POST /v1/web-session"));
    }
    if let Some(session) = body.session_id {
        state.store.get_realtime_session(who.tenant_id, session).await.map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::field("session_id", "not_found", "no such session"),
            other => other.into(),
        })?;
    }
    let expires_at = now() + Duration::seconds(ttl);
    let claims = StreamClaims {
        tenant_id: who.tenant_id,
        user_id: who.user_id,
        scope,
        session_id: body.session_id,
        // Sessions opened with the token count against this key's quota.
        key_prefix: Some(who.key_prefix.clone()),
        exp: expires_at.timestamp(),
    };
    Ok((StatusCode::CREATED, Json(StreamToken { token: state.signer.sign(&claims), scope, expires_at })))
}
