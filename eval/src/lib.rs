//! Evaluation code, kept out of the server binary: it scores what the server produces against
//! references, for `examples/` (the measurements the README reports) and `tests/`.
//!
//! - [`wer`]: word and character error rates of transcripts.
//! - [`der`]: diarization error rate and RTTM files.
//! - [`action_items`]: extracted action items against the hand-written evaluation set.
//! - [`keyterms`]: whether transcripts spell a glossary's terms right.
//! - [`speaker_identity`]: voices named from the conversation, against the same meetings.

pub mod action_items;
pub mod der;
pub mod keyterms;
pub mod speaker_identity;
pub mod wer;
