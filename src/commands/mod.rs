//! What the subcommands run besides the HTTP server itself: `transcribe`, `extract`, `models fetch`, `models import`, and
//! the live-session and meeting-intelligence setup that [`crate::App::build`] starts.

pub mod extract;
pub mod import_whisper;
pub mod intelligence;
pub mod live;
mod models;
pub mod transcribe;

pub use extract::extract;
pub use models::{ModelPaths, ensure_models, fetch_models, require_live_models, require_llm};
pub use transcribe::transcribe;
