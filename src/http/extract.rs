//! Request extractors whose rejections are problem+json: the body, query and path, and the
//! authenticated [`Principal`].

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use chrono::Duration;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::auth::{ApiKeySecret, StreamTokenSigner, hash_key};
use crate::domain::{ApiKey, Role, User, now};
use crate::session::{Vocabulary, query_terms};
use crate::store::StoreError;

/// A JSON body. Syntax errors are 400 `malformed_json`; a body of the wrong shape is 422 naming
/// the offending field path.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request bodies are limited to 1 MiB")
            } else {
                ApiError::BadRequest { code: "unreadable_body", detail: e.body_text() }
            }
        })?;
        if has_nul_escape(&bytes) {
            return Err(ApiError::field("body", "nul_character", NUL_MESSAGE));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(&mut de) {
            Ok(value) => Ok(ApiJson(value)),
            Err(e) if e.inner().is_data() => {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_owned() } else { path };
                Err(ApiError::field(&field, "invalid", e.inner().to_string()))
            }
            Err(e) => Err(ApiError::BadRequest { code: "malformed_json", detail: e.inner().to_string() }),
        }
    }
}

/// An optional JSON body: no body at all (no `Content-Type`, nothing sent) is `None`; anything
/// else is read as [`ApiJson`] is.
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(req, state).await.map(Some);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest { code: "unreadable_body", detail: e.body_text() })?;
        if bytes.is_empty() { Ok(None) } else { Err(ApiError::UnsupportedMediaType) }
    }
}

/// A raw body (a voice recording), read up to the route's body limit; the content is
/// recognised by what it is, not by its `Content-Type`.
pub struct AudioBody(pub Bytes);

/// What a route taking an [`AudioBody`] accepts (the router sets the same limit on it).
pub const AUDIO_BODY_LIMIT: usize = 8 << 20;

impl<S: Send + Sync> FromRequest<S> for AudioBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("voice recordings are limited to 8 MiB")
            } else {
                ApiError::BadRequest { code: "unreadable_body", detail: e.body_text() }
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::field("body", "required", "send the recording as the request body"));
        }
        Ok(AudioBody(bytes))
    }
}

/// Text with NUL characters is refused everywhere: PostgreSQL cannot store them (and nobody types
/// them), so it would otherwise fail inside the database instead of at the door.
const NUL_MESSAGE: &str = "text must not contain NUL (U+0000) characters";

/// Whether a JSON document escapes a NUL character (`\u0000`) in a string. (JSON strings cannot
/// hold a raw NUL byte: the parser refuses those.) An escaped backslash followed by `u0000` is
/// text, not a NUL: the backslashes before `u0000` must be odd in number.
fn has_nul_escape(json: &[u8]) -> bool {
    json.windows(5)
        .enumerate()
        .any(|(i, w)| w == b"u0000" && json[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1)
}

/// Query parameters; a bad one is 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        if query.contains("%00") {
            return Err(ApiError::BadRequest { code: "invalid_query", detail: NUL_MESSAGE.into() });
        }
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::BadRequest { code: "invalid_query", detail: e.to_string() })
    }
}

/// The query's `keyterm` and `keywords` values (Deepgram's names, each repeatable), checked
/// against the vocabulary limits (422 `keyterm`).
pub struct KeytermQuery(pub Vocabulary);

impl<S: Send + Sync> FromRequestParts<S> for KeytermQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let terms = query_terms(parts.uri.query().unwrap_or_default());
        Vocabulary::checked(terms).map(KeytermQuery).map_err(|e| ApiError::field("keyterm", "invalid", e.to_string()))
    }
}

/// A resource id in the path. An id that is not a UUID cannot name anything: 404.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Who is calling: resolved from an API key in `Authorization: Bearer <key>` or `Token <key>`,
/// or from a browser's web-session cookie ([`super::web_session`]).
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub api_key_id: Uuid,
    /// The key's public prefix: stream tokens minted by this caller name their key by it.
    pub key_prefix: String,
}

impl Principal {
    /// The caller `key` (of `user`) authenticates.
    pub(super) fn of(key: ApiKey, user: &User) -> Self {
        Principal {
            tenant_id: key.tenant_id,
            user_id: user.id,
            role: user.role,
            api_key_id: key.id,
            key_prefix: key.prefix,
        }
    }

    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match role {
                Role::Owner => "only the tenant's OWNER may do this",
                _ => "requires the ADMIN or OWNER role",
            }))
        }
    }
}

/// `last_used_at` is written at most this often per key, to keep reads from becoming writes.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Every REST request is authenticated here, so this is also where each API key's rate limit
/// is applied (a web session counts for the key that signed in).
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::authenticate(parts, state).await?;
        if let Some(limiter) = &state.rate_limiter {
            limiter.check(principal.api_key_id)?;
        }
        Ok(principal)
    }
}

impl Principal {
    async fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(presented) = credential(parts) else {
            // A signed-in browser page: the `ddk_session` cookie of `POST /v1/web-session`.
            if let Some(cookie) = super::web_session::session_cookie(&parts.headers) {
                return Principal::from_web_session(state, parts, cookie).await;
            }
            return Err(ApiError::Unauthorized("send an API key as `Authorization: Bearer <key>`"));
        };
        if StreamTokenSigner::looks_like_token(presented) {
            return Err(ApiError::Unauthorized("stream tokens open live streams only; use an API key"));
        }
        Principal::from_api_key(state, presented).await
    }
}

impl Principal {
    /// Resolves an API key (not a stream token).
    pub async fn from_api_key(state: &AppState, presented: &str) -> Result<Self, ApiError> {
        let prefix = ApiKeySecret::prefix_of(presented).ok_or(ApiError::Unauthorized("malformed API key"))?;
        let (key, user) = match state.store.api_key_by_prefix(prefix).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(ApiError::Unauthorized("unknown API key")),
            Err(e) => return Err(e.into()),
        };
        if !bool::from(hash_key(presented).ct_eq(&key.key_hash)) {
            return Err(ApiError::Unauthorized("unknown API key"));
        }
        if key.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("API key revoked"));
        }
        let now = now();
        if key.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
            state.store.touch_api_key(key.tenant_id, key.id, now).await?;
        }
        Ok(Principal::of(key, &user))
    }
}

/// Who opens or watches a live stream: an API key, or a stream token of the right scope.
#[derive(Debug, Clone)]
pub struct StreamCaller {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// The API key behind the credential, by its prefix: the key itself, or the key that minted
    /// the stream token (per-key session quota). A token minted before tokens named their key
    /// counts for its user.
    pub key: String,
    /// Set when a token was presented: what it allows.
    pub token: Option<crate::auth::StreamClaims>,
    /// The credential came as the `token` WebSocket subprotocol, which must be echoed.
    pub via_subprotocol: bool,
}

impl StreamCaller {
    /// Looks in `Authorization: Token|Bearer`, then `Sec-WebSocket-Protocol: token, <credential>`
    /// (browsers cannot set headers on WebSockets), then `?token=`, which takes stream tokens
    /// only: query strings end up in proxy and browser logs, where a short-lived, single-purpose
    /// token may be, and an API key must not.
    pub async fn authenticate(state: &AppState, parts: &Parts, query_token: Option<&str>) -> Result<Self, ApiError> {
        let subprotocol = subprotocol_credential(parts);
        let (presented, via_subprotocol) = match (credential(parts), subprotocol, query_token) {
            (Some(c), _, _) => (c, false),
            (None, Some(c), _) => (c, true),
            (None, None, Some(c)) if StreamTokenSigner::looks_like_token(c) => (c, false),
            (None, None, Some(_)) => {
                return Err(ApiError::Unauthorized(
                    "?token= takes stream tokens only; send an API key in the Authorization header or the `token` subprotocol",
                ));
            }
            (None, None, None) => {
                return Err(ApiError::Unauthorized(
                    "send an API key or stream token (Authorization header, `token` subprotocol or ?token=)",
                ));
            }
        };
        if StreamTokenSigner::looks_like_token(presented) {
            let claims = state.signer.verify(presented, now()).map_err(|e| match e {
                crate::auth::StreamTokenError::Expired => ApiError::Unauthorized("stream token expired"),
                _ => ApiError::Unauthorized("invalid stream token"),
            })?;
            return Ok(Self {
                tenant_id: claims.tenant_id,
                user_id: claims.user_id,
                key: claims.key_prefix.clone().unwrap_or_else(|| claims.user_id.to_string()),
                token: Some(claims),
                via_subprotocol,
            });
        }
        let principal = Principal::from_api_key(state, presented).await?;
        // `from_api_key` accepted it, so it is shaped like a key.
        let key = ApiKeySecret::prefix_of(presented).unwrap_or_default().to_owned();
        Ok(Self { tenant_id: principal.tenant_id, user_id: principal.user_id, key, token: None, via_subprotocol })
    }
}

fn subprotocol_credential(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut items = value.split(',').map(str::trim);
    (items.next()? == "token").then(|| items.next()).flatten().filter(|c| !c.is_empty())
}

fn credential(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"title": "a\u0000b"}"#));
        assert!(has_nul_escape(br#"{"title": "\\\u0000"}"#), "an escaped backslash, then a NUL");
        assert!(!has_nul_escape(br#"{"title": "C:\\u0000"}"#), "the text \\u0000");
        assert!(!has_nul_escape(br#"{"title": "u0000"}"#));
    }
}
