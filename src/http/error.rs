//! The one error type of the HTTP layer, rendered as `application/problem+json` (RFC 9457) with
//! a stable `code`. Store errors are mapped here, once; internal errors are logged with a trace id
//! and never echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::session::{AdmissionError, EnrollmentError};
use crate::store::StoreError;
use crate::validate::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{code}: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{code}: {detail}")]
    Conflict { code: &'static str, detail: &'static str },
    /// 413; the detail says the limit.
    #[error("payload too large: {0}")]
    PayloadTooLarge(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 415 for an upload that is no audio this server decodes; the detail says what it found.
    #[error("unsupported audio: {0}")]
    UnsupportedAudio(String),
    /// 503 with `Retry-After`: refused now, fine later (admission control, no models).
    #[error("{code}: {detail}")]
    Unavailable { code: &'static str, detail: &'static str },
    #[error("gone: {0}")]
    Gone(&'static str),
    /// 422 for a request that was well-formed but whose work failed for a reason the client
    /// can act on (a recording that does not decode); the detail says why.
    #[error("{code}: {detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 504: the work goes on, the request stopped waiting for it.
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// A live session or caption viewer not admitted: 503 when the server or the session has no
    /// room, 429 when the caller's tenant or key holds its quota.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// 429 `rate_limited` with `Retry-After`: this API key sent more REST requests than its rate.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(std::time::Duration),
    /// A voice recording that gives no voiceprint (`PUT /v1/users/{id}/voiceprint`).
    #[error(transparent)]
    Enrollment(#[from] EnrollmentError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A request's field errors ([`crate::validate::Validator::finish`]) are one 422 problem.
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; ends in `code`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable; clients switch on this.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field problems of a request body or query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError { field: field.into(), code: code.into(), message: message.into() }])
    }

    fn parts(self) -> (StatusCode, &'static str, Option<String>, Vec<FieldError>) {
        use StatusCode as S;
        match self {
            ApiError::Unauthorized(why) => (S::UNAUTHORIZED, "unauthorized", Some(why.into()), vec![]),
            ApiError::Forbidden(why) => (S::FORBIDDEN, "forbidden", Some(why.into()), vec![]),
            ApiError::NotFound | ApiError::Store(StoreError::NotFound) => (S::NOT_FOUND, "not_found", None, vec![]),
            ApiError::Validation(errors) => (S::UNPROCESSABLE_ENTITY, "validation_failed", None, errors),
            ApiError::BadRequest { code, detail } => (S::BAD_REQUEST, code, Some(detail), vec![]),
            ApiError::Conflict { code, detail } => (S::CONFLICT, code, Some(detail.into()), vec![]),
            ApiError::PayloadTooLarge(limit) => (S::PAYLOAD_TOO_LARGE, "payload_too_large", Some(limit.into()), vec![]),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed", None, vec![]),
            ApiError::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("send the body as application/json".into()),
                vec![],
            ),
            ApiError::UnsupportedAudio(detail) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_audio", Some(detail), vec![])
            }
            ApiError::Unavailable { code, detail } => (S::SERVICE_UNAVAILABLE, code, Some(detail.into()), vec![]),
            ApiError::Gone(detail) => (S::GONE, "gone", Some(detail.into()), vec![]),
            ApiError::Unprocessable { code, detail } => (S::UNPROCESSABLE_ENTITY, code, Some(detail), vec![]),
            ApiError::Timeout(detail) => (S::GATEWAY_TIMEOUT, "timeout", Some(detail.into()), vec![]),
            ApiError::Admission(refusal) => {
                let (status, code) = match refusal {
                    AdmissionError::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded"),
                    AdmissionError::ShuttingDown => (S::SERVICE_UNAVAILABLE, "shutting_down"),
                    AdmissionError::SessionViewers(_) => (S::SERVICE_UNAVAILABLE, "too_many_viewers"),
                    AdmissionError::TenantSessions(_) => (S::TOO_MANY_REQUESTS, "tenant_session_quota"),
                    AdmissionError::KeySessions(_) => (S::TOO_MANY_REQUESTS, "key_session_quota"),
                    AdmissionError::TenantViewers(_) => (S::TOO_MANY_REQUESTS, "tenant_viewer_quota"),
                };
                (status, code, Some(refusal.to_string()), vec![])
            }
            ApiError::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                Some("this API key sent more requests than its rate allows; retry after Retry-After seconds".into()),
                vec![],
            ),
            ApiError::Enrollment(e) => {
                let (status, code) = match &e {
                    EnrollmentError::Undecodable => (S::UNPROCESSABLE_ENTITY, "undecodable_audio"),
                    EnrollmentError::TooLong => (S::UNPROCESSABLE_ENTITY, "recording_too_long"),
                    EnrollmentError::TooLittleSpeech { .. } => (S::UNPROCESSABLE_ENTITY, "too_little_speech"),
                    EnrollmentError::NoModels => (S::SERVICE_UNAVAILABLE, "speaker_model_unavailable"),
                    EnrollmentError::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded"),
                    EnrollmentError::Internal(_) => return internal(&e),
                };
                (status, code, Some(e.to_string()), vec![])
            }
            ApiError::Store(StoreError::Rule { code, field, message }) => (
                S::UNPROCESSABLE_ENTITY,
                code,
                Some(message.into()),
                vec![FieldError { field: field.into(), code: code.into(), message: message.into() }],
            ),
            ApiError::Store(StoreError::Constraint(name)) => constraint_problem(&name),
            ApiError::Store(StoreError::Database(e)) => internal(&e),
            ApiError::Internal(e) => internal(&*e),
        }
    }
}

fn internal(e: &dyn std::error::Error) -> (StatusCode, &'static str, Option<String>, Vec<FieldError>) {
    let trace = Uuid::new_v4();
    tracing::error!(%trace, error = %e, "internal error");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        Some(format!("internal error; quote trace id {trace} when reporting it")),
        vec![],
    )
}

/// Every named constraint of the migrations, as the client sees it. The same names exist in
/// both backends, so PostgreSQL and SQLite give the same answer.
fn constraint_problem(name: &str) -> (StatusCode, &'static str, Option<String>, Vec<FieldError>) {
    use StatusCode as S;
    let conflict = |code: &'static str, detail: &str| (S::CONFLICT, code, Some(detail.to_owned()), vec![]);
    let invalid = |field: &str, message: &str| {
        let errors = vec![FieldError { field: field.into(), code: "invalid".into(), message: message.into() }];
        (S::UNPROCESSABLE_ENTITY, "validation_failed", None, errors)
    };
    match name {
        "uq_tenants_slug" => conflict("slug_taken", "a tenant with this slug already exists"),
        "uq_users_tenant_email" => conflict("email_taken", "a user with this email already exists in this tenant"),
        "uq_users_tenant_owner" => conflict("owner_exists", "a tenant has exactly one OWNER"),
        "uq_integrations_tenant_service" => conflict(
            "integration_exists",
            "this service is already connected; disconnect the existing integration first",
        ),
        "uq_realtime_sessions_active_socket" => conflict("socket_in_use", "this socket already has an active session"),
        "uq_realtime_sessions_meeting" => conflict("meeting_has_session", "this meeting already has a session"),
        "uq_api_keys_prefix" | "uq_usage_stats_tenant_date" => conflict("conflict", "a concurrent write won; retry"),
        "fk_meetings_users_host" => conflict("user_hosts_meetings", "the user hosts meetings and cannot be deleted"),
        "chk_tenants_slug" => invalid("slug", "lowercase letters, digits and single hyphens"),
        "chk_users_email" => invalid("email", "must be an email address"),
        "chk_meetings_audio_duration" => invalid("audio_duration", "must be positive"),
        "chk_tenants_recording_retention_days" => invalid("recording_retention_days", "1 to 3650 days, or null"),
        other if other.starts_with("chk_") => invalid(other.rsplit('_').next().unwrap_or("body"), "invalid value"),
        _ => conflict("conflict", "the change conflicts with existing data"),
    }
}

impl ApiError {
    /// Seconds a refused client should wait: every 503, and every 429.
    fn retry_after(&self) -> Option<u64> {
        match self {
            // Whole seconds, rounded up: a client retrying at once would be refused again.
            ApiError::RateLimited(wait) => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            // Another instance can take it now; the load balancer stops sending here meanwhile.
            ApiError::Admission(AdmissionError::ShuttingDown) => Some(1),
            ApiError::Unavailable { .. }
            | ApiError::Admission(_)
            | ApiError::Enrollment(EnrollmentError::Overloaded) => Some(5),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after();
        let (status, code, detail, errors) = self.parts();
        let body = Problem {
            kind: format!("https://ddalkkak.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
