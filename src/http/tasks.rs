//! `/v1/tasks`: action items, manual or AI-generated. The rules (AI tasks need a meeting, the
//! assignee and meeting must be of this tenant, the status machine) live in the store so every
//! writer obeys them; this layer checks shapes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Principal};
use super::{AppState, double_option, pagination};
use crate::domain::{Role, Task, TaskStatus};
use crate::store::{NewTask, TaskFilter, TaskPatch};
use crate::validate::Validator;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub title: String,
    pub description: Option<String>,
    /// Defaults to TODO.
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<DateTime<Utc>>,
    pub meeting_id: Option<Uuid>,
    /// AI-generated tasks must name their meeting.
    #[serde(default)]
    pub is_ai_generated: bool,
}

/// Absent fields stay as they are; `null` clears a nullable one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_date: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub meeting_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TaskListQuery {
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Uuid>,
    pub meeting_id: Option<Uuid>,
    /// List soft-deleted tasks instead (ADMIN).
    #[serde(default)]
    pub deleted: bool,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = CreateTask,
    responses((status = 201, body = Task), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateTask>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let mut v = Validator::new();
    v.text("title", &body.title, 200);
    v.finish()?;
    let task = NewTask {
        meeting_id: body.meeting_id,
        title: body.title.trim().to_owned(),
        description: body.description,
        status: body.status.unwrap_or(TaskStatus::Todo),
        assignee_id: body.assignee_id,
        due_date: body.due_date,
        is_ai_generated: body.is_ai_generated,
    };
    Ok((StatusCode::CREATED, Json(state.store.create_task(who.tenant_id, task).await?)))
}

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskListQuery),
    responses((status = 200, body = TaskPage), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> ApiResult<Json<TaskPage>> {
    if q.deleted {
        who.require(Role::Admin)?;
    }
    let limit = pagination::limit(q.limit)?;
    let after = pagination::decode(q.cursor.as_deref())?;
    let filter =
        TaskFilter { status: q.status, assignee_id: q.assignee_id, meeting_id: q.meeting_id, deleted: q.deleted };
    let page = state.store.list_tasks(who.tenant_id, &filter, after, limit).await?;
    Ok(Json(TaskPage { items: page.items, next_cursor: page.next.map(pagination::encode) }))
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Task), (status = "4XX", body = Problem)))]
pub async fn get(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Json<Task>> {
    Ok(Json(state.store.get_task(who.tenant_id, id).await?))
}

#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)), request_body = UpdateTask,
    responses((status = 200, body = Task), (status = "4XX", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> ApiResult<Json<Task>> {
    require_task_manager(&state, &who, id).await?;
    let mut v = Validator::new();
    v.opt_text("title", body.title.as_deref(), 200);
    v.finish()?;
    let patch = TaskPatch {
        title: body.title.map(|t| t.trim().to_owned()),
        description: body.description,
        status: body.status,
        assignee_id: body.assignee_id,
        due_date: body.due_date,
        meeting_id: body.meeting_id,
    };
    Ok(Json(state.store.update_task(who.tenant_id, id, patch).await?))
}

#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    require_task_manager(&state, &who, id).await?;
    state.store.soft_delete_task(who.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/tasks/{id}/restore", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Task), (status = "4XX", body = Problem)))]
pub async fn restore(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Task>> {
    who.require(Role::Admin)?;
    Ok(Json(state.store.restore_task(who.tenant_id, id).await?))
}

/// A MEMBER manages the tasks assigned to them or to nobody, and the tasks of meetings they
/// host; any other task takes ADMIN (as do deleted ones: listing and restoring them).
async fn require_task_manager(state: &AppState, who: &Principal, id: Uuid) -> ApiResult<()> {
    if who.role.at_least(Role::Admin) {
        return Ok(());
    }
    let task = state.store.get_task(who.tenant_id, id).await?;
    if task.assignee_id.is_none_or(|a| a == who.user_id) {
        return Ok(());
    }
    if let Some(meeting) = task.meeting_id
        && state.store.get_meeting(who.tenant_id, meeting).await.is_ok_and(|m| m.host_id == who.user_id)
    {
        return Ok(());
    }
    Err(ApiError::Forbidden("a MEMBER manages tasks assigned to them or to nobody, and those of meetings they host"))
}
