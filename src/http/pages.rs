//! The browser pages: the capture page at `/` and the caption overlay at `/overlay/{session}`,
//! with their scripts and styles under `/assets/`. The files are in `web/`, compiled into the
//! binary (no build step, no CDN), and served with a strict Content-Security-Policy (no inline
//! script, connections only to this origin) and ETags so a reload costs a 304.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../../web/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("overlay.html", "text/html; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("capture.js", JS),
    asset!("captions.js", JS),
    asset!("i18n.js", JS),
    asset!("meetings.js", JS),
    asset!("overlay.js", JS),
    asset!("voice.js", JS),
    asset!("glossary.js", JS),
    asset!("pcm-worklet.js", JS),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("overlay.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Everything from this origin only; WebSockets to it (`ws:`/`wss:` because CSP's `'self'` does
/// not cover them in every browser). The capture page may not be framed (clickjacking of the
/// microphone button); the overlay may, since it only shows captions.
const CSP_BASE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self' ws: wss:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'";

fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    &tags[index]
}

fn serve(name: &str, request: &HeaderMap, frame_ancestors: bool) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::NotFound.into_response();
    };
    let asset = &ASSETS[index];
    let tag = etag(index);
    let fresh = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == tag || t == "*"
        })
    });
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, asset.body).into_response() };
    let csp = if frame_ancestors { format!("{CSP_BASE}; frame-ancestors 'none'") } else { CSP_BASE.to_owned() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // Names are not content-hashed, so browsers revalidate every time; the ETag makes that cheap.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, HeaderValue::from_static(tag));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&csp).expect("ASCII"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The overlay URL carries a view token (in the fragment, but be safe): never send it on.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if frame_ancestors {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// `GET /`: the capture page (sign in, capture, captions, meetings).
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers, true)
}

/// `GET /overlay/{session}`: large captions on a transparent background for OBS.
pub async fn overlay(Path(session): Path<String>, headers: HeaderMap) -> Response {
    if Uuid::parse_str(&session).is_err() {
        return ApiError::NotFound.into_response();
    }
    serve("overlay.html", &headers, false)
}

/// `GET /assets/{name}`: scripts, styles, icon. HTML is served only at its page's route.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name.ends_with(".html") {
        return ApiError::NotFound.into_response();
    }
    serve(&name, &headers, true)
}
