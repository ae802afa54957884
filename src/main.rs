//! The `ddalkkak` binary: parses the command line and hands over to the library (`serve`: flags →
//! [`AppConfig`] → [`App`]).

use std::time::Duration;

use clap::Parser;
use ddalkkak::commands::intelligence::IntelligenceSetup;
use ddalkkak::commands::live::LiveSetup;
use ddalkkak::config::{AdminCommand, AsrPrecision, Cli, Command, DbCommand, LogFormat, ModelsCommand, ServeArgs};
use ddalkkak::inference::asr::Precision;
use ddalkkak::inference::llm::Precision as LlmPrecision;
use ddalkkak::jobs::RunnerConfig;
use ddalkkak::session::LiveConfig;
use ddalkkak::{App, AppConfig, Database, Keys, RunOptions, admin, store};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    init_tracing(format);
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(db) => {
            let store = store::connect(&db.url()?, 1).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Admin(AdminCommand::CreateTenant { name, slug, owner_email, owner_name, db }) => {
            let store = store::connect(&db.url()?, 1).await?;
            let created = admin::create_tenant(&*store, &name, &slug, &owner_email, owner_name.as_deref()).await?;
            println!("tenant   {} ({})", created.tenant.slug, created.tenant.id);
            println!("owner    {} ({})", created.owner.email, created.owner.id);
            println!("api key  {}", created.api_key);
            eprintln!("The API key is shown only this once; store it now.");
            Ok(())
        }
        Command::Db(DbCommand::Verify(db)) => {
            let store = store::connect(&db.url()?, 1).await?;
            let report = store.verify().await?;
            for (table, rows) in &report.row_counts {
                println!("{table:<24} {rows:>10} rows");
            }
            for problem in &report.problems {
                println!("PROBLEM: {problem}");
            }
            anyhow::ensure!(report.problems.is_empty(), "{} problem(s) found", report.problems.len());
            println!("ok: no problems");
            Ok(())
        }
        Command::Db(DbCommand::Backup { out, db }) => {
            anyhow::ensure!(!out.exists(), "{} exists; refusing to overwrite a backup", out.display());
            match &db.database_url {
                None => store::SqliteStore::connect(&db.url()?, 1).await?.backup(&out).await?,
                Some(url) => {
                    let mut dump = std::process::Command::new("pg_dump");
                    dump.args(["--format=custom", "--file"]).arg(&out);
                    if let Some(role) = store::PgStore::dump_role(url).await? {
                        dump.arg(format!("--role={role}")).arg("--enable-row-security");
                    }
                    let status = dump.arg(url).status()?;
                    anyhow::ensure!(status.success(), "pg_dump failed ({status})");
                }
            }
            println!("backup written to {}", out.display());
            Ok(())
        }
        Command::Transcribe(args) => ddalkkak::commands::transcribe(args),
        Command::Extract(args) => ddalkkak::commands::extract(args),
        Command::Models(ModelsCommand::Fetch { asr, models_dir, no_int8 }) => {
            ddalkkak::commands::fetch_models(&ddalkkak::commands::ModelPaths::new(models_dir), &asr, !no_int8)
        }
        Command::Models(ModelsCommand::Import { whisper, name, models_dir, no_int8, force }) => {
            use ddalkkak::commands::import_whisper::{ImportOptions, import_whisper};
            let options = ImportOptions { source: whisper, name, int8: !no_int8, force, python: None, converter: None };
            let imported = import_whisper(&ddalkkak::commands::ModelPaths::new(models_dir), &options)?;
            println!("{}", imported.report());
            Ok(())
        }
        Command::Admin(AdminCommand::DeleteTenant { slug, yes, db, recordings_dir }) => {
            anyhow::ensure!(yes, "deleting a tenant removes all its data; pass --yes to confirm");
            let store = store::connect(&db.url()?, 1).await?;
            let tenant = store.tenant_by_slug(&slug).await?;
            let recordings = recordings_dir.unwrap_or_else(|| db.data_dir.join("recordings"));
            let storage = ddalkkak::storage::RecordingStorage::new(recordings);
            admin::delete_tenant(&*store, Some(&storage), tenant.id).await?;
            println!("deleted tenant {slug} and all its data");
            Ok(())
        }
    }
}

/// Maps the flags to an [`AppConfig`]; [`App`] does the rest.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Configuration errors first: they should not wait on a database connection.
    let keys = Keys { encryption: args.encryption_key()?, token_signing: args.token_signing_key()? };
    let config = AppConfig {
        database: Database::Connect { url: args.db.url()?, max_connections: args.db.db_max_connections },
        bootstrap_owner_key: args.db.embedded().then(|| args.db.data_dir.join("secrets").join("owner-api-key")),
        keys,
        metrics_listen: Some(args.metrics_listen),
        live: (!args.live.no_live).then(|| live_setup(&args)),
        intelligence: Some(intelligence_setup(&args)),
        recordings: Some(args.recordings()),
        http: args.http.limits(),
        run: RunOptions {
            retention_interval: Duration::from_secs(args.retention_interval_secs.max(1)),
            shutdown_timeout: args.shutdown_timeout(),
            shutdown_delay: args.shutdown_delay(),
            stale_session_after: args.session_lease(),
            sweep_interval: args.session_lease() / 4,
            ..RunOptions::default()
        },
    };
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    app.run(listener, shutdown_signal()).await
}

fn live_setup(args: &ServeArgs) -> LiveSetup {
    let l = &args.live;
    LiveSetup {
        models_dir: l.models_dir.clone(),
        precision: match l.asr_precision {
            AsrPrecision::Int8 => Precision::Int8,
            AsrPrecision::Fp32 => Precision::Fp32,
        },
        asr_workers: l.asr_workers,
        config: LiveConfig {
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
            heartbeat_interval: args.session_lease() / 8,
            models: l.asr_models.clone(),
            // Viewers wait for the action items only when an LLM will write them.
            action_items_wait: if args.intelligence.llm_name().is_some() {
                Duration::from_secs(600)
            } else {
                Duration::ZERO
            },
            ..LiveConfig::default()
        },
        stand_ins: None,
    }
}

fn intelligence_setup(args: &ServeArgs) -> IntelligenceSetup {
    let i = &args.intelligence;
    IntelligenceSetup {
        models_dir: args.live.models_dir.clone(),
        llm: i.llm_name(),
        precision: match i.llm_precision {
            AsrPrecision::Int8 => LlmPrecision::Int8,
            AsrPrecision::Fp32 => LlmPrecision::Fp32,
        },
        threads: i.llm_threads,
        nice: i.llm_nice,
        slack_api_url: i.slack_api_url.clone(),
        live_minutes: i.live_minutes,
        chunk_tokens: i.llm_chunk_tokens as usize,
        runner: RunnerConfig { lease: Duration::from_secs(i.job_lease_secs.max(1)), ..RunnerConfig::default() },
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let int = async {
                match &mut int {
                    Some(s) => _ = s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match &mut term {
                    Some(s) => _ = s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = int => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DDALKKAK_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,ort=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
