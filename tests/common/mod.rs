//! Test harness, a module of each test binary (`tests/store`, `tests/live`, `tests/models`): a
//! fresh database per test on each backend, a server on port 0, and the lock that keeps heavy
//! tests apart.
//!
//! SQLite always runs (a file in a temporary directory). PostgreSQL runs when
//! `DDALKKAK_TEST_DATABASE_URL` points at a server: each test creates its own database there and
//! drops it afterwards. `.ci/run`'s PostgreSQL pass runs `tests/store` whole and, of the other
//! binaries, the tests with `postgres` in their name: a test elsewhere that can use PostgreSQL
//! needs it in its name (`on_both_backends!` puts it in a `postgres` module).
#![allow(dead_code)]

#[cfg(feature = "opus")]
pub mod containers;
pub mod server_process;
pub mod stand_in_models;

use std::net::SocketAddr;
use std::sync::Arc;

use ddalkkak::admin::{self, CreatedTenant};
use ddalkkak::commands::ModelPaths;
use ddalkkak::commands::intelligence::IntelligenceSetup;
use ddalkkak::commands::live::{Live, LiveSetup};
use ddalkkak::http::HttpLimits;
use ddalkkak::inference::asr::Precision;
use ddalkkak::jobs::RunnerConfig;
use ddalkkak::session::LiveConfig;
use ddalkkak::store::{PgStore, SqliteStore, Store};
use ddalkkak::{App, AppConfig, Database, Keys};
use tokio_util::sync::CancellationToken;

pub const PG_ENV: &str = "DDALKKAK_TEST_DATABASE_URL";

/// A store on a database that exists only for this test (until its last clone is dropped: a
/// second server can run over it after the first stopped).
#[derive(Clone)]
pub struct TestDb {
    /// On PostgreSQL, logged in as `ddalkkak_app`, as a production server is: no privilege of
    /// its own, every transaction switches to a role that row-level security binds.
    pub store: Arc<dyn Store>,
    /// Set on PostgreSQL: the superuser's store that created and migrated the database, for
    /// raw-SQL checks that look past row-level security.
    pub pg: Option<Arc<PgStore>>,
    /// Set on PostgreSQL: `store`, for raw-SQL checks as the server's login.
    pub pg_app: Option<Arc<PgStore>>,
    /// Set on SQLite: the database file's URL, for raw-SQL checks.
    pub sqlite_url: Option<String>,
    _guard: Arc<Guard>,
}

impl TestDb {
    /// Makes the database unusable to the server for `hold`, as an outage would: on SQLite
    /// another connection holds the write lock; on PostgreSQL the database refuses new
    /// connections and the server's are terminated (what a restart does to them).
    pub async fn outage(&self, hold: std::time::Duration) {
        use sqlx::Connection as _;
        match &*self._guard {
            Guard::Sqlite(_) => {
                let url = self.sqlite_url.as_deref().expect("set on SQLite");
                let mut lock = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE").execute(&mut lock).await.unwrap();
                tokio::time::sleep(hold).await;
                sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
            }
            Guard::Postgres { admin_url, name } => {
                let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                    .bind(name)
                    .execute(&mut admin)
                    .await
                    .unwrap();
                tokio::time::sleep(hold).await;
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

impl TestDb {
    /// The database's URL on PostgreSQL with the server's own login (`ddalkkak_app`), for a
    /// server process of its own.
    pub fn postgres_url(&self) -> Option<String> {
        match &*self._guard {
            Guard::Postgres { admin_url, name } => {
                Some(database_url_with_user(&database_url_with_name(admin_url, name), "ddalkkak_app"))
            }
            Guard::Sqlite(_) => None,
        }
    }
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await;
                    }
                });
            })
            .join();
        }
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = ddalkkak::store::sqlite_url(dir.path());
    let store = SqliteStore::connect(&url, 4).await.expect("sqlite store");
    TestDb {
        store: Arc::new(store),
        pg: None,
        pg_app: None,
        sqlite_url: Some(url),
        _guard: Arc::new(Guard::Sqlite(dir)),
    }
}

/// `None` (and a note on stderr) when no PostgreSQL is configured.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        eprintln!("{PG_ENV} not set: PostgreSQL variant skipped");
        return None;
    };
    let name = format!("ddalkkak_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect to DDALKKAK_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    admin.close().await;
    let guard = Guard::Postgres { admin_url: admin_url.clone(), name: name.clone() };
    let url = database_url_with_name(&admin_url, &name);
    let owner = Arc::new(PgStore::connect(&url, 4).await.expect("postgres store"));
    // The server's own login: it cannot migrate, so the owner above did.
    let app_url = database_url_with_user(&url, "ddalkkak_app");
    let app = PgStore::connect(&app_url, 4)
        .await
        .expect("log in as ddalkkak_app (the test server must let it in without a password, e.g. trust on 127.0.0.1)");
    let app = Arc::new(app);
    Some(TestDb { store: app.clone(), pg: Some(owner), pg_app: Some(app), sqlite_url: None, _guard: Arc::new(guard) })
}

/// `url` with `user` (and no password) in place of its credentials.
pub fn database_url_with_user(url: &str, user: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = url[scheme_end..].find(['/', '?']).map(|i| scheme_end + i).unwrap_or(url.len());
    let host = match url[scheme_end..authority_end].rfind('@') {
        Some(at) => &url[scheme_end + at + 1..],
        None => &url[scheme_end..],
    };
    format!("{}{user}@{host}", &url[..scheme_end])
}

pub fn database_url_with_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Runs each listed `async fn(TestDb)` once per backend: `mod sqlite { … }` always, and
/// `mod postgres { … }` when a PostgreSQL URL is configured.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = $crate::common::postgres().await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

/// One heavy test at a time in the process. Tests of one binary run in parallel, but those that
/// run a model-loading server (a live [`TestApp`] or the real binary with models) would share two
/// cores and they measure time (partials, idle timeouts, faster-than-real-time streams): each
/// holds this lock for writing for its whole run, so none of them overlaps another. Tests whose
/// audio is paced (real time or 2×: the browser, the bot bridge, the SDK) use a fraction of a core
/// and assert nothing about load: they hold it for reading ([`paced`]), so two of them may share
/// the machine, never with a heavy one.
static HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Waits for [`HEAVY`], alone (async tests).
pub async fn heavy() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    HEAVY.write().await
}

/// Waits for [`HEAVY`], alone (plain `#[test]`s; not inside a runtime).
pub fn heavy_blocking() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    HEAVY.blocking_write()
}

/// Waits for [`HEAVY`] beside other paced tests.
pub async fn paced() -> tokio::sync::RwLockReadGuard<'static, ()> {
    HEAVY.read().await
}

pub async fn tenant(store: &dyn Store, slug: &str) -> CreatedTenant {
    admin::create_tenant(store, &format!("Tenant {slug}"), slug, &format!("owner@{slug}.com"), Some("Owner"))
        .await
        .expect("create tenant")
}

pub const TEST_KEY: [u8; 32] = [42u8; 32];

/// A server on 127.0.0.1:0 over `db`, stopped when the value is dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    pub live: Option<Arc<Live>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Where a live server keeps uploaded recordings, unless the test chose the place.
    _recordings: Option<tempfile::TempDir>,
}

/// Where `models/fetch.sh` put the models: `DDALKKAK_MODELS_DIR`, else the checkout's `models/`.
pub fn model_paths() -> ModelPaths {
    let root = std::env::var("DDALKKAK_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    ModelPaths::new(root)
}

/// CI sets `DDALKKAK_REQUIRE_MODELS=1`: real-model suites must run there, not skip.
pub fn require_models() -> bool {
    std::env::var("DDALKKAK_REQUIRE_MODELS").as_deref() == Ok("1")
}

/// The fetched models (`models/fetch.sh`); `None` with a note when they are missing, unless
/// [`require_models`], where missing models fail the test.
pub fn models() -> Option<ModelPaths> {
    let paths = model_paths();
    if paths.has_whisper("tiny.en") && paths.vad().exists() {
        return Some(paths);
    }
    assert!(!require_models(), "models missing in {} (run models/fetch.sh)", paths.root.display());
    eprintln!("tiny.en not fetched: real-model test skipped (run models/fetch.sh)");
    None
}

/// Live sessions on the fetched models: tiny.en int8, one ASR worker.
fn live_setup(paths: &ModelPaths, config: LiveConfig) -> LiveSetup {
    LiveSetup { models_dir: paths.root.clone(), precision: Precision::Int8, asr_workers: 1, config, stand_ins: None }
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_configured(db, |c| c).await
    }

    /// A server with live sessions (real tiny.en int8 + Silero VAD); `None` without models.
    pub async fn spawn_live(db: TestDb, config: LiveConfig) -> Option<TestApp> {
        Self::spawn_live_with_llm(db, config, None).await
    }

    /// A server with live sessions on [`stand_in_models::ScriptedModels`] (no fetched model
    /// needed), for tests of the protocol that need no speech recognised.
    pub async fn spawn_scripted(db: TestDb, config: LiveConfig, models: stand_in_models::ScriptedModels) -> TestApp {
        let live = LiveSetup { stand_ins: Some(Arc::new(models)), ..live_setup(&model_paths(), config) };
        Self::spawn_configured(db, |c| AppConfig { live: Some(live), ..c }).await
    }

    /// [`spawn_scripted`](Self::spawn_scripted) that keeps recordings (`record=true`) in a
    /// directory of its own.
    pub async fn spawn_scripted_recording(
        db: TestDb,
        config: LiveConfig,
        models: stand_in_models::ScriptedModels,
    ) -> (TestApp, std::path::PathBuf) {
        let live = LiveSetup { stand_ins: Some(Arc::new(models)), ..live_setup(&model_paths(), config) };
        let dir = tempfile::tempdir().unwrap();
        let recordings = test_recordings(dir.path(), 100_000_000);
        let mut app =
            Self::spawn_configured(db, |c| AppConfig { live: Some(live), recordings: Some(recordings), ..c }).await;
        let path = dir.path().to_owned();
        app._recordings = Some(dir);
        (app, path)
    }

    /// [`spawn_live`](Self::spawn_live) plus the durable job runners with the real LLM `llm`
    /// (e.g. `smollm2`, one thread) and a Slack client pointed at `slack_api_url`.
    pub async fn spawn_live_with_llm(db: TestDb, mut config: LiveConfig, llm: Option<(&str, &str)>) -> Option<TestApp> {
        let paths = models()?;
        if llm.is_some() && config.action_items_wait.is_zero() {
            config.action_items_wait = std::time::Duration::from_secs(300);
        }
        let live = live_setup(&paths, config);
        let intelligence = llm.map(|(llm, slack_api_url)| IntelligenceSetup {
            models_dir: paths.root.clone(),
            llm: Some(llm.into()),
            precision: ddalkkak::inference::llm::Precision::Int8,
            threads: Some(1),
            nice: 0,
            slack_api_url: slack_api_url.into(),
            live_minutes: true,
            chunk_tokens: 1000,
            notes: 2,
            runner: RunnerConfig {
                poll: std::time::Duration::from_millis(100),
                backoff: std::time::Duration::from_millis(200),
                ..RunnerConfig::default()
            },
        });
        let dir = tempfile::tempdir().unwrap();
        let recordings = test_recordings(dir.path(), 100_000_000);
        let mut app = Self::spawn_configured(db, |c| AppConfig {
            live: Some(live),
            intelligence,
            recordings: Some(recordings),
            ..c
        })
        .await;
        app._recordings = Some(dir);
        Some(app)
    }

    /// [`spawn_scripted`](Self::spawn_scripted) plus the meeting-intelligence job on the real LLM
    /// `llm` (one thread) reading `chunk_tokens` at a time; `None` when it is not fetched.
    pub async fn spawn_scripted_with_llm(
        db: TestDb,
        mut config: LiveConfig,
        models: stand_in_models::ScriptedModels,
        llm: &str,
        chunk_tokens: usize,
    ) -> Option<TestApp> {
        let paths = model_paths();
        if !paths.root.join(format!("llm-{llm}")).exists() || !paths.ort_library().exists() {
            assert!(!require_models(), "llm-{llm} missing in {} (run models/fetch.sh)", paths.root.display());
            eprintln!("llm-{llm} not fetched: real-model test skipped (run models/fetch.sh)");
            return None;
        }
        config.action_items_wait = std::time::Duration::from_secs(300);
        let live = LiveSetup { stand_ins: Some(Arc::new(models)), ..live_setup(&paths, config) };
        let intelligence = IntelligenceSetup {
            models_dir: paths.root.clone(),
            llm: Some(llm.into()),
            precision: ddalkkak::inference::llm::Precision::Int8,
            threads: Some(1),
            nice: 0,
            slack_api_url: "http://127.0.0.1:9".into(),
            live_minutes: true,
            chunk_tokens,
            notes: 2,
            runner: RunnerConfig { poll: std::time::Duration::from_millis(100), ..RunnerConfig::default() },
        };
        Some(
            Self::spawn_configured(db, |c| AppConfig { live: Some(live), intelligence: Some(intelligence), ..c }).await,
        )
    }

    /// [`spawn_live`](Self::spawn_live) that takes recording uploads into `dir`, up to
    /// `max_bytes` each, and runs their transcription jobs.
    pub async fn spawn_live_with_recordings(
        db: TestDb,
        config: LiveConfig,
        dir: &std::path::Path,
        max_bytes: u64,
    ) -> Option<TestApp> {
        let paths = models()?;
        let live = live_setup(&paths, config);
        let recordings = test_recordings(dir, max_bytes);
        Some(Self::spawn_configured(db, |c| AppConfig { live: Some(live), recordings: Some(recordings), ..c }).await)
    }

    /// The REST API (no live sessions) with other HTTP limits than the defaults: REST rate per
    /// key, header-read timeout, open connections.
    pub async fn spawn_with_http_limits(db: TestDb, http: HttpLimits) -> TestApp {
        Self::spawn_configured(db, |config| AppConfig { http, ..config }).await
    }

    /// Builds `configure(the REST-only default config)` through [`App::build`] over the test's
    /// store, with the test keys, and serves it on port 0.
    async fn spawn_configured(db: TestDb, configure: impl FnOnce(AppConfig) -> AppConfig) -> TestApp {
        let keys = Keys { encryption: TEST_KEY, token_signing: TEST_KEY };
        let config = configure(AppConfig::new(Database::Store(db.store.clone()), keys));
        let app = App::build(config).await.expect("build the server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live = app.live().cloned();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(listener, shutdown.clone().cancelled_owned()));
        TestApp { addr, db, http: reqwest::Client::new(), shutdown, live, server: Some(server), _recordings: None }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Stops the server the way SIGTERM does and waits for it (live sessions drain); the
    /// database stays for checks.
    pub async fn shutdown(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.db.store
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, key, Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PATCH, path, key, Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, key, None).await
    }

    /// `PUT` with a raw audio body (a voice recording).
    pub async fn put_audio(&self, path: &str, key: &str, audio: Vec<u8>) -> (u16, serde_json::Value) {
        let req = self.http.put(self.url(path)).bearer_auth(key).header("content-type", "audio/wav").body(audio);
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }
}

/// 16 kHz mono 16-bit PCM `samples` as a WAV file.
pub fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}

/// Recordings in `dir`, up to `max_bytes` each; URLs on loopback may be fetched (the tests serve
/// recordings from their own HTTP server, [`serve_recording`]).
fn test_recordings(dir: &std::path::Path, max_bytes: u64) -> ddalkkak::storage::Recordings {
    ddalkkak::storage::Recordings {
        storage: ddalkkak::storage::RecordingStorage::new(dir),
        max_bytes,
        fetcher: ddalkkak::storage::UrlFetcher::new(
            vec!["127.0.0.0/8".parse().unwrap()],
            std::time::Duration::from_secs(30),
        ),
    }
}

/// A plain HTTP server on loopback for recording URLs: `/file.wav` answers `body`,
/// `/moved` redirects to it, `/missing` is 404. Returns its base URL; it stops with the test.
pub async fn serve_recording(body: Vec<u8>) -> String {
    use axum::response::{IntoResponse, Redirect};
    let body = std::sync::Arc::new(body);
    let app = axum::Router::new()
        .route(
            "/file.wav",
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([("content-type", "audio/wav")], (*body).clone()).into_response() }
            }),
        )
        .route("/moved", axum::routing::get(|| async { Redirect::temporary("/file.wav") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A Node project under `tests/` (`sdk`, `browser`) with its dependencies installed by `npm ci` when
/// missing or older than its lock file; `None` (skip, with a note) without node unless `DDALKKAK_REQUIRE_MODELS=1`.
pub fn node_project(name: &str) -> Option<&'static std::path::Path> {
    let dir: &'static std::path::Path =
        Box::leak(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name).into_boxed_path());
    if std::process::Command::new("node").arg("--version").output().is_err() {
        assert!(!require_models(), "node is needed for tests/{name}");
        eprintln!("node not found: tests/{name} skipped");
        return None;
    }
    // npm keeps a copy of the lock file it installed from; one older than the project's lock file
    // means a dependency was added or changed since.
    let modified = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(dir.join("node_modules").join(".package-lock.json"));
    if installed.is_none() || installed < modified(dir.join("package-lock.json")) {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .expect("npm");
        assert!(status.success(), "npm ci in tests/{name} failed");
    }
    Some(dir)
}

/// Runs a test script with node and returns the JSON of the last line it printed (its summary);
/// the test fails with the script's output when it exits with an error.
pub async fn node_summary(script: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let output = tokio::process::Command::new("node").arg(script).args(args).output().await.expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON summary line")
}

/// A meeting written through the store the way a live session writes it: `lines` (speaker, text)
/// as finals 3 s apart, then finalized, which queues its meeting-intelligence job. Returns the
/// meeting's id.
pub async fn finalized_live_meeting(
    s: &dyn Store,
    tenant: uuid::Uuid,
    host: uuid::Uuid,
    title: &str,
    lines: &[(i32, &str)],
) -> uuid::Uuid {
    let live = ddalkkak::store::NewLiveSession {
        host_id: host,
        title: title.into(),
        socket_id: uuid::Uuid::new_v4().to_string(),
        server_instance: "test".into(),
        language: None,
        model: None,
    };
    let (session, meeting) = s.start_live_session(tenant, live).await.unwrap();
    for (i, (speaker, text)) in lines.iter().enumerate() {
        let f = ddalkkak::store::NewFinal {
            session_id: session.id,
            meeting_id: meeting.id,
            seq: i as i32,
            start_ms: i as i32 * 3000,
            end_ms: i as i32 * 3000 + 2500,
            speaker: Some(*speaker),
            text: text.to_string(),
            words: Vec::new(),
        };
        s.append_final(tenant, f).await.unwrap();
    }
    s.finalize_live_session(tenant, session.id, None, None, &Default::default()).await.unwrap();
    meeting.id
}
