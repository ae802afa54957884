//! One live session = one `SocketActor`, the only owner of the session's state.
//!
//! The actor reads the socket itself and hands outgoing messages to a writer task it owns,
//! through a bounded channel: partials are `try_send` (dropped when the client is behind, the
//! next one supersedes them), finals wait up to `slow_consumer_timeout` and then the client is
//! closed with 4001. Audio is decoded and resampled inline (cheap), VAD runs on the VAD thread,
//! Whisper on the engine's threads. A final is stored before it is sent, so whatever a client
//! has seen is in the database; at the end the meeting is assembled from the stored finals.
//! Reading pauses while `max_pending_finals` finals wait for ASR (backpressure to the client),
//! so memory per session stays bounded whatever the client sends; the idle clock stops meanwhile
//! (the server, not the client, is the one waiting).
//!
//! Nothing accepted is dropped silently: when the session ends every pending final is awaited
//! (only a shutdown has a deadline), and audio that still cannot become a stored final (engine
//! stopped, shutdown deadline, store failure) is reported to the client as a `TranscriptGap` with
//! its time range and recorded on the meeting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::sleep_until;
use uuid::Uuid;

use super::caption_hub::CaptionChannel;
use super::control_message::ControlMessage;
use super::listen_params::ListenOptions;
use super::live_service::{Admission, LiveService};
use super::server_message::{Alternative, Channel, Metadata, ModelInfo, Results, ResultsMetadata, ServerMessage, Word};
use super::session_error::SessionError;
use super::utterance_segmenter::{SegmentEvent, SegmenterConfig, Utterance, UtteranceSegmenter};
use crate::audio::{MODEL_RATE, StreamDecoder};
use crate::inference::InferenceError;
use crate::inference::asr::{Segment, UtteranceText};
use crate::inference::diarize::{SpeakerTurn, speaker_for_span};
use crate::inference::vad::{CHUNK, VadState};
use crate::model::{Meeting, RealtimeSession, TranscriptGap};
use crate::store::{FinalSpeakers, NewFinal, NewLiveSession};

/// Messages queued for the writer; beyond this partials are dropped and finals wait.
const OUTBOUND: usize = 64;
/// A session without `language` keeps the first language detected on an utterance of at least
/// this much speech (3 s at 16 kHz) with at least this probability.
const LANGUAGE_LOCK_SAMPLES: usize = 48_000;
const LANGUAGE_LOCK_PROBABILITY: f32 = 0.8;

/// Who opened the session and how.
pub struct SessionRequest {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub options: ListenOptions,
}

type AsrReply = Result<UtteranceText, InferenceError>;

struct PendingFinal {
    utterance_start: u64,
    samples: usize,
    speech_final: bool,
    from_finalize: bool,
    submitted: Instant,
    reply: oneshot::Receiver<AsrReply>,
    /// Speaker turns of the utterance, when diarizing.
    turns: Option<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>>,
}

/// How the session ended.
enum End {
    CloseStream,
    ClientGone,
    Failed(SessionError),
}

pub struct SocketActor {
    service: Arc<LiveService>,
    request: SessionRequest,
    session: RealtimeSession,
    meeting: Meeting,
    captions: Arc<CaptionChannel>,
    decoder: StreamDecoder,
    segmenter: UtteranceSegmenter,
    vad_state: VadState,
    /// 16 kHz samples not yet a whole VAD chunk.
    vad_buffer: Vec<f32>,
    out: mpsc::Sender<Message>,
    next_seq: i32,
    samples_in: u64,
    /// Id of the newest utterance sent for a final: partials of it or older are stale.
    finalized_up_to: Option<u64>,
    stream_key: u64,
    last_word_end: f64,
    /// The language finals are decoded in: the session's `language`, else the first one detected
    /// on speech (then kept, so a sentence in another language does not flip the session).
    language: Option<String>,
    /// Audio accepted but not in the transcript; recorded on the meeting at the end.
    gaps: Vec<TranscriptGap>,
}

impl SocketActor {
    /// Runs a session on an upgraded socket until it ends; never panics on client input.
    pub async fn run(service: Arc<LiveService>, request: SessionRequest, socket: WebSocket, admission: Admission) {
        let (sink, mut stream) = socket.split();
        let (out, out_rx) = mpsc::channel(OUTBOUND);
        let writer = tokio::spawn(write_loop(sink, out_rx));
        let started = match Self::start(service.clone(), request, out.clone()).await {
            Ok(actor) => Some(actor),
            Err(e) => {
                let trace = Uuid::new_v4();
                tracing::error!(%trace, error = %e, "live session could not start");
                send_error(&out, &e, trace).await;
                close(&out, e.close_code(), e.code()).await;
                None
            }
        };
        let linger = match started {
            Some(mut actor) => {
                let end = actor.session_loop(&mut stream).await;
                Some(actor.finish(end).await)
            }
            None => None,
        };
        // Waiting for action items is not a live session: free the slot.
        drop(admission);
        drop(out);
        if linger.as_ref().is_none_or(|l| l.client.is_none()) {
            // The close frame is queued: let the writer send it and drop the connection now.
            finish_writer(writer).await;
            drop(stream);
            if let Some(linger) = linger {
                linger.wait(&service).await;
            }
        } else if let Some(linger) = linger {
            linger.wait(&service).await;
            finish_writer(writer).await;
        }
    }

    async fn start(
        service: Arc<LiveService>,
        request: SessionRequest,
        out: mpsc::Sender<Message>,
    ) -> Result<Self, SessionError> {
        let decoder =
            StreamDecoder::new(request.options.encoding, request.options.sample_rate, request.options.channels)?;
        let title = request
            .options
            .title
            .clone()
            .unwrap_or_else(|| format!("Live meeting {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")));
        let live = NewLiveSession {
            host_id: request.user_id,
            title,
            socket_id: Uuid::new_v4().to_string(),
            server_instance: service.config.server_instance.clone(),
        };
        let (session, meeting) = service
            .store
            .start_live_session(request.tenant_id, live)
            .await
            .map_err(|e| SessionError::Internal(format!("starting session: {e}")))?;
        let captions = service.captions.open(session.id, request.tenant_id, meeting.id);
        let o = &request.options;
        let language = o.language.clone();
        let segmenter = UtteranceSegmenter::new(SegmenterConfig {
            endpointing_ms: o.endpointing_ms,
            partial_every_ms: o.interim_results.then_some(500),
            max_utterance_ms: service.config.max_utterance_ms,
            ..SegmenterConfig::default()
        });
        tracing::info!(session = %session.id, meeting = %meeting.id, tenant = %request.tenant_id, "live session started");
        let actor = Self {
            stream_key: session.id.as_u64_pair().0,
            service,
            request,
            captions,
            decoder,
            segmenter,
            vad_state: VadState::default(),
            vad_buffer: Vec::new(),
            out,
            next_seq: 0,
            samples_in: 0,
            finalized_up_to: None,
            last_word_end: 0.0,
            language,
            gaps: Vec::new(),
            session,
            meeting,
        };
        let started = ServerMessage::SessionStarted { session_id: actor.session.id, meeting_id: actor.meeting.id };
        actor.send_reliable(started.to_json()).await?;
        Ok(actor)
    }

    async fn session_loop(&mut self, stream: &mut futures_util::stream::SplitStream<WebSocket>) -> End {
        let mut finals = PendingFinals::default();
        let mut partial: Option<(u64, u64, oneshot::Receiver<AsrReply>)> = None;
        let mut next_partial: Option<Utterance> = None;
        let idle = self.service.config.idle_timeout;
        let mut deadline = tokio::time::Instant::now() + idle;
        let shutdown = self.service.shutdown.clone();
        let max_pending = self.service.config.max_pending_finals;
        let started = tokio::time::Instant::now();
        let mut paused = false;
        loop {
            // Audio more than `max_audio_ahead` ahead of real time waits for the clock.
            let audio = Duration::from_secs_f64(seconds(self.samples_in));
            let allowed_at = started + audio.saturating_sub(self.service.config.max_audio_ahead);
            let catch_up = (allowed_at > tokio::time::Instant::now()).then_some(allowed_at);
            // While reading is paused (for ASR or for the clock), the idle clock does not run:
            // it starts again when reading resumes.
            let reading = finals.len() < max_pending && catch_up.is_none();
            if reading && paused {
                deadline = tokio::time::Instant::now() + idle;
            }
            paused = !reading;
            let result: Result<Option<End>, SessionError> = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Ok(Some(End::Failed(SessionError::ShuttingDown))),
                Some(done) = finals.next(), if !finals.is_empty() => self.on_final(done).await.map(|_| None),
                reply = wait_partial(&mut partial), if partial.is_some() => {
                    let (id, start, _) = partial.take().expect("guarded by is_some");
                    self.on_partial(id, start, reply);
                    if let Some(u) = next_partial.take() {
                        partial = self.submit_partial(u);
                    }
                    Ok(None)
                }
                _ = sleep_until(deadline), if reading => Err(SessionError::IdleTimeout(idle.as_secs())),
                _ = sleep_until(catch_up.unwrap_or(deadline)), if catch_up.is_some() => Ok(None),
                message = stream.next(), if reading => {
                    deadline = tokio::time::Instant::now() + idle;
                    match message {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Ok(Some(End::ClientGone)),
                        Some(Ok(Message::Binary(bytes))) => {
                            match self.on_audio(&bytes).await {
                                Ok(events) => self.on_events(events, &mut finals, &mut partial, &mut next_partial).await.map(|_| None),
                                Err(e) => Err(e),
                            }
                        }
                        Some(Ok(Message::Text(text))) => match ControlMessage::parse(&text) {
                            Ok(ControlMessage::KeepAlive) => Ok(None),
                            Ok(ControlMessage::Finalize) => {
                                let events = self.segmenter.flush();
                                if events.is_empty() {
                                    // Nothing open: acknowledged by an empty final, in order.
                                    let empty = self.empty_final();
                                    finals.push(self.samples_in..self.samples_in, Box::pin(std::future::ready(empty)));
                                    Ok(None)
                                } else {
                                    self.submit_finals(events, true, &mut finals).await.map(|_| None)
                                }
                            }
                            Ok(ControlMessage::CloseStream) => Ok(Some(End::CloseStream)),
                            Err(e) => Err(SessionError::InvalidMessage(e)),
                        },
                        Some(Ok(_)) => Ok(None),
                    }
                }
            };
            let end = match result {
                Ok(None) => continue,
                Ok(Some(end)) => end,
                Err(e) => End::Failed(e),
            };
            // Whatever the reason, the audio already received becomes finals.
            let mut flush = self.decoder.finish();
            flush.resize(flush.len().div_ceil(CHUNK) * CHUNK, 0.0);
            if let Ok(events) = self.vad_chunks(flush).await {
                let _ = self.on_events(events, &mut finals, &mut partial, &mut next_partial).await;
            }
            let events = self.segmenter.flush();
            let _ = self.submit_finals(events, false, &mut finals).await;
            // Every pending final is awaited: the engine answers or drops each one. Only a
            // shutdown has a deadline; what it cuts off is reported as a gap.
            let shutting_down = matches!(end, End::Failed(SessionError::ShuttingDown));
            let drain = tokio::time::Instant::now() + self.service.config.drain_timeout;
            loop {
                let next = if shutting_down {
                    tokio::time::timeout_at(drain, finals.next()).await.unwrap_or(None)
                } else {
                    finals.next().await
                };
                let Some(done) = next else { break };
                if let Err(e) = self.on_final(done).await {
                    tracing::warn!(session = %self.session.id, error = %e, "a final could not be completed while draining");
                }
            }
            let cut_off: Vec<_> = finals.spans.drain(..).collect();
            for span in cut_off {
                self.report_gap(span, "shutdown_deadline").await;
            }
            return end;
        }
    }

    /// Decodes a binary frame and runs VAD over the whole chunks it completes.
    async fn on_audio(&mut self, bytes: &[u8]) -> Result<Vec<SegmentEvent>, SessionError> {
        if bytes.len() > self.service.config.max_frame_bytes {
            return Err(SessionError::FrameTooLarge(self.service.config.max_frame_bytes));
        }
        let samples = self.decoder.push(bytes)?;
        self.vad_buffer.extend_from_slice(&samples);
        let whole = self.vad_buffer.len() / CHUNK * CHUNK;
        if whole == 0 {
            return Ok(Vec::new());
        }
        let audio: Vec<f32> = self.vad_buffer.drain(..whole).collect();
        self.vad_chunks(audio).await
    }

    async fn vad_chunks(&mut self, audio: Vec<f32>) -> Result<Vec<SegmentEvent>, SessionError> {
        if audio.is_empty() {
            return Ok(Vec::new());
        }
        self.samples_in += audio.len() as u64;
        let state = std::mem::take(&mut self.vad_state);
        let (state, audio, probs) = self.service.vad.probabilities(state, audio).await;
        self.vad_state = state;
        let probs = probs.map_err(inference_error)?;
        Ok(self.segmenter.push(&audio, &probs))
    }

    async fn on_events(
        &mut self,
        events: Vec<SegmentEvent>,
        finals: &mut PendingFinals,
        partial: &mut Option<(u64, u64, oneshot::Receiver<AsrReply>)>,
        next_partial: &mut Option<Utterance>,
    ) -> Result<(), SessionError> {
        let mut closing = Vec::new();
        for event in events {
            match event {
                SegmentEvent::SpeechStarted { at } if self.request.options.vad_events => {
                    let message = ServerMessage::SpeechStarted { channel: [0], timestamp: seconds(at) };
                    self.send_droppable(message.to_json());
                }
                SegmentEvent::SpeechStarted { .. } => {}
                SegmentEvent::Partial(u) => {
                    if partial.is_some() {
                        *next_partial = Some(u);
                    } else {
                        *partial = self.submit_partial(u);
                    }
                }
                final_event @ SegmentEvent::Final { .. } => closing.push(final_event),
            }
        }
        self.submit_finals(closing, false, finals).await
    }

    fn submit_partial(&self, u: Utterance) -> Option<(u64, u64, oneshot::Receiver<AsrReply>)> {
        // Under load a partial is simply skipped; the final will come.
        let rx = self.service.asr.submit_partial(self.stream_key, u.audio, self.language.clone()).ok()?;
        Some((u.id, u.start, rx))
    }

    async fn submit_finals(
        &mut self,
        events: Vec<SegmentEvent>,
        from_finalize: bool,
        finals: &mut PendingFinals,
    ) -> Result<(), SessionError> {
        for event in events {
            let SegmentEvent::Final { utterance, speech_final } = event else { continue };
            self.finalized_up_to = Some(utterance.id);
            let samples = utterance.audio.len();
            let span = utterance.start..utterance.start + samples as u64;
            let turns = self.track_speakers(utterance.start, &utterance.audio);
            // Waits for room in the engine's queue (reading is paused meanwhile); fails only when
            // the engine has stopped.
            let reply = match self.service.asr.submit(utterance.audio, self.language.clone()).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.report_gap(span, "engine_stopped").await;
                    return Err(inference_error(e));
                }
            };
            finals.push(
                span,
                Box::pin(
                    PendingFinal {
                        utterance_start: utterance.start,
                        samples,
                        speech_final,
                        from_finalize,
                        submitted: Instant::now(),
                        reply,
                        turns,
                    }
                    .resolve(),
                ),
            );
        }
        Ok(())
    }

    /// Tells the client which audio will not be in the transcript, and keeps it for the meeting.
    async fn report_gap(&mut self, span: std::ops::Range<u64>, reason: &'static str) {
        let (start, end) = (round3(seconds(span.start)), round3(seconds(span.end)));
        tracing::warn!(session = %self.session.id, start, end, reason, "audio not transcribed");
        self.gaps.push(TranscriptGap { start, end, reason: reason.into() });
        let message = ServerMessage::TranscriptGap { start, end, reason }.to_json();
        self.captions.publish(message.as_str().into(), true);
        let _ = self.send_reliable(message).await;
    }

    /// Sends a final utterance to the diarization thread when the client asked for speakers.
    fn track_speakers(
        &self,
        start: u64,
        audio: &[f32],
    ) -> Option<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>> {
        let diarize = self.service.diarize.as_ref().filter(|_| self.request.options.diarize)?;
        match diarize.observe(self.stream_key, start, audio.to_vec()) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(session = %self.session.id, error = %e, "utterance not diarized");
                None
            }
        }
    }

    fn on_partial(&mut self, id: u64, start: u64, reply: Result<AsrReply, oneshot::error::RecvError>) {
        if self.finalized_up_to.is_some_and(|done| id <= done) {
            return;
        }
        let Ok(Ok(text)) = reply else { return };
        let (results, _) = self.results(start, &text.segments, None);
        let json = ServerMessage::Results(results).to_json();
        self.captions.publish(json.as_str().into(), false);
        if self.request.options.interim_results {
            self.send_droppable(json);
        }
    }

    async fn on_final(&mut self, mut done: FinalDone) -> Result<(), SessionError> {
        let span = done.start..done.start + done.samples as u64;
        let utterance = match std::mem::replace(&mut done.reply, Ok(UtteranceText::default())) {
            Ok(utterance) => utterance,
            Err(e) => {
                self.report_gap(span, "engine_failed").await;
                return Err(e);
            }
        };
        let (results, words) = self.results(done.start, &utterance.segments, Some(&done));
        let text = results.channel.alternatives[0].transcript.clone();
        // An empty final (silence, a Finalize with nothing open) has nothing to keep.
        if !text.is_empty() {
            let end = results.start + results.duration;
            let final_row = NewFinal {
                session_id: self.session.id,
                meeting_id: self.meeting.id,
                seq: self.next_seq,
                start_ms: (results.start * 1000.0).round() as i32,
                end_ms: (end * 1000.0).round() as i32,
                speaker: majority_speaker(&words).map(|s| s as i32),
                text,
                words: serde_json::to_value(&words).expect("words serialize"),
            };
            if let Err(e) = self.store_final(final_row).await {
                self.report_gap(span, "not_stored").await;
                return Err(e);
            }
            self.next_seq += 1;
            // The first language detected with confidence on enough speech holds for the rest
            // of the session (a short "Hello?" is no evidence; until then each utterance is
            // detected on its own).
            if self.language.is_none()
                && done.samples >= LANGUAGE_LOCK_SAMPLES
                && utterance.language_probability.is_some_and(|p| p >= LANGUAGE_LOCK_PROBABILITY)
            {
                tracing::info!(session = %self.session.id, language = ?utterance.language, "session language detected");
                self.language = utterance.language;
            }
            crate::metrics::live_final(done.latency);
        }
        if let Some(last) = words.last() {
            self.last_word_end = last.end;
        }
        let json = ServerMessage::Results(results).to_json();
        self.captions.publish(json.as_str().into(), true);
        self.send_reliable(json).await?;
        if done.speech_final && self.request.options.utterance_end_ms.is_some() {
            let message = ServerMessage::UtteranceEnd { channel: [0, 1], last_word_end: self.last_word_end };
            self.send_reliable(message.to_json()).await?;
        }
        Ok(())
    }

    /// Stored before it is sent: a client never sees a final the meeting will not have.
    async fn store_final(&self, row: NewFinal) -> Result<(), SessionError> {
        let mut wait = Duration::from_millis(100);
        for attempt in 1..=4 {
            match self.service.store.append_final(self.request.tenant_id, row.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 4 => {
                    tracing::warn!(session = %self.session.id, attempt, error = %e, "storing a final failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 3;
                }
                Err(e) => return Err(SessionError::Internal(format!("storing final {}: {e}", row.seq))),
            }
        }
        unreachable!("the last attempt returns")
    }

    fn empty_final(&self) -> FinalDone {
        FinalDone {
            start: self.samples_in,
            samples: 0,
            speech_final: false,
            from_finalize: true,
            latency: Duration::ZERO,
            reply: Ok(UtteranceText::default()),
            turns: Vec::new(),
        }
    }

    /// `Results` for an utterance starting at sample `start`: a partial, or the final `done`.
    fn results(&self, start: u64, segments: &[Segment], done: Option<&FinalDone>) -> (Results, Vec<Word>) {
        let offset = seconds(start);
        let kept: Vec<&Segment> = segments.iter().filter(|s| !is_hallucination(s)).collect();
        let mut words = Vec::new();
        for s in &kept {
            words.extend(segment_words(s, offset));
        }
        if let Some(done) = done.filter(|d| !d.turns.is_empty()) {
            label_words(&mut words, &done.turns);
        }
        let transcript = kept.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        let confidence =
            if words.is_empty() { 0.0 } else { words.iter().map(|w| w.confidence).sum::<f64>() / words.len() as f64 };
        let duration = match done {
            Some(d) => d.samples as f64 / MODEL_RATE as f64,
            None => kept.last().map_or(0.0, |s| s.end as f64),
        };
        let results = Results {
            channel_index: [0, 1],
            start: round3(offset),
            duration: round3(duration),
            is_final: done.is_some(),
            speech_final: done.is_some_and(|d| d.speech_final),
            from_finalize: done.is_some_and(|d| d.from_finalize),
            channel: Channel { alternatives: vec![Alternative { transcript, confidence, words: words.clone() }] },
            metadata: ResultsMetadata {
                request_id: self.session.id,
                model_info: self.model_info(),
                model_uuid: self.service.model_uuid,
            },
        };
        (results, words)
    }

    fn model_info(&self) -> ModelInfo {
        ModelInfo {
            name: format!("whisper-{}", self.service.config.model_name),
            version: env!("CARGO_PKG_VERSION").into(),
            arch: "whisper-onnx".into(),
        }
    }

    /// Partials and events: dropped when the client is behind.
    fn send_droppable(&self, json: String) {
        let _ = self.out.try_send(Message::Text(json.into()));
    }

    /// Finals and control messages: wait for room, but not forever.
    async fn send_reliable(&self, json: String) -> Result<(), SessionError> {
        let timeout = self.service.config.slow_consumer_timeout;
        match self.out.send_timeout(Message::Text(json.into()), timeout).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(SessionError::SlowConsumer),
            // The writer has stopped: the client is gone. The final is stored; nothing to do.
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Ok(()),
        }
    }

    /// Stores the meeting and tells the client how it ended. What is left — waiting for the
    /// action items, closing the socket — is the returned [`Linger`].
    async fn finish(self, end: End) -> Linger {
        let id = self.session.id;
        let duration = seconds(self.samples_in);
        let (code, reason, error) = match &end {
            End::CloseStream | End::ClientGone => (1000, "", None),
            End::Failed(e) => (e.close_code(), e.code(), Some(e)),
        };
        if let Some(e) = error {
            let trace = Uuid::new_v4();
            match e {
                SessionError::Internal(detail) => tracing::error!(session = %id, %trace, detail, "live session failed"),
                other => tracing::info!(session = %id, code = other.code(), "live session ended: {other}"),
            }
            if !matches!(e, SessionError::SlowConsumer) {
                send_error(&self.out, e, trace).await;
            }
        }
        // Subscribed before the job can exist, so its announcement cannot be missed.
        let (_, announcements) = self.captions.subscribe();
        if self.request.options.diarize {
            self.relabel_speakers().await;
        }
        if !self.gaps.is_empty()
            && let Err(e) =
                self.service.store.add_transcript_gaps(self.request.tenant_id, self.meeting.id, &self.gaps).await
        {
            tracing::error!(session = %id, gaps = ?self.gaps, error = %e, "recording transcript gaps failed");
        }
        let meeting = self.finalize_meeting(duration).await;
        let client_there = !matches!(end, End::ClientGone | End::Failed(SessionError::SlowConsumer));
        if client_there {
            let metadata = Metadata {
                transaction_key: "deprecated",
                request_id: id,
                sha256: String::new(),
                created: self.session.started_at.to_rfc3339(),
                duration: round3(duration),
                channels: 1,
                models: vec![self.service.model_uuid],
                model_info: [(self.service.model_uuid, self.model_info())].into(),
            };
            let _ = self.send_reliable(ServerMessage::Metadata(metadata).to_json()).await;
        }
        if meeting.is_some() {
            let ended = ServerMessage::SessionEnded { session_id: id, meeting_id: self.meeting.id, duration }.to_json();
            self.captions.publish(ended.as_str().into(), false);
            if client_there {
                let _ = self.send_reliable(ended).await;
            }
        }
        tracing::info!(session = %id, seconds = round3(duration), finals = self.next_seq, "live session ended");
        // Finalization enqueues the intelligence job only for a meeting with text.
        let job_queued = !self.service.config.action_items_wait.is_zero()
            && meeting.is_some_and(|m| m.transcript_text.is_some_and(|t| !t.is_empty()));
        let client_waits = job_queued && client_there && code == 1000 && self.request.options.wait_for_action_items;
        let viewers = self.captions.viewers() > 1; // besides our own subscription
        self.captions.end();
        if !client_waits {
            close(&self.out, code, reason).await;
        }
        Linger {
            session: id,
            announcements: (job_queued && (client_waits || viewers)).then_some(announcements),
            client: client_waits.then(|| (self.out.clone(), code, reason)),
        }
    }

    /// End-of-meeting re-clustering: the stored finals get the speakers the whole meeting's
    /// embeddings agree on, before the meeting is assembled from them. A failure keeps the live
    /// labels.
    async fn relabel_speakers(&self) {
        let Some(diarize) = &self.service.diarize else { return };
        let reclustered = match diarize.finish(self.stream_key).await {
            Ok(r) if !r.turns.is_empty() => r,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(session = %self.session.id, error = %e, "re-clustering failed; live speaker labels kept");
                return;
            }
        };
        let store = &self.service.store;
        let tenant = self.request.tenant_id;
        let result = async {
            let finals = store.list_finals(tenant, self.session.id).await?;
            let relabeled = finals.into_iter().map(|f| relabel_final(f, &reclustered.turns)).collect();
            store.relabel_finals(tenant, self.session.id, relabeled).await
        };
        match result.await {
            Ok(()) => {
                tracing::info!(session = %self.session.id, speakers = reclustered.speakers, "speakers re-clustered")
            }
            Err(e) => tracing::warn!(session = %self.session.id, error = %e, "storing re-clustered speakers failed"),
        }
    }

    /// A failure here leaves the session ACTIVE with its finals stored: the next start of this
    /// instance finalizes it (crash recovery), so nothing is lost.
    async fn finalize_meeting(&self, duration: f64) -> Option<Meeting> {
        for attempt in 1..=3 {
            match self
                .service
                .store
                .finalize_live_session(self.request.tenant_id, self.session.id, Some(duration))
                .await
            {
                Ok(meeting) => return Some(meeting),
                Err(e) => {
                    tracing::warn!(session = %self.session.id, attempt, error = %e, "finalizing the meeting failed");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        None
    }
}

/// The end of a session after its meeting is stored: viewers still watching (and a client that
/// asked) wait for the meeting-intelligence job's `ActionItemsReady`, up to
/// `LiveConfig::action_items_wait` or shutdown; then the caption channel and the socket close.
struct Linger {
    session: Uuid,
    announcements: Option<broadcast::Receiver<Arc<str>>>,
    /// Set when the client waits too: the announcement is forwarded to it, then the socket is
    /// closed with this code and reason.
    client: Option<(mpsc::Sender<Message>, u16, &'static str)>,
}

impl Linger {
    async fn wait(self, service: &LiveService) {
        if let Some(mut rx) = self.announcements {
            let deadline = tokio::time::Instant::now() + service.config.action_items_wait;
            loop {
                let message = tokio::select! {
                    _ = service.shutdown.cancelled() => break,
                    _ = sleep_until(deadline) => break,
                    m = rx.recv() => m,
                };
                match message {
                    Ok(m) if m.contains(r#""type":"ActionItemsReady""#) => {
                        if let Some((client, _, _)) = &self.client {
                            let _ = client.send(Message::Text(m.as_ref().into())).await;
                        }
                        break;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        service.captions.close(self.session);
        if let Some((client, code, reason)) = self.client {
            close(&client, code, reason).await;
        }
    }
}

/// The writer ends once it has sent what was queued (the close frame last).
async fn finish_writer(writer: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(5), writer).await.is_err() {
        tracing::debug!("writer did not finish; dropping the connection");
    }
}

type PendingFinalFuture = std::pin::Pin<Box<dyn std::future::Future<Output = FinalDone> + Send>>;

/// Finals waiting for ASR, in order, with the audio span (samples) each covers, so what is still
/// pending when a deadline cuts the wait short can be reported.
#[derive(Default)]
struct PendingFinals {
    futures: FuturesOrdered<PendingFinalFuture>,
    spans: std::collections::VecDeque<std::ops::Range<u64>>,
}

impl PendingFinals {
    fn push(&mut self, span: std::ops::Range<u64>, future: PendingFinalFuture) {
        self.spans.push_back(span);
        self.futures.push_back(future);
    }

    fn len(&self) -> usize {
        self.futures.len()
    }

    fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    async fn next(&mut self) -> Option<FinalDone> {
        let done = self.futures.next().await?;
        self.spans.pop_front();
        Some(done)
    }
}

struct FinalDone {
    start: u64,
    samples: usize,
    speech_final: bool,
    from_finalize: bool,
    latency: Duration,
    reply: Result<UtteranceText, SessionError>,
    turns: Vec<SpeakerTurn>,
}

impl PendingFinal {
    async fn resolve(self) -> FinalDone {
        let reply = match self.reply.await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) => Err(inference_error(e)),
            Err(_) => Err(SessionError::Internal("the ASR engine stopped".into())),
        };
        // A diarization failure costs the speakers of this utterance, never its text.
        let turns = match self.turns {
            Some(rx) => match rx.await {
                Ok(Ok(turns)) => turns,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "speaker tracking failed for an utterance");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        FinalDone {
            turns,
            start: self.utterance_start,
            samples: self.samples,
            speech_final: self.speech_final,
            from_finalize: self.from_finalize,
            latency: self.submitted.elapsed(),
            reply,
        }
    }
}

async fn wait_partial(
    partial: &mut Option<(u64, u64, oneshot::Receiver<AsrReply>)>,
) -> Result<AsrReply, oneshot::error::RecvError> {
    match partial.as_mut() {
        Some((_, _, rx)) => rx.await,
        None => std::future::pending().await,
    }
}

fn inference_error(e: InferenceError) -> SessionError {
    match e {
        InferenceError::Overloaded => SessionError::Overloaded,
        other => SessionError::Internal(other.to_string()),
    }
}

async fn write_loop(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(message) = rx.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

async fn send_error(out: &mpsc::Sender<Message>, e: &SessionError, trace: Uuid) {
    let message = ServerMessage::Error { code: e.code(), message: e.public_message(trace), retryable: e.retryable() };
    let _ = out.send_timeout(Message::Text(message.to_json().into()), Duration::from_secs(1)).await;
}

async fn close(out: &mpsc::Sender<Message>, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = out.send_timeout(Message::Close(Some(frame)), Duration::from_secs(1)).await;
}

fn seconds(samples: u64) -> f64 {
    samples as f64 / MODEL_RATE as f64
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Each word gets the speaker of the turns it overlaps most (times in seconds, turns in samples).
fn label_words(words: &mut [Word], turns: &[SpeakerTurn]) {
    let at = |t: f64| (t.max(0.0) * MODEL_RATE as f64).round() as u64;
    for w in words {
        w.speaker = speaker_for_span(turns, at(w.start), at(w.end).max(at(w.start) + 1));
    }
}

/// A stored final with its words' speakers taken from `turns`.
fn relabel_final(f: crate::model::TranscriptFinal, turns: &[SpeakerTurn]) -> FinalSpeakers {
    let mut words: Vec<Word> = serde_json::from_value(f.words.0).unwrap_or_default();
    label_words(&mut words, turns);
    let at = |ms: i32| ms.max(0) as u64 * MODEL_RATE as u64 / 1000;
    let speaker = majority_speaker(&words)
        .or_else(|| speaker_for_span(turns, at(f.start_ms), at(f.end_ms).max(at(f.start_ms) + 1)));
    FinalSpeakers {
        seq: f.seq,
        speaker: speaker.map(|s| s as i32),
        words: serde_json::to_value(&words).expect("words serialize"),
    }
}

/// The speaker of most of the words' time.
fn majority_speaker(words: &[Word]) -> Option<u32> {
    let mut time: std::collections::BTreeMap<u32, f64> = Default::default();
    for w in words {
        if let Some(s) = w.speaker {
            *time.entry(s).or_default() += (w.end - w.start).max(1e-3);
        }
    }
    time.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(s, _)| s)
}

/// faster-whisper's rule for windows that are silence decoded as text.
fn is_hallucination(s: &Segment) -> bool {
    s.text.trim().is_empty() || (s.no_speech_prob > 0.6 && s.avg_logprob < -1.0)
}

/// Words of a segment with times spread over the segment by character count (Whisper gives
/// segment timestamps; word-level alignment is not implemented).
fn segment_words(s: &Segment, offset: f64) -> Vec<Word> {
    let tokens: Vec<&str> = s.text.split_whitespace().collect();
    let total: usize = tokens.iter().map(|t| t.chars().count()).sum::<usize>().max(1);
    let (start, end) = (s.start as f64, (s.end as f64).max(s.start as f64));
    let confidence = round3((s.avg_logprob as f64).exp().clamp(0.0, 1.0));
    let mut at = start;
    tokens
        .iter()
        .map(|t| {
            let len = (end - start) * t.chars().count() as f64 / total as f64;
            let word = Word {
                word: t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase(),
                start: round3(offset + at),
                end: round3(offset + at + len),
                confidence,
                speaker: None,
                punctuated_word: (*t).to_owned(),
            };
            at += len;
            word
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(text: &str, start: f32, end: f32) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            tokens: vec![],
            avg_logprob: -0.2,
            no_speech_prob: 0.1,
            temperature: 0.0,
            compression_ratio: 1.0,
        }
    }

    #[test]
    fn words_cover_the_segment_in_order() {
        let words = segment_words(&segment(" Hello, world. Yes!", 1.0, 3.0), 10.0);
        assert_eq!(words.len(), 3);
        assert_eq!(words[0].word, "hello");
        assert_eq!(words[0].punctuated_word, "Hello,");
        assert_eq!(words[0].start, 11.0);
        assert_eq!(words[2].end, 13.0);
        assert!(words.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
        assert!((words[0].confidence - (-0.2f64).exp()).abs() < 1e-3);
    }

    #[test]
    fn silence_read_as_text_is_dropped() {
        let mut s = segment("Thank you.", 0.0, 1.0);
        assert!(!is_hallucination(&s));
        s.no_speech_prob = 0.9;
        s.avg_logprob = -1.5;
        assert!(is_hallucination(&s));
    }
}
