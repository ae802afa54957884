//! Why a live session ends abnormally, mapped once to the `Error` message and the WebSocket
//! close code (the table is in docs/protocol.md).

use crate::audio::AudioError;
use crate::inference::InferenceError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Audio(#[from] AudioError),
    #[error("invalid control message: {0}")]
    InvalidMessage(String),
    #[error("binary frame larger than {0} bytes")]
    FrameTooLarge(usize),
    #[error("no audio or KeepAlive for {0} s")]
    IdleTimeout(u64),
    #[error("the client is not reading its results")]
    SlowConsumer,
    /// The session ran for `LiveConfig::max_session_duration` (seconds); it ends as a
    /// `CloseStream` would, and a reconnect opens a new session.
    #[error("the session reached its maximum duration of {0} s; open a new session to go on")]
    MaxDuration(u64),
    #[error("the server is overloaded; try again later")]
    Overloaded,
    /// The session then ends as a `CloseStream` would end it (finals, meeting finalized,
    /// `SessionEnded`) and closes with 1001; the client's next connection reaches another
    /// instance (docs/protocol.md, "Close codes").
    #[error("the server is shutting down; the meeting so far is saved: reconnect to go on in a new session")]
    ShuttingDown,
    /// More finals than `final_writer::MAX_UNSAVED_FINALS` waited for an unreachable database.
    #[error("the database has been unreachable for too long to keep more results in memory")]
    StoreUnavailable,
    /// Logged with its detail; the client sees only the trace id.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SessionError {
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Audio(AudioError::Unsupported(_)) => "unsupported_audio",
            SessionError::Audio(AudioError::TooMuchAudio(_)) => "too_much_audio",
            SessionError::Audio(_) => "corrupt_audio",
            SessionError::InvalidMessage(_) => "invalid_message",
            SessionError::FrameTooLarge(_) => "frame_too_large",
            SessionError::IdleTimeout(_) => "idle_timeout",
            SessionError::SlowConsumer => "slow_consumer",
            SessionError::MaxDuration(_) => "max_duration",
            SessionError::Overloaded => "overloaded",
            SessionError::ShuttingDown => "shutting_down",
            SessionError::StoreUnavailable => "store_unavailable",
            SessionError::Internal(_) => "internal_error",
        }
    }

    pub fn close_code(&self) -> u16 {
        match self {
            SessionError::Audio(AudioError::TooMuchAudio(_)) => 1009,
            SessionError::Audio(_) => 1003,
            SessionError::InvalidMessage(_) => 1007,
            SessionError::FrameTooLarge(_) => 1009,
            SessionError::Internal(_) | SessionError::StoreUnavailable => 1011,
            SessionError::Overloaded => 1013,
            SessionError::ShuttingDown => 1001,
            SessionError::IdleTimeout(_) => 4000,
            SessionError::SlowConsumer => 4001,
            SessionError::MaxDuration(_) => 4002,
        }
    }

    /// Whether the same client may simply reconnect and go on.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            SessionError::Overloaded
                | SessionError::ShuttingDown
                | SessionError::Internal(_)
                | SessionError::StoreUnavailable
                | SessionError::MaxDuration(_)
        )
    }

    /// What the client is told: everything but internal details.
    pub fn public_message(&self, trace: uuid::Uuid) -> String {
        match self {
            SessionError::Internal(_) => format!("internal error (trace id {trace})"),
            other => other.to_string(),
        }
    }
}

impl From<InferenceError> for SessionError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Overloaded => SessionError::Overloaded,
            other => SessionError::Internal(other.to_string()),
        }
    }
}
