//! `POST /v1/web-session` / `DELETE /v1/web-session`: browser sign-in. The page posts an API key
//! once; the answer is an HttpOnly cookie holding a signed `web` token (12 h) that the REST API
//! accepts in place of the key, so the key never has to live in the page. The token names a
//! `web_sessions` row: signing out ends it on the server, so a copy of the cookie stops working
//! too. Cookie-authenticated requests that change something must carry `X-DdalKkak-CSRF: 1`,
//! which a cross-site form cannot send.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, Principal};
use crate::auth::{ApiKeySecret, StreamClaims, StreamScope};
use crate::domain::{Role, now};
use crate::store::StoreError;

/// The cookie's name.
pub const COOKIE: &str = "ddk_session";
/// The header cookie-authenticated writes must carry (any non-empty value; the page sends `1`).
pub const CSRF_HEADER: &str = "x-ddalkkak-csrf";
/// A working day: long enough not to interrupt a meeting, short enough that a forgotten
/// browser does not stay signed in for good.
pub const TTL_SECONDS: i64 = 12 * 3600;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An API key of the user signing in. Used once, never stored by the server or the page.
    pub api_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebSession {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/web-session", tag = "auth", request_body = SignIn,
    params(("X-DdalKkak-CSRF" = String, Header, description = "any non-empty value")),
    responses((status = 201, body = WebSession, description = "sets the `ddk_session` cookie"),
        (status = "4XX", body = Problem)), security(()))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    // Without it another site could sign a visitor in as the attacker (login CSRF).
    require_csrf_header(&headers)?;
    let who = Principal::from_api_key(&state, body.api_key.trim()).await?;
    let prefix = ApiKeySecret::prefix_of(body.api_key.trim()).ok_or(ApiError::Unauthorized("malformed API key"))?;
    let expires_at = now() + Duration::seconds(TTL_SECONDS);
    let session_id = state.store.create_web_session(who.tenant_id, who.user_id, who.api_key_id, expires_at).await?;
    let token = state.signer.sign(&StreamClaims {
        tenant_id: who.tenant_id,
        user_id: who.user_id,
        scope: StreamScope::Web,
        session_id: Some(session_id),
        key_prefix: Some(prefix.to_owned()),
        exp: expires_at.timestamp(),
    });
    let secure = if is_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={TTL_SECONDS}{secure}");
    let session = WebSession { tenant_id: who.tenant_id, user_id: who.user_id, role: who.role, expires_at };
    Ok(with_cookie((StatusCode::CREATED, Json(session)).into_response(), &cookie))
}

#[utoipa::path(delete, path = "/v1/web-session", tag = "auth",
    responses((status = 204, description = "ends the sign-in the `ddk_session` cookie names and clears the cookie")),
    security(()))]
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // A cookie that is invalid or expired names nothing to end; it is cleared all the same.
    if let Some(claims) = session_cookie(&headers).and_then(|c| state.signer.verify(c, now()).ok())
        && let (StreamScope::Web, Some(id)) = (&claims.scope, claims.session_id)
    {
        state.store.end_web_session(claims.tenant_id, id).await?;
    }
    let secure = if is_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    let value = HeaderValue::from_str(cookie).expect("cookie is ASCII");
    response.headers_mut().insert(header::SET_COOKIE, value);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// TLS is terminated in front of the server; the proxy says so in `X-Forwarded-Proto`.
fn is_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn require_csrf_header(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(CSRF_HEADER) {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(ApiError::Forbidden("cookie-authenticated writes need the `X-DdalKkak-CSRF: 1` header")),
    }
}

/// The `ddk_session` cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

impl Principal {
    /// Resolves a `ddk_session` cookie. The key that signed in is looked up on every request, so
    /// revoking it (or deleting its user, or changing their role) takes effect at once.
    pub async fn from_web_session(state: &AppState, parts: &Parts, cookie: &str) -> Result<Self, ApiError> {
        let claims = state.signer.verify(cookie, now()).map_err(|e| match e {
            crate::auth::StreamTokenError::Expired => ApiError::Unauthorized("web session expired; sign in again"),
            _ => ApiError::Unauthorized("invalid web session; sign in again"),
        })?;
        let (prefix, session_id) = match (&claims.scope, &claims.key_prefix, claims.session_id) {
            (StreamScope::Web, Some(prefix), Some(id)) => (prefix, id),
            _ => return Err(ApiError::Unauthorized("invalid web session; sign in again")),
        };
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            require_csrf_header(&parts.headers)?;
        }
        if !state.store.web_session_is_live(session_id).await? {
            return Err(ApiError::Unauthorized("signed out; sign in again"));
        }
        let (key, user) = match state.store.api_key_by_prefix(prefix).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(ApiError::Unauthorized("the API key of this session is gone")),
            Err(e) => return Err(e.into()),
        };
        if key.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("the API key of this session was revoked"));
        }
        if key.tenant_id != claims.tenant_id || user.id != claims.user_id {
            return Err(ApiError::Unauthorized("invalid web session; sign in again"));
        }
        Ok(Principal::of(key, &user))
    }
}
