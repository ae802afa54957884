//! `/v1/meetings/{id}/recording`: a meeting's recording, uploaded as the raw request body and
//! streamed to the recording storage (never held whole in memory), then transcribed by a durable
//! `transcribe_recording` job into the same finished meeting a live session gives: transcript,
//! speakers, then summary and action items. `GET` tells the job's progress; `DELETE` removes the
//! recording and cancels its transcription.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiPath, ApiQuery, Principal};
use super::meetings::require_host_or_admin;
use crate::domain::{Job, JobStatus, Recording};
use crate::session::choose_model;
use crate::storage::StorageError;
use crate::store::{NewRecording, StoreError};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The language spoken (`ko`, `en`, …) or `multi` to detect it; default: the tenant's
    /// default language, else detected.
    pub language: Option<String>,
    /// A served Whisper model (`GET /v1/models`); default: the tenant's, else chosen by language.
    pub model: Option<String>,
    /// Tell speakers apart (and name those with an enrolled voice).
    #[serde(default)]
    pub diarize: bool,
}

/// An audio file, sent as the raw request body (OpenAPI: a binary string).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct AudioFile(#[allow(dead_code)] Vec<u8>);

/// How far a meeting's recording is transcribed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    pub meeting_id: Uuid,
    /// The container sniffed from the content: `wav`, `flac`, `mp3`, `ogg`, `webm`, `mp4`, `aiff`.
    pub format: String,
    pub bytes: i64,
    pub language: Option<String>,
    pub model: Option<String>,
    pub diarize: bool,
    /// `queued`, `running`, `succeeded` or `failed` (the meeting's `stt_status` follows).
    pub status: String,
    pub attempts: i32,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The recording's length, once known (from its header, else when decoded).
    pub duration_seconds: Option<f64>,
    pub processed_seconds: f64,
    pub percent: Option<f64>,
    /// At the speed of the running attempt so far.
    pub eta_seconds: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RecordingView {
    fn new(r: Recording, job: Option<Job>) -> Self {
        let status = match job.as_ref().map(|j| j.status) {
            Some(JobStatus::Queued) | None => "queued",
            Some(JobStatus::Running) => "running",
            Some(JobStatus::Succeeded) => "succeeded",
            Some(JobStatus::Failed) => "failed",
        };
        let secs = |ms: i64| ms as f64 / 1000.0;
        let duration = r.duration_ms.map(secs);
        let processed = secs(r.processed_ms);
        let percent = duration.filter(|d| *d > 0.0).map(|d| (100.0 * processed / d).clamp(0.0, 100.0));
        let eta = match (status, duration, r.started_at) {
            ("running", Some(total), Some(started)) if processed > 0.0 => {
                let elapsed = (r.updated_at - started).num_milliseconds() as f64 / 1000.0;
                Some(((total - processed).max(0.0) * elapsed / processed).round())
            }
            _ => None,
        };
        RecordingView {
            meeting_id: r.meeting_id,
            format: r.format,
            bytes: r.bytes,
            language: r.language,
            model: r.model,
            diarize: r.diarize,
            status: status.to_owned(),
            attempts: job.as_ref().map_or(0, |j| j.attempts),
            error: job.and_then(|j| j.last_error),
            duration_seconds: duration,
            processed_seconds: processed,
            percent: percent.map(|p| (p * 10.0).round() / 10.0),
            eta_seconds: eta,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Uploads the meeting's recording (WAV, FLAC, MP3, Ogg/Vorbis, Ogg/Opus, WebM/Opus; the content
/// decides, not the header) and queues its transcription. The meeting must not have a transcript
/// (created with `POST /v1/meetings`, never streamed live); a failed recording may be replaced.
/// The body is streamed to storage up to the server's limit (`--max-recording-mb`).
#[utoipa::path(put, path = "/v1/meetings/{id}/recording", tag = "meetings", params(("id" = Uuid, Path), UploadQuery),
    request_body(description = "The recording as the raw body",
        content((AudioFile = "audio/wav"), (AudioFile = "audio/mpeg"), (AudioFile = "audio/flac"),
            (AudioFile = "audio/ogg"), (AudioFile = "audio/webm"), (AudioFile = "application/octet-stream"))),
    responses((status = 202, body = RecordingView), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = "4XX", body = Problem), (status = 503, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordingView>)> {
    require_host_or_admin(&state, &who, id).await?;
    let (Some(live), Some(recordings)) = (state.live.as_ref(), state.recordings.as_ref()) else {
        return Err(ApiError::Unavailable {
            code: "recordings_unavailable",
            detail: "this server was started without speech models or recording storage",
        });
    };
    let mut q = q;
    if q.language.is_none() {
        let tenant = state.store.get_tenant(who.tenant_id).await?;
        if q.model.is_none() {
            q.model = tenant.default_model;
        }
        q.language = tenant.default_language;
    }
    let model = choose_model(&live.models, q.model.as_deref(), q.language.as_deref())
        .map_err(|(field, message)| ApiError::field(field, "invalid", message))?;
    let served = &live.models[model];
    if let Some(language) = q.language.as_deref().filter(|l| *l != "multi")
        && !served.languages().iter().any(|l| l == language)
    {
        return Err(ApiError::field("language", "invalid", format!("{} does not know {language:?}", served.name)));
    }
    if q.diarize && live.diarize.is_none() {
        return Err(ApiError::field("diarize", "unavailable", "this server has no speaker model (models/fetch.sh)"));
    }
    // A body announced larger than the limit is refused before a byte of it is read.
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > recordings.max_bytes) {
        return Err(too_large());
    }
    let stored =
        recordings.storage.store(who.tenant_id, id, body.into_data_stream(), recordings.max_bytes).await.map_err(
            |e| match e {
                StorageError::TooLarge(_) => too_large(),
                StorageError::Empty => ApiError::BadRequest { code: "empty_body", detail: e.to_string() },
                StorageError::NotAudio => ApiError::UnsupportedAudio(e.to_string()),
                StorageError::Body(_) => ApiError::BadRequest { code: "body_incomplete", detail: e.to_string() },
                StorageError::Io(io) => ApiError::Internal(io.into()),
            },
        )?;
    // The container must open and name a codec this server decodes before anything is queued.
    let path = recordings.storage.path(&stored.key);
    let opened =
        tokio::task::spawn_blocking(move || crate::audio::AudioReader::open(&path).map(|r| (r.frames, r.sample_rate)))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    let duration_ms = match opened {
        Ok((frames, rate)) => frames.filter(|_| rate > 0).map(|f| (f * 1000 / rate as u64) as i64),
        Err(e) => {
            let _ = recordings.storage.delete(&stored.key).await;
            return Err(ApiError::UnsupportedAudio(e.to_string()));
        }
    };
    let new = NewRecording {
        storage_key: stored.key.clone(),
        format: stored.format.to_owned(),
        bytes: stored.bytes as i64,
        language: q.language.clone(),
        model: Some(served.name.clone()),
        diarize: q.diarize,
        duration_ms,
    };
    let (recording, replaced) = match state.store.attach_recording(who.tenant_id, id, new).await {
        Ok(done) => done,
        Err(e) => {
            let _ = recordings.storage.delete(&stored.key).await;
            return Err(match e {
                StoreError::Rule { code: "meeting_has_transcript", message, .. } => {
                    ApiError::Conflict { code: "meeting_has_transcript", detail: message }
                }
                other => other.into(),
            });
        }
    };
    if let Some(old) = replaced
        && let Err(e) = recordings.storage.delete(&old).await
    {
        tracing::warn!(meeting = %id, error = %e, "deleting the replaced recording failed");
    }
    tracing::info!(meeting = %id, bytes = stored.bytes, format = stored.format, by = %who.user_id, "recording uploaded");
    Ok((StatusCode::ACCEPTED, Json(RecordingView::new(recording, None))))
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge("the recording is larger than this server accepts (--max-recording-mb)")
}

/// The meeting's recording and how far its transcription got (percent, ETA).
#[utoipa::path(get, path = "/v1/meetings/{id}/recording", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = RecordingView), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RecordingView>> {
    let (recording, job) = state.store.get_recording(who.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(RecordingView::new(recording, job)))
}

/// Deletes the meeting's recording; a transcription still queued or running is cancelled (the
/// meeting returns to PENDING). A finished transcript stays.
#[utoipa::path(delete, path = "/v1/meetings/{id}/recording", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    require_host_or_admin(&state, &who, id).await?;
    let key = state.store.delete_recording(who.tenant_id, id).await?;
    if let Some(recordings) = &state.recordings
        && let Err(e) = recordings.storage.delete(&key).await
    {
        tracing::warn!(meeting = %id, error = %e, "deleting the recording's file failed");
    }
    tracing::info!(meeting = %id, by = %who.user_id, "recording deleted");
    Ok(StatusCode::NO_CONTENT)
}
