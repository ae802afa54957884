//! The REST API end to end: a real server on port 0 over each backend, called with reqwest.
//! Every spec constraint surfaces with its problem code; every resource of another tenant is 404.

use crate::common;

use ddalkkak::auth::{StreamScope, StreamTokenSigner, TokenCipher};
use ddalkkak::domain::now;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb, tenant};
use ddalkkak::http::{HttpLimits, RateLimit};

on_both_backends!(
    auth_is_required_and_checked,
    roles_limit_what_members_do,
    spec_constraints_answer_with_problem_codes,
    other_tenants_resources_are_404,
    soft_delete_and_restore_through_the_api,
    meetings_list_filters_and_cursor,
    tasks_follow_the_rules,
    integration_tokens_are_encrypted_and_never_returned,
    stream_tokens_are_minted_for_the_caller,
    bad_requests_get_typed_problems,
    tenant_delete_removes_everything_and_its_keys,
    service_endpoints,
    rest_requests_are_rate_limited_per_key,
    slow_headers_are_cut_off,
    connections_over_the_cap_are_refused,
    voice_enrollment_follows_roles_and_consent,
    stored_speakers_are_named_by_the_host_or_an_admin,
    transcript_versions_are_read_by_members_and_retranscribed_by_hosts,
);

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_else(|| panic!("no problem code in {body}"))
}

async fn member_key(app: &TestApp, owner_key: &str, email: &str, role: &str) -> (String, String) {
    let (s, user) = app.post("/v1/users", owner_key, json!({"email": email, "name": "Person", "role": role})).await;
    assert_eq!(s, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (s, key) = app.post("/v1/api-keys", owner_key, json!({"name": "k", "user_id": user_id})).await;
    assert_eq!(s, 201, "{key}");
    (user_id, key["secret"].as_str().unwrap().to_owned())
}

async fn auth_is_required_and_checked(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let resp = app.http.get(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    let (s, me) = app.get("/v1/me", &t.api_key).await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["role"], "OWNER");
    assert_eq!(me["tenant"]["slug"], "acme");
    // `Token <key>` (Deepgram's scheme) works as well as Bearer.
    let resp =
        app.http.get(app.url("/v1/me")).header("Authorization", format!("Token {}", t.api_key)).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let mut forged = t.api_key.clone();
    forged.pop();
    forged.push(if t.api_key.ends_with('a') { 'b' } else { 'a' });
    for bad in [forged.as_str(), "dk_aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "nonsense"] {
        let (s, body) = app.get("/v1/me", bad).await;
        assert_eq!((s, code(&body)), (401, "unauthorized"), "{bad}");
    }
    let token = StreamTokenSigner::new(common::TEST_KEY).sign(&ddalkkak::auth::StreamClaims {
        tenant_id: t.tenant.id,
        user_id: t.owner.id,
        scope: StreamScope::Stream,
        session_id: None,
        key_prefix: None,
        exp: now().timestamp() + 60,
    });
    assert_eq!(app.get("/v1/me", &token).await.0, 401, "stream tokens do not open the REST API");

    // Revoking a key ends it at once.
    let (s, created) = app.post("/v1/api-keys", &t.api_key, json!({"name": "temp"})).await;
    assert_eq!(s, 201);
    let temp = created["secret"].as_str().unwrap();
    assert!(created["api_key"].get("key_hash").is_none());
    assert_eq!(app.get("/v1/me", temp).await.0, 200);
    let id = created["api_key"]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/api-keys/{id}"), &t.api_key).await.0, 200);
    let (s, body) = app.get("/v1/me", temp).await;
    assert_eq!((s, body["detail"].as_str().unwrap()), (401, "API key revoked"));
}

async fn roles_limit_what_members_do(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let (member_id, member) = member_key(&app, &t.api_key, "m@acme.com", "MEMBER").await;
    let (admin_id, admin) = member_key(&app, &t.api_key, "a@acme.com", "ADMIN").await;

    let (s, body) = app.post("/v1/users", &member, json!({"email": "x@acme.com", "name": "X"})).await;
    assert_eq!((s, code(&body)), (403, "forbidden"));
    let (s, _) = app.post("/v1/users", &admin, json!({"email": "x@acme.com", "name": "X"})).await;
    assert_eq!(s, 201);
    // Only the OWNER touches the OWNER role; an ADMIN cannot promote itself.
    let (s, _) = app.patch(&format!("/v1/users/{admin_id}"), &admin, json!({"role": "OWNER"})).await;
    assert_eq!(s, 403);
    let (s, _) = app.patch(&format!("/v1/users/{member_id}"), &member, json!({"role": "ADMIN"})).await;
    assert_eq!(s, 403);
    // Everyone may edit their own profile.
    let (s, me) = app
        .patch(&format!("/v1/users/{member_id}"), &member, json!({"name": "Renamed", "slack_user_id": "U123"}))
        .await;
    assert_eq!((s, me["name"].as_str(), me["slack_user_id"].as_str()), (200, Some("Renamed"), Some("U123")));
    let (s, me) = app.patch(&format!("/v1/users/{member_id}"), &member, json!({"slack_user_id": null})).await;
    assert_eq!((s, me["slack_user_id"].clone()), (200, Value::Null));
    let (s, _) = app.patch(&format!("/v1/users/{admin_id}"), &member, json!({"name": "Nope"})).await;
    assert_eq!(s, 403);
    let (s, body) = app.delete(&format!("/v1/users/{}", t.owner.id), &admin).await;
    assert_eq!((s, code(&body)), (409, "owner_cannot_be_deleted"));
    let (s, _) =
        app.post("/v1/integrations", &member, json!({"service_type": "SLACK", "access_token": "xoxb-1"})).await;
    assert_eq!(s, 403);
    // Members see only their own API keys.
    let (_, keys) = app.get("/v1/api-keys", &member).await;
    assert!(keys.as_array().unwrap().iter().all(|k| k["user_id"] == member_id.as_str()));
    let (_, all) = app.get("/v1/api-keys", &t.api_key).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let owner_key_id = all.as_array().unwrap().iter().find(|k| k["user_id"] == t.owner.id.to_string()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/v1/api-keys/{owner_key_id}"), &member).await.0, 404);
    let (s, body) = app.delete("/v1/tenant?confirm=acme", &admin).await;
    assert_eq!((s, code(&body)), (403, "forbidden"));
    // Tasks: a MEMBER manages their own, unassigned ones and those of meetings they host; not
    // the admin's task of the admin's meeting. Deleted tasks and meetings are ADMIN business.
    let (_, admins_meeting) = app.post("/v1/meetings", &admin, json!({"title": "Admin's"})).await;
    let (_, members_meeting) = app.post("/v1/meetings", &member, json!({"title": "Member's"})).await;
    let task =
        |assignee: &str, meeting: &Value| json!({"title": "t", "assignee_id": assignee, "meeting_id": meeting["id"]});
    let (_, admins_task) = app.post("/v1/tasks", &admin, task(&admin_id, &admins_meeting)).await;
    let (_, hosted_task) = app.post("/v1/tasks", &admin, task(&admin_id, &members_meeting)).await;
    let (_, own_task) = app.post("/v1/tasks", &admin, task(&member_id, &admins_meeting)).await;
    let (_, open_task) = app.post("/v1/tasks", &admin, json!({"title": "anyone"})).await;
    let path = |t: &Value| format!("/v1/tasks/{}", t["id"].as_str().unwrap());
    let (s, body) = app.patch(&path(&admins_task), &member, json!({"status": "DONE"})).await;
    assert_eq!((s, code(&body)), (403, "forbidden"));
    assert_eq!(app.delete(&path(&admins_task), &member).await.0, 403);
    for allowed in [&hosted_task, &own_task, &open_task] {
        assert_eq!(app.patch(&path(allowed), &member, json!({"status": "IN_PROGRESS"})).await.0, 200, "{allowed}");
    }
    assert_eq!(app.delete(&path(&own_task), &member).await.0, 204);
    assert_eq!(app.post(&format!("{}/restore", path(&own_task)), &member, json!({})).await.0, 403);
    assert_eq!(app.get("/v1/tasks?deleted=true", &member).await.0, 403);
    assert_eq!(app.get("/v1/meetings?deleted=true", &member).await.0, 403);
    assert_eq!(app.post(&format!("{}/restore", path(&own_task)), &admin, json!({})).await.0, 200);
    assert_eq!(app.get("/v1/tasks?deleted=true", &admin).await.0, 200);
    // The tenant's default language (live sessions that name none): ADMINs set it, checked.
    assert_eq!(app.patch("/v1/tenant", &member, json!({"default_language": "ko"})).await.0, 403);
    let (s, tenant) = app.patch("/v1/tenant", &admin, json!({"default_language": "KO"})).await;
    assert_eq!((s, tenant["default_language"].as_str()), (200, Some("ko")), "{tenant}");
    let (s, body) = app.patch("/v1/tenant", &admin, json!({"default_language": "korean"})).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("default_language")), "{body}");
    let (_, tenant) = app.get("/v1/tenant", &member).await;
    assert_eq!(tenant["default_language"], "ko");
    let (s, tenant) = app.patch("/v1/tenant", &admin, json!({"default_language": null})).await;
    assert_eq!((s, tenant["default_language"].clone()), (200, Value::Null));
    // The tenant's default model (sessions that name neither a model nor a language).
    assert_eq!(tenant["default_model"], Value::Null);
    let (s, tenant) = app.patch("/v1/tenant", &admin, json!({"default_model": " Whisper-Base"})).await;
    assert_eq!((s, tenant["default_model"].as_str()), (200, Some("base")), "{tenant}");
    for bad in ["", "base model", "-x", "x".repeat(65).as_str()] {
        let (s, body) = app.patch("/v1/tenant", &admin, json!({"default_model": bad})).await;
        assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("default_model")), "{bad:?}: {body}");
    }
    let (s, tenant) = app.patch("/v1/tenant", &admin, json!({"name": "Acme"})).await;
    assert_eq!((s, tenant["default_model"].as_str()), (200, Some("base")), "other fields leave it");
    let (s, tenant) = app.patch("/v1/tenant", &admin, json!({"default_model": null})).await;
    assert_eq!((s, tenant["default_model"].clone()), (200, Value::Null));
    // An ADMIN can neither mint a key that acts as the OWNER nor revoke the OWNER's keys …
    let (s, body) = app.post("/v1/api-keys", &admin, json!({"name": "mine now", "user_id": t.owner.id})).await;
    assert_eq!((s, code(&body)), (403, "forbidden"), "{body}");
    let (s, body) = app.delete(&format!("/v1/api-keys/{owner_key_id}"), &admin).await;
    assert_eq!((s, code(&body)), (403, "forbidden"), "{body}");
    let (_, all) = app.get("/v1/api-keys", &t.api_key).await;
    assert_eq!(all.as_array().unwrap().len(), 3, "nothing was minted or revoked");
    // … but manages keys of roles up to its own.
    let (s, key) = app.post("/v1/api-keys", &admin, json!({"name": "for member", "user_id": member_id})).await;
    assert_eq!(s, 201, "{key}");
    let (s, _) = app.delete(&format!("/v1/api-keys/{}", key["api_key"]["id"].as_str().unwrap()), &admin).await;
    assert_eq!(s, 200);
    let (s, body) = app.post("/v1/api-keys", &admin, json!({"name": "x", "user_id": uuid::Uuid::new_v4()})).await;
    assert_eq!(s, 404, "{body}");
}

async fn spec_constraints_answer_with_problem_codes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    // D-086 email format, D-083 uniqueness within a tenant (case-insensitive), D-091 one OWNER.
    let (s, body) = app.post("/v1/users", k, json!({"email": "not-an-email", "name": "X"})).await;
    assert_eq!((s, code(&body), body["errors"][0]["field"].as_str()), (422, "validation_failed", Some("email")));
    assert_eq!(app.post("/v1/users", k, json!({"email": "dup@acme.com", "name": "X"})).await.0, 201);
    let (s, body) = app.post("/v1/users", k, json!({"email": "DUP@acme.com", "name": "Y"})).await;
    assert_eq!((s, code(&body)), (409, "email_taken"));
    let (s, body) = app.post("/v1/users", k, json!({"email": "o2@acme.com", "name": "O", "role": "OWNER"})).await;
    assert_eq!((s, code(&body)), (409, "owner_exists"));
    // D-087 audio duration, D-114 supported formats.
    let (s, body) = app.post("/v1/meetings", k, json!({"title": "m", "audio_duration": 0})).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("audio_duration")));
    let (s, body) = app.post("/v1/meetings", k, json!({"title": "m", "audio_file_url": "https://x.com/a.exe"})).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("unsupported_audio_format")));
    let (s, m) = app
        .post(
            "/v1/meetings",
            k,
            json!({"title": "m", "audio_file_url": "https://x.com/rec.webm?sig=1", "audio_duration": 61}),
        )
        .await;
    assert_eq!((s, m["audio_duration"].as_i64()), (201, Some(61)));
    // D-084/D-116 one integration per service, with the instruction to disconnect first.
    assert_eq!(
        app.post("/v1/integrations", k, json!({"service_type": "SLACK", "access_token": "xoxb-1"})).await.0,
        201
    );
    let (s, body) = app.post("/v1/integrations", k, json!({"service_type": "SLACK", "access_token": "xoxb-2"})).await;
    assert_eq!((s, code(&body)), (409, "integration_exists"));
    assert!(body["detail"].as_str().unwrap().contains("disconnect"));
    let (s, body) = app.post("/v1/integrations", k, json!({"service_type": "SLACK", "access_token": "bogus"})).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("invalid_token")));
    // D-109 AI tasks need a meeting.
    let (s, body) = app.post("/v1/tasks", k, json!({"title": "t", "is_ai_generated": true})).await;
    assert_eq!(
        (s, code(&body), body["errors"][0]["field"].as_str()),
        (422, "ai_task_requires_meeting", Some("meeting_id"))
    );
    let (s, _) = app.post("/v1/tasks", k, json!({"title": "t", "is_ai_generated": true, "meeting_id": m["id"]})).await;
    assert_eq!(s, 201);
    // Length limits of the columns.
    let (s, body) = app.post("/v1/tasks", k, json!({"title": "x".repeat(201)})).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("too_long")));
    let (s, body) = app.post("/v1/users", k, json!({"email": "ok@acme.com", "name": ""})).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("required")));
}

async fn other_tenants_resources_are_404(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = tenant(app.store(), "a").await;
    let b = tenant(app.store(), "b").await;
    let (ka, kb) = (&a.api_key, &b.api_key);
    let (_, user) = app.post("/v1/users", ka, json!({"email": "u@a.com", "name": "U"})).await;
    let (_, meeting) = app.post("/v1/meetings", ka, json!({"title": "secret"})).await;
    let (_, task) = app.post("/v1/tasks", ka, json!({"title": "t", "meeting_id": meeting["id"]})).await;
    let (_, integ) = app.post("/v1/integrations", ka, json!({"service_type": "NOTION", "access_token": "tok"})).await;
    let (_, key) = app.post("/v1/api-keys", ka, json!({"name": "x"})).await;
    let session = app.store().create_realtime_session(a.tenant.id, a.owner.id, None, "sock").await.unwrap();
    let note = app.store().create_notification(a.tenant.id, a.owner.id, "t", "m").await.unwrap();
    let (u, m, t, i) = (&user["id"], &meeting["id"], &task["id"], &integ["id"]);
    let k = key["api_key"]["id"].as_str().unwrap();
    let s = session.id;
    let n = note.id;

    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/users/{}", u.as_str().unwrap()), None),
        (Method::PATCH, format!("/v1/users/{}", u.as_str().unwrap()), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/v1/users/{}", u.as_str().unwrap()), None),
        (Method::POST, format!("/v1/users/{}/restore", u.as_str().unwrap()), None),
        (Method::GET, format!("/v1/meetings/{}", m.as_str().unwrap()), None),
        (Method::GET, format!("/v1/meetings/{}/transcript", m.as_str().unwrap()), None),
        (Method::PATCH, format!("/v1/meetings/{}", m.as_str().unwrap()), Some(json!({"title": "x"}))),
        (Method::DELETE, format!("/v1/meetings/{}", m.as_str().unwrap()), None),
        (Method::POST, format!("/v1/meetings/{}/restore", m.as_str().unwrap()), None),
        (Method::GET, format!("/v1/tasks/{}", t.as_str().unwrap()), None),
        (Method::PATCH, format!("/v1/tasks/{}", t.as_str().unwrap()), Some(json!({"status": "DONE"}))),
        (Method::DELETE, format!("/v1/tasks/{}", t.as_str().unwrap()), None),
        (Method::POST, format!("/v1/tasks/{}/restore", t.as_str().unwrap()), None),
        (Method::GET, format!("/v1/realtime-sessions/{s}"), None),
        (Method::GET, format!("/v1/integrations/{}", i.as_str().unwrap()), None),
        (Method::PATCH, format!("/v1/integrations/{}", i.as_str().unwrap()), Some(json!({"is_active": false}))),
        (Method::DELETE, format!("/v1/integrations/{}", i.as_str().unwrap()), None),
        (Method::DELETE, format!("/v1/api-keys/{k}"), None),
        (Method::POST, format!("/v1/notifications/{n}/read"), None),
    ];
    for (method, path, body) in attempts {
        let body = body.or_else(|| (method == Method::POST).then(|| json!({})));
        let (status, problem) = app.call(method.clone(), &path, kb, body).await;
        assert_eq!((status, code(&problem)), (404, "not_found"), "{method} {path}");
    }
    // Links to another tenant's rows are refused as if they did not exist.
    let (s, body) = app.post("/v1/tasks", kb, json!({"title": "t", "assignee_id": u})).await;
    assert_eq!((s, code(&body)), (422, "assignee_not_in_tenant"));
    let (s, body) = app.post("/v1/tasks", kb, json!({"title": "t", "meeting_id": m})).await;
    assert_eq!((s, code(&body)), (422, "meeting_not_found"));
    let (s, body) = app.post("/v1/meetings", kb, json!({"title": "t", "host_id": u})).await;
    assert_eq!((s, code(&body)), (422, "host_not_found"));
    // Lists never show them, and nothing was changed.
    for list in ["/v1/users", "/v1/meetings", "/v1/tasks", "/v1/realtime-sessions", "/v1/integrations"] {
        let (_, body) = app.get(list, kb).await;
        let text = body.to_string();
        for id in [u, m, t, i] {
            assert!(!text.contains(id.as_str().unwrap()), "{list} leaks {id}");
        }
    }
    let (s, still) = app.get(&format!("/v1/meetings/{}", m.as_str().unwrap()), ka).await;
    assert_eq!((s, still["title"].as_str()), (200, Some("secret")));
}

async fn soft_delete_and_restore_through_the_api(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    let (_, user) = app.post("/v1/users", k, json!({"email": "u@acme.com", "name": "U"})).await;
    let (_, meeting) = app.post("/v1/meetings", k, json!({"title": "m"})).await;
    let (_, task) = app.post("/v1/tasks", k, json!({"title": "t", "assignee_id": user["id"]})).await;
    for (kind, id) in [("users", &user["id"]), ("meetings", &meeting["id"]), ("tasks", &task["id"])] {
        let id = id.as_str().unwrap();
        assert_eq!(app.delete(&format!("/v1/{kind}/{id}"), k).await.0, 204, "{kind}");
        assert_eq!(app.get(&format!("/v1/{kind}/{id}"), k).await.0, 404, "{kind}");
        let (_, list) = app.get(&format!("/v1/{kind}"), k).await;
        assert!(!list.to_string().contains(id), "{kind} list hides it");
        let (_, deleted) = app.get(&format!("/v1/{kind}?deleted=true"), k).await;
        assert!(deleted.to_string().contains(id), "{kind} deleted list shows it");
        let (s, restored) = app.post(&format!("/v1/{kind}/{id}/restore"), k, json!({})).await;
        assert_eq!((s, restored["deleted_at"].clone()), (200, Value::Null), "{kind}");
        assert_eq!(app.get(&format!("/v1/{kind}/{id}"), k).await.0, 200, "{kind}");
    }
    // Deleting the user unassigned their open task.
    let (_, task) = app.get(&format!("/v1/tasks/{}", task["id"].as_str().unwrap()), k).await;
    assert_eq!(task["assignee_id"], Value::Null);
}

async fn meetings_list_filters_and_cursor(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    for i in 0..7 {
        app.post("/v1/meetings", k, json!({"title": format!("Sprint {i}")})).await;
    }
    app.post("/v1/meetings", k, json!({"title": "Retro"})).await;
    let mut titles = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(c) => format!("/v1/meetings?limit=3&cursor={c}"),
            None => "/v1/meetings?limit=3".to_owned(),
        };
        let (s, page) = app.get(&path, k).await;
        assert_eq!(s, 200);
        titles.extend(page["items"].as_array().unwrap().iter().map(|m| m["title"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(titles.len(), 8);
    assert_eq!(titles[0], "Retro", "newest first");
    let (_, found) = app.get("/v1/meetings?q=sprint&stt_status=PENDING", k).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 7);
    let (_, none) = app.get("/v1/meetings?stt_status=COMPLETED", k).await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (s, body) = app.get("/v1/meetings?limit=1000", k).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("limit")));
    let (s, body) = app.get("/v1/meetings?cursor=garbage", k).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("invalid_cursor")));
    let (s, body) = app.get("/v1/meetings?stt_status=DANCING", k).await;
    assert_eq!((s, code(&body)), (400, "invalid_query"));
    let (s, transcript) =
        app.get(&format!("/v1/meetings/{}/transcript", found["items"][0]["id"].as_str().unwrap()), k).await;
    assert_eq!((s, transcript["stt_status"].as_str()), (200, Some("PENDING")));
    // `q` searches transcripts too, Hangul percent-encoded in the URL, inside a longer word.
    let lines = [(0, "다음 주 회의록을 공유하겠습니다.")];
    let id = common::finalized_live_meeting(app.store(), t.tenant.id, t.owner.id, "Weekly", &lines).await;
    let (s, found) = app.get("/v1/meetings?q=%ED%9A%8C%EC%9D%98%EB%A1%9D", k).await; // 회의록
    let ids: Vec<&str> = found["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!((s, ids), (200, vec![id.to_string().as_str()]), "{found}");
}

async fn tasks_follow_the_rules(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    let (s, task) = app.post("/v1/tasks", k, json!({"title": "Write notes", "due_date": "2026-12-01T09:00:00Z"})).await;
    assert_eq!((s, task["status"].as_str(), task["is_ai_generated"].as_bool()), (201, Some("TODO"), Some(false)));
    let id = task["id"].as_str().unwrap();
    let path = format!("/v1/tasks/{id}");
    assert_eq!(app.patch(&path, k, json!({"status": "IN_PROGRESS"})).await.1["status"], "IN_PROGRESS");
    assert_eq!(app.patch(&path, k, json!({"status": "DONE"})).await.1["status"], "DONE");
    let (s, body) = app.patch(&path, k, json!({"status": "IN_PROGRESS"})).await;
    assert_eq!((s, code(&body)), (422, "invalid_status_transition"));
    assert_eq!(app.patch(&path, k, json!({"status": "TODO"})).await.1["status"], "TODO");
    let (s, updated) =
        app.patch(&path, k, json!({"assignee_id": t.owner.id, "due_date": null, "description": "d"})).await;
    assert_eq!(s, 200);
    assert_eq!(updated["assignee_id"], t.owner.id.to_string());
    assert_eq!((updated["due_date"].clone(), updated["description"].as_str()), (Value::Null, Some("d")));
    let (_, mine) = app.get(&format!("/v1/tasks?assignee_id={}&status=TODO", t.owner.id), k).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (s, body) = app.patch(&path, k, json!({"status": "SLEEPING"})).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("status")));
}

async fn integration_tokens_are_encrypted_and_never_returned(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    let (s, created) =
        app.post("/v1/integrations", k, json!({"service_type": "SLACK", "access_token": "xoxb-very-secret"})).await;
    assert_eq!(s, 201);
    assert_eq!(created["has_access_token"], true);
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    for (_, body) in [app.get("/v1/integrations", k).await, app.get(&format!("/v1/integrations/{id}"), k).await] {
        assert!(!body.to_string().contains("xoxb"), "{body}");
        assert!(body.to_string().contains("has_access_token"));
    }
    let stored = app.store().get_integration(t.tenant.id, id).await.unwrap().access_token.unwrap();
    assert!(!stored.contains("xoxb") && stored.starts_with("v1:"), "at rest: {stored}");
    assert_eq!(TokenCipher::new(&common::TEST_KEY).decrypt(&stored).unwrap(), "xoxb-very-secret");

    let (s, off) = app
        .patch(&format!("/v1/integrations/{id}"), k, json!({"is_active": false, "access_token": "xoxb-rotated"}))
        .await;
    assert_eq!((s, off["is_active"].as_bool()), (200, Some(false)));
    let rotated = app.store().get_integration(t.tenant.id, id).await.unwrap().access_token.unwrap();
    assert_eq!(TokenCipher::new(&common::TEST_KEY).decrypt(&rotated).unwrap(), "xoxb-rotated");
    assert_eq!(app.delete(&format!("/v1/integrations/{id}"), k).await.0, 204);
    assert_eq!(app.get(&format!("/v1/integrations/{id}"), k).await.0, 404);
}

async fn stream_tokens_are_minted_for_the_caller(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let (s, minted) = app.post("/v1/stream-tokens", &t.api_key, json!({"ttl_seconds": 120})).await;
    assert_eq!(s, 201);
    let claims = StreamTokenSigner::new(common::TEST_KEY).verify(minted["token"].as_str().unwrap(), now()).unwrap();
    assert_eq!((claims.tenant_id, claims.user_id, claims.scope), (t.tenant.id, t.owner.id, StreamScope::Stream));
    let ttl = claims.exp - now().timestamp();
    assert!((115..=120).contains(&ttl), "{ttl}");
    let session = app.store().create_realtime_session(t.tenant.id, t.owner.id, None, "s").await.unwrap();
    let (s, view) = app.post("/v1/stream-tokens", &t.api_key, json!({"scope": "view", "session_id": session.id})).await;
    assert_eq!((s, view["scope"].as_str()), (201, Some("view")));
    let claims = StreamTokenSigner::new(common::TEST_KEY).verify(view["token"].as_str().unwrap(), now()).unwrap();
    assert_eq!(claims.session_id, Some(session.id));
    let (s, body) = app.post("/v1/stream-tokens", &t.api_key, json!({"ttl_seconds": 86400})).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("ttl_seconds")));
    let (s, body) = app.post("/v1/stream-tokens", &t.api_key, json!({"session_id": uuid::Uuid::new_v4()})).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("session_id")));
}

async fn bad_requests_get_typed_problems(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let k = &t.api_key;
    let send = |body: &'static str, ctype: &'static str| {
        app.http.post(app.url("/v1/tasks")).bearer_auth(k).header("content-type", ctype).body(body).send()
    };
    let resp = send("{\"title\": ", "application/json").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "malformed_json");
    let resp = send("{\"title\": \"x\"}", "text/plain").await.unwrap();
    assert_eq!(resp.status(), 415);
    let resp = send("{\"title\": \"x\", \"owner\": 1}", "application/json").await.unwrap();
    assert_eq!(resp.status(), 422, "unknown fields are refused");
    let resp = send("{\"title\": 5}", "application/json").await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "title");
    let resp = send("[]", "application/json").await.unwrap();
    assert_eq!(resp.status(), 422);
    // A NUL character is refused at the door on both backends (PostgreSQL cannot store it).
    let (s, body) = app.post("/v1/meetings", k, json!({"title": "a\u{0}b"})).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("nul_character")), "{body}");
    let (s, body) = app.get("/v1/meetings?q=a%00b", k).await;
    assert_eq!((s, code(&body)), (400, "invalid_query"), "{body}");
    let (s, _) = app.post("/v1/meetings", k, json!({"title": "a\\u0000b"})).await;
    assert_eq!(s, 201, "the text \\u0000 is not a NUL");
    let big = "x".repeat(2 << 20);
    let resp = app
        .http
        .post(app.url("/v1/tasks"))
        .bearer_auth(k)
        .header("content-type", "application/json")
        .body(format!("{{\"title\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "bodies over 1 MiB are refused");
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "payload_too_large");
    assert_eq!(app.get("/v1/tasks/not-a-uuid", k).await.0, 404);
    let (s, body) = app.get("/v1/nowhere", k).await;
    assert_eq!((s, code(&body)), (404, "not_found"));
    let (s, body) = app.call(Method::PUT, "/v1/tasks", k, Some(json!({}))).await;
    assert_eq!((s, code(&body)), (405, "method_not_allowed"));
}

async fn tenant_delete_removes_everything_and_its_keys(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "doomed").await;
    let other = tenant(app.store(), "kept").await;
    let k = &t.api_key;
    let (_, m) = app.post("/v1/meetings", k, json!({"title": "m"})).await;
    app.post("/v1/tasks", k, json!({"title": "t", "meeting_id": m["id"]})).await;
    let (s, body) = app.delete("/v1/tenant?confirm=wrong", k).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("confirm")));
    assert_eq!(app.delete("/v1/tenant?confirm=doomed", k).await.0, 204);
    assert_eq!(app.get("/v1/me", k).await.0, 401);
    assert!(app.store().get_meeting(t.tenant.id, m["id"].as_str().unwrap().parse().unwrap()).await.is_err());
    assert_eq!(app.get("/v1/me", &other.api_key).await.0, 200);
}

async fn service_endpoints(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let doc: Value = resp.json().await.unwrap();
    for path in [
        "/v1/users",
        "/v1/meetings/{id}/transcript",
        "/v1/tasks/{id}",
        "/v1/integrations",
        "/v1/stream-tokens",
        "/v1/usage",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    app.post("/v1/meetings", &t.api_key, json!({"title": "m"})).await;
    let (s, usage) = app.get("/v1/usage", &t.api_key).await;
    assert_eq!(s, 200);
    assert_eq!((usage["users"].as_i64(), usage["meetings"].as_i64()), (Some(1), Some(1)));
    assert_eq!(usage["daily"][0]["meetings_count"].as_i64(), Some(1));
    // Extreme or huge ranges are typed errors, not a panic or a year-long scan.
    for query in ["to=-262143-01-05", "to=0001-01-01", "from=2000-01-01&to=2026-01-01"] {
        let (s, body) = app.get(&format!("/v1/usage?{query}"), &t.api_key).await;
        assert_eq!((s, code(&body)), (422, "validation_failed"), "{query}: {body}");
    }
    let (s, notes) = app.get("/v1/notifications?unread=true", &t.api_key).await;
    assert_eq!((s, notes.as_array().map(Vec::len)), (200, Some(0)));
}

/// Each API key has its own REST rate (here a burst of 3, then 1 per second): the key over it
/// gets 429 `rate_limited` with `Retry-After`, other keys and unauthenticated endpoints go on,
/// and after the wait the key is served again.
async fn rest_requests_are_rate_limited_per_key(db: TestDb) {
    let limits = HttpLimits { rate_limit: Some(RateLimit { per_second: 1, burst: 3 }), ..HttpLimits::default() };
    let app = TestApp::spawn_with_http_limits(db, limits).await;
    let a = tenant(app.store(), "acme").await;
    let b = tenant(app.store(), "other").await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/me", &a.api_key).await.0, 200);
    }
    let resp = app.http.get(app.url("/v1/me")).bearer_auth(&a.api_key).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "rate_limited");
    assert_eq!(body["type"], "https://ddalkkak.dev/problems/rate_limited");
    assert_eq!(body["status"], 429);
    // Limited one key at a time; endpoints without a key are not counted.
    assert_eq!(app.get("/v1/me", &b.api_key).await.0, 200);
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(app.get("/v1/me", &a.api_key).await.0, 200, "served again after Retry-After");
}

/// Slowloris: a connection that sends half a request line and stalls, or nothing at all, is
/// disconnected after the header-read timeout while other requests are served meanwhile.
async fn slow_headers_are_cut_off(db: TestDb) {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let limits = HttpLimits { header_read_timeout: Duration::from_secs(1), ..HttpLimits::default() };
    let app = TestApp::spawn_with_http_limits(db, limits).await;
    let t = tenant(app.store(), "acme").await;
    // No pooled connections: each request below is a connection of its own.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    async fn closed_after(mut stream: tokio::net::TcpStream) -> Duration {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        });
        read.await.expect("the server closes a connection that stalls in its request head");
        started.elapsed()
    }
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stalled.write_all(b"GET /v1/me HT").await.unwrap();
    let silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (stalled, silent) = (tokio::spawn(closed_after(stalled)), tokio::spawn(closed_after(silent)));
    // Served meanwhile.
    let resp = http.get(app.url("/v1/me")).bearer_auth(&t.api_key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for waited in [stalled.await.unwrap(), silent.await.unwrap()] {
        assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    }
}

/// Connections over the cap are answered 503 `too_many_connections` (and closed) until one of
/// the open ones closes.
async fn connections_over_the_cap_are_refused(db: TestDb) {
    use std::time::{Duration, Instant};

    let limits = HttpLimits { max_connections: 3, ..HttpLimits::default() };
    let app = TestApp::spawn_with_http_limits(db, limits).await;
    let t = tenant(app.store(), "acme").await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    assert_eq!(http.get(app.url("/v1/me")).bearer_auth(&t.api_key).send().await.unwrap().status(), 200);

    // Three connections are open (slow ones, that have not sent a request yet): a fourth is refused.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "too_many_connections");
    // One closes: there is room again.
    drop(held.pop());
    let started = Instant::now();
    loop {
        let status = http.get(app.url("/healthz")).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "no room after a connection closed: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `PUT /v1/users/{id}/voiceprint` without speech models: who may enroll whom, consent, limits;
/// what `GET /v1/users/{id}` tells (never the voice); delete. The real enrollment is in
/// `tests/live/voiceprint.rs`.
async fn voice_enrollment_follows_roles_and_consent(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let (member_id, member) = member_key(&app, &t.api_key, "m@acme.com", "MEMBER").await;
    let (admin_id, admin) = member_key(&app, &t.api_key, "a@acme.com", "ADMIN").await;
    let wav = common::wav_bytes(&[0.0; 16_000]);
    let put = |id: &str, key: &str, query: &str, body: Vec<u8>| {
        let (app, path, key) = (&app, format!("/v1/users/{id}/voiceprint{query}"), key.to_owned());
        async move { app.put_audio(&path, &key, body).await }
    };
    // A MEMBER enrolls only themself; an ADMIN anyone but the OWNER.
    let (s, body) = put(&admin_id, &member, "?consent=true", wav.clone()).await;
    assert_eq!((s, code(&body)), (403, "forbidden"));
    let (s, body) = put(&t.owner.id.to_string(), &admin, "?consent=true", wav.clone()).await;
    assert_eq!((s, code(&body)), (403, "forbidden"));
    let (s, body) = put(&uuid::Uuid::new_v4().to_string(), &admin, "?consent=true", wav.clone()).await;
    assert_eq!((s, code(&body)), (404, "not_found"));
    // Consent is required, and stated.
    for query in ["", "?consent=false"] {
        let (s, body) = put(&member_id, &member, query, wav.clone()).await;
        assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("consent_required")), "{body}");
    }
    let (s, body) = put(&member_id, &member, "?consent=true", Vec::new()).await;
    assert_eq!((s, body["errors"][0]["field"].as_str()), (422, Some("body")), "{body}");
    let (s, body) = put(&member_id, &member, "?consent=true", vec![0u8; 9 << 20]).await;
    assert_eq!((s, code(&body)), (413, "payload_too_large"), "{body}");
    // This server has no speech models.
    for (id, key) in [(&member_id, &member), (&member_id, &admin), (&admin_id, &t.api_key)] {
        let (s, body) = put(id, key, "?consent=true", wav.clone()).await;
        assert_eq!((s, code(&body)), (503, "speaker_model_unavailable"), "{body}");
    }

    // What the API shows of an enrolled voice: that there is one.
    let (s, user) = app.get(&format!("/v1/users/{member_id}"), &member).await;
    assert_eq!((s, user["has_voiceprint"].as_bool(), user["email"].as_str()), (200, Some(false), Some("m@acme.com")));
    assert!(user.get("voiceprint_enrolled_at").is_none());
    assert_eq!(app.get(&format!("/v1/users/{member_id}/voiceprint"), &member).await.0, 404);
    let member_uuid: uuid::Uuid = member_id.parse().unwrap();
    let cipher = ddalkkak::auth::VoiceprintCipher::new(&common::TEST_KEY);
    let sealed = cipher.seal(member_uuid, &[0.6, 0.8]);
    app.store().put_voiceprint(t.tenant.id, member_uuid, &sealed, "resemblyzer-ge2e", 6_500).await.unwrap();
    let (_, user) = app.get(&format!("/v1/users/{member_id}"), &admin).await;
    assert_eq!(user["has_voiceprint"], true);
    assert!(user["voiceprint_enrolled_at"].is_string(), "{user}");
    let (s, print) = app.get(&format!("/v1/users/{member_id}/voiceprint"), &member).await;
    assert_eq!((s, print["speech_ms"].as_i64()), (200, Some(6_500)), "{print}");
    let mut fields: Vec<&str> = print.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["enrolled_at", "speech_ms", "user_id"], "no embedding, sealed or not");

    // Deleting it: the OWNER's voice is the OWNER's; an ADMIN deletes a MEMBER's.
    app.store().put_voiceprint(t.tenant.id, t.owner.id, &cipher.seal(t.owner.id, &[1.0]), "m", 6_000).await.unwrap();
    let (s, _) = app.delete(&format!("/v1/users/{}/voiceprint", t.owner.id), &admin).await;
    assert_eq!(s, 403);
    assert_eq!(app.delete(&format!("/v1/users/{member_id}/voiceprint"), &admin).await.0, 204);
    assert_eq!(app.delete(&format!("/v1/users/{member_id}/voiceprint"), &member).await.0, 404);
    assert_eq!(app.delete(&format!("/v1/users/{}/voiceprint", t.owner.id), &t.api_key).await.0, 204);
    // Deleting a user deletes their voice.
    app.store().put_voiceprint(t.tenant.id, member_uuid, &sealed, "m", 6_000).await.unwrap();
    assert_eq!(app.delete(&format!("/v1/users/{member_id}"), &admin).await.0, 204);
    assert_eq!(app.store().get_voiceprint(t.tenant.id, member_uuid).await.unwrap(), None);
    // The OpenAPI document describes the endpoints.
    let (_, doc) = app.get("/openapi.json", &t.api_key).await;
    let path = &doc["paths"]["/v1/users/{id}/voiceprint"];
    assert!(path["put"].is_object() && path["get"].is_object() && path["delete"].is_object(), "{path}");
    let consent = path["put"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "consent").unwrap();
    assert_eq!(consent["in"], "query", "{consent}");
    assert_eq!(doc["components"]["schemas"]["Recording"]["format"], "binary");
    assert!(path["put"]["requestBody"]["content"]["audio/webm"].is_object(), "{path}");
}

/// `PATCH /v1/meetings/{id}/speaker-labels`: the host or an ADMIN names a stored speaker.
async fn stored_speakers_are_named_by_the_host_or_an_admin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let (member_id, member) = member_key(&app, &t.api_key, "m@acme.com", "MEMBER").await;
    let lines = [(0, "Shall we start?"), (1, "Yes, I have the numbers."), (0, "Go ahead.")];
    let meeting = common::finalized_live_meeting(app.store(), t.tenant.id, t.owner.id, "Sync", &lines).await;
    let path = format!("/v1/meetings/{meeting}/speaker-labels");
    let (s, body) = app.patch(&path, &member, json!({"speaker": 1, "user_id": member_id})).await;
    assert_eq!((s, code(&body)), (403, "forbidden"), "a MEMBER who is not the host");
    let (s, m) = app.patch(&path, &t.api_key, json!({"speaker": 1, "user_id": member_id})).await;
    assert_eq!(s, 200, "{m}");
    let identity = &m["speaker_labels"][1]["identity"];
    assert_eq!(
        (identity["name"].as_str(), identity["evidence"][0]["kind"].as_str()),
        (Some("Person"), Some("assigned"))
    );
    let (_, got) = app.get(&format!("/v1/meetings/{meeting}"), &member).await;
    assert_eq!(got["speaker_labels"][1]["identity"]["user_id"], member_id.as_str());
    let (s, body) = app.patch(&path, &t.api_key, json!({"speaker": 5, "user_id": null})).await;
    assert_eq!((s, code(&body)), (422, "unknown_speaker"), "{body}");
    let (s, body) = app.patch(&path, &t.api_key, json!({"speaker": 1, "name": "Bob"})).await;
    assert_eq!(s, 422, "{body}");
    let (s, m) = app.patch(&path, &t.api_key, json!({"speaker": 1, "user_id": null})).await;
    assert_eq!((s, m["speaker_labels"][1].get("identity")), (200, None), "{m}");
}

/// A meeting's transcript versions over the API: a live meeting's one version, read by any member
/// of the tenant; `POST …/retranscribe` only by the host or an ADMIN, a body that is no JSON 415,
/// 503 on a server without models; another tenant's meeting 404; the endpoints documented.
async fn transcript_versions_are_read_by_members_and_retranscribed_by_hosts(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let t = tenant(app.store(), "acme").await;
    let other = tenant(app.store(), "other").await;
    let (_, member) = member_key(&app, &t.api_key, "m@acme.com", "MEMBER").await;
    let lines = [(0, "Shall we start?"), (1, "Yes, I have the numbers.")];
    let meeting = common::finalized_live_meeting(app.store(), t.tenant.id, t.owner.id, "Sync", &lines).await;
    let (s, versions) = app.get(&format!("/v1/meetings/{meeting}/transcripts"), &member).await;
    assert_eq!(s, 200, "{versions}");
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{versions}");
    assert_eq!(
        (&items[0]["source"], &items[0]["status"], &items[0]["current"]),
        (&json!("live"), &json!("completed"), &json!(true))
    );
    let version = items[0]["id"].as_str().unwrap();
    let (s, one) = app.get(&format!("/v1/meetings/{meeting}/transcripts/{version}"), &member).await;
    assert_eq!(s, 200, "{one}");
    let (_, m) = app.get(&format!("/v1/meetings/{meeting}"), &member).await;
    assert_eq!((&one["segments"], &one["text"]), (&m["transcript_segments"], &m["transcript_text"]));
    assert_eq!(one["segments"].as_array().map(Vec::len), Some(2));
    for path in [format!("/v1/meetings/{meeting}/transcripts"), format!("/v1/meetings/{meeting}/transcripts/{version}")]
    {
        let (s, body) = app.get(&path, &other.api_key).await;
        assert_eq!((s, code(&body)), (404, "not_found"), "{path}");
    }

    let path = format!("/v1/meetings/{meeting}/retranscribe");
    let (s, body) = app.call(Method::POST, &path, &other.api_key, None).await;
    assert_eq!((s, code(&body)), (404, "not_found"));
    let (s, body) = app.call(Method::POST, &path, &member, None).await;
    assert_eq!((s, code(&body)), (403, "forbidden"), "a MEMBER who is not the host");
    let response = app.http.post(app.url(&path)).bearer_auth(&t.api_key).body("model=base").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let (s, body) = app.call(Method::POST, &path, &t.api_key, None).await;
    assert_eq!((s, code(&body)), (503, "recordings_unavailable"), "{body}");
    let (s, body) = app.call(Method::POST, &path, &t.api_key, Some(json!({"model": "base"}))).await;
    assert_eq!((s, code(&body)), (503, "recordings_unavailable"), "{body}");

    let (_, doc) = app.get("/openapi.json", &t.api_key).await;
    for path in
        ["/v1/meetings/{id}/retranscribe", "/v1/meetings/{id}/transcripts", "/v1/meetings/{id}/transcripts/{version}"]
    {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("TranscriptVersion").is_some());
}
