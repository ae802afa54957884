//! The README's curl examples for the browser-facing endpoints, run verbatim with `bash` against
//! a test server (only `127.0.0.1:8080` becomes the test server's address), so the documentation
//! and the server cannot drift apart. Each block follows a `<!-- doc-test: NAME -->` marker; a
//! renamed or removed block fails here. Skipped without `bash`/`curl` unless
//! `DDALKKAK_REQUIRE_MODELS=1` (CI).

use crate::common;

use std::path::Path;

use crate::common::{TestApp, TestDb};
use ddalkkak::store::{NewFinal, NewLiveSession};
use serde_json::Value;

on_both_backends!(the_readme_curl_examples_work_as_written);

/// The shell block after `<!-- doc-test: name -->`.
fn block(doc: &str, name: &str) -> String {
    let marker = format!("<!-- doc-test: {name} -->");
    let after = doc.split_once(&marker).unwrap_or_else(|| panic!("README has no {marker}")).1;
    let body = after.trim_start().strip_prefix("```sh\n").expect("a ```sh block follows the marker");
    body.split_once("\n```").expect("the block ends").0.to_owned()
}

fn tools_present() -> bool {
    let ok = ["bash", "curl"].iter().all(|t| std::process::Command::new(t).arg("--version").output().is_ok());
    assert!(ok || !common::require_models(), "bash and curl are needed");
    if !ok {
        eprintln!("bash or curl missing: README example test skipped");
    }
    ok
}

async fn run(app: &TestApp, script: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    let script = script.replace("127.0.0.1:8080", &app.addr.to_string());
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{script}\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// The JSON documents curl printed back to back.
fn documents(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout).into_iter::<Value>().map(Result::unwrap).collect()
}

async fn the_readme_curl_examples_work_as_written(db: TestDb) {
    if !tools_present() {
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let t = common::tenant(&*db.store, "docs").await;
    let app = TestApp::spawn(db).await;
    let dir = tempfile::tempdir().unwrap();
    let key = t.api_key.as_str();

    // A finished live meeting to list and download.
    let live = NewLiveSession {
        host_id: t.owner.id,
        title: "Documented".into(),
        socket_id: uuid::Uuid::new_v4().to_string(),
        server_instance: "test".into(),
        language: None,
        model: None,
    };
    let (session, meeting) = app.store().start_live_session(t.tenant.id, live).await.unwrap();
    let last = NewFinal {
        session_id: session.id,
        meeting_id: meeting.id,
        seq: 0,
        start_ms: 1_500,
        end_ms: 3_250,
        speaker: Some(0),
        text: "Welcome to the weekly sync.".into(),
        words: Vec::new(),
    };
    app.store().append_final(t.tenant.id, last).await.unwrap();
    app.store().finalize_live_session(t.tenant.id, session.id, Some(4.0), None, &Default::default()).await.unwrap();

    let out = documents(&run(&app, &block(&readme, "sign-in"), dir.path(), &[("KEY", key)]).await);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["user_id"], t.owner.id.to_string());
    assert_eq!(out[1]["user"]["id"], t.owner.id.to_string(), "/v1/me answered to the cookie");
    let jar = std::fs::read_to_string(dir.path().join("cookies.txt")).unwrap();
    assert!(jar.contains("#HttpOnly_") && jar.contains("ddk_session") && !jar.contains(key), "{jar}");

    let out = documents(&run(&app, &block(&readme, "stream-token"), dir.path(), &[("KEY", key)]).await);
    assert_eq!(out[0]["scope"], "stream");
    assert!(out[0]["token"].as_str().unwrap().starts_with("dst_"), "{out:?}");

    let out = documents(&run(&app, &block(&readme, "meetings"), dir.path(), &[("KEY", key)]).await);
    let items = out[0]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{out:?}");
    assert_eq!(items[0]["title"], "Documented");

    let id = meeting.id.to_string();
    run(&app, &block(&readme, "transcript"), dir.path(), &[("KEY", key), ("MEETING", &id)]).await;
    let srt = std::fs::read_to_string(dir.path().join(format!("meeting-{id}.srt"))).unwrap();
    assert_eq!(srt, "1\n00:00:01,500 --> 00:00:03,250\n[Speaker 1] Welcome to the weekly sync.\n\n");
}
