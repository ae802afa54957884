//! `GET /v1/meetings/{id}/minutes`: a meeting's summary and action items with where their
//! writing stands, so a page can say "being written" or "nothing found" instead of guessing from
//! empty fields.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiPath, Principal};
use crate::domain::{ActionItem, Job, JobStatus, Meeting};

/// Where a meeting's minutes stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MinutesStatus {
    /// No minutes will be written: the meeting has no transcript (yet).
    None,
    /// Waiting for a summariser (a server running an LLM takes it).
    Queued,
    /// Being written now.
    Running,
    /// Written; `summary` and `action_items` are final (either may be empty: nothing was found).
    Ready,
    /// The summariser gave up on this meeting.
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Minutes {
    pub meeting_id: Uuid,
    pub status: MinutesStatus,
    /// Tries so far (a failed try is retried with backoff until the job's limit).
    pub attempts: i32,
    pub summary: Option<String>,
    pub action_items: Vec<ActionItem>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

impl Minutes {
    fn of(meeting: Meeting, job: Option<&Job>) -> Minutes {
        let status = match job.map(|j| j.status) {
            _ if meeting.ai_summary.is_some() => MinutesStatus::Ready,
            None => MinutesStatus::None,
            Some(JobStatus::Queued) => MinutesStatus::Queued,
            Some(JobStatus::Running) => MinutesStatus::Running,
            Some(JobStatus::Succeeded) => MinutesStatus::Ready,
            Some(JobStatus::Failed) => MinutesStatus::Failed,
        };
        Minutes {
            meeting_id: meeting.id,
            status,
            attempts: job.map_or(0, |j| j.attempts),
            summary: meeting.ai_summary,
            action_items: meeting.ai_action_items.map(|j| j.0).unwrap_or_default(),
            updated_at: job.map_or(meeting.updated_at, |j| j.updated_at.max(meeting.updated_at)),
        }
    }
}

#[utoipa::path(get, path = "/v1/meetings/{id}/minutes", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = Minutes), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Minutes>> {
    let meeting = state.store.get_meeting(who.tenant_id, id).await?;
    let jobs = state.store.list_jobs(who.tenant_id, id).await?;
    let job = jobs.iter().find(|j| j.kind == Job::MEETING_INTELLIGENCE);
    Ok(Json(Minutes::of(meeting, job)))
}
