//! The `ddalkkak` binary itself: tenant administration and a serve → SIGTERM → clean exit cycle
//! on the embedded database.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ddalkkak() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddalkkak"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DDALKKAK_")) {
        cmd.env_remove(key);
    }
    cmd
}

#[test]
fn create_tenant_prints_a_working_key_once_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = ddalkkak()
        .args([
            "admin",
            "create-tenant",
            "--name",
            "Acme",
            "--slug",
            "acme",
            "--owner-email",
            "Boss@Acme.com",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().find_map(|l| l.strip_prefix("api key  ")).expect("key printed");
    assert!(key.starts_with("dk_") && key.len() == 48, "{key}");
    assert!(stdout.contains("boss@acme.com"), "email normalised: {stdout}");
    assert!(dir.path().join("ddalkkak.db").exists(), "embedded SQLite file in the data dir");

    let again = ddalkkak()
        .args([
            "admin",
            "create-tenant",
            "--name",
            "Other",
            "--slug",
            "acme",
            "--owner-email",
            "x@y.com",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let bad = ddalkkak()
        .args([
            "admin",
            "create-tenant",
            "--name",
            "B",
            "--slug",
            "Company_B",
            "--owner-email",
            "nope",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("slug") && err.contains("owner_email"), "{err}");

    // An uploaded recording of the tenant, where the server keeps them.
    let tenant = stdout.lines().find_map(|l| l.strip_prefix("tenant   acme (")).expect("tenant printed");
    let recordings = dir.path().join("recordings").join(tenant.trim_end_matches(')'));
    std::fs::create_dir_all(&recordings).unwrap();
    std::fs::write(recordings.join("call.wav"), b"RIFF").unwrap();
    let gone = ddalkkak().args(["admin", "delete-tenant", "--slug", "acme", "--data-dir", data]).output().unwrap();
    assert!(!gone.status.success(), "deletion needs --yes");
    assert!(recordings.join("call.wav").exists());
    let gone =
        ddalkkak().args(["admin", "delete-tenant", "--slug", "acme", "--yes", "--data-dir", data]).output().unwrap();
    assert!(gone.status.success(), "{}", String::from_utf8_lossy(&gone.stderr));
    assert!(!recordings.exists(), "the tenant's recordings went with it");
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let _heavy = common::heavy_blocking();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut serve = ddalkkak();
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", &metrics_listen, "--llm", "none"])
        .arg("--data-dir")
        .arg(dir.path());
    // `serve` does not fetch models: without the ones it serves by default, the REST API only.
    let models = common::model_paths();
    if ["tiny.en", "base"].iter().all(|m| models.has_whisper(m)) && models.vad().exists() {
        serve.arg("--models-dir").arg(&models.root);
    } else {
        assert!(!common::require_models(), "models missing in {} (run models/fetch.sh)", models.root.display());
        eprintln!("tiny.en/base not fetched: serving with --no-live");
        serve.arg("--no-live");
    }
    let mut child = serve.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split("addr=").nth(1).map(|a| a.split_whitespace().next().unwrap().to_owned()))
        .expect("listening line");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async { reqwest::get(format!("http://{addr}/readyz")).await.unwrap().status() });
    assert_eq!(status, 200);
    assert!(dir.path().join("secrets/encryption.key").exists(), "embedded mode generates its keys");
    // First start bootstraps tenant `default` and leaves its owner key in the data directory.
    let key = std::fs::read_to_string(dir.path().join("secrets/owner-api-key")).unwrap();
    let me = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/v1/me"))
            .bearer_auth(key.trim())
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    assert_eq!(me["tenant"]["slug"], "default");
    assert_eq!(me["user"]["role"], "OWNER");
    // Methods a client makes up do not become metric labels (each would be a new series).
    let metrics = rt.block_on(async {
        let client = reqwest::Client::new();
        for i in 0..20 {
            let method = reqwest::Method::from_bytes(format!("BOGUS{i}").as_bytes()).unwrap();
            client.request(method, format!("http://{addr}/v1/me")).send().await.unwrap();
        }
        reqwest::get(format!("http://{metrics_listen}/metrics")).await.unwrap().text().await.unwrap()
    });
    assert!(!metrics.contains("BOGUS"), "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "server did not stop within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(lines.map_while(Result::ok).any(|l| l.contains("stopped")));
}

#[test]
fn postgres_without_keys_is_refused_with_a_clear_message() {
    let out = ddalkkak().args(["serve", "--database-url", "postgres://nobody@127.0.0.1:1/none"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DDALKKAK_ENCRYPTION_KEY is required"), "{err}");
}

#[test]
fn backup_and_verify_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| ddalkkak().args(args).arg("--data-dir").arg(&data).output().unwrap();
    let created = run(&["admin", "create-tenant", "--name", "Acme", "--slug", "acme", "--owner-email", "o@acme.com"]);
    assert!(created.status.success());
    let verified = run(&["db", "verify"]);
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && out.contains("ok: no problems"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("tenants") && l.trim_end().ends_with("1 rows")), "{out}");

    let copy = dir.path().join("backup.db");
    let backup = run(&["db", "backup", "--out", copy.to_str().unwrap()]);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    assert!(!run(&["db", "backup", "--out", copy.to_str().unwrap()]).status.success(), "no overwrite");
    // The copy is a working database: the server's own verify passes on it.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(&copy, restored.join("ddalkkak.db")).unwrap();
    let check = ddalkkak().args(["db", "verify", "--data-dir"]).arg(&restored).output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && out.lines().any(|l| l.starts_with("tenants") && l.trim_end().ends_with("1 rows")),
        "{out}"
    );
}
