use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// One `usage_stats` row (D-175): a tenant's counters for one UTC day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct UsageDay {
    pub date: NaiveDate,
    pub meetings_count: i32,
    pub audio_minutes: i32,
    pub ai_requests: i32,
}
