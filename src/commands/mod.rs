//! What the subcommands run besides the HTTP server itself: `transcribe`, `extract`, `models fetch`, and
//! the live-session setup of `serve`.

pub mod extract;
pub mod live;
mod models;
pub mod transcribe;

pub use extract::extract;
pub use models::{ModelPaths, ensure_models, fetch_models};
pub use transcribe::transcribe;
