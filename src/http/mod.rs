//! The HTTP surface: `/v1` REST API, `/healthz`, `/readyz`, `/readyz/streams`, `/openapi.json`, and the browser
//! pages (`/`, `/overlay/{session}`, `/assets/`). Every route is registered in [`router`];
//! handlers live in one file per resource.

mod api_keys;
mod captions;
mod error;
mod extract;
mod integrations;
mod limits;
mod listen;
mod meetings;
mod minutes;
mod models;
mod notifications;
mod pages;
mod pagination;
pub(crate) mod prerecorded;
mod realtime_sessions;
mod recordings;
mod server;
mod stream_tokens;
mod tasks;
mod tenant;
mod transcripts;
mod users;
mod voiceprints;
mod web_session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::{ApiError, Problem};
pub use extract::Principal;
pub use limits::{HttpLimits, KeyRateLimiter, RateLimit};
pub use server::serve;

use crate::auth::{StreamTokenSigner, TokenCipher, VoiceprintCipher};
use crate::inference::worker::WorkerHealth;
use crate::metrics;
use crate::session::LiveService;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cipher: TokenCipher,
    /// Seals enrolled voices (same key as `cipher`).
    pub voiceprints: VoiceprintCipher,
    pub signer: StreamTokenSigner,
    /// Live transcription; `None` when the server runs without speech models (REST only).
    pub live: Option<Arc<LiveService>>,
    /// Health of every model thread pool (ASR per served model, VAD, diarization, LLM).
    pub model_workers: Vec<watch::Receiver<WorkerHealth>>,
    /// REST requests per API key; `None`: unlimited.
    pub rate_limiter: Option<Arc<KeyRateLimiter>>,
    /// Recording uploads; `None`: refused (503).
    pub recordings: Option<crate::storage::Recordings>,
    /// Cancelled when shutdown begins: `/readyz` answers 503 from then on.
    pub draining: CancellationToken,
}

/// Request bodies of the REST API are small JSON documents.
const BODY_LIMIT: usize = 1 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A recording upload streams for as long as this (a 500 MB file at 10 Mbit/s takes 7 minutes).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3600);

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/me", get(users::me))
        .route("/tenant", get(tenant::get).patch(tenant::update).delete(tenant::delete))
        .route("/usage", get(tenant::usage))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::get).patch(users::update).delete(users::delete))
        .route("/users/{id}/restore", post(users::restore))
        .route(
            "/users/{id}/voiceprint",
            get(voiceprints::get)
                .put(voiceprints::put)
                .delete(voiceprints::delete)
                .layer(DefaultBodyLimit::max(extract::AUDIO_BODY_LIMIT)),
        )
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/stream-tokens", post(stream_tokens::create))
        .route("/web-session", post(web_session::create).delete(web_session::delete))
        .route("/models", get(models::list))
        .route("/meetings", get(meetings::list).post(meetings::create))
        .route("/meetings/{id}", get(meetings::get).patch(meetings::update).delete(meetings::delete))
        .route("/meetings/{id}/transcript", get(meetings::transcript))
        .route("/meetings/{id}/speaker-labels", axum::routing::patch(meetings::name_speaker))
        .route("/meetings/{id}/minutes", get(minutes::get))
        .route("/meetings/{id}/restore", post(meetings::restore))
        .route("/meetings/{id}/retranscribe", post(transcripts::retranscribe))
        .route("/meetings/{id}/transcripts", get(transcripts::list))
        .route("/meetings/{id}/transcripts/{version}", get(transcripts::get))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}", get(tasks::get).patch(tasks::update).delete(tasks::delete))
        .route("/tasks/{id}/restore", post(tasks::restore))
        .route("/realtime-sessions", get(realtime_sessions::list))
        .route("/realtime-sessions/{id}", get(realtime_sessions::get))
        .route("/realtime-sessions/{id}/captions", get(captions::captions))
        .route("/integrations", get(integrations::list).post(integrations::create))
        .route("/integrations/{id}", get(integrations::get).patch(integrations::update).delete(integrations::delete))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}/read", post(notifications::mark_read));

    // Uploads stream without the JSON body limit (the storage enforces its own) and for longer.
    let uploads = Router::new()
        .route("/v1/meetings/{id}/recording", get(recordings::get).put(recordings::put).delete(recordings::delete))
        .route("/v1/meetings/{id}/recording/audio", get(recordings::audio))
        .route("/v1/listen", get(listen::listen).post(prerecorded::transcribe))
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, UPLOAD_TIMEOUT))
        .layer(middleware::map_response(close_after_refusal));
    let api = Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/readyz/streams", get(readyz_streams))
        .route("/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
        .route("/", get(pages::index))
        .route("/overlay/{session}", get(pages::overlay))
        .route("/assets/{name}", get(pages::asset))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT));
    Router::new()
        .merge(uploads)
        .merge(api)
        .layer(middleware::from_fn(record_metrics))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A refused upload may leave most of its body unread, so the connection cannot carry another
/// request: saying so keeps a client from sending its next request into a closing connection.
async fn close_after_refusal(mut response: Response) -> Response {
    if response.status().is_client_error() || response.status().is_server_error() {
        response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

/// Ready when not shutting down, the database answers and every model worker serves (all threads
/// running, the model not failing batch after batch).
async fn readyz(State(state): State<AppState>) -> Response {
    match not_ready(&state).await {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

/// Ready for another live stream: ready as `/readyz` says, and below the admission limit (with
/// ASR keeping up). "Full" is an endpoint of its own because failing `/readyz` takes an instance
/// out of every route of a load balancer, its REST API included (docs/deployment.md, "Probes").
async fn readyz_streams(State(state): State<AppState>) -> Response {
    if let Some(reason) = not_ready(&state).await {
        return (StatusCode::SERVICE_UNAVAILABLE, reason).into_response();
    }
    let Some(live) = &state.live else {
        return (StatusCode::SERVICE_UNAVAILABLE, "live sessions are not served here").into_response();
    };
    match live.full() {
        // As a refused stream would be told (503 `overloaded`).
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "5")], reason).into_response()
        }
        None => {
            let (active, max) = (live.active_sessions(), live.config.max_sessions);
            (StatusCode::OK, format!("ready: {active} of {max} live sessions")).into_response()
        }
    }
}

/// Why the instance is not ready, or `None`.
async fn not_ready(state: &AppState) -> Option<String> {
    if state.draining.is_cancelled() {
        return Some("draining: this instance is shutting down".into());
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return Some("database unavailable".into());
    }
    let failing: Vec<String> = state
        .model_workers
        .iter()
        .map(|w| w.borrow().clone())
        .filter(|h| !h.is_ready())
        .map(|h| {
            format!(
                "{} ({} of {} threads running, {} failed batches in a row)",
                h.name, h.running, h.threads, h.consecutive_failures
            )
        })
        .collect();
    if failing.is_empty() {
        None
    } else {
        tracing::warn!(workers = ?failing, "readiness check failed");
        Some(format!("model workers not ready: {}", failing.join("; ")))
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    // Label values come from a fixed set: a client inventing methods must not grow `/metrics`.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(req).await;
    metrics::http_request(method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// For PATCH bodies: an absent field is `None`, an explicit `null` is `Some(None)`.
pub(crate) fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "DdalKkak API", description = "Multi-tenant meeting transcription: REST API v1. \
        Authenticate with `Authorization: Bearer <api key>`. Errors are application/problem+json."),
    paths(
        users::me, users::list, users::create, users::get, users::update, users::delete, users::restore,
        voiceprints::put, voiceprints::get, voiceprints::delete,
        tenant::get, tenant::update, tenant::delete, tenant::usage,
        api_keys::list, api_keys::create, api_keys::revoke,
        stream_tokens::create, web_session::create, web_session::delete, models::list,
        meetings::create, meetings::list, meetings::get, meetings::transcript, meetings::update, meetings::name_speaker,
        meetings::delete, meetings::restore, minutes::get, recordings::put, recordings::get, recordings::audio, recordings::delete, prerecorded::transcribe,
        transcripts::retranscribe, transcripts::list, transcripts::get,
        tasks::create, tasks::list, tasks::get, tasks::update, tasks::delete, tasks::restore,
        realtime_sessions::list, realtime_sessions::get,
        integrations::list, integrations::get, integrations::create, integrations::update, integrations::delete,
        notifications::list, notifications::mark_read,
    ),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}
