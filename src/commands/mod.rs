//! Subcommands that are not the server: `transcribe` and `models fetch`.

mod models;
pub mod transcribe;

pub use models::{ModelPaths, fetch_models};
pub use transcribe::transcribe;
