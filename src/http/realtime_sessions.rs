//! `/v1/realtime-sessions`: the live streams of the tenant, read-only (sessions are opened and
//! ended by the WebSocket endpoint).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, Principal};
use crate::domain::{RealtimeSession, SessionStatus};

#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionListQuery {
    pub status: Option<SessionStatus>,
}

#[utoipa::path(get, path = "/v1/realtime-sessions", tag = "realtime-sessions", params(SessionListQuery),
    responses((status = 200, body = Vec<RealtimeSession>), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<SessionListQuery>,
) -> ApiResult<Json<Vec<RealtimeSession>>> {
    Ok(Json(state.store.list_realtime_sessions(who.tenant_id, q.status).await?))
}

#[utoipa::path(get, path = "/v1/realtime-sessions/{id}", tag = "realtime-sessions", params(("id" = Uuid, Path)),
    responses((status = 200, body = RealtimeSession), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RealtimeSession>> {
    Ok(Json(state.store.get_realtime_session(who.tenant_id, id).await?))
}
