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
//! - [`audio`]: decoding and resampling; [`inference`]: model work on ONNX Runtime (Whisper, VAD,
//!   speaker embeddings, the LLM).
//! - [`model`]: row types of the data model; [`validate`]: input rules.
//! - [`admin`]: tenant administration shared by the CLI and tests.

pub mod admin;
pub mod audio;
pub mod auth;
pub mod commands;
pub mod config;
pub mod http;
pub mod inference;
pub mod intelligence;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod session;
pub mod store;
pub mod subtitles;
pub mod validate;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::AppState;
use crate::jobs::{JobRunner, Retention, RetentionJob};

/// How the server runs besides what [`AppState`] holds.
pub struct RunOptions {
    pub retention: Retention,
    pub retention_interval: Duration,
    /// After shutdown is requested, background work gets this long to finish.
    pub shutdown_timeout: Duration,
    /// Durable job runners (meeting intelligence, Slack), spawned and stopped with the server.
    pub jobs: Vec<JobRunner>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            retention: Retention::default(),
            retention_interval: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(30),
            jobs: Vec::new(),
        }
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled, then drains in-flight requests
/// and background jobs (each job is a tracked task watching the same token).
pub async fn run(
    state: AppState,
    listener: TcpListener,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tasks = TaskTracker::new();
    let retention =
        RetentionJob { store: state.store.clone(), retention: options.retention, interval: options.retention_interval };
    tasks.spawn(retention.run(shutdown.clone()));
    for runner in options.jobs {
        tasks.spawn(runner.run(shutdown.clone()));
    }

    tracing::info!(addr = %listener.local_addr()?, backend = state.store.backend(), "listening");
    let live = state.live.clone();
    axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown.clone().cancelled_owned()).await?;
    // Upgraded WebSockets outlive the HTTP server: live sessions flush, store their meetings and
    // close (1001) within the deadline; whatever does not make it is recovered on the next start.
    if let Some(live) = live {
        live.drain(options.shutdown_timeout).await;
    }

    tasks.close();
    if tokio::time::timeout(options.shutdown_timeout, tasks.wait()).await.is_err() {
        tracing::warn!(timeout = ?options.shutdown_timeout, "background tasks did not stop in time");
    }
    tracing::info!("stopped");
    Ok(())
}
