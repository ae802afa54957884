//! Live sessions: one [`SocketActor`] per `/v1/listen` WebSocket (the protocol is Deepgram's,
//! see `docs/protocol.md`).
//!
//! Where a message goes: binary frame → [`crate::audio::StreamDecoder`] (16 kHz mono) → VAD
//! thread ([`crate::inference::vad_worker`]) → [`UtteranceSegmenter`] (partials, finals) → ASR
//! engine threads ([`crate::inference::asr::AsrHandle`]) → the actor stores each final
//! ([`crate::store::Store::append_final`]), sends it ([`ServerMessage`]) and publishes it to
//! viewers ([`CaptionHub`]). At the end the meeting is assembled from the stored finals.

mod caption_hub;
mod control_message;
mod listen_params;
mod live_service;
mod server_message;
mod session_error;
mod socket_actor;
mod utterance_segmenter;

pub use caption_hub::{CaptionChannel, CaptionHub};
pub use control_message::ControlMessage;
pub use listen_params::{ListenOptions, ListenParams};
pub use live_service::{Admission, LiveConfig, LiveService};
pub use server_message::{ServerMessage, Word};
pub use session_error::SessionError;
pub use socket_actor::{SessionRequest, SocketActor};
pub use utterance_segmenter::{SegmentEvent, SegmenterConfig, Utterance, UtteranceSegmenter};
