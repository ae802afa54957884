//! Whisper speech recognition on ONNX Runtime: the log-mel front end ([`mel`]), the converted
//! graphs ([`model`]), decoding rules and search ([`decoding`]), long-form transcription
//! ([`transcriber`]), and the live engine ([`engine`]) over a [`Recognizer`]. Models come from `ddalkkak models fetch` (see `models/README.md`).

pub mod config;
pub mod decoding;
pub mod engine;
pub mod mel;
pub mod model;
pub mod recognizer;
mod term_patch;
pub mod tokenizer;
pub mod transcriber;

pub use decoding::{DecodeOptions, WindowResult};
pub use engine::{AsrEngine, AsrHandle, EngineConfig};
pub use model::{Precision, WhisperModel};
pub use recognizer::{Purpose, Recognizer, WhisperRecognizer};
pub use transcriber::{DecodeContext, EncoderWindow, LanguageChoice, Segment, Transcriber, UtteranceText};
