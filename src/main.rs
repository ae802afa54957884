//! The `ddalkkak` binary: parses the command line and hands over to the library (`serve`: flags →
//! [`ServeArgs::app_config`] → [`App`]).

use clap::Parser;
use ddalkkak::config::{AdminCommand, Cli, Command, DbCommand, LogFormat, ModelsCommand, ServeArgs};
use ddalkkak::{App, admin, store};
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

/// Builds the server the flags describe ([`ServeArgs::app_config`]) and runs it until a signal.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let app = App::build(args.app_config()?).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    app.run(listener, shutdown_signal()).await
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
