//! `/v1/notifications`: the caller's own notifications.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, Principal};
use crate::domain::Notification;

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    #[serde(default)]
    pub unread: bool,
}

#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, body = Vec<Notification>), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(state.store.list_notifications(who.tenant_id, who.user_id, q.unread).await?))
}

#[utoipa::path(post, path = "/v1/notifications/{id}/read", tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 200, body = Notification), (status = "4XX", body = Problem)))]
pub async fn mark_read(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Notification>> {
    Ok(Json(state.store.mark_notification_read(who.tenant_id, who.user_id, id).await?))
}
