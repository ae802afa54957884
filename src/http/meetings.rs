//! `/v1/meetings`: list with filters and cursor pagination, get, transcript (JSON, SRT, VTT, text),
//! soft delete, restore.
//! Live sessions create meetings too; `POST` registers one for an uploaded recording.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Principal};
use super::{AppState, pagination};
use crate::domain::{Meeting, Role, SpeakerLabel, SttStatus, TranscriptSegment};
use crate::store::{MeetingFilter, MeetingPatch, NewMeeting};
use crate::subtitles;
use crate::validate::Validator;

/// Audio containers the transcription pipeline accepts (D-114 "file format").
pub const AUDIO_EXTENSIONS: [&str; 8] = ["wav", "flac", "mp3", "m4a", "mp4", "ogg", "opus", "webm"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMeeting {
    pub title: String,
    /// Defaults to the caller; naming someone else requires ADMIN.
    pub host_id: Option<Uuid>,
    /// `http(s)://` or `s3://` URL of a recording in one of the supported formats.
    pub audio_file_url: Option<String>,
    /// Length of that recording in seconds, if known; must be positive.
    pub audio_duration: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeeting {
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MeetingListQuery {
    pub stt_status: Option<SttStatus>,
    pub host_id: Option<Uuid>,
    /// Case-insensitive substring of the title or the transcript (Hangul inside longer words
    /// too: `회의록` finds `회의록을`).
    pub q: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// List soft-deleted meetings instead (ADMIN).
    #[serde(default)]
    pub deleted: bool,
    /// 1..=100, default 20.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingPage {
    pub items: Vec<Meeting>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    pub meeting_id: Uuid,
    pub stt_status: SttStatus,
    pub audio_duration: Option<i32>,
    pub text: Option<String>,
    pub segments: Option<Vec<TranscriptSegment>>,
    pub speaker_labels: Option<Vec<SpeakerLabel>>,
}

fn check_audio_url(v: &mut Validator, url: &str) {
    let lower = url.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return v.fail("audio_file_url", "invalid_url", "must be an absolute URL");
    };
    if !matches!(scheme, "http" | "https" | "s3") || rest.is_empty() {
        return v.fail("audio_file_url", "invalid_url", "scheme must be http, https or s3");
    }
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    if !AUDIO_EXTENSIONS.contains(&ext) {
        v.fail(
            "audio_file_url",
            "unsupported_audio_format",
            format!("supported formats: {}", AUDIO_EXTENSIONS.join(", ")),
        );
    }
}

#[utoipa::path(post, path = "/v1/meetings", tag = "meetings", request_body = CreateMeeting,
    responses((status = 201, body = Meeting), (status = "4XX", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateMeeting>,
) -> ApiResult<(StatusCode, Json<Meeting>)> {
    let host_id = body.host_id.unwrap_or(who.user_id);
    if host_id != who.user_id {
        who.require(Role::Admin)?;
    }
    let mut v = Validator::new();
    v.text("title", &body.title, 200);
    if let Some(url) = &body.audio_file_url {
        check_audio_url(&mut v, url);
    }
    if body.audio_duration.is_some_and(|d| d <= 0) {
        v.fail("audio_duration", "invalid", "must be positive");
    }
    v.finish()?;
    // A server that transcribes recordings fetches the URL (a durable job); one without models
    // keeps it on the meeting only.
    let fetch = match (&body.audio_file_url, super::recordings::recordings_of(&state)) {
        (Some(url), Ok(recordings)) => {
            recordings
                .fetcher
                .check_syntax(url)
                .map_err(|e| ApiError::field("audio_file_url", "url_not_allowed", e.to_string()))?;
            let choice =
                super::recordings::TranscriptionChoice::new(&state, &who, None, None, false, Default::default())
                    .await?;
            Some((recordings, choice.recording(None, Some(url.clone()))))
        }
        _ => None,
    };
    let meeting = NewMeeting {
        title: body.title.trim().to_owned(),
        host_id,
        audio_file_url: body.audio_file_url,
        audio_duration: body.audio_duration,
        stt_status: SttStatus::Pending,
    };
    let mut meeting = state.store.create_meeting(who.tenant_id, meeting).await?;
    if let Some((recordings, recording)) = fetch {
        super::recordings::attach(&state, recordings, who.tenant_id, meeting.id, recording).await?;
        meeting = state.store.get_meeting(who.tenant_id, meeting.id).await?;
    }
    Ok((StatusCode::CREATED, Json(meeting)))
}

#[utoipa::path(get, path = "/v1/meetings", tag = "meetings", params(MeetingListQuery),
    responses((status = 200, body = MeetingPage), (status = "4XX", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<MeetingListQuery>,
) -> ApiResult<Json<MeetingPage>> {
    // Deleted meetings (with their transcripts) are for those who may restore them.
    if q.deleted {
        who.require(Role::Admin)?;
    }
    let limit = pagination::limit(q.limit)?;
    let after = pagination::decode(q.cursor.as_deref())?;
    let filter = MeetingFilter {
        stt_status: q.stt_status,
        host_id: q.host_id,
        text_contains: q.q.filter(|s| !s.trim().is_empty()),
        created_from: q.created_from,
        created_to: q.created_to,
        deleted: q.deleted,
    };
    let page = state.store.list_meetings(who.tenant_id, &filter, after, limit).await?;
    Ok(Json(MeetingPage { items: page.items, next_cursor: page.next.map(pagination::encode) }))
}

#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = Meeting), (status = "4XX", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Meeting>> {
    Ok(Json(state.store.get_meeting(who.tenant_id, id).await?))
}

#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// The `Transcript` document.
    #[default]
    Json,
    /// SubRip subtitles, a cue per final (several for a long one), lines broken for reading
    /// (shorter for Hangul), each cue starting `[Speaker N] ` (or the speaker's name).
    Srt,
    /// WebVTT, cues as SRT's, with `<v Speaker N>` (or the name) when the final has a speaker.
    Vtt,
    /// Plain text, one line per final.
    Txt,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TranscriptQuery {
    /// `json` (default), `srt`, `vtt` or `txt`; the last three come as a download.
    pub format: Option<TranscriptFormat>,
}

#[utoipa::path(get, path = "/v1/meetings/{id}/transcript", tag = "meetings", params(("id" = Uuid, Path), TranscriptQuery),
    responses((status = 200, body = Transcript, description = "JSON, or SRT/VTT/text with `format`"),
        (status = "4XX", body = Problem)))]
pub async fn transcript(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TranscriptQuery>,
) -> ApiResult<Response> {
    let m = state.store.get_meeting(who.tenant_id, id).await?;
    let format = q.format.unwrap_or_default();
    let segments = m.transcript_segments.map(|j| j.0);
    if let TranscriptFormat::Json = format {
        return Ok(Json(Transcript {
            meeting_id: m.id,
            stt_status: m.stt_status,
            audio_duration: m.audio_duration,
            text: m.transcript_text,
            segments,
            speaker_labels: m.speaker_labels.map(|j| j.0),
        })
        .into_response());
    }
    let labels = m.speaker_labels.map(|j| j.0).unwrap_or_default();
    let cues = subtitles::meeting_cues(segments.as_deref().unwrap_or_default(), &labels);
    let (body, content_type, ext) = match format {
        TranscriptFormat::Srt => (subtitles::srt(&cues), "application/x-subrip; charset=utf-8", "srt"),
        TranscriptFormat::Vtt => (subtitles::vtt(&cues), "text/vtt; charset=utf-8", "vtt"),
        _ => (subtitles::text(&cues) + "\n", "text/plain; charset=utf-8", "txt"),
    };
    let disposition = format!("attachment; filename=\"meeting-{}.{ext}\"", m.id);
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// The host may change or delete their own meeting; anyone else needs ADMIN.
pub(super) async fn require_host_or_admin(state: &AppState, who: &Principal, id: Uuid) -> ApiResult<()> {
    let meeting = state.store.get_meeting(who.tenant_id, id).await?;
    if meeting.host_id != who.user_id {
        who.require(Role::Admin)?;
    }
    Ok(())
}

#[utoipa::path(patch, path = "/v1/meetings/{id}", tag = "meetings", params(("id" = Uuid, Path)), request_body = UpdateMeeting,
    responses((status = 200, body = Meeting), (status = "4XX", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateMeeting>,
) -> ApiResult<Json<Meeting>> {
    require_host_or_admin(&state, &who, id).await?;
    let mut v = Validator::new();
    v.opt_text("title", body.title.as_deref(), 200);
    v.finish()?;
    let patch = MeetingPatch { title: body.title.map(|t| t.trim().to_owned()) };
    Ok(Json(state.store.update_meeting(who.tenant_id, id, patch).await?))
}

/// Names one stored speaker of the meeting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameSpeaker {
    /// The speaker's number in `speaker_labels` (and the segments' `speaker`).
    pub speaker: i32,
    /// A user of the tenant; `null` makes the speaker unnamed again.
    pub user_id: Option<Uuid>,
}

/// Names a stored speaker as a user of the tenant (`identity` with evidence `assigned`), or
/// unnames it. When another speaker already is that user, the diarizer split one voice: the
/// speaker's segments and words join that speaker and its label goes. The meeting's host or an
/// ADMIN.
#[utoipa::path(patch, path = "/v1/meetings/{id}/speaker-labels", tag = "meetings", params(("id" = Uuid, Path)),
    request_body = NameSpeaker, responses((status = 200, body = Meeting), (status = "4XX", body = Problem)))]
pub async fn name_speaker(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NameSpeaker>,
) -> ApiResult<Json<Meeting>> {
    require_host_or_admin(&state, &who, id).await?;
    Ok(Json(state.store.name_meeting_speaker(who.tenant_id, id, body.speaker, body.user_id).await?))
}

#[utoipa::path(delete, path = "/v1/meetings/{id}", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    require_host_or_admin(&state, &who, id).await?;
    state.store.soft_delete_meeting(who.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/meetings/{id}/restore", tag = "meetings", params(("id" = Uuid, Path)),
    responses((status = 200, body = Meeting), (status = "4XX", body = Problem)))]
pub async fn restore(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Meeting>> {
    who.require(Role::Admin)?;
    Ok(Json(state.store.restore_meeting(who.tenant_id, id).await?))
}
