//! The versions of a meeting's transcript: `GET /v1/meetings/{id}/transcripts` lists them (each
//! live session, recording transcription and re-transcription is one), `…/transcripts/{version}`
//! reads one, and `POST /v1/meetings/{id}/retranscribe` transcribes the meeting's kept recording
//! again (another model, language, or after a glossary change) through the same durable
//! `transcribe_recording` job as an upload. The meeting's transcript, speakers and minutes are
//! those of the newest completed version; the older ones stay readable here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Principal};
use super::meetings::require_host_or_admin;
use super::recordings::{TranscriptionChoice, recordings_of};
use crate::domain::{TranscriptVersion, VersionTranscript};
use crate::store::{Retranscription, StoreError};

/// How to transcribe the recording again; every field may be left out (or the whole body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retranscribe {
    /// A served Whisper model (`GET /v1/models`); default: the current version's, unless a
    /// `language` is named (then chosen by language, as for an upload).
    pub model: Option<String>,
    /// The language spoken (`ko`, `en`, …) or `multi` to detect it; default: the current
    /// version's.
    pub language: Option<String>,
    /// Tell speakers apart; default: whether the current transcript has speakers.
    pub diarize: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptVersions {
    /// Oldest first.
    pub items: Vec<TranscriptVersion>,
}

/// Transcribes the meeting's kept recording (uploaded, fetched, or a live session's with
/// `record=true`) again as a new version of its transcript. The meeting keeps its transcript
/// until the new version completes (for good if it fails); then its transcript, speakers,
/// summary and action items come from the new version, and the AI tasks made from the first
/// version are not made again. The meeting's host or an ADMIN. 409 `no_recording`,
/// `transcription_in_progress` or `meeting_not_transcribed`.
#[utoipa::path(post, path = "/v1/meetings/{id}/retranscribe", tag = "meetings", params(("id" = Uuid, Path)),
    request_body(content = Option<Retranscribe>, description = "Optional: without a body, the current version's options"),
    responses((status = 202, body = TranscriptVersion), (status = 409, body = Problem), (status = "4XX", body = Problem),
        (status = 503, body = Problem)))]
pub async fn retranscribe(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    body: Option<ApiJson<Retranscribe>>,
) -> ApiResult<(StatusCode, Json<TranscriptVersion>)> {
    require_host_or_admin(&state, &who, id).await?;
    recordings_of(&state)?;
    let body = body.map(|ApiJson(body)| body).unwrap_or_default();
    let meeting = state.store.get_meeting(who.tenant_id, id).await?;
    let current = state.store.list_transcript_versions(who.tenant_id, id).await?.into_iter().find(|v| v.current);
    let (model, language) = match (body.model, body.language, current) {
        (model, Some(language), _) => (model, Some(language)),
        (model, None, Some(current)) => (model.or(current.model), current.language),
        (model, None, None) => (model, None),
    };
    let diarize = body.diarize.unwrap_or_else(|| meeting.speaker_labels.is_some_and(|l| !l.0.is_empty()));
    let choice = TranscriptionChoice::new(&state, &who, model, language, diarize, Default::default()).await?;
    let options = Retranscription { model: choice.model, language: choice.language, diarize: choice.diarize };
    let version = state.store.retranscribe_recording(who.tenant_id, id, options).await.map_err(|e| match e {
        StoreError::Rule {
            code: code @ ("no_recording" | "transcription_in_progress" | "meeting_not_transcribed"),
            message,
            ..
        } => ApiError::Conflict { code, detail: message },
        other => other.into(),
    })?;
    tracing::info!(meeting = %id, version = %version.id, model = ?version.model, language = ?version.language,
        by = %who.user_id, "retranscription queued");
    Ok((StatusCode::ACCEPTED, Json(version)))
}

/// The versions of the meeting's transcript, oldest first; `current` marks the meeting's own.
#[utoipa::path(get, path = "/v1/meetings/{id}/transcripts", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = TranscriptVersions), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TranscriptVersions>> {
    Ok(Json(TranscriptVersions { items: state.store.list_transcript_versions(who.tenant_id, id).await? }))
}

/// One version with its transcript (text, segments, speakers) as it was last the meeting's; a
/// version that did not complete has none.
#[utoipa::path(get, path = "/v1/meetings/{id}/transcripts/{version}", tag = "meetings",
    params(("id" = Uuid, Path), ("version" = Uuid, Path)),
    responses((status = 200, body = VersionTranscript), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, version)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<VersionTranscript>> {
    Ok(Json(state.store.get_transcript_version(who.tenant_id, id, version).await?))
}
