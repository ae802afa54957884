//! A transcription session without a socket: an uploaded recording, read from storage by the
//! `transcribe_recording` job through the same models and policy as a live session (VAD,
//! utterance segmenter, Whisper, diarizer), its finals stored as they come under the recording's
//! session. A job that dies resumes after its last stored final: the file is decoded and cut
//! again (both deterministic), the utterances already stored skip Whisper, and every utterance
//! still goes through the diarizer so the end-of-meeting re-clustering sees the whole meeting.
//!
//! Memory stays bounded whatever the file's length: the file is decoded packet by packet into
//! [`PIECE`]-long pieces on a blocking thread (a channel of two pieces), and at most
//! [`IN_FLIGHT`] utterances wait for Whisper. Whisper serves recordings in its background lane,
//! after every live session's work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::actor::{LANGUAGE_LOCK_PROBABILITY, LANGUAGE_LOCK_SAMPLES};
use super::listen_params::DEFAULT_ENDPOINTING_MS;
use super::live_service::LiveService;
use super::results::utterance_words;
use super::speakers::majority_speaker;
use super::utterance_segmenter::{SegmentEvent, SegmenterConfig, Utterance, UtteranceSegmenter};
use super::vocabulary::Vocabulary;
use crate::audio::{AudioError, AudioReader, MODEL_RATE, Resampler, downmix};
use crate::domain::{Job, Meeting, Recording};
use crate::inference::InferenceError;
use crate::inference::asr::{DecodeContext, LanguageChoice, UtteranceText};
use crate::inference::diarize::SpeakerTurn;
use crate::inference::vad::{CHUNK, VadState};
use crate::store::{NewFinal, StoreError};

/// Decoded audio handed from the decoding thread at a time: 10 s (a whole number of VAD chunks).
const PIECE: usize = CHUNK * 312;
const _: () = assert!(PIECE.is_multiple_of(CHUNK));
/// Utterances of one recording waiting for Whisper (and the diarizer) at once: enough for full
/// batches whatever the order results come back in.
const IN_FLIGHT: usize = 32;
/// Progress is stored at most this often.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file does not decode (it passed the upload's checks, so it is damaged further in).
    #[error("the recording does not decode: {0}")]
    Audio(#[from] AudioError),
    /// A model thread failed or stopped: worth another attempt.
    #[error("transcribing failed: {0}")]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a finished recording's transcription gives.
#[derive(Debug)]
pub struct Transcribed {
    pub meeting: Meeting,
    pub audio_seconds: f64,
    /// Utterances transcribed by this attempt, and those a former attempt had stored.
    pub transcribed: usize,
    pub resumed: usize,
}

type Turns = Option<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>>;

/// An utterance on its way through Whisper.
struct InFlight {
    utterance_start: u64,
    samples: usize,
    speech_final: bool,
    text: oneshot::Receiver<Result<UtteranceText, InferenceError>>,
    turns: Turns,
}

impl LiveService {
    /// Transcribes the recording of `job`'s meeting (the file at `path`) to the end and stores
    /// the finished meeting (with its meeting-intelligence job), resuming what an earlier attempt
    /// stored. Every store write is fenced by the job's claim.
    pub async fn transcribe_recording(&self, job: &Job, path: PathBuf) -> Result<Transcribed, RecordingError> {
        let (recording, session) = self.store.begin_recording_transcription(job).await?;
        let tenant = job.tenant_id;
        let stored = self.store.list_finals(tenant, session.id).await?;
        let resume_at = stored.last().map_or(0, |f| f.end_ms.max(0) as u64 * MODEL_RATE as u64 / 1000);
        let mut run = Run {
            service: self,
            job,
            recording: &recording,
            session: session.id,
            meeting: recording.meeting_id,
            // Its own diarizer stream; what an earlier attempt in this process left is dropped.
            stream: session.id.as_u64_pair().0,
            model: self.recording_model(&recording),
            language: match recording.language.as_deref() {
                None | Some("multi") => LanguageChoice::Detect,
                Some(code) => LanguageChoice::Fixed(code.to_owned()),
            },
            keyterms: self.recording_vocabulary(tenant, &recording).await?.keyterms(),
            next_seq: stored.len() as i32,
            resume_at,
            in_flight: FuturesOrdered::new(),
            answered_up_to: resume_at,
            transcribed: 0,
            resumed: 0,
            last_progress: std::time::Instant::now(),
        };
        if recording.diarize
            && let Some(diarize) = &self.diarize
        {
            let _ = diarize.finish(run.stream).await;
        }
        tracing::info!(meeting = %run.meeting, model = %self.models[run.model].name, resume_at_ms = resume_at / 16,
            "transcribing a recording");
        let samples = run.read(path).await?;
        let audio_seconds = samples as f64 / MODEL_RATE as f64;
        let identities = if recording.diarize {
            self.relabel_speakers(tenant, session.id, run.stream).await
        } else {
            BTreeMap::new()
        };
        let language = match (&run.language, self.models[run.model].english_only()) {
            (_, true) => Some("en".to_owned()),
            (LanguageChoice::Fixed(code), _) => Some(code.clone()),
            _ => None,
        };
        let meeting =
            self.store.complete_recording_transcription(job, audio_seconds, language.as_deref(), &identities).await?;
        Ok(Transcribed { meeting, audio_seconds, transcribed: run.transcribed, resumed: run.resumed })
    }

    /// The recording's own terms, then its tenant's glossary.
    async fn recording_vocabulary(&self, tenant: Uuid, recording: &Recording) -> Result<Vocabulary, RecordingError> {
        let mut vocabulary = Vocabulary::new(recording.keyterms.0.iter().cloned());
        vocabulary.extend(self.store.get_tenant(tenant).await?.glossary.0);
        Ok(vocabulary)
    }

    /// The served model the recording asked for (by name, else by language), else the first.
    fn recording_model(&self, recording: &Recording) -> usize {
        super::served_model::choose(&self.models, recording.model.as_deref(), recording.language.as_deref())
            .unwrap_or(0)
    }
}

struct Run<'a> {
    service: &'a LiveService,
    job: &'a Job,
    recording: &'a Recording,
    session: Uuid,
    meeting: Uuid,
    stream: u64,
    model: usize,
    language: LanguageChoice,
    /// The recording's vocabulary (its keyterms, then the tenant's glossary).
    keyterms: Option<Arc<[String]>>,
    next_seq: i32,
    /// Utterances starting before this sample were stored by an earlier attempt.
    resume_at: u64,
    in_flight: FuturesOrdered<std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send>>>,
    /// The end (sample) of the last utterance Whisper answered.
    answered_up_to: u64,
    transcribed: usize,
    resumed: usize,
    last_progress: std::time::Instant,
}

struct Done {
    utterance_start: u64,
    samples: usize,
    speech_final: bool,
    text: Result<UtteranceText, InferenceError>,
    turns: Vec<SpeakerTurn>,
}

impl Run<'_> {
    fn decode_context(&self) -> DecodeContext {
        DecodeContext { language: self.language.clone(), keyterms: self.keyterms.clone() }
    }

    /// Decodes, cuts and transcribes the whole file; returns its length in samples (16 kHz).
    async fn read(&mut self, path: PathBuf) -> Result<u64, RecordingError> {
        let (pieces, mut rx) = mpsc::channel(2);
        let decoder = tokio::task::spawn_blocking(move || decode_pieces(&path, pieces));
        // Cut as a live session with default parameters is (300 ms pauses, at most 15 s): a
        // final holds one speaker's words far more often than a 30 s one would, and the
        // transcript reads by turns.
        let mut segmenter = UtteranceSegmenter::new(SegmenterConfig {
            endpointing_ms: Some(DEFAULT_ENDPOINTING_MS),
            partial_every_ms: None,
            max_utterance_ms: self.service.config.max_utterance_ms,
            ..SegmenterConfig::default()
        });
        let mut vad = VadState::default();
        let mut samples = 0u64;
        let mut total: Option<u64> = None;
        let mut tail = Vec::new();
        while let Some(piece) = rx.recv().await {
            let piece = match piece {
                Piece::Audio(audio) => audio,
                Piece::Length(frames) => {
                    total = Some(frames);
                    continue;
                }
                Piece::Failed(e) => {
                    decoder.abort();
                    return Err(e.into());
                }
            };
            let mut audio = std::mem::take(&mut tail);
            audio.extend_from_slice(&piece);
            let whole = audio.len() / CHUNK * CHUNK;
            tail = audio.split_off(whole);
            if audio.is_empty() {
                continue;
            }
            samples += audio.len() as u64;
            let (state, audio, probs) = self.service.vad.probabilities(vad, audio).await;
            vad = state;
            let events = segmenter.push(&audio, &probs?);
            self.on_events(events).await?;
            self.progress(samples, total).await?;
        }
        samples += tail.len() as u64;
        let events = segmenter.flush();
        self.on_events(events).await?;
        while let Some(done) = self.in_flight.next().await {
            self.store_final(done).await?;
        }
        Ok(samples)
    }

    async fn on_events(&mut self, events: Vec<SegmentEvent>) -> Result<(), RecordingError> {
        for event in events {
            let SegmentEvent::Final { utterance, speech_final } = event else { continue };
            self.submit(utterance, speech_final).await?;
        }
        Ok(())
    }

    /// Sends an utterance to the diarizer, and to Whisper unless an earlier attempt stored it;
    /// waits first while [`IN_FLIGHT`] utterances are on their way.
    async fn submit(&mut self, u: Utterance, speech_final: bool) -> Result<(), RecordingError> {
        let turns: Turns = match (&self.service.diarize, self.recording.diarize) {
            (Some(diarize), true) => Some(diarize.observe_waiting(self.stream, u.start, u.audio.clone()).await?),
            _ => None,
        };
        if u.start < self.resume_at {
            self.resumed += 1;
            // The turns still count for re-clustering, which the diarizer does from its history.
            if let Some(turns) = turns {
                let _ = turns.await;
            }
            return Ok(());
        }
        while self.in_flight.len() >= IN_FLIGHT {
            let done = self.in_flight.next().await.expect("in flight");
            self.store_final(done).await?;
        }
        let samples = u.audio.len();
        let text = self.service.models[self.model].asr.submit_background(u.audio, self.decode_context()).await?;
        let pending = InFlight { utterance_start: u.start, samples, speech_final, text, turns };
        self.in_flight.push_back(Box::pin(pending.resolve()));
        Ok(())
    }

    async fn store_final(&mut self, done: Done) -> Result<(), RecordingError> {
        let utterance = done.text?;
        self.transcribed += 1;
        self.answered_up_to = done.utterance_start + done.samples as u64;
        let (text, words) = utterance_words(done.utterance_start, &utterance.segments, &done.turns, !done.speech_final);
        if text.is_empty() {
            return Ok(());
        }
        let start_ms = done.utterance_start * 1000 / MODEL_RATE as u64;
        let end_ms = (done.utterance_start + done.samples as u64) * 1000 / MODEL_RATE as u64;
        let row = NewFinal {
            session_id: self.session,
            meeting_id: self.meeting,
            seq: self.next_seq,
            start_ms: start_ms as i32,
            end_ms: end_ms as i32,
            speaker: majority_speaker(&words).map(|s| s as i32),
            text,
            words,
        };
        let (store, tenant) = (self.service.store.clone(), self.job.tenant_id);
        to_the_end(async move { store.append_final(tenant, row).await }).await?;
        self.next_seq += 1;
        // As live: the first language detected with confidence on enough speech holds after.
        if self.language.fixed().is_none()
            && done.samples >= LANGUAGE_LOCK_SAMPLES
            && utterance.language_probability.is_some_and(|p| p >= LANGUAGE_LOCK_PROBABILITY)
            && let Some(language) = utterance.language
        {
            self.language = LanguageChoice::Fixed(language);
        }
        Ok(())
    }

    /// Stores how far the transcription got (every [`PROGRESS_EVERY`]); a cancelled job stops here.
    async fn progress(&mut self, decoded: u64, total: Option<u64>) -> Result<(), RecordingError> {
        if self.last_progress.elapsed() < PROGRESS_EVERY {
            return Ok(());
        }
        self.last_progress = std::time::Instant::now();
        // With nothing in Whisper, everything decoded is done (stored, or silence).
        let done = if self.in_flight.is_empty() { decoded } else { self.answered_up_to };
        let ms = |samples: u64| (samples * 1000 / MODEL_RATE as u64) as i64;
        let (store, job, done, total) = (self.service.store.clone(), self.job.clone(), ms(done), total.map(ms));
        to_the_end(async move { store.record_recording_progress(&job, done, total).await }).await?;
        Ok(())
    }
}

/// Runs a store write to its end even when the job's future is dropped (the server shutting
/// down gives the job back by dropping it): a write cut inside its transaction could leave the
/// transaction open on a pooled connection, and SQLite's write lock with it.
async fn to_the_end<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::spawn(write)
        .await
        .unwrap_or_else(|e| Err(StoreError::Database(sqlx::Error::Protocol(format!("the write's task failed: {e}")))))
}

impl InFlight {
    async fn resolve(self) -> Done {
        let text = self.text.await.unwrap_or(Err(InferenceError::EngineStopped));
        let turns = match self.turns {
            Some(rx) => rx.await.ok().and_then(Result::ok).unwrap_or_default(),
            None => Vec::new(),
        };
        Done {
            utterance_start: self.utterance_start,
            samples: self.samples,
            speech_final: self.speech_final,
            text,
            turns,
        }
    }
}

enum Piece {
    Audio(Vec<f32>),
    /// The file's length at 16 kHz, when its header says.
    Length(u64),
    Failed(AudioError),
}

/// Decodes the file into 16 kHz mono pieces of [`PIECE`] samples (the last one shorter), on a
/// blocking thread; stops when the receiver goes away.
fn decode_pieces(path: &std::path::Path, out: mpsc::Sender<Piece>) {
    let result = (|| {
        let mut reader = AudioReader::open(path)?;
        let mut resampler: Option<(u32, Resampler)> = None;
        let mut pending = Vec::with_capacity(PIECE * 2);
        let mut announced = false;
        let send = |piece: Piece| out.blocking_send(piece).is_ok();
        while let Some(samples) = reader.next_samples()? {
            let rate = reader.sample_rate;
            if !announced {
                announced = true;
                if let Some(frames) = reader.frames.filter(|_| rate > 0)
                    && !send(Piece::Length(frames * MODEL_RATE as u64 / rate as u64))
                {
                    return Ok(());
                }
            }
            if resampler.as_ref().is_none_or(|(r, _)| *r != rate) {
                resampler = Some((rate, Resampler::new(rate, MODEL_RATE)?));
            }
            let mono = downmix(&samples, reader.channels);
            pending.extend(resampler.as_mut().map(|(_, r)| r.push(&mono)).unwrap_or_default());
            while pending.len() >= PIECE {
                let rest = pending.split_off(PIECE);
                if !send(Piece::Audio(std::mem::replace(&mut pending, rest))) {
                    return Ok(());
                }
            }
        }
        if reader.sample_rate == 0 {
            return Err(AudioError::Corrupt("no decodable audio".into()));
        }
        if let Some((_, r)) = resampler.as_mut() {
            pending.extend(r.finish());
        }
        if !pending.is_empty() {
            let _ = send(Piece::Audio(pending));
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = out.blocking_send(Piece::Failed(e));
    }
}
