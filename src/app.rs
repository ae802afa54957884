//! The composition root: what `serve` runs, built in one place from a plain [`AppConfig`].
//!
//! The binary maps its flags to an `AppConfig`; the tests, `examples/live_load.rs` and
//! `benches/api_load.rs` fill one in directly (a store they already hold, in-process model
//! settings, fixed keys) and go through the same [`App::build`] and [`App::run`].
//!
//! Models are not fetched here: a missing one fails [`App::build`] with the `models/fetch.sh`
//! command to run (docs/decisions.md, "Model fetching is a step of its own").

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{StreamTokenSigner, TokenCipher, VoiceprintCipher};
use crate::commands::intelligence::{Intelligence, IntelligenceSetup, start_intelligence};
use crate::commands::live::{Live, LiveSetup, start_live};
use crate::http::{self, AppState, HttpLimits, KeyRateLimiter};
use crate::inference::llm::LlmWorker;
use crate::intelligence::MeetingExtractor;
use crate::jobs::{
    DeliverCallbackJob, JobRunner, Retention, RetentionJob, RunnerConfig, SessionSweeper, TranscribeRecordingJob,
};
use crate::session::{CaptionHub, CaptionRelay, MinutesDrafting};
use crate::storage::{RecordingStorage, Recordings};
use crate::store::{self, Store};

/// Everything a server needs, as plain values. No field reads the environment or the command
/// line; `main.rs` does that.
pub struct AppConfig {
    pub database: Database,
    /// With no tenant in the database yet, create tenant `default` and write its owner's API key
    /// to this file (mode 0600): the embedded single-node quick start. `None`: never (PostgreSQL,
    /// tests).
    pub bootstrap_owner_key: Option<PathBuf>,
    pub keys: Keys,
    /// Prometheus `/metrics` listener. The recorder is process-wide, so at most one `App` per
    /// process sets it (the binary); `None`: no metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Live sessions (`/v1/listen`); `None`: no models are loaded and `/v1/listen` answers 503.
    pub live: Option<LiveSetup>,
    /// The durable job runners: Slack posts, and meeting intelligence when `llm` names a model.
    /// `None`: no job runner at all (jobs stay queued).
    pub intelligence: Option<IntelligenceSetup>,
    /// Recording uploads (`PUT /v1/meetings/{id}/recording`), transcribed with the live models
    /// by a `transcribe_recording` job runner; `None`, or no `live`: uploads are refused (503).
    pub recordings: Option<Recordings>,
    /// What one client may take of the HTTP server: REST rate per API key, header-read timeout,
    /// open connections.
    pub http: HttpLimits,
    pub run: RunOptions,
}

impl AppConfig {
    /// The REST API over `database` and nothing else: no bootstrap, no metrics endpoint, no live
    /// sessions, no job runners, default run options. Set the other fields to add them.
    pub fn new(database: Database, keys: Keys) -> Self {
        Self {
            database,
            bootstrap_owner_key: None,
            keys,
            metrics_listen: None,
            live: None,
            intelligence: None,
            recordings: None,
            http: HttpLimits::default(),
            run: RunOptions::default(),
        }
    }
}

/// Where the data lives.
pub enum Database {
    /// Connect (and apply pending migrations): `postgres://…` or `sqlite://…`.
    Connect { url: String, max_connections: u32 },
    /// A store the caller already holds (tests and benches seed and inspect it).
    Store(Arc<dyn Store>),
}

/// The two 32-byte server keys.
#[derive(Clone)]
pub struct Keys {
    /// AES-256-GCM key of integration tokens at rest.
    pub encryption: [u8; 32],
    /// HMAC key of stream tokens.
    pub token_signing: [u8; 32],
}

/// How the server runs besides what it serves.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub retention: Retention,
    pub retention_interval: Duration,
    /// After shutdown is requested, live sessions and background work each get this long to
    /// finish.
    pub shutdown_timeout: Duration,
    /// After shutdown is requested and before the listener closes and live sessions drain,
    /// `/readyz` answers 503 and new live sessions are refused for this long, so load balancers
    /// stop routing here while everything else is still served.
    pub shutdown_delay: Duration,
    /// A live session whose actor has not stamped its heartbeat for this long lost its owner and
    /// is finalized by the sweeper (of any instance), checked every `sweep_interval`.
    pub stale_session_after: Duration,
    pub sweep_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            retention: Retention::default(),
            retention_interval: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(30),
            shutdown_delay: Duration::ZERO,
            stale_session_after: Duration::from_secs(120),
            sweep_interval: Duration::from_secs(30),
        }
    }
}

/// A built server: store connected, tenant bootstrapped, models loaded, job runners ready.
/// Nothing listens until [`App::run`]; the model threads stop when it is dropped.
pub struct App {
    state: AppState,
    live: Option<Arc<Live>>,
    runners: Vec<JobRunner>,
    /// The meeting-intelligence runner's LLM thread (stopped when dropped).
    llm: Option<Arc<LlmWorker<MeetingExtractor>>>,
    /// Captions to and from other instances (PostgreSQL); its tasks stop when it is dropped.
    relay: Option<CaptionRelay>,
    captions: Arc<CaptionHub>,
    /// Where recordings are kept, whether or not this instance takes uploads: the retention job
    /// removes the purged ones' files.
    recording_storage: Option<RecordingStorage>,
    http: HttpLimits,
    run: RunOptions,
    /// Live sessions watch it from the start; [`App::run`] cancels it when its `shutdown` future
    /// completes and the shutdown delay has passed.
    shutdown: CancellationToken,
    /// A child of `shutdown`, cancelled first: from then on the instance is not ready and takes
    /// no new live session.
    draining: CancellationToken,
}

impl App {
    /// Checks that the configured models are there, connects the store, bootstraps the embedded
    /// tenant, installs metrics, starts the live service (recovering sessions a crash left open)
    /// and the job runners, in that order.
    pub async fn build(config: AppConfig) -> anyhow::Result<App> {
        // A missing model stops the start before anything is connected or loaded.
        if let Some(live) = &config.live {
            live.require_models()?;
        }
        if let Some(intelligence) = &config.intelligence {
            intelligence.require_model()?;
        }
        let cipher = TokenCipher::new(&config.keys.encryption);
        let voiceprints = VoiceprintCipher::new(&config.keys.encryption);
        let signer = StreamTokenSigner::new(config.keys.token_signing);
        let store = match config.database {
            Database::Connect { url, max_connections } => store::connect(&url, max_connections).await?,
            Database::Store(store) => store,
        };
        if let Some(key_file) = &config.bootstrap_owner_key
            && crate::admin::bootstrap_embedded(&*store, key_file).await?
        {
            tracing::info!(path = %key_file.display(), "first start: created tenant `default`; its owner's API key is in this file");
        }
        if let Some(listen) = config.metrics_listen {
            crate::metrics::install(listen)?;
        }
        // With PostgreSQL, instances may share the database: captions follow sessions across them.
        let linger = config.live.as_ref().map_or(Duration::ZERO, |l| l.config.action_items_wait);
        let (captions, relay) = match store.postgres_pool() {
            Some(pool) => {
                let (hub, relay) = CaptionRelay::start(pool, store.clone(), linger).await?;
                (hub, Some(relay))
            }
            None => (Arc::new(CaptionHub::default()), None),
        };
        let shutdown = CancellationToken::new();
        let live = match config.live {
            Some(setup) => {
                let recordings = config.recordings.as_ref().map(|r| r.storage.clone());
                let live = start_live(
                    setup,
                    store.clone(),
                    voiceprints.clone(),
                    captions.clone(),
                    recordings,
                    shutdown.clone(),
                );
                Some(Arc::new(live.await?))
            }
            None => None,
        };
        // One token for readiness and for live admission.
        let draining = match &live {
            Some(live) => live.service.draining.clone(),
            None => shutdown.child_token(),
        };
        // Drafts are asked for about four times per chunk of English (some four characters per
        // token), more often for Korean (about one).
        let drafts_every = config.intelligence.as_ref().filter(|i| i.live_minutes).map(|i| i.chunk_tokens.div_ceil(4));
        let Intelligence { mut runners, llm } = match config.intelligence {
            Some(setup) => start_intelligence(setup, store.clone(), cipher.clone(), Some(captions.clone())).await?,
            None => Intelligence { runners: Vec::new(), llm: None },
        };
        if let (Some(live), Some(llm), Some(every_chars)) = (&live, &llm, drafts_every) {
            live.service.draft_minutes_with(MinutesDrafting { llm: llm.clone(), every_chars });
        }
        let recording_storage = config.recordings.as_ref().map(|r| r.storage.clone());
        let recordings = config.recordings.filter(|_| live.is_some());
        if let (Some(live), Some(recordings)) = (&live, &recordings) {
            let job = TranscribeRecordingJob { live: live.service.clone(), recordings: recordings.clone() };
            runners.push(JobRunner { store: store.clone(), handler: Arc::new(job), config: RunnerConfig::default() });
            let job = DeliverCallbackJob { live: live.service.clone(), fetcher: recordings.fetcher.clone() };
            runners.push(JobRunner { store: store.clone(), handler: Arc::new(job), config: RunnerConfig::default() });
        }
        let mut model_workers = live.as_ref().map(|l| l.health()).unwrap_or_default();
        model_workers.extend(llm.as_ref().map(|l| l.health()));
        let rate_limiter = config.http.rate_limit.and_then(KeyRateLimiter::new).map(Arc::new);
        let state = AppState {
            store,
            voiceprints,
            cipher,
            signer,
            live: live.as_ref().map(|l| l.service.clone()),
            model_workers,
            rate_limiter,
            recordings,
            draining: draining.clone(),
        };
        Ok(App {
            state,
            live,
            runners,
            llm,
            relay,
            captions,
            recording_storage,
            http: config.http,
            run: config.run,
            shutdown,
            draining,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// The live service and its model threads, when [`AppConfig::live`] was set.
    pub fn live(&self) -> Option<&Arc<Live>> {
        self.live.as_ref()
    }

    /// Serves the API on `listener` until `shutdown` completes, then stops being ready and taking
    /// live sessions for the shutdown delay, then drains in-flight requests, live sessions and
    /// background jobs (each job is a tracked task watching the same token).
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            state,
            live,
            runners,
            llm,
            relay,
            captions,
            recording_storage,
            http: limits,
            run: options,
            shutdown: token,
            draining,
        } = self;
        let tasks = TaskTracker::new();
        let retention = RetentionJob {
            store: state.store.clone(),
            recordings: recording_storage,
            retention: options.retention,
            interval: options.retention_interval,
        };
        tasks.spawn(retention.run(token.clone()));
        let sweeper = SessionSweeper {
            store: state.store.clone(),
            captions,
            stale_after: options.stale_session_after,
            interval: options.sweep_interval,
        };
        tasks.spawn(sweeper.run(token.clone()));
        for runner in runners {
            tasks.spawn(runner.run(token.clone()));
        }
        if let Some(limiter) = state.rate_limiter.clone() {
            tasks.spawn(forget_idle_keys(limiter, token.clone()));
        }

        tracing::info!(addr = %listener.local_addr()?, backend = state.store.backend(), "listening");
        let service = state.live.clone();
        let signal = {
            let token = token.clone();
            async move {
                shutdown.await;
                // Readiness goes first; the listener stays open meanwhile, so a load balancer
                // that has not noticed yet still gets answers (and refusals of new streams).
                draining.cancel();
                if !options.shutdown_delay.is_zero() {
                    tracing::info!(delay = ?options.shutdown_delay, "draining: not ready, refusing new live sessions");
                    tokio::time::sleep(options.shutdown_delay).await;
                }
                token.cancel();
            }
        };
        http::serve(listener, http::router(state), limits, signal).await;
        // Upgraded WebSockets outlive the HTTP server: live sessions flush, store their meetings and
        // close (1001) within the deadline; whatever does not make it is recovered on the next start.
        if let Some(service) = service {
            service.drain(options.shutdown_timeout).await;
        }

        tasks.close();
        if tokio::time::timeout(options.shutdown_timeout, tasks.wait()).await.is_err() {
            tracing::warn!(timeout = ?options.shutdown_timeout, "background tasks did not stop in time");
        }
        tracing::info!("stopped");
        // The model threads (ASR, VAD, diarization, LLM) stop here, after the work that used them;
        // joining them blocks.
        tokio::task::spawn_blocking(move || drop((live, llm))).await?;
        // Last: the sessions' final messages were relayed while they drained.
        drop(relay);
        Ok(())
    }
}

/// The rate limiter keeps a bucket per API key that sent a request; once a minute the ones that
/// are full again are dropped, so its memory follows the keys in use, not every key ever seen.
async fn forget_idle_keys(limiter: Arc<KeyRateLimiter>, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => limiter.forget_idle(),
            _ = stop.cancelled() => return,
        }
    }
}
