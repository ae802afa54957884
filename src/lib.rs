//! DdalKkak (똑똑): a multi-tenant real-time meeting transcription server.
//!
//! - [`http`]: the REST API (`/v1`), auth extractor, problem+json errors, OpenAPI document.
//! - [`store`]: the [`store::Store`] trait and its PostgreSQL and SQLite implementations.
//! - [`auth`]: API keys, stream tokens, integration-token encryption.
//! - [`jobs`]: background work owned by the server (retention purge, the durable job queue:
//!   meeting intelligence with the LLM, Slack posts).
//! - [`intelligence`]: a meeting's summary and action items: extraction with the LLM,
//!   verification, assignees and due dates.
//! - [`session`]: live sessions (`/v1/listen`): the socket actor, streaming policy, captions.
//! - [`storage`]: uploaded recordings on disk.
//! - [`audio`]: decoding and resampling; [`inference`]: model work on ONNX Runtime (Whisper, VAD,
//!   speaker embeddings, the LLM).
//! - [`domain`]: row types of the data model; [`validate`]: input rules.
//! - [`admin`]: tenant administration shared by the CLI and tests.
//! - [`app`]: the composition root: [`AppConfig`] → [`App::build`] → [`App::run`], used by the
//!   binary, the tests, `examples/live_load.rs` and `benches/api_load.rs` alike.

pub mod admin;
pub mod app;
pub mod audio;
pub mod auth;
pub mod commands;
pub mod config;
pub mod domain;
pub mod http;
pub mod inference;
pub mod intelligence;
pub mod jobs;
pub mod metrics;
pub mod session;
pub mod storage;
pub mod store;
pub mod subtitles;
pub mod validate;

pub use app::{App, AppConfig, Database, Keys, RunOptions};
