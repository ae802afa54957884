//! One live session = one `SessionActor`, the only owner of the session's state: its `select!`
//! loop reads the socket, feeds audio through decoder → VAD → segmenter → ASR, and turns finished
//! utterances into stored, sent and published finals.
//!
//! Audio is decoded and resampled inline (cheap), VAD runs on the VAD thread, Whisper on the
//! engine's threads. A final is stored before it is sent, so whatever a client has seen is in the
//! database; at the end the meeting is assembled from the stored finals. Outgoing messages go
//! through the [`Outbox`] (its header has the full-queue policy). Reading pauses while
//! `max_pending_finals` finals wait for ASR, or while the audio is more than `max_audio_ahead`
//! ahead of real time (backpressure to the client), so memory per session stays bounded whatever
//! the client sends; the idle clock stops meanwhile (the server, not the client, is waiting).
//!
//! Nothing accepted is dropped silently: when the session ends every pending final is awaited
//! (only a shutdown has a deadline), and audio that still cannot become a stored final (engine
//! stopped, shutdown deadline, store failure) is reported to the client as a `TranscriptGap` with
//! its time range and recorded on the meeting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::sleep_until;
use uuid::Uuid;

use super::caption_hub::{CaptionChannel, CaptionEvent};
use super::control_message::ControlMessage;
use super::final_writer::{ATTEMPT_TIMEOUT, FinalWriter, Persistence};
use super::linger::Linger;
use super::listen_params::ListenOptions;
use super::live_minutes::{LiveMinutes, MinutesLine, next_proposal};
use super::live_recorder::LiveRecorder;
use super::live_service::{Admission, LiveService};
use super::local_agreement::LocalAgreement;
use super::outbox::Outbox;
use super::pending_finals::{AsrReply, FinalDone, PendingFinal, PendingFinals};
use super::results::{ResultsStamp, model_info, results, round3, seconds};
use super::served_model::ServedModel;
use super::server_message::{Metadata, ServerMessage};
use super::session_error::SessionError;
use super::speakers::majority_speaker;
use super::utterance_segmenter::{SegmentEvent, SegmenterConfig, Utterance, UtteranceSegmenter};
use crate::audio::StreamDecoder;
use crate::domain::{ActionItem, Meeting, RealtimeSession, SpeakerIdentity, TranscriptGap};
use crate::inference::InferenceError;
use crate::inference::asr::{DecodeContext, LanguageChoice, UtteranceText};
use crate::inference::diarize::SpeakerTurn;
use crate::inference::vad::{CHUNK, VadState};
use crate::store::{NewFinal, NewLiveSession};

/// How long a client gets to answer the server's close frame before the connection is dropped.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// A session without `language` keeps the first language detected on an utterance of at least
/// this much speech (3 s at 16 kHz) with at least this probability.
pub(super) const LANGUAGE_LOCK_SAMPLES: usize = 48_000;
pub(super) const LANGUAGE_LOCK_PROBABILITY: f32 = 0.8;

/// Who opened the session and how.
pub struct SessionRequest {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub options: ListenOptions,
    /// Index of the session's model in `LiveService::models`.
    pub model: usize,
}

/// How the session ended.
enum End {
    CloseStream,
    ClientGone,
    Failed(SessionError),
}

pub struct SessionActor {
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
    outbox: Outbox,
    /// What every `Results` of this session carries.
    stamp: ResultsStamp,
    next_seq: i32,
    samples_in: u64,
    /// Id of the newest utterance sent for a final: partials of it or older are stale.
    finalized_up_to: Option<u64>,
    stream_key: u64,
    last_word_end: f64,
    /// The language finals are decoded in: the session's `language`, else the first one detected
    /// on speech (among the listed ones for `language=ko,en`), then kept, so a sentence in
    /// another language does not flip the session.
    language: LanguageChoice,
    /// The session's vocabulary (its keyterms, then the tenant's glossary).
    keyterms: Option<Arc<[String]>>,
    /// Audio accepted but not in the transcript; recorded on the meeting at the end.
    gaps: Vec<TranscriptGap>,
    /// Stores finals in order, keeping them while the database is away.
    writer: FinalWriter,
    /// Compares consecutive partials of the open utterance for settled segments.
    agreement: LocalAgreement,
    /// The session's audio going to its meeting's recording (`record=true`).
    recorder: Option<LiveRecorder>,
    /// Action items drafted while the meeting runs; `None` without an LLM.
    minutes: Option<LiveMinutes>,
}

impl SessionActor {
    fn model(&self) -> &ServedModel {
        &self.service.models[self.request.model]
    }

    fn decode_context(&self) -> DecodeContext {
        DecodeContext { language: self.language.clone(), keyterms: self.keyterms.clone() }
    }

    /// Runs a session on an upgraded socket until it ends; never panics on client input.
    pub async fn run(service: Arc<LiveService>, request: SessionRequest, socket: WebSocket, admission: Admission) {
        let (sink, mut stream) = socket.split();
        let (outbox, writer) = Outbox::start(sink, service.config.slow_consumer_timeout);
        let started = match Self::start(service.clone(), request, outbox.clone()).await {
            Ok(actor) => Some(actor),
            Err(e) => {
                let trace = Uuid::new_v4();
                tracing::error!(%trace, error = %e, "live session could not start");
                outbox.send_error(&e, trace).await;
                outbox.close(e.close_code(), e.code()).await;
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
        drop(outbox);
        if linger.as_ref().is_none_or(|l| l.client.is_none()) {
            // The close frame is queued: let the writer send it and end the connection now.
            writer.finish().await;
            await_client_close(stream).await;
            if let Some(linger) = linger {
                linger.wait(&service).await;
            }
        } else if let Some(linger) = linger {
            linger.wait(&service).await;
            writer.finish().await;
            await_client_close(stream).await;
        }
    }

    async fn start(service: Arc<LiveService>, request: SessionRequest, outbox: Outbox) -> Result<Self, SessionError> {
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
            language: Self::known_language(&service.models[request.model], &request.options.language),
            model: Some(service.models[request.model].name.clone()),
        };
        let (session, meeting) = service
            .store
            .start_live_session(request.tenant_id, live)
            .await
            .map_err(|e| SessionError::Internal(format!("starting session: {e}")))?;
        let recorder = match (&service.recordings, request.options.record) {
            (Some(storage), true) => {
                let started =
                    LiveRecorder::start(storage, &*service.store, request.tenant_id, meeting.id, session.id).await;
                Some(started.map_err(|e| SessionError::Internal(format!("starting the recording: {e}")))?)
            }
            _ => None,
        };
        let captions = service.captions.open(session.id, request.tenant_id, meeting.id);
        let minutes = service.minutes_drafting().map(|drafting| {
            LiveMinutes::start(drafting, service.store.clone(), &meeting, &service.actors, service.shutdown.clone())
        });
        let o = &request.options;
        let language = o.language.clone();
        let keyterms = o.vocabulary.keyterms();
        let segmenter = UtteranceSegmenter::new(SegmenterConfig {
            endpointing_ms: o.endpointing_ms,
            partial_every_ms: o.interim_results.then_some(500),
            max_utterance_ms: service.config.max_utterance_ms,
            split_pause_ms: service.config.split_pause_ms,
            split_after_ms: service.config.split_after_ms,
            ..SegmenterConfig::default()
        });
        tracing::info!(session = %session.id, meeting = %meeting.id, tenant = %request.tenant_id, "live session started");
        let stamp = ResultsStamp {
            request_id: session.id,
            model_info: model_info(&service.models[request.model].name),
            model_uuid: service.models[request.model].uuid,
        };
        let request_tenant = request.tenant_id;
        let actor = Self {
            stream_key: session.id.as_u64_pair().0,
            service,
            request,
            captions,
            decoder,
            segmenter,
            vad_state: VadState::default(),
            vad_buffer: Vec::new(),
            outbox,
            stamp,
            next_seq: 0,
            samples_in: 0,
            finalized_up_to: None,
            last_word_end: 0.0,
            language,
            keyterms,
            gaps: Vec::new(),
            writer: FinalWriter::new(request_tenant),
            agreement: LocalAgreement::default(),
            recorder,
            minutes,
            session,
            meeting,
        };
        let started = ServerMessage::SessionStarted { session_id: actor.session.id, meeting_id: actor.meeting.id };
        actor.outbox.send_reliable(started.to_json()).await?;
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
        // `None`: a limit too far away to matter.
        let ends_at = started.checked_add(self.service.config.max_session_duration);
        let mut paused = false;
        // Retries of finals kept while the database is away, and the session's sign of life.
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(self.service.config.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut proposals = self.minutes.as_ref().map(LiveMinutes::proposals);
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
                // Ended as a CloseStream would end it (finals flushed, meeting finalized), with its own code.
                _ = sleep_until(ends_at.unwrap_or(deadline)), if ends_at.is_some() => {
                    Ok(Some(End::Failed(SessionError::MaxDuration(self.service.config.max_session_duration.as_secs()))))
                }
                Some(done) = finals.next(), if !finals.is_empty() => self.on_final(done).await.map(|_| None),
                _ = retry.tick(), if self.writer.unsaved() > 0 => {
                    let persistence = self.writer.flush(&*self.service.store).await;
                    self.on_persistence(persistence).await.map(|_| None)
                }
                _ = heartbeat.tick() => {
                    self.touch().await;
                    Ok(None)
                }
                items = next_proposal(&mut proposals) => self.on_proposed(items).await.map(|_| None),
                reply = wait_partial(&mut partial), if partial.is_some() => {
                    let (id, start, _) = partial.take().expect("guarded by is_some");
                    if let Some((head, text)) = self.on_partial(id, start, reply) {
                        self.submit_settled(head, text, &mut finals);
                    }
                    if let Some(u) = next_partial.take().filter(|u| self.finalized_up_to.is_none_or(|done| u.id > done)) {
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
            self.record(&flush);
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
        self.record(&samples);
        self.vad_buffer.extend_from_slice(&samples);
        let whole = self.vad_buffer.len() / CHUNK * CHUNK;
        if whole == 0 {
            return Ok(Vec::new());
        }
        let audio: Vec<f32> = self.vad_buffer.drain(..whole).collect();
        self.vad_chunks(audio).await
    }

    /// Adds decoded audio to the recording; a recording that cannot be written stops (what it
    /// holds stays), the session goes on.
    fn record(&mut self, audio: &[f32]) {
        if let Some(recorder) = &mut self.recorder
            && let Err(e) = recorder.push(audio)
        {
            tracing::error!(session = %self.session.id, error = %e, "writing the recording failed; it ends here");
            self.recorder = None;
        }
    }

    async fn vad_chunks(&mut self, audio: Vec<f32>) -> Result<Vec<SegmentEvent>, SessionError> {
        if audio.is_empty() {
            return Ok(Vec::new());
        }
        self.samples_in += audio.len() as u64;
        let state = std::mem::take(&mut self.vad_state);
        let (state, audio, probs) = self.service.vad.probabilities(state, audio).await;
        self.vad_state = state;
        let probs = probs.map_err(SessionError::from)?;
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
                    self.outbox.send_droppable(message.to_json());
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
        let rx = self.model().asr.submit_partial(self.stream_key, u.audio, self.decode_context()).ok()?;
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
            let span = utterance.start..utterance.start + utterance.audio.len() as u64;
            let turns = self.track_speakers(utterance.start, &utterance.audio);
            let (start, samples) = (utterance.start, utterance.audio.len());
            // Waits for room in the engine's queue (reading is paused meanwhile); fails only when
            // the engine has stopped.
            let reply = match self.model().asr.submit(utterance.audio, self.decode_context()).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.report_gap(span, "engine_stopped").await;
                    return Err(SessionError::from(e));
                }
            };
            let pending = PendingFinal {
                utterance_start: start,
                samples,
                speech_final,
                from_finalize,
                submitted: Instant::now(),
                reply,
                turns,
            };
            finals.push(span, Box::pin(pending.resolve()));
        }
        Ok(())
    }

    /// Queues a final whose text is already known: the settled segments of a partial, for the
    /// audio up to where the segmenter cut the utterance.
    fn submit_settled(&mut self, head: Utterance, mut text: UtteranceText, finals: &mut PendingFinals) {
        self.finalized_up_to = Some(head.id);
        let samples = head.audio.len();
        let span = head.start..head.start + samples as u64;
        // The cut may sit a little before the last segment's timestamp.
        let duration = samples as f32 / 16_000.0;
        for segment in &mut text.segments {
            segment.end = segment.end.min(duration);
            segment.start = segment.start.min(segment.end);
        }
        let turns = self.track_speakers(head.start, &head.audio);
        let (tx, reply) = oneshot::channel();
        let _ = tx.send(Ok(text));
        let pending = PendingFinal {
            utterance_start: head.start,
            samples,
            speech_final: false,
            from_finalize: false,
            submitted: Instant::now(),
            reply,
            turns,
        };
        finals.push(span, Box::pin(pending.resolve()));
    }

    /// Tells the client which audio will not be in the transcript, and keeps it for the meeting.
    async fn report_gap(&mut self, span: std::ops::Range<u64>, reason: &'static str) {
        let (start, end) = (round3(seconds(span.start)), round3(seconds(span.end)));
        tracing::warn!(session = %self.session.id, start, end, reason, "audio not transcribed");
        crate::metrics::live_transcript_gap(reason);
        self.gaps.push(TranscriptGap { start, end, reason: reason.into() });
        let event = CaptionEvent::new(ServerMessage::TranscriptGap { start, end, reason });
        self.captions.publish(event.clone());
        let _ = self.outbox.send_reliable(event.json.to_string()).await;
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

    /// Sends a partial; returns the utterance's settled head and its text when this partial
    /// and the one before agree on leading segments far enough into the utterance.
    fn on_partial(
        &mut self,
        id: u64,
        start: u64,
        reply: Result<AsrReply, oneshot::error::RecvError>,
    ) -> Option<(Utterance, UtteranceText)> {
        if self.finalized_up_to.is_some_and(|done| id <= done) {
            return None;
        }
        let Ok(Ok(text)) = reply else { return None };
        let (results, _) = results(&self.stamp, start, &text.segments, None);
        let event = CaptionEvent::new(ServerMessage::Results(results));
        self.captions.publish(event.clone());
        if self.request.options.interim_results {
            self.outbox.send_droppable(event.json.to_string());
        }
        let settle_after = self.service.config.settle_after_ms?;
        let settled = self.agreement.offer(id, &text.segments);
        let end = text.segments[..settled].last()?.end;
        if end * 1000.0 < settle_after as f32 {
            return None;
        }
        let head = self.segmenter.commit(id, (end * 16_000.0) as usize)?;
        let segments = text.segments[..settled].to_vec();
        Some((head, UtteranceText { segments, ..text }))
    }

    async fn on_final(&mut self, mut done: FinalDone) -> Result<(), SessionError> {
        let span = done.start..done.start + done.samples as u64;
        let utterance = match std::mem::replace(&mut done.reply, Ok(UtteranceText::default())) {
            Ok(utterance) => utterance,
            // One utterance the engine failed on is a gap, not the end of the session; an engine
            // that stopped ends it when the next final cannot be queued.
            Err(e) => {
                tracing::error!(session = %self.session.id, error = %e, "transcribing an utterance failed");
                self.report_gap(span, "engine_failed").await;
                return Ok(());
            }
        };
        let (results, words) = results(&self.stamp, done.start, &utterance.segments, Some(&done));
        let text = results.channel.alternatives[0].transcript.clone();
        // An empty final (silence, a Finalize with nothing open) has nothing to keep.
        let mut stored_seq = None;
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
                words: words.clone(),
            };
            if let Some(minutes) = &self.minutes {
                minutes.push(MinutesLine {
                    seq: final_row.seq,
                    speaker: final_row.speaker,
                    start: results.start,
                    end,
                    text: final_row.text.clone(),
                    language: Self::known_language(self.model(), &self.language),
                });
            }
            let persistence = self.writer.write(&*self.service.store, final_row).await;
            if persistence == Persistence::Overflow {
                self.report_gap(span, "not_stored").await;
            }
            self.on_persistence(persistence).await?;
            stored_seq = Some(self.next_seq);
            self.next_seq += 1;
            // The first language detected with confidence on enough speech holds for the rest
            // of the session (a short "Hello?" is no evidence; until then each utterance is
            // detected on its own).
            if self.language.fixed().is_none()
                && done.samples >= LANGUAGE_LOCK_SAMPLES
                && utterance.language_probability.is_some_and(|p| p >= LANGUAGE_LOCK_PROBABILITY)
            {
                tracing::info!(session = %self.session.id, language = ?utterance.language, "session language detected");
                if let Some(language) = utterance.language {
                    // Stored now, not only at the end: a crash must not lose it (finalizing
                    // writes it again, so a failure here only costs that).
                    let store = &self.service.store;
                    if let Err(e) = store.set_meeting_language(self.request.tenant_id, self.meeting.id, &language).await
                    {
                        tracing::warn!(session = %self.session.id, error = %e, "storing the detected language failed");
                    }
                    self.language = LanguageChoice::Fixed(language);
                }
            }
            crate::metrics::live_final(done.latency);
        }
        if let Some(last) = words.last() {
            self.last_word_end = last.end;
        }
        let event = match stored_seq {
            Some(seq) => CaptionEvent::stored(ServerMessage::Results(results), seq),
            None => CaptionEvent::new(ServerMessage::Results(results)),
        };
        self.captions.publish(event.clone());
        self.outbox.send_reliable(event.json.to_string()).await?;
        if done.speech_final && self.request.options.utterance_end_ms.is_some() {
            let message = ServerMessage::UtteranceEnd { channel: [0, 1], last_word_end: self.last_word_end };
            self.outbox.send_reliable(message.to_json()).await?;
        }
        Ok(())
    }

    /// Provisional action items, to the client and the viewers.
    async fn on_proposed(&mut self, action_items: Vec<ActionItem>) -> Result<(), SessionError> {
        let event = CaptionEvent::new(ServerMessage::ActionItemsProposed { meeting_id: self.meeting.id, action_items });
        self.captions.publish(event.clone());
        self.outbox.send_reliable(event.json.to_string()).await
    }

    /// Tells the client when its finals are only in memory, and when they are stored again.
    async fn on_persistence(&mut self, persistence: Persistence) -> Result<(), SessionError> {
        let message = match persistence {
            Persistence::Stored | Persistence::Degraded { newly: false, .. } => return Ok(()),
            Persistence::Overflow => return Err(SessionError::StoreUnavailable),
            Persistence::Degraded { unsaved, newly: true } => {
                crate::metrics::live_persistence_degraded();
                ServerMessage::PersistenceDegraded { unsaved_finals: unsaved }
            }
            Persistence::Restored { stored, after } => {
                // The sweeper may not have seen a sign of life for as long as the outage lasted.
                self.touch().await;
                ServerMessage::PersistenceRestored { stored_finals: stored, after: round3(after.as_secs_f64()) }
            }
        };
        self.outbox.send_reliable(message.to_json()).await
    }

    /// Finals kept while the database was away go in before the meeting is assembled from them:
    /// retried for up to `drain_timeout` (less at shutdown). What still cannot be stored was sent
    /// to the client but will be missing from the meeting; it is logged with its time range.
    async fn store_unsaved(&mut self) {
        let deadline = tokio::time::Instant::now() + self.service.config.drain_timeout;
        while self.writer.unsaved() > 0 {
            let persistence = self.writer.flush(&*self.service.store).await;
            let _ = self.on_persistence(persistence).await;
            if self.writer.unsaved() == 0 {
                break;
            }
            tokio::select! {
                _ = self.service.shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        if let Some((first, last)) = self.writer.unsaved_range() {
            tracing::error!(session = %self.session.id, unsaved = self.writer.unsaved(), first_ms = first, last_ms = last,
                "the database did not come back: finals the client received are missing from the meeting");
        }
    }

    /// Stamps the session's heartbeat; a failure only means the database is away (the finals
    /// say so to the client).
    async fn touch(&self) {
        let touched = tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            self.service.store.touch_session(self.request.tenant_id, self.session.id, crate::domain::now()),
        )
        .await;
        if !matches!(touched, Ok(Ok(()))) {
            tracing::debug!(session = %self.session.id, "heartbeat not stored");
        }
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

    /// Stores the meeting and tells the client how it ended. What is left — waiting for the
    /// action items, closing the socket — is the returned [`Linger`].
    async fn finish(mut self, end: End) -> Linger {
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
                self.outbox.send_error(e, trace).await;
            }
        }
        // No more lines: a draft under way still finishes, for the final minutes to reuse.
        self.minutes = None;
        self.store_unsaved().await;
        if let Some(recorder) = self.recorder.take()
            && let Err(e) = recorder.finish(&*self.service.store).await
        {
            tracing::error!(session = %id, error = %e, "ending the recording failed; the file holds what was written");
        }
        // Subscribed before the job can exist, so its announcement cannot be missed.
        let (_, announcements) = self.captions.subscribe();
        let identities = if self.request.options.diarize {
            self.service.relabel_speakers(self.request.tenant_id, self.session.id, self.stream_key).await
        } else {
            BTreeMap::new()
        };
        if !self.gaps.is_empty()
            && let Err(e) =
                self.service.store.add_transcript_gaps(self.request.tenant_id, self.meeting.id, &self.gaps).await
        {
            tracing::error!(session = %id, gaps = ?self.gaps, error = %e, "recording transcript gaps failed");
        }
        let meeting = self.finalize_meeting(duration, &identities).await;
        let client_there = !matches!(end, End::ClientGone | End::Failed(SessionError::SlowConsumer));
        if client_there {
            let metadata = Metadata {
                transaction_key: "deprecated",
                request_id: id,
                sha256: String::new(),
                created: self.session.started_at.to_rfc3339(),
                duration: round3(duration),
                channels: 1,
                models: vec![self.stamp.model_uuid],
                model_info: [(self.stamp.model_uuid, self.stamp.model_info.clone())].into(),
            };
            let _ = self.outbox.send_reliable(ServerMessage::Metadata(metadata).to_json()).await;
        }
        // Finalization enqueues the intelligence job only for a meeting with text.
        let job_queued = !self.service.config.action_items_wait.is_zero()
            && meeting.as_ref().is_some_and(|m| m.transcript_text.as_ref().is_some_and(|t| !t.is_empty()));
        if meeting.is_some() {
            let message = ServerMessage::SessionEnded { session_id: id, meeting_id: self.meeting.id, duration };
            let ended = CaptionEvent::session_ended(message, job_queued);
            self.captions.publish(ended.clone());
            if client_there {
                let _ = self.outbox.send_reliable(ended.json.to_string()).await;
            }
        }
        tracing::info!(session = %id, seconds = round3(duration), finals = self.next_seq, "live session ended");
        let client_waits = job_queued && client_there && code == 1000 && self.request.options.wait_for_action_items;
        let viewers = self.captions.viewers() > 1; // besides our own subscription
        self.captions.end();
        if !client_waits {
            self.outbox.close(code, reason).await;
        }
        Linger {
            session: id,
            announcements: (job_queued && (client_waits || viewers)).then_some(announcements),
            client: client_waits.then(|| (self.outbox.clone(), code, reason)),
        }
    }

    /// A failure here leaves the session ACTIVE with its finals stored: the next start of this
    /// instance finalizes it (crash recovery), so nothing is lost.
    async fn finalize_meeting(&self, duration: f64, identities: &BTreeMap<i32, SpeakerIdentity>) -> Option<Meeting> {
        let language = Self::known_language(self.model(), &self.language);
        for attempt in 1..=3 {
            match self
                .service
                .store
                .finalize_live_session(
                    self.request.tenant_id,
                    self.session.id,
                    Some(duration),
                    language.as_deref(),
                    identities,
                )
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

impl SessionActor {
    /// The language the session decodes in, as stored on its meeting: the fixed or locked one,
    /// English for an English-only model, `None` while it is still detected per utterance.
    fn known_language(model: &ServedModel, language: &LanguageChoice) -> Option<String> {
        if model.english_only() { Some("en".to_owned()) } else { language.fixed().map(str::to_owned) }
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

/// After the server's close frame, what the client still sends is read and dropped until its own
/// close frame (the closing handshake), for at most [`CLOSE_HANDSHAKE`]. Dropping the socket with
/// audio the client sent still unread makes the kernel reset the connection, and a client that
/// was streaming then loses what it had not read yet: the `Error`, `SessionEnded` and close
/// frame that tell it why the session ended.
async fn await_client_close(mut stream: futures_util::stream::SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
