//! The browser-facing surface on both backends: the pages and assets (content types, CSP, cache
//! validation, every referenced file served), cookie sign-in and sign-out, what the cookie
//! opens and what it does not (CSRF header on writes, revocation, no live stream), `/v1/models`,
//! and transcript downloads as SRT/VTT/text.

use crate::common;

use crate::common::{TestApp, TestDb};
use ddalkkak::store::{NewFinal, NewLiveSession};
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

on_both_backends!(
    pages_are_served_with_a_strict_policy_and_every_asset_they_use,
    cookie_sign_in_opens_the_api_to_the_page_and_nothing_more,
    transcripts_download_as_subtitles,
);

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(&name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

async fn fetch(app: &TestApp, path: &str) -> (u16, HeaderMap, String) {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// `src="…"`, `href="…"` and `from "./…"` references of a page or module.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["src=\"/", "href=\"/", "from \"./", "addModule(\"/"] {
        for piece in text.split(marker).skip(1) {
            let name = piece.split('"').next().unwrap();
            let path = if marker.starts_with("from") { format!("/assets/{name}") } else { format!("/{name}") };
            out.push(path);
        }
    }
    out
}

async fn pages_are_served_with_a_strict_policy_and_every_asset_they_use(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, headers, html) = fetch(&app, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, header::CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&headers, header::CONTENT_SECURITY_POLICY);
    for directive in
        ["default-src 'self'", "script-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    // No inline script or style for the policy to have to allow.
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick"), "{html}");

    // Revalidation costs a 304.
    let etag = header(&headers, header::ETAG).to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let r = app.http.get(app.url("/")).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);

    // Everything the pages and their modules load is served with its type; nothing from elsewhere.
    let (status, overlay_headers, overlay_html) = fetch(&app, "/overlay/0b0e8d40-58a6-4ac4-9b5f-9f0a1f7f2a11").await;
    assert_eq!(status, 200);
    assert!(overlay_html.contains("/assets/overlay.js"));
    assert!(!header(&overlay_headers, header::CONTENT_SECURITY_POLICY).contains("frame-ancestors"));
    let mut queue = references(&html);
    queue.extend(references(&overlay_html));
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, headers, body) = fetch(&app, &path).await;
        assert_eq!(status, 200, "{path}");
        let expected = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other} ({path})"),
        };
        assert_eq!(header(&headers, header::CONTENT_TYPE), expected, "{path}");
        if path.ends_with(".js") {
            assert!(!body.contains("http://") && !body.contains("https://"), "{path} reaches off-site");
            // Nothing is kept in the browser but the UI language the user picked.
            let stores = body.contains("localStorage") || body.contains("sessionStorage");
            assert!(!stores || path == "/assets/i18n.js", "{path} stores things");
            if path == "/assets/i18n.js" {
                let keys: Vec<&str> = body.match_indices("Item(").map(|(i, _)| &body[i + 5..][..9]).collect();
                assert!(!body.contains("sessionStorage") && keys.iter().all(|k| *k == "STORE_KEY"), "{keys:?}");
            }
            queue.extend(references(&body));
        }
    }
    assert!(seen.len() >= 9, "{seen:?}");

    for missing in ["/assets/index.html", "/assets/nope.js", "/assets/..%2FCargo.toml", "/overlay/not-a-session"] {
        assert_eq!(fetch(&app, missing).await.0, 404, "{missing}");
    }
}

async fn sign_in(app: &TestApp, key: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app.http.post(app.url("/v1/web-session")).json(&json!({"api_key": key}));
    for (name, value) in extra {
        r = r.header(*name, *value);
    }
    r.send().await.unwrap()
}

async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    csrf: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app.http.request(method, app.url(path)).header(header::COOKIE, format!("ddk_session={cookie}"));
    if csrf {
        r = r.header("X-DdalKkak-CSRF", "1");
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn cookie_sign_in_opens_the_api_to_the_page_and_nothing_more(db: TestDb) {
    use reqwest::Method;
    let t = common::tenant(&*db.store, "web").await;
    let app = TestApp::spawn(db).await;

    // Sign-in needs the CSRF header (else another site could sign a visitor in) and a real key.
    let r = sign_in(&app, &t.api_key, &[]).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let r = sign_in(&app, "dk_aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[("x-ddalkkak-csrf", "1")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(header::SET_COOKIE).is_none());

    let r = sign_in(&app, &t.api_key, &[("x-ddalkkak-csrf", "1")]).await;
    assert_eq!(r.status(), 201);
    let set_cookie = header(r.headers(), header::SET_COOKIE).to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: a Secure cookie would never come back");
    assert!(!set_cookie.contains(&t.api_key), "the cookie is not the key");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user_id"], t.owner.id.to_string());
    let cookie = set_cookie.strip_prefix("ddk_session=").unwrap().split(';').next().unwrap().to_owned();

    // Behind a TLS proxy the cookie is Secure.
    let r = sign_in(&app, &t.api_key, &[("x-ddalkkak-csrf", "1"), ("x-forwarded-proto", "https")]).await;
    let second = header(r.headers(), header::SET_COOKIE).to_owned();
    assert!(second.contains("; Secure"));
    let second = second.strip_prefix("ddk_session=").unwrap().split(';').next().unwrap().to_owned();

    // Reads need only the cookie; writes also the CSRF header.
    let (s, me) = with_cookie(&app, Method::GET, "/v1/me", &cookie, false, None).await;
    assert_eq!((s, me["user"]["id"].as_str()), (200, Some(t.owner.id.to_string().as_str())));
    assert_eq!(with_cookie(&app, Method::GET, "/v1/meetings", &cookie, false, None).await.0, 200);
    let (s, models) = with_cookie(&app, Method::GET, "/v1/models", &cookie, false, None).await;
    assert_eq!((s, models), (200, json!({"models": []})), "a --no-live server offers no model");
    let meeting = json!({"title": "From the page"});
    let (s, problem) = with_cookie(&app, Method::POST, "/v1/meetings", &cookie, false, Some(meeting.clone())).await;
    assert_eq!((s, problem["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(with_cookie(&app, Method::POST, "/v1/meetings", &cookie, true, Some(meeting)).await.0, 201);
    // The page mints its stream and view tokens with the cookie; `web` tokens only come from sign-in.
    let (s, token) =
        with_cookie(&app, Method::POST, "/v1/stream-tokens", &cookie, true, Some(json!({"scope": "stream"}))).await;
    assert_eq!(s, 201, "{token}");
    let (s, _) =
        with_cookie(&app, Method::POST, "/v1/stream-tokens", &cookie, true, Some(json!({"scope": "web"}))).await;
    assert_eq!(s, 422);

    // The web token is no bearer credential and opens no live stream.
    assert_eq!(app.get("/v1/me", &cookie).await.0, 401);
    let r = app.http.get(app.url(&format!("/v1/listen?token={cookie}"))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A tampered cookie is refused.
    let mut forged = cookie.clone();
    forged.insert(10, 'x');
    assert_eq!(with_cookie(&app, Method::GET, "/v1/me", &forged, false, None).await.0, 401);

    // Sign-out clears the cookie and ends that sign-in on the server: the cookie, replayed, is
    // refused; the key's other sign-in goes on.
    let r = app.http.delete(app.url("/v1/web-session")).send().await.unwrap();
    assert_eq!(r.status(), 204, "signing out without a cookie just clears it");
    let r = app.http.delete(app.url("/v1/web-session")).header(header::COOKIE, format!("ddk_session={cookie}"));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 204);
    let cleared = header(r.headers(), header::SET_COOKIE);
    assert!(cleared.starts_with("ddk_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (s, problem) = with_cookie(&app, Method::GET, "/v1/me", &cookie, false, None).await;
    assert_eq!(s, 401, "{problem}");
    let meeting = Some(json!({"title": "After sign-out"}));
    assert_eq!(with_cookie(&app, Method::POST, "/v1/meetings", &cookie, true, meeting).await.0, 401);
    assert_eq!(with_cookie(&app, Method::GET, "/v1/me", &second, false, None).await.0, 200);
    let cookie = second;

    // `?token=` takes stream tokens only: an API key in a URL is refused, wherever it is valid.
    let captions = format!("/v1/realtime-sessions/{}/captions?token={}", uuid::Uuid::new_v4(), t.api_key);
    let r = app.http.get(app.url(&captions)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("stream tokens only"));

    // Revoking the key that signed in ends its web sessions at once.
    let keys = app.get("/v1/api-keys", &t.api_key).await.1;
    let key_id = keys["items"].as_array().map(|a| a[0]["id"].clone()).unwrap_or_else(|| keys[0]["id"].clone());
    let key_id = key_id.as_str().unwrap().to_owned();
    let (s, other) = app.post("/v1/api-keys", &t.api_key, json!({"name": "spare"})).await;
    assert_eq!(s, 201);
    assert_eq!(app.delete(&format!("/v1/api-keys/{key_id}"), other["secret"].as_str().unwrap()).await.0, 200);
    let (s, problem) = with_cookie(&app, Method::GET, "/v1/me", &cookie, false, None).await;
    assert_eq!(s, 401, "{problem}");
}

async fn transcripts_download_as_subtitles(db: TestDb) {
    let t = common::tenant(&*db.store, "subs").await;
    let app = TestApp::spawn(db).await;
    let store = app.store();
    let live = NewLiveSession {
        host_id: t.owner.id,
        title: "Subtitled".into(),
        socket_id: uuid::Uuid::new_v4().to_string(),
        server_instance: "test".into(),
        language: None,
        model: None,
    };
    let (session, meeting) = store.start_live_session(t.tenant.id, live).await.unwrap();
    for (seq, (start_ms, end_ms, speaker, text)) in
        [(6_680, 7_160, Some(0), " Hello?"), (7_634, 8_155, Some(1), "Hello."), (9_000, 9_100, None, "")]
            .into_iter()
            .enumerate()
    {
        let f = NewFinal {
            session_id: session.id,
            meeting_id: meeting.id,
            seq: seq as i32,
            start_ms,
            end_ms,
            speaker,
            text: text.into(),
            words: Vec::new(),
        };
        store.append_final(t.tenant.id, f).await.unwrap();
    }
    store.finalize_live_session(t.tenant.id, session.id, Some(10.0), None, &Default::default()).await.unwrap();
    let path = |format: &str| format!("/v1/meetings/{}/transcript?format={format}", meeting.id);
    let download = |format: &'static str| {
        let url = app.url(&path(format));
        let key = t.api_key.clone();
        let http = app.http.clone();
        async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(r.status(), 200, "{format}");
            let headers = r.headers().clone();
            (headers, r.text().await.unwrap())
        }
    };
    let (headers, srt) = download("srt").await;
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/x-subrip; charset=utf-8");
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"meeting-{}.srt\"", meeting.id)
    );
    // The empty final (an acknowledged Finalize) is no cue.
    assert_eq!(
        srt,
        "1\n00:00:06,680 --> 00:00:07,160\n[Speaker 1] Hello?\n\n2\n00:00:07,634 --> 00:00:08,155\n[Speaker 2] Hello.\n\n"
    );
    let (headers, vtt) = download("vtt").await;
    assert_eq!(header(&headers, header::CONTENT_TYPE), "text/vtt; charset=utf-8");
    assert_eq!(
        vtt,
        "WEBVTT\n\n00:00:06.680 --> 00:00:07.160\n<v Speaker 1>Hello?\n\n00:00:07.634 --> 00:00:08.155\n<v Speaker 2>Hello.\n\n"
    );
    assert_eq!(download("txt").await.1, "Hello?\nHello.\n");
    let (s, json) = app.get(&path("json"), &t.api_key).await;
    assert_eq!((s, json["meeting_id"].as_str()), (200, Some(meeting.id.to_string().as_str())));
    assert_eq!(app.get(&path("json").replace("?format=json", ""), &t.api_key).await.1, json);
    let (s, problem) = app.get(&path("docx"), &t.api_key).await;
    assert_eq!((s, problem["code"].as_str()), (400, Some("invalid_query")));
}
