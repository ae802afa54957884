//! The `ddalkkak` binary: parses the command line and hands over to the library.

use clap::Parser;
use ddalkkak::auth::{StreamTokenSigner, TokenCipher};
use ddalkkak::commands::intelligence::{IntelligenceSetup, start_intelligence};
use ddalkkak::commands::live::{LiveSetup, start_live};
use ddalkkak::config::{AdminCommand, AsrPrecision, Cli, Command, DbCommand, LogFormat, ModelsCommand, ServeArgs};
use ddalkkak::http::AppState;
use ddalkkak::inference::asr::Precision;
use ddalkkak::inference::llm::Precision as LlmPrecision;
use ddalkkak::jobs::RunnerConfig;
use ddalkkak::session::LiveConfig;
use ddalkkak::{RunOptions, admin, store};
use tokio_util::sync::CancellationToken;
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
                    let status = std::process::Command::new("pg_dump")
                        .args(["--format=custom", "--file"])
                        .arg(&out)
                        .arg(url)
                        .status()?;
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
        Command::Admin(AdminCommand::DeleteTenant { slug, yes, db }) => {
            anyhow::ensure!(yes, "deleting a tenant removes all its data; pass --yes to confirm");
            let store = store::connect(&db.url()?, 1).await?;
            let tenant = store.tenant_by_slug(&slug).await?;
            store.delete_tenant(tenant.id).await?;
            println!("deleted tenant {slug} and all its data");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Configuration errors first: they should not wait on a database connection.
    let cipher = TokenCipher::new(&args.encryption_key()?);
    let signer = StreamTokenSigner::new(args.token_signing_key()?);
    let store = store::connect(&args.db.url()?, args.db.db_max_connections).await?;
    if args.db.embedded() {
        let key_file = args.db.data_dir.join("secrets").join("owner-api-key");
        if admin::bootstrap_embedded(&*store, &key_file).await? {
            tracing::info!(path = %key_file.display(), "first start: created tenant `default`; its owner's API key is in this file");
        }
    }
    ddalkkak::metrics::install(args.metrics_listen)?;
    let shutdown = CancellationToken::new();
    let live = if args.live.no_live {
        None
    } else {
        let l = &args.live;
        let setup = LiveSetup {
            models_dir: l.models_dir.clone(),
            precision: match l.asr_precision {
                AsrPrecision::Int8 => Precision::Int8,
                AsrPrecision::Fp32 => Precision::Fp32,
            },
            asr_workers: l.asr_workers,
            config: LiveConfig {
                max_sessions: l.max_live_sessions,
                idle_timeout: std::time::Duration::from_secs(l.idle_timeout_secs.max(1)),
                server_instance: l.instance_id(),
                models: l.asr_models.clone(),
                // Viewers wait for the action items only when an LLM will write them.
                action_items_wait: if args.intelligence.llm_name().is_some() {
                    std::time::Duration::from_secs(600)
                } else {
                    std::time::Duration::ZERO
                },
                ..LiveConfig::default()
            },
        };
        Some(start_live(setup, store.clone(), shutdown.clone()).await?)
    };
    let i = &args.intelligence;
    let intelligence = IntelligenceSetup {
        models_dir: args.live.models_dir.clone(),
        llm: i.llm_name(),
        precision: match i.llm_precision {
            AsrPrecision::Int8 => LlmPrecision::Int8,
            AsrPrecision::Fp32 => LlmPrecision::Fp32,
        },
        threads: i.llm_threads,
        nice: i.llm_nice,
        slack_api_url: i.slack_api_url.clone(),
        runner: RunnerConfig {
            lease: std::time::Duration::from_secs(i.job_lease_secs.max(1)),
            ..RunnerConfig::default()
        },
    };
    let captions = live.as_ref().map(|l| l.service.captions.clone());
    let intelligence = start_intelligence(intelligence, store.clone(), cipher.clone(), captions).await?;
    let state = AppState { store, cipher, signer, live: live.as_ref().map(|l| l.service.clone()) };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let options = RunOptions {
        retention_interval: std::time::Duration::from_secs(args.retention_interval_secs.max(1)),
        shutdown_timeout: args.shutdown_timeout(),
        jobs: intelligence.runners,
        ..RunOptions::default()
    };
    ddalkkak::run(state, listener, options, shutdown).await
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
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
