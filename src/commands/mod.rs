//! What the subcommands run besides the HTTP server itself: `transcribe`, `models fetch`, and
//! the live-session setup of `serve`.

pub mod live;
mod models;
pub mod transcribe;

pub use models::{ModelPaths, ensure_models, fetch_models};
pub use transcribe::transcribe;
