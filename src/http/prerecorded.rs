//! `POST /v1/listen`: Deepgram's pre-recorded API, so Deepgram SDKs' `transcribeFile` and
//! `transcribeUrl` work unchanged. The audio (the raw body, or `{"url": …}` fetched by the
//! server) becomes a meeting of the caller with a recording, transcribed by the same durable job
//! as an upload; the request waits for it and answers in Deepgram's shape (`metadata`,
//! `results.channels[0].alternatives[0]` with `transcript`, `words` (with `speaker` when
//! `diarize=true`), `paragraphs` when asked, `results.utterances` when asked). The meeting's
//! summary and tasks follow as for any meeting. A client that goes away does not stop it. With
//! `callback=URL` the request is answered at once with `{"request_id"}` and the result (with
//! utterances and paragraphs) is sent to the URL by a durable job when the transcription ends.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiQuery, KeytermQuery, Principal};
use super::recordings::{TranscriptionChoice, attach, recordings_of, store_upload};
use crate::domain::{JobStatus, Meeting, SttStatus, TranscriptSegment, Word};
use crate::store::{NewMeeting, NewRecording};

/// How long a request waits for its transcription (a 2-hour meeting at 20× real time takes
/// 6 minutes); past it the answer is 504 and the meeting is finished all the same.
const WAIT: Duration = Duration::from_secs(1800);
/// A `{"url": …}` body is small.
const JSON_LIMIT: usize = 64 * 1024;

/// Deepgram's query parameters that change this server's answer; the others are accepted and
/// ignored, as unknown ones are by Deepgram's own model families. Also `keyterm` (repeatable; `keywords` too, Deepgram's older name) names words to expect; they
/// are read from the query apart from these (see `KeytermQuery`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrerecordedQuery {
    /// A served Whisper model (`base`, `whisper-base`); Deepgram's names (`nova-3`) pick by language.
    pub model: Option<String>,
    /// `ko`, `en`, …, or `multi` (detect); default: the tenant's default language, else detected.
    pub language: Option<String>,
    #[serde(default)]
    pub diarize: bool,
    /// Also `results.utterances`: the transcript by final, with speaker.
    #[serde(default)]
    pub utterances: bool,
    /// Also `paragraphs` in the alternative: runs of one speaker.
    #[serde(default)]
    pub paragraphs: bool,
    /// Answer at once with `{"request_id"}` and send the result to this URL (http or https, a
    /// public address unless the operator allows others) when it is ready.
    pub callback: Option<String>,
    /// `post` (default) or `put`.
    pub callback_method: Option<String>,
    /// The meeting's title; default "Recording <UTC time>".
    pub title: Option<String>,
}

#[derive(Deserialize)]
struct UrlSource {
    url: String,
}

/// The answer: the result, or with `callback` only the request's id (the meeting's), as Deepgram
/// answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PrerecordedAnswer {
    Finished(Box<PrerecordedResponse>),
    Accepted { request_id: Uuid },
}

/// Deepgram's pre-recorded response.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrerecordedResponse {
    pub metadata: PrerecordedMetadata,
    pub results: PrerecordedResults,
}

/// The live stream's `Metadata` (`request_id` is the meeting's id), and the meeting.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrerecordedMetadata {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub stream: crate::session::Metadata,
    /// The meeting this request created (`GET /v1/meetings/{id}`, its minutes, its tasks).
    pub meeting_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrerecordedResults {
    pub channels: Vec<ChannelResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utterances: Option<Vec<UtteranceResult>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelResult {
    pub alternatives: Vec<AlternativeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlternativeResult {
    pub transcript: String,
    pub confidence: f64,
    pub words: Vec<Word>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paragraphs: Option<Paragraphs>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paragraphs {
    pub transcript: String,
    pub paragraphs: Vec<Paragraph>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paragraph {
    pub sentences: Vec<Sentence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    pub num_words: usize,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sentence {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UtteranceResult {
    pub start: f64,
    pub end: f64,
    pub confidence: f64,
    pub channel: u32,
    pub transcript: String,
    pub words: Vec<Word>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    pub id: Uuid,
}

/// Transcribes a recording sent as the body (any content type but JSON), or the `url` of a JSON
/// body, and answers with the transcript in Deepgram's pre-recorded shape once it is done.
#[utoipa::path(post, path = "/v1/listen", tag = "live", params(PrerecordedQuery),
    request_body(description = "The recording as the raw body, or `{\"url\": \"https://…\"}`",
        content((super::recordings::AudioFile = "audio/wav"), (super::recordings::AudioFile = "deepgram/audio+video"),
            (Object = "application/json"))),
    responses((status = 200, body = PrerecordedAnswer), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = "4XX", body = Problem), (status = 503, body = Problem), (status = 504, body = Problem)))]
pub async fn transcribe(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<PrerecordedQuery>,
    KeytermQuery(vocabulary): KeytermQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PrerecordedAnswer>> {
    let recordings = recordings_of(&state)?;
    let callback = match q.callback.as_deref() {
        None => None,
        Some(url) => {
            recordings
                .fetcher
                .check_syntax(url)
                .map_err(|e| ApiError::field("callback", "url_not_allowed", e.to_string()))?;
            let method = match q.callback_method.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("post") => "POST",
                Some("put") => "PUT",
                Some(_) => return Err(ApiError::field("callback_method", "invalid", "post or put")),
            };
            Some((url.to_owned(), method))
        }
    };
    let choice = TranscriptionChoice::new(&state, &who, q.model, q.language, q.diarize, vocabulary).await?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let (source_url, body) = if json {
        let bytes = axum::body::to_bytes(body, JSON_LIMIT)
            .await
            .map_err(|_| ApiError::PayloadTooLarge("a JSON body holds only {\"url\": …} (64 KiB)"))?;
        let source: UrlSource = serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("expected {{\"url\": …}}: {e}"),
        })?;
        recordings
            .fetcher
            .check_syntax(&source.url)
            .map_err(|e| ApiError::field("url", "url_not_allowed", e.to_string()))?;
        (Some(source.url), None)
    } else {
        (None, Some(body))
    };
    let title = match q.title.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() && t.chars().count() <= 200 => t.to_owned(),
        Some(_) => return Err(ApiError::field("title", "invalid", "must be 1..=200 characters")),
        None => format!("Recording {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")),
    };
    let new = NewMeeting {
        title,
        host_id: who.user_id,
        audio_file_url: source_url.clone(),
        audio_duration: None,
        stt_status: SttStatus::Pending,
    };
    let meeting = state.store.create_meeting(who.tenant_id, new).await?;
    let attached = async {
        let upload = match body {
            Some(body) => Some(store_upload(recordings, who.tenant_id, meeting.id, &headers, body).await?),
            None => None,
        };
        let recording = NewRecording { callback: callback.clone(), ..choice.recording(upload, source_url) };
        attach(&state, recordings, who.tenant_id, meeting.id, recording).await
    };
    if let Err(e) = attached.await {
        // The meeting exists only for this request.
        if let Ok(Some(key)) = state.store.hard_delete_meeting(who.tenant_id, meeting.id).await {
            recordings.storage.discard([key]).await;
        }
        return Err(e);
    }
    tracing::info!(meeting = %meeting.id, by = %who.user_id, "pre-recorded transcription queued");
    if callback.is_some() {
        return Ok(Json(PrerecordedAnswer::Accepted { request_id: meeting.id }));
    }
    let finished = tokio::time::timeout(WAIT, wait_for(&state, who.tenant_id, meeting.id)).await.map_err(|_| {
        ApiError::Timeout("the transcription goes on: GET /v1/meetings/{request_id} shows it when it is done")
    })??;
    let live = state.live.as_ref().expect("recordings_of checked it");
    let model = live.served_model(finished.1.as_deref());
    Ok(Json(PrerecordedAnswer::Finished(Box::new(response(&finished.0, model, q.utterances, q.paragraphs)))))
}

/// Waits for the meeting's transcription job to settle; the meeting and its model then.
async fn wait_for(state: &AppState, tenant: Uuid, meeting: Uuid) -> ApiResult<(Meeting, Option<String>)> {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    loop {
        every.tick().await;
        let (recording, job) = state.store.get_recording(tenant, meeting).await?.ok_or(ApiError::NotFound)?;
        match job.as_ref().map(|j| j.status) {
            Some(JobStatus::Succeeded) => {
                return Ok((state.store.get_meeting(tenant, meeting).await?, recording.model));
            }
            Some(JobStatus::Failed) => {
                let why = job.and_then(|j| j.last_error).unwrap_or_default();
                return Err(ApiError::Unprocessable { code: "transcription_failed", detail: why });
            }
            _ => {}
        }
    }
}

pub(crate) fn response(
    meeting: &Meeting,
    model: &crate::session::ServedModel,
    utterances: bool,
    paragraphs: bool,
) -> PrerecordedResponse {
    let segments: Vec<TranscriptSegment> =
        meeting.transcript_segments.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let words: Vec<Word> = segments.iter().flat_map(|s| s.words.iter().cloned()).collect();
    let info = crate::session::model_info(&model.name);
    PrerecordedResponse {
        metadata: PrerecordedMetadata {
            stream: crate::session::Metadata {
                transaction_key: "deprecated",
                request_id: meeting.id,
                sha256: String::new(),
                created: meeting.created_at.to_rfc3339(),
                duration: meeting.audio_duration.map_or(0.0, f64::from),
                channels: 1,
                models: vec![model.uuid],
                model_info: [(model.uuid, info)].into(),
            },
            meeting_id: meeting.id,
        },
        results: PrerecordedResults {
            channels: vec![ChannelResult {
                alternatives: vec![AlternativeResult {
                    transcript: segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" "),
                    confidence: mean_confidence(&words),
                    paragraphs: paragraphs.then(|| speaker_paragraphs(&segments)),
                    words,
                }],
                detected_language: meeting.language.clone(),
            }],
            utterances: utterances.then(|| {
                segments
                    .iter()
                    .map(|s| UtteranceResult {
                        start: s.start,
                        end: s.end,
                        confidence: mean_confidence(&s.words),
                        channel: 0,
                        transcript: s.text.clone(),
                        words: s.words.clone(),
                        speaker: s.speaker.map(|v| v as u32),
                        id: Uuid::new_v5(&meeting.id, &s.seq.to_le_bytes()),
                    })
                    .collect()
            }),
        },
    }
}

fn mean_confidence(words: &[Word]) -> f64 {
    if words.is_empty() { 0.0 } else { words.iter().map(|w| w.confidence).sum::<f64>() / words.len() as f64 }
}

/// Consecutive finals of one speaker form a paragraph, each final a sentence.
fn speaker_paragraphs(segments: &[TranscriptSegment]) -> Paragraphs {
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    for s in segments.iter().filter(|s| !s.text.trim().is_empty()) {
        let speaker = s.speaker.map(|v| v as u32);
        let sentence = Sentence { text: s.text.trim().to_owned(), start: s.start, end: s.end };
        match paragraphs.last_mut() {
            Some(p) if p.speaker == speaker => {
                p.sentences.push(sentence);
                p.num_words += s.words.len();
                p.end = s.end;
            }
            _ => paragraphs.push(Paragraph {
                sentences: vec![sentence],
                speaker,
                num_words: s.words.len(),
                start: s.start,
                end: s.end,
            }),
        }
    }
    let transcript = paragraphs
        .iter()
        .map(|p| {
            let text = p.sentences.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
            match p.speaker {
                Some(speaker) => format!("\nSpeaker {speaker}: {text}"),
                None => format!("\n{text}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Paragraphs { transcript, paragraphs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(seq: i32, speaker: Option<i32>, text: &str, start: f64, end: f64) -> TranscriptSegment {
        let words = text
            .split_whitespace()
            .map(|w| Word {
                word: w.to_lowercase(),
                start,
                end,
                confidence: 0.5,
                speaker: speaker.map(|s| s as u32),
                punctuated_word: w.into(),
            })
            .collect();
        TranscriptSegment { seq, speaker, start, end, text: text.into(), words }
    }

    #[test]
    fn paragraphs_are_runs_of_one_speaker() {
        let segments = [
            segment(0, Some(0), "Hello there.", 0.0, 1.0),
            segment(1, Some(0), "How are you?", 1.2, 2.0),
            segment(2, Some(1), "Fine, thanks.", 2.5, 3.0),
            segment(3, None, "", 3.0, 3.5),
            segment(4, Some(0), "Good.", 4.0, 4.5),
        ];
        let p = speaker_paragraphs(&segments);
        let shape: Vec<(Option<u32>, usize, usize)> =
            p.paragraphs.iter().map(|p| (p.speaker, p.sentences.len(), p.num_words)).collect();
        assert_eq!(shape, [(Some(0), 2, 5), (Some(1), 1, 2), (Some(0), 1, 1)]);
        assert_eq!((p.paragraphs[0].start, p.paragraphs[0].end), (0.0, 2.0));
        assert_eq!(
            p.transcript,
            "\nSpeaker 0: Hello there. How are you?\n\nSpeaker 1: Fine, thanks.\n\nSpeaker 0: Good."
        );
    }
}
