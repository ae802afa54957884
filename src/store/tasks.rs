//! Tasks and their rules: an AI task needs a meeting, the assignee is a live user of the tenant,
//! status moves only along the task state machine (D-096..D-115).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;

#[derive(Debug, Clone)]
pub struct NewTask {
    pub meeting_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<DateTime<Utc>>,
    pub is_ai_generated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Option<Uuid>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub meeting_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Uuid>,
    pub meeting_id: Option<Uuid>,
    pub deleted: bool,
}

#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Enforces the task rules of the spec: an AI task needs a meeting (D-096), the meeting and
    /// the assignee must be live rows of the same tenant (D-098, D-115).
    async fn create_task(&self, tenant: Uuid, task: NewTask) -> StoreResult<Task>;
    async fn get_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task>;
    async fn list_tasks(
        &self,
        tenant: Uuid,
        filter: &TaskFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> StoreResult<Page<Task>>;
    /// Applies the same rules as `create_task` plus the status machine ([`TaskStatus::can_become`]).
    async fn update_task(&self, tenant: Uuid, id: Uuid, patch: TaskPatch) -> StoreResult<Task>;
    async fn soft_delete_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<()>;
    async fn restore_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task>;
}

macro_rules! impl_task_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::TaskStore for $ty {
            async fn create_task(&self, tenant: Uuid, task: NewTask) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                ai_task_rule(task.is_ai_generated, task.meeting_id)?;
                require_meeting(&mut tx, tenant, task.meeting_id).await?;
                require_assignee(&mut tx, tenant, task.assignee_id).await?;
                let now = now();
                let query = sqlx::query_as(
                    "INSERT INTO tasks (id, tenant_id, meeting_id, title, description, status, assignee_id, \
                     due_date, is_ai_generated, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *",
                )
                .bind(Uuid::new_v4())
                .bind(tenant)
                .bind(task.meeting_id)
                .bind(&task.title)
                .bind(&task.description)
                .bind(task.status)
                .bind(task.assignee_id)
                .bind(task.due_date)
                .bind(task.is_ai_generated)
                .bind(now);
                fetch_one_committed(tx, query).await
            }

            async fn get_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task> {
                self.get_live_row("tasks", tenant, id).await
            }

            async fn list_tasks(
                &self,
                tenant: Uuid,
                filter: &TaskFilter,
                after: Option<Cursor>,
                limit: u32,
            ) -> StoreResult<Page<Task>> {
                let tx = self.read_tx(tenant).await?;
                let query = sqlx::query_as(
                    "SELECT * FROM tasks WHERE tenant_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR assignee_id = $4) \
                     AND ($5 IS NULL OR meeting_id = $5) \
                     AND ($6 IS NULL OR (created_at, id) < ($6, $7)) \
                     ORDER BY created_at DESC, id DESC LIMIT $8",
                )
                .bind(tenant)
                .bind(filter.deleted)
                .bind(filter.status)
                .bind(filter.assignee_id)
                .bind(filter.meeting_id);
                let key = |t: &Task| Cursor { created_at: t.created_at, id: t.id };
                fetch_page_committed(tx, query, after, limit, key).await
            }

            async fn update_task(&self, tenant: Uuid, id: Uuid, patch: TaskPatch) -> StoreResult<Task> {
                let mut tx = self.tenant_tx(tenant).await?;
                let current: Task = live_row(&mut tx, "tasks", tenant, id).await?;
                let status = patch.status.unwrap_or(current.status);
                if !current.status.can_become(status) {
                    return Err(StoreError::rule(
                        "invalid_status_transition",
                        "status",
                        "this status change is not allowed (a DONE task is reopened as TODO)",
                    ));
                }
                let meeting_id = patch.meeting_id.unwrap_or(current.meeting_id);
                let assignee_id = patch.assignee_id.unwrap_or(current.assignee_id);
                ai_task_rule(current.is_ai_generated, meeting_id)?;
                // Only links that change are checked: a task may keep pointing at a meeting or an
                // assignee that was soft-deleted after it was linked (D-112).
                if meeting_id != current.meeting_id {
                    require_meeting(&mut tx, tenant, meeting_id).await?;
                }
                if assignee_id != current.assignee_id {
                    require_assignee(&mut tx, tenant, assignee_id).await?;
                }
                let query = sqlx::query_as(
                    "UPDATE tasks SET title = $3, description = $4, status = $5, assignee_id = $6, \
                     due_date = $7, meeting_id = $8, updated_at = $9 WHERE tenant_id = $1 AND id = $2 RETURNING *",
                )
                .bind(tenant)
                .bind(id)
                .bind(patch.title.as_ref().unwrap_or(&current.title))
                .bind(patch.description.unwrap_or(current.description))
                .bind(status)
                .bind(assignee_id)
                .bind(patch.due_date.unwrap_or(current.due_date))
                .bind(meeting_id)
                .bind(now());
                fetch_one_committed(tx, query).await
            }

            async fn soft_delete_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<()> {
                self.soft_delete_row("tasks", tenant, id).await
            }

            async fn restore_task(&self, tenant: Uuid, id: Uuid) -> StoreResult<Task> {
                self.restore_row("tasks", tenant, id).await
            }
        }
    };
}

pub(super) use impl_task_store;
