//! Live sessions: one [`SessionActor`] per `/v1/listen` WebSocket (the protocol is Deepgram's,
//! see `docs/protocol.md`).
//!
//! Where a message goes: binary frame → [`crate::audio::StreamDecoder`] (16 kHz mono) → VAD
//! thread ([`crate::inference::vad_worker`]) → [`UtteranceSegmenter`] (partials, finals) → ASR
//! engine threads ([`crate::inference::asr::AsrHandle`]) → the actor stores each final
//! ([`crate::store::Store::append_final`]), sends it ([`ServerMessage`]) and publishes it to
//! viewers ([`CaptionHub`]; on other instances through the [`CaptionRelay`]). At the end the meeting is assembled from the stored finals.
//!
//! Files: `actor` (the session's loop), `outbox` (outgoing queue and writer task), `results`
//! (Whisper segments → Deepgram `Results`), `speakers` (speaker labels of words), `pending_finals`
//! (finals in flight, in order), `local_agreement` (stable-prefix finals during continuous
//! speech), `linger` (after the meeting is stored: waiting for action items),
//! `caption_relay` (captions between instances over PostgreSQL), `recording_session` (an uploaded recording transcribed the same way, without a socket),
//! `live_recorder` (the session's audio kept as its meeting's recording, `record=true`).

mod actor;
mod caption_hub;
mod caption_relay;
mod control_message;
mod enrollment;
mod final_writer;
mod linger;
mod listen_params;
mod live_minutes;
mod live_recorder;
mod live_service;
mod local_agreement;
mod outbox;
mod pending_finals;
mod recording_session;
mod results;
mod served_model;
mod server_message;
mod session_error;
mod speakers;
mod utterance_segmenter;
mod vocabulary;

pub use actor::{SessionActor, SessionRequest};
pub use caption_hub::{CaptionChannel, CaptionEvent, CaptionHub, CaptionKind};
pub use caption_relay::CaptionRelay;
pub use control_message::ControlMessage;
pub use enrollment::{Enrolled, EnrollmentError, MAX_RECORDING_SECONDS, MIN_SPEECH_SECONDS, VOICEPRINT_MODEL};
pub use final_writer::{ATTEMPT_TIMEOUT, MAX_UNSAVED_FINALS};
pub use listen_params::{ListenOptions, ListenParams};
pub use live_minutes::MinutesDrafting;
pub use live_service::{
    Admission, AdmissionError, Caller, DEFAULT_MAX_FINAL_WAIT_MS, DEFAULT_SETTLE_AFTER_MS, DEFAULT_SPLIT_AFTER_MS,
    DEFAULT_SPLIT_PAUSE_MS, LiveConfig, LiveEngines, LiveService, ViewerSlot,
};
pub use recording_session::{RecordingError, Transcribed};
pub use results::model_info;
pub use served_model::{ServedModel, choose as choose_model};
pub use server_message::{Metadata, ServerMessage, Word};
pub use session_error::SessionError;
pub use utterance_segmenter::{SegmentEvent, SegmenterConfig, Utterance, UtteranceSegmenter};
pub use vocabulary::{MAX_TERM_CHARS, MAX_TERMS, Vocabulary, VocabularyError, query_terms};
