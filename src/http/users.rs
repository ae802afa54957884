//! `/v1/users` and `/v1/me`: the tenant's people, their roles, soft delete and restore.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Principal};
use super::{AppState, double_option};
use crate::domain::{Role, Tenant, User};
use crate::store::{NewUser, UserPatch};
use crate::validate::Validator;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    /// Defaults to MEMBER.
    pub role: Option<Role>,
    pub slack_user_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub name: Option<String>,
    pub role: Option<Role>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub slack_user_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserListQuery {
    /// List soft-deleted users instead (ADMIN).
    #[serde(default)]
    pub deleted: bool,
}

/// A user, and whether they have enrolled a voice (never the voice itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: User,
    pub has_voiceprint: bool,
    /// When the voice was enrolled; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voiceprint_enrolled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub tenant: Tenant,
}

#[utoipa::path(get, path = "/v1/me", tag = "users", responses((status = 200, body = Me), (status = "4XX", body = Problem)))]
pub async fn me(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Me>> {
    let user = state.store.get_user(who.tenant_id, who.user_id).await?;
    let tenant = state.store.get_tenant(who.tenant_id).await?;
    Ok(Json(Me { user, tenant }))
}

#[utoipa::path(get, path = "/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = Vec<User>), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> ApiResult<Json<Vec<User>>> {
    if q.deleted {
        who.require(Role::Admin)?;
    }
    Ok(Json(state.store.list_users(who.tenant_id, q.deleted).await?))
}

#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let role = body.role.unwrap_or(Role::Member);
    who.require(if role == Role::Owner { Role::Owner } else { Role::Admin })?;
    let email = body.email.trim().to_lowercase();
    let mut v = Validator::new();
    v.email("email", &email).text("name", &body.name, 100).opt_text("slack_user_id", body.slack_user_id.as_deref(), 50);
    v.finish()?;
    let user = state
        .store
        .create_user(
            who.tenant_id,
            NewUser { email, name: body.name.trim().to_owned(), role, slack_user_id: body.slack_user_id },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDetail), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserDetail>> {
    let user = state.store.get_user(who.tenant_id, id).await?;
    let voiceprint = state.store.get_voiceprint(who.tenant_id, id).await?;
    Ok(Json(UserDetail {
        user,
        has_voiceprint: voiceprint.is_some(),
        voiceprint_enrolled_at: voiceprint.map(|v| v.enrolled_at),
    }))
}

#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UpdateUser,
    responses((status = 200, body = User), (status = "4XX", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    let target = state.store.get_user(who.tenant_id, id).await?;
    if id != who.user_id {
        who.require(Role::Admin)?;
    }
    if let Some(role) = body.role.filter(|r| *r != target.role) {
        who.require(Role::Admin)?;
        if role == Role::Owner || target.role == Role::Owner {
            who.require(Role::Owner)?;
        }
        if target.role == Role::Owner {
            return Err(ApiError::Conflict {
                code: "owner_required",
                detail: "a tenant keeps its OWNER; ownership transfer is not supported",
            });
        }
    }
    let mut v = Validator::new();
    v.opt_text("name", body.name.as_deref(), 100).opt_text(
        "slack_user_id",
        body.slack_user_id.clone().flatten().as_deref(),
        50,
    );
    v.finish()?;
    let patch =
        UserPatch { name: body.name.map(|n| n.trim().to_owned()), role: body.role, slack_user_id: body.slack_user_id };
    Ok(Json(state.store.update_user(who.tenant_id, id, patch).await?))
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    let target = state.store.get_user(who.tenant_id, id).await?;
    if target.role == Role::Owner {
        return Err(ApiError::Conflict {
            code: "owner_cannot_be_deleted",
            detail: "the tenant's OWNER cannot be deleted",
        });
    }
    if id == who.user_id {
        return Err(ApiError::Conflict { code: "cannot_delete_self", detail: "ask another ADMIN to delete you" });
    }
    state.store.soft_delete_user(who.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/users/{id}/restore", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = "4XX", body = Problem)))]
pub async fn restore(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    who.require(Role::Admin)?;
    Ok(Json(state.store.restore_user(who.tenant_id, id).await?))
}
