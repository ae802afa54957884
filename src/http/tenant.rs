//! `/v1/tenant` (the caller's organisation) and `/v1/usage`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiQuery, Principal};
use crate::domain::{Role, Tenant, UsageDay, now};
use crate::session::{Vocabulary, choose_model};
use crate::store::TenantPatch;
use crate::validate::Validator;

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteTenantQuery {
    /// Must equal the tenant's slug: deleting a tenant removes all its data for good.
    pub confirm: String,
}

#[utoipa::path(get, path = "/v1/tenant", tag = "tenant",
    responses((status = 200, body = Tenant), (status = "4XX", body = Problem)))]
pub async fn get(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Tenant>> {
    Ok(Json(state.store.get_tenant(who.tenant_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
    /// Language of live sessions whose client names none (`ko`, `en`, …, or `multi` to detect);
    /// `null` clears it. Must be one a served model knows.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub default_language: Option<Option<String>>,
    /// Served model (`GET /v1/models`: `base`, `tiny.en`, or with `whisper-`) of live sessions
    /// whose client names neither `model` nor `language`; `null` clears it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub default_model: Option<Option<String>>,
    /// Words every session and recording of the tenant expects: people's names, product names,
    /// jargon (at most 100 terms of at most 100 characters; `[]` clears it). Whisper is given
    /// them as hotwords, after a session's own `keyterm`s.
    pub glossary: Option<Vec<String>>,
    /// Live sessions keep their audio as their meeting's recording unless the client says
    /// `record=false`; on a server that keeps no recordings, they do not.
    pub record_sessions: Option<bool>,
    /// Days a recording of the tenant is kept (1 to 3650); then the retention job deletes its
    /// audio, and the meeting, its transcript and minutes stay. `null` keeps recordings for ever.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    pub recording_retention_days: Option<Option<i32>>,
}

/// The range of `recording_retention_days`: a day to ten years.
const RECORDING_RETENTION_DAYS: std::ops::RangeInclusive<i32> = 1..=3650;

#[utoipa::path(patch, path = "/v1/tenant", tag = "tenant", request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = "4XX", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> ApiResult<Json<Tenant>> {
    who.require(Role::Admin)?;
    let mut v = Validator::new();
    v.opt_text("name", body.name.as_deref(), 100);
    v.finish()?;
    let language = body.default_language.map(|l| l.map(|l| l.trim().to_ascii_lowercase()));
    if let Some(Some(code)) = &language {
        let shaped = code == "multi" || ((2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase()));
        // With live sessions, only a language the sessions' model choice can serve.
        let served = state.live.as_ref().is_none_or(|live| choose_model(&live.models, None, Some(code)).is_ok());
        if !shaped || !served {
            return Err(ApiError::field(
                "default_language",
                "invalid",
                "a language code a served model knows (GET /v1/models)",
            ));
        }
    }
    let model = body.default_model.map(|m| m.map(|m| served_model_name(&m)));
    if let Some(Some(name)) = &model {
        let shaped = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        let served = state.live.as_ref().is_none_or(|live| live.models.iter().any(|m| &m.name == name));
        if !shaped || !served {
            return Err(ApiError::field("default_model", "invalid", "a served model (GET /v1/models)"));
        }
    }
    let glossary = match body.glossary {
        Some(terms) => Some(
            Vocabulary::checked(terms)
                .map_err(|e| ApiError::field("glossary", "invalid", e.to_string()))?
                .terms()
                .to_vec(),
        ),
        None => None,
    };
    if let Some(Some(days)) = body.recording_retention_days
        && !RECORDING_RETENTION_DAYS.contains(&days)
    {
        return Err(ApiError::field(
            "recording_retention_days",
            "out_of_range",
            "1 to 3650 days, or null to keep recordings for ever",
        ));
    }
    let patch = TenantPatch {
        name: body.name.map(|n| n.trim().to_owned()),
        default_language: language,
        default_model: model,
        glossary,
        record_sessions: body.record_sessions,
        recording_retention_days: body.recording_retention_days,
    };
    Ok(Json(state.store.update_tenant(who.tenant_id, patch).await?))
}

/// A model as `/v1/models` lists it: `whisper-base` and `Base` are `base`.
fn served_model_name(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    name.strip_prefix("whisper-").map(str::to_owned).unwrap_or(name)
}

#[utoipa::path(delete, path = "/v1/tenant", tag = "tenant", params(DeleteTenantQuery),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<DeleteTenantQuery>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let tenant = state.store.get_tenant(who.tenant_id).await?;
    if q.confirm != tenant.slug {
        return Err(ApiError::field("confirm", "mismatch", "pass the tenant's slug to confirm"));
    }
    crate::admin::delete_tenant(&*state.store, state.recordings.as_ref().map(|r| &r.storage), tenant.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest range `/v1/usage` answers in one request.
const MAX_USAGE_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
pub struct UsageQuery {
    /// First day (UTC), default 30 days ago.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), default today.
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub users: i64,
    pub meetings: i64,
    pub tasks: i64,
    pub active_sessions: i64,
    pub daily: Vec<UsageDay>,
}

#[utoipa::path(get, path = "/v1/usage", tag = "tenant", params(UsageQuery),
    responses((status = 200, body = Usage), (status = "4XX", body = Problem)))]
pub async fn usage(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<Usage>> {
    // Days a tenant can have data for; anything else is a typo or a probe (chrono parses years
    // of ±262,143, which neither backend stores).
    let known = |d: NaiveDate| (2000..=9999).contains(&d.year());
    for (field, day) in [("from", q.from), ("to", q.to)] {
        if day.is_some_and(|d| !known(d)) {
            return Err(ApiError::field(field, "invalid_range", "a day between the years 2000 and 9999"));
        }
    }
    let to = q.to.unwrap_or_else(|| now().date_naive());
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(ApiError::field("from", "invalid_range", "from must not be after to"));
    }
    if (to - from).num_days() > MAX_USAGE_DAYS {
        return Err(ApiError::field("from", "invalid_range", format!("at most {MAX_USAGE_DAYS} days at once")));
    }
    let totals = state.store.tenant_totals(who.tenant_id).await?;
    let daily = state.store.usage(who.tenant_id, from, to).await?;
    Ok(Json(Usage {
        users: totals.users,
        meetings: totals.meetings,
        tasks: totals.tasks,
        active_sessions: totals.active_sessions,
        daily,
    }))
}
