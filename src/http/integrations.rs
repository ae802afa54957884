//! `/v1/integrations`: Slack/Teams/Notion connections. The access token is encrypted before it
//! reaches the store and is never returned; responses say only whether one is set.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Principal};
use super::{AppState, double_option};
use crate::domain::{Integration, Role, ServiceType};
use crate::store::{IntegrationPatch, NewIntegration};
use crate::validate::Validator;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub service_type: ServiceType,
    pub access_token: String,
    /// Defaults to true.
    pub is_active: Option<bool>,
    /// Slack: the channel id (`C0123456789`) meeting summaries are posted to; without one they go
    /// to the meeting host's DM.
    pub channel: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub access_token: Option<String>,
    /// `false` disconnects: features that depend on it stop (D-104).
    pub is_active: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Option<String>>,
}

/// An integration as clients see it: no token.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    pub service_type: ServiceType,
    pub is_active: bool,
    pub has_access_token: bool,
    pub channel: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        Self {
            id: i.id,
            service_type: i.service_type,
            is_active: i.is_active,
            has_access_token: i.access_token.is_some(),
            channel: i.channel,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// D-116 "token validity": non-empty, bounded, and shaped like the service's tokens where they
/// have a known shape (Slack's start with `xox`).
fn check_token(v: &mut Validator, service: ServiceType, token: &str) {
    v.text("access_token", token, 4096);
    if service == ServiceType::Slack && !token.trim().is_empty() && !token.starts_with("xox") {
        v.fail("access_token", "invalid_token", "a Slack token starts with xoxb- or xoxp-");
    }
}

/// Slack channel ids are short ASCII (`C…`, `G…`, or a `#name`); the database checks the same.
fn check_channel(v: &mut Validator, channel: Option<&str>) {
    if let Some(c) = channel
        && (c.is_empty() || c.len() > 100 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || "_#-".contains(ch)))
    {
        v.fail("channel", "invalid_channel", "a channel id such as C0123456789 (letters, digits, _ # -)");
    }
}

#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationView>), (status = "4XX", body = Problem)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<IntegrationView>>> {
    let rows = state.store.list_integrations(who.tenant_id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = Uuid, Path)),
    responses((status = 200, body = IntegrationView), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<IntegrationView>> {
    Ok(Json(state.store.get_integration(who.tenant_id, id).await?.into()))
}

#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = CreateIntegration,
    responses((status = 201, body = IntegrationView), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> ApiResult<(StatusCode, Json<IntegrationView>)> {
    who.require(Role::Admin)?;
    let mut v = Validator::new();
    check_token(&mut v, body.service_type, &body.access_token);
    check_channel(&mut v, body.channel.as_deref());
    v.finish()?;
    let new = NewIntegration {
        service_type: body.service_type,
        access_token: Some(state.cipher.encrypt(body.access_token.trim())),
        is_active: body.is_active.unwrap_or(true),
        channel: body.channel,
    };
    let row = state.store.create_integration(who.tenant_id, new).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(patch, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = Uuid, Path)),
    request_body = UpdateIntegration, responses((status = 200, body = IntegrationView), (status = "4XX", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateIntegration>,
) -> ApiResult<Json<IntegrationView>> {
    who.require(Role::Admin)?;
    let current = state.store.get_integration(who.tenant_id, id).await?;
    let mut v = Validator::new();
    if let Some(token) = &body.access_token {
        check_token(&mut v, current.service_type, token);
    }
    check_channel(&mut v, body.channel.clone().flatten().as_deref());
    v.finish()?;
    let patch = IntegrationPatch {
        access_token: body.access_token.map(|t| Some(state.cipher.encrypt(t.trim()))),
        is_active: body.is_active,
        channel: body.channel,
    };
    Ok(Json(state.store.update_integration(who.tenant_id, id, patch).await?.into()))
}

#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    state.store.delete_integration(who.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
