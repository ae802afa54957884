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
use super::extract::{ApiPath, ApiQuery, KeytermQuery, Principal};
use super::meetings::require_host_or_admin;
use crate::domain::{Job, JobStatus, Recording};
use crate::session::{Vocabulary, choose_model};
use crate::storage::StorageError;
use crate::store::{NewRecording, StoreError};

/// How an upload is transcribed. Also `keyterm` (repeatable; `keywords` too, Deepgram's older
/// name): words to expect, read from the query apart from these (`KeytermQuery`).
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
    /// `none` (the meeting has no recording: the other fields are absent), `queued`, `running`,
    /// `succeeded` or `failed` (of its latest transcription: the meeting's `stt_status` follows
    /// the first one; a re-transcription leaves the meeting's transcript as it is until it
    /// succeeds), or `recorded`: the audio of the meeting's live session (`record=true`), not
    /// transcribed again (`POST /v1/meetings/{id}/retranscribe`).
    pub status: String,
    /// The container sniffed from the content: `wav`, `flac`, `mp3`, `ogg`, `webm`, `mp4`,
    /// `aiff`; empty while a recording named by URL is not fetched yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diarize: Option<bool>,
    /// The recording's own terms (`keyterm`); the tenant's glossary is added when it runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keyterms: Vec<String>,
    pub attempts: i32,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The recording's length, once known (from its header, else when decoded).
    pub duration_seconds: Option<f64>,
    pub processed_seconds: f64,
    pub percent: Option<f64>,
    /// At the speed of the running attempt so far.
    pub eta_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl RecordingView {
    fn none(meeting_id: Uuid) -> Self {
        RecordingView {
            meeting_id,
            status: "none".into(),
            format: None,
            bytes: None,
            source_url: None,
            language: None,
            model: None,
            diarize: None,
            keyterms: Vec::new(),
            attempts: 0,
            error: None,
            duration_seconds: None,
            processed_seconds: 0.0,
            percent: None,
            eta_seconds: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn new(r: Recording, job: Option<Job>) -> Self {
        let status = match job.as_ref().map(|j| j.status) {
            None if r.live => "recorded",
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
            format: Some(r.format),
            bytes: Some(r.bytes),
            source_url: r.source_url,
            language: r.language,
            model: r.model,
            diarize: Some(r.diarize),
            keyterms: r.keyterms.0,
            status: status.to_owned(),
            attempts: job.as_ref().map_or(0, |j| j.attempts),
            error: job.and_then(|j| j.last_error),
            duration_seconds: duration,
            processed_seconds: processed,
            percent: percent.map(|p| (p * 10.0).round() / 10.0),
            eta_seconds: eta,
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
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
    KeytermQuery(vocabulary): KeytermQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordingView>)> {
    require_host_or_admin(&state, &who, id).await?;
    let recordings = recordings_of(&state)?;
    let choice = TranscriptionChoice::new(&state, &who, q.model, q.language, q.diarize, vocabulary).await?;
    let upload = store_upload(recordings, who.tenant_id, id, &headers, body).await?;
    let bytes = upload.bytes;
    let recording = attach(&state, recordings, who.tenant_id, id, choice.recording(Some(upload), None)).await?;
    tracing::info!(meeting = %id, bytes, format = recording.format, by = %who.user_id, "recording uploaded");
    Ok((StatusCode::ACCEPTED, Json(RecordingView::new(recording, None))))
}

/// The recording storage, when this server transcribes recordings.
pub(super) fn recordings_of(state: &AppState) -> ApiResult<&crate::storage::Recordings> {
    match (&state.live, &state.recordings) {
        (Some(_), Some(recordings)) => Ok(recordings),
        _ => Err(ApiError::Unavailable {
            code: "recordings_unavailable",
            detail: "this server was started without speech models or recording storage",
        }),
    }
}

/// The served model and language a recording is transcribed with, as a live session's are
/// chosen (the tenant's defaults when the client names none), and whether speakers are told apart.
pub(super) struct TranscriptionChoice {
    pub model: String,
    pub language: Option<String>,
    pub diarize: bool,
    /// The request's own terms; the tenant's glossary is added when the job runs.
    pub vocabulary: Vocabulary,
}

impl TranscriptionChoice {
    pub async fn new(
        state: &AppState,
        who: &Principal,
        mut model: Option<String>,
        mut language: Option<String>,
        diarize: bool,
        vocabulary: Vocabulary,
    ) -> ApiResult<Self> {
        let live = state.live.as_ref().ok_or(ApiError::Unavailable {
            code: "recordings_unavailable",
            detail: "this server was started without speech models",
        })?;
        if language.is_none() {
            let tenant = state.store.get_tenant(who.tenant_id).await?;
            if model.is_none() {
                model = tenant.default_model;
            }
            language = tenant.default_language;
        }
        let index = choose_model(&live.models, model.as_deref(), language.as_deref())
            .map_err(|(field, message)| ApiError::field(field, "invalid", message))?;
        let served = &live.models[index];
        if let Some(language) = language.as_deref().filter(|l| *l != "multi")
            && !served.languages().iter().any(|l| l == language)
        {
            return Err(ApiError::field("language", "invalid", format!("{} does not know {language:?}", served.name)));
        }
        if diarize && live.diarize.is_none() {
            return Err(ApiError::field(
                "diarize",
                "unavailable",
                "this server has no speaker model (models/fetch.sh)",
            ));
        }
        Ok(Self { model: served.name.clone(), language, diarize, vocabulary })
    }

    /// The recording to attach: an upload already stored, or a URL for the job to fetch.
    pub fn recording(&self, upload: Option<StoredUpload>, source_url: Option<String>) -> NewRecording {
        let upload = upload.unwrap_or_default();
        NewRecording {
            storage_key: upload.key,
            source_url,
            format: upload.format.to_owned(),
            bytes: upload.bytes as i64,
            language: self.language.clone(),
            model: Some(self.model.clone()),
            diarize: self.diarize,
            keyterms: self.vocabulary.terms().to_vec(),
            duration_ms: upload.duration_ms,
            callback: None,
        }
    }
}

/// An upload in the recording storage that opens as audio this server decodes.
#[derive(Debug, Default)]
pub(super) struct StoredUpload {
    pub key: String,
    pub format: &'static str,
    pub bytes: u64,
    /// From the container's header, when it says.
    pub duration_ms: Option<i64>,
}

/// Streams `body` to the storage (refused at once when `Content-Length` announces more than the
/// limit) and checks that it opens with a codec this server decodes; nothing is left on error.
pub(super) async fn store_upload(
    recordings: &crate::storage::Recordings,
    tenant: Uuid,
    meeting: Uuid,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<StoredUpload> {
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > recordings.max_bytes) {
        return Err(too_large());
    }
    let stored = recordings
        .storage
        .store(tenant, meeting, body.into_data_stream(), recordings.max_bytes)
        .await
        .map_err(storage_error)?;
    let path = recordings.storage.path(&stored.key);
    let opened = tokio::task::spawn_blocking(move || crate::audio::AudioReader::open(&path).map(|r| r.duration_ms()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    match opened {
        Ok(duration_ms) => {
            Ok(StoredUpload { duration_ms, key: stored.key, format: stored.format, bytes: stored.bytes })
        }
        Err(e) => {
            let _ = recordings.storage.delete(&stored.key).await;
            Err(ApiError::UnsupportedAudio(e.to_string()))
        }
    }
}

pub(super) fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::TooLarge(_) => too_large(),
        StorageError::Empty => ApiError::BadRequest { code: "empty_body", detail: e.to_string() },
        StorageError::NotAudio => ApiError::UnsupportedAudio(e.to_string()),
        StorageError::Body(_) => ApiError::BadRequest { code: "body_incomplete", detail: e.to_string() },
        StorageError::Io(io) => ApiError::Internal(io.into()),
    }
}

/// Attaches the recording to its meeting and queues the transcription; a refused one's file is
/// deleted, as is the file of a failed recording it replaces.
pub(super) async fn attach(
    state: &AppState,
    recordings: &crate::storage::Recordings,
    tenant: Uuid,
    meeting: Uuid,
    new: NewRecording,
) -> ApiResult<Recording> {
    let key = new.storage_key.clone();
    let (recording, replaced) = match state.store.attach_recording(tenant, meeting, new).await {
        Ok(done) => done,
        Err(e) => {
            let _ = recordings.storage.delete(&key).await;
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
        tracing::warn!(%meeting, error = %e, "deleting the replaced recording failed");
    }
    Ok(recording)
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge("the recording is larger than this server accepts (--max-recording-mb)")
}

/// The meeting's recording and how far its transcription got (percent, ETA); `status: none`
/// for a meeting without one.
#[utoipa::path(get, path = "/v1/meetings/{id}/recording", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = RecordingView), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RecordingView>> {
    Ok(Json(match state.store.get_recording(who.tenant_id, id).await? {
        Some((recording, job)) => RecordingView::new(recording, job),
        None => RecordingView::none(id),
    }))
}

/// The recording's audio as stored: an upload as it was sent, a live session's as Ogg Opus (as
/// far as it is written while the session runs).
#[utoipa::path(get, path = "/v1/meetings/{id}/recording/audio", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The audio file",
        content((AudioFile = "audio/ogg"), (AudioFile = "audio/wav"), (AudioFile = "audio/mpeg"),
            (AudioFile = "audio/flac"), (AudioFile = "audio/webm"), (AudioFile = "audio/mp4"))),
        (status = "4XX", body = Problem), (status = 503, body = Problem)))]
pub async fn audio(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use tokio::io::AsyncReadExt;

    let recordings = recordings_of(&state)?;
    let recording = match state.store.get_recording(who.tenant_id, id).await? {
        // A recording named by URL and not fetched yet has no file.
        Some((recording, _)) if !recording.storage_key.is_empty() => recording,
        _ => return Err(ApiError::NotFound),
    };
    let file = match tokio::fs::File::open(recordings.storage.path(&recording.storage_key)).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::NotFound),
        Err(e) => return Err(anyhow::Error::new(e).context("opening a recording").into()),
    };
    // What is there now: a live recording grows while it is read.
    let bytes = file.metadata().await.map_err(|e| anyhow::Error::new(e).context("reading a recording"))?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(bytes)));
    let content_type = match recording.format.as_str() {
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "webm" => "audio/webm",
        "mp4" => "audio/mp4",
        "aiff" => "audio/aiff",
        _ => "application/octet-stream",
    };
    let disposition = format!("attachment; filename=\"{id}.{}\"", recording.format);
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_LENGTH, bytes.to_string()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, body).into_response())
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
