//! `/v1/users/{id}/voiceprint`: a user's enrolled voice, with which finished meetings name their
//! speakers. The recording goes in; only the fact of enrollment comes out — the embedding is
//! sealed at rest (`auth::VoiceprintCipher`) and no endpoint returns it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, AudioBody, Principal};
use crate::domain::{Role, User, Voiceprint};
use crate::session::{EnrollmentError, VOICEPRINT_MODEL};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrollQuery {
    /// Must be `true`: the person agrees that their voice is stored (encrypted; biometric data)
    /// and used to name them in this tenant's meetings. Withdraw with `DELETE`.
    #[serde(default)]
    pub consent: bool,
}

/// A voice recording, sent as the raw request body (OpenAPI: a binary string).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Recording(#[allow(dead_code)] Vec<u8>);

/// The user themself, or an ADMIN or OWNER of the tenant; only the OWNER acts on the OWNER.
async fn manageable(state: &AppState, who: &Principal, id: Uuid) -> ApiResult<User> {
    let target = state.store.get_user(who.tenant_id, id).await?;
    if id != who.user_id {
        who.require(Role::Admin)?;
        if target.role == Role::Owner {
            who.require(Role::Owner)?;
        }
    }
    Ok(target)
}

/// Enrolls (or replaces) the user's voice from a recording of them speaking: WAV, Ogg/Opus or
/// WebM/Opus (e.g. a browser's MediaRecorder), at most 60 s and 8 MiB, with at least 5 s of
/// speech. The voiceprint is computed on the server's speaker model and stored encrypted.
#[utoipa::path(put, path = "/v1/users/{id}/voiceprint", tag = "users", params(("id" = Uuid, Path), EnrollQuery),
    request_body(description = "The recording as the raw body; the content decides the format, not the header",
        content((Recording = "audio/wav"), (Recording = "audio/ogg"), (Recording = "audio/webm"))),
    responses((status = 200, body = Voiceprint), (status = "4XX", body = Problem), (status = 503, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<EnrollQuery>,
    AudioBody(body): AudioBody,
) -> ApiResult<Json<Voiceprint>> {
    manageable(&state, &who, id).await?;
    if !q.consent {
        return Err(ApiError::field(
            "consent",
            "consent_required",
            "pass consent=true: the person agrees that their voice is stored and used to name them in meetings",
        ));
    }
    let live = state.live.as_ref().ok_or(EnrollmentError::NoModels)?;
    let enrolled = live.voiceprint(body.to_vec()).await?;
    let sealed = state.voiceprints.seal(id, &enrolled.embedding);
    let stored = state.store.put_voiceprint(who.tenant_id, id, &sealed, VOICEPRINT_MODEL, enrolled.speech_ms).await?;
    tracing::info!(user = %id, speech_ms = enrolled.speech_ms, by = %who.user_id, "voice enrolled");
    Ok(Json(stored))
}

/// Whether the user has enrolled a voice, since when, from how much speech. Never the voice.
#[utoipa::path(get, path = "/v1/users/{id}/voiceprint", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = Voiceprint), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Voiceprint>> {
    state.store.get_voiceprint(who.tenant_id, id).await?.map(Json).ok_or(ApiError::NotFound)
}

/// Deletes the user's voice for good (consent withdrawn). 404 when none is enrolled.
#[utoipa::path(delete, path = "/v1/users/{id}/voiceprint", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    manageable(&state, &who, id).await?;
    state.store.delete_voiceprint(who.tenant_id, id).await?;
    tracing::info!(user = %id, by = %who.user_id, "voice deleted");
    Ok(StatusCode::NO_CONTENT)
}
