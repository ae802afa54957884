//! What the server sends on `/v1/listen`: Deepgram's live messages (`Results`, `SpeechStarted`,
//! `UtteranceEnd`, `Metadata`) plus our own types (`SessionStarted`, `SessionEnded`, `Error`),
//! which Deepgram's SDKs pass through as unhandled messages.

use serde::Serialize;
use uuid::Uuid;

pub use crate::domain::Word;
use crate::domain::{ActionItem, MinutesNote};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Results(Results),
    SpeechStarted {
        channel: [u32; 1],
        /// Seconds from the start of the stream.
        timestamp: f64,
    },
    UtteranceEnd {
        channel: [u32; 2],
        last_word_end: f64,
    },
    Metadata(Metadata),
    SessionStarted {
        session_id: Uuid,
        meeting_id: Uuid,
    },
    SessionEnded {
        session_id: Uuid,
        meeting_id: Uuid,
        /// Seconds of audio received.
        duration: f64,
    },
    /// Audio between `start` and `end` (seconds) was accepted but is not in the transcript; the
    /// meeting records the gap too. Not fatal: the session goes on.
    TranscriptGap {
        start: f64,
        end: f64,
        reason: &'static str,
    },
    /// The database is away: finals are still sent, and kept in memory (this many now) until it
    /// returns. Not fatal; sent once per outage.
    PersistenceDegraded {
        unsaved_finals: usize,
    },
    /// Every final kept during the outage is stored now.
    PersistenceRestored {
        stored_finals: usize,
        /// Seconds the outage lasted, as this session saw it.
        after: f64,
    },
    /// Action items proposed while the meeting runs, drafted from its finals so far: the whole
    /// provisional list each time it changes, replaced by `ActionItemsReady` after the meeting.
    ActionItemsProposed {
        meeting_id: Uuid,
        action_items: Vec<ActionItem>,
    },
    /// The meeting's minutes, after the session ended (to caption viewers and a client that
    /// asked with `wait_for_action_items=true`).
    ActionItemsReady {
        meeting_id: Uuid,
        summary: Option<String>,
        action_items: Option<Vec<ActionItem>>,
        /// What the meeting settled, and what it left open.
        decisions: Vec<MinutesNote>,
        open_questions: Vec<MinutesNote>,
        /// The tasks created from them.
        tasks: Vec<Uuid>,
    },
    /// To a caption viewer that fell behind: this many messages were skipped.
    CaptionsSkipped {
        count: u64,
    },
    Error {
        code: &'static str,
        message: String,
        retryable: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub channel_index: [u32; 2],
    /// Seconds from the start of the stream.
    pub start: f64,
    pub duration: f64,
    pub is_final: bool,
    pub speech_final: bool,
    pub from_finalize: bool,
    pub channel: Channel,
    pub metadata: ResultsMetadata,
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alternative {
    pub transcript: String,
    pub confidence: f64,
    pub words: Vec<Word>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultsMetadata {
    pub request_id: Uuid,
    pub model_info: ModelInfo,
    pub model_uuid: Uuid,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub arch: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub transaction_key: &'static str,
    pub request_id: Uuid,
    pub sha256: String,
    pub created: String,
    pub duration: f64,
    pub channels: u32,
    pub models: Vec<Uuid>,
    pub model_info: std::collections::BTreeMap<Uuid, ModelInfo>,
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}
