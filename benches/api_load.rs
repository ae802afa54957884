//! REST API load against the spec's KPI (D-167: average query response < 100 ms; D-168: up to
//! 1,000 concurrent users). A real server on 127.0.0.1:0 over SQLite (and PostgreSQL when
//! `DDALKKAK_BENCH_DATABASE_URL` points at a server; a fresh database is created there), seeded with
//! 1,000 meetings and 500 tasks, then `C` concurrent clients for `D` seconds each run a mix of
//! 70 % meeting-list pages, 20 % task reads and 10 % task creations.
//!
//! ```sh
//! cargo bench --bench api_load -- [--clients 64] [--seconds 10]
//! DDALKKAK_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench api_load
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ddalkkak::http::{HttpLimits, RateLimit};
use ddalkkak::store::{PgStore, SqliteStore, Store};
use ddalkkak::{App, AppConfig, Database, Keys};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Report {
    requests: usize,
    errors: usize,
    secs: f64,
    latencies_ms: Vec<f64>,
}

async fn run(store: Arc<dyn Store>, clients: usize, secs: u64) -> anyhow::Result<Report> {
    let created = ddalkkak::admin::create_tenant(&*store, "Bench", "bench", "owner@bench.com", None).await?;
    let key = created.api_key;
    let keys = Keys { encryption: [1; 32], token_signing: [2; 32] };
    // The bench measures what the server can serve, all through one key, which the default
    // per-key rate (100 requests/s) would hold back; the limiter still runs, at a rate no client
    // reaches.
    let unbound = RateLimit { per_second: 1_000_000, burst: 1_000_000 };
    let http = HttpLimits { rate_limit: Some(unbound), ..HttpLimits::default() };
    let app = App::build(AppConfig { http, ..AppConfig::new(Database::Store(store), keys) }).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone().cancelled_owned()));
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;

    // Seed through the API, as users would.
    let mut task_ids = Vec::new();
    for i in 0..1000 {
        let (_, m) = post(&http, &base, "/v1/meetings", &key, json!({"title": format!("Meeting {i}")})).await?;
        if i % 2 == 0 {
            let (_, t) =
                post(&http, &base, "/v1/tasks", &key, json!({"title": format!("Task {i}"), "meeting_id": m["id"]}))
                    .await?;
            task_ids.push(t["id"].as_str().unwrap().to_owned());
        }
    }
    let task_ids = Arc::new(task_ids);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for c in 0..clients {
        let (http, base, key, task_ids) = (http.clone(), base.clone(), key.clone(), task_ids.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < deadline {
                i += 1;
                let t0 = Instant::now();
                let ok = match i % 10 {
                    0 => post(&http, &base, "/v1/tasks", &key, json!({"title": "load"})).await.map(|(s, _)| s == 201),
                    1 | 2 => get(&http, &base, &format!("/v1/tasks/{}", task_ids[i % task_ids.len()]), &key).await,
                    _ => get(&http, &base, "/v1/meetings?limit=20", &key).await,
                };
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                if !matches!(ok, Ok(true)) {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies_ms = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        latencies_ms.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    server.await??;
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Report { requests: latencies_ms.len(), errors, secs, latencies_ms })
}

async fn get(http: &reqwest::Client, base: &str, path: &str, key: &str) -> anyhow::Result<bool> {
    let resp = http.get(format!("{base}{path}")).bearer_auth(key).send().await?;
    let ok = resp.status().is_success();
    resp.bytes().await?;
    Ok(ok)
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: &str,
    body: serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let resp = http.post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await?;
    Ok((resp.status().as_u16(), resp.json().await?))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = arg("--clients", 64) as usize;
    let secs = arg("--seconds", 10);
    let dir = tempfile::tempdir()?;
    let mut cleanup = None;
    let mut backends: Vec<(&str, Arc<dyn Store>)> =
        vec![("sqlite", Arc::new(SqliteStore::connect(&ddalkkak::store::sqlite_url(dir.path()), 16).await?))];
    if let Ok(url) = std::env::var("DDALKKAK_BENCH_DATABASE_URL") {
        let name = format!("ddalkkak_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
        let db_url = format!("{}/{name}", url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base));
        backends.push(("postgres", Arc::new(PgStore::connect(&db_url, 32).await?)));
        cleanup = Some((admin, name));
    }
    println!("{clients} concurrent clients, {secs} s, mix 70 % list meetings / 20 % get task / 10 % create task");
    println!("| backend | requests | errors | req/s | avg ms | p50 ms | p95 ms | p99 ms | KPI avg < 100 ms |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, store) in backends {
        let r = run(store, clients, secs).await?;
        let avg = r.latencies_ms.iter().sum::<f64>() / r.requests.max(1) as f64;
        println!(
            "| {name} | {} | {} | {:.0} | {avg:.1} | {:.1} | {:.1} | {:.1} | {} |",
            r.requests,
            r.errors,
            r.requests as f64 / r.secs,
            pct(&r.latencies_ms, 0.5),
            pct(&r.latencies_ms, 0.95),
            pct(&r.latencies_ms, 0.99),
            if avg < 100.0 { "met" } else { "missed" }
        );
    }
    if let Some((admin, name)) = cleanup {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await?;
    }
    Ok(())
}
