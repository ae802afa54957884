//! The durable job queue on both backends: claims, leases, fencing, retries, the
//! meeting-intelligence write (tasks, notifications, Slack follow-up) and the Slack job against a
//! local server that checks requests the way Slack's `chat.postMessage` does.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::TestDb;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ddalkkak::auth::TokenCipher;
use ddalkkak::domain::{
    ActionItem, EvidenceKind, IdentityEvidence, Job, JobStatus, MinutesNote, ServiceType, SpeakerIdentity, TaskStatus,
};
use ddalkkak::jobs::{JobRunner, RunnerConfig, SlackClient, SlackPostJob};
use ddalkkak::store::{
    ErrorTable, JobSettlement, MeetingIntelligence, NewIntegration, NewTask, NewUser, Store, StoreError,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// A finalized live meeting with `lines` as its finals: its intelligence job is queued.
async fn finalized_meeting(s: &dyn Store, tenant: Uuid, host: Uuid, lines: &[&str]) -> Uuid {
    let lines: Vec<(i32, &str)> = lines.iter().enumerate().map(|(i, l)| ((i % 2) as i32, *l)).collect();
    common::finalized_live_meeting(s, tenant, host, "Weekly sync", &lines).await
}

fn task(title: &str, assignee: Option<Uuid>) -> NewTask {
    NewTask {
        meeting_id: None,
        title: title.into(),
        description: None,
        status: TaskStatus::Todo,
        assignee_id: assignee,
        due_date: None,
        is_ai_generated: true,
    }
}

fn intelligence(tasks: Vec<NewTask>) -> MeetingIntelligence {
    let items = tasks
        .iter()
        .map(|t| ActionItem {
            title: t.title.clone(),
            description: String::new(),
            assignee: None,
            assignee_id: t.assignee_id,
            due_date: None,
            due_date_text: None,
            source_segments: Vec::new(),
        })
        .collect();
    MeetingIntelligence {
        summary: "We agreed on the launch plan.".into(),
        action_items: items,
        decisions: vec![MinutesNote { text: "Launch on Monday".into(), source_segments: vec![0] }],
        open_questions: Vec::new(),
        tasks,
        speaker_labels: None,
    }
}

fn claim_lost<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Rule { code: "claim_lost", .. }))
}

async fn claims_are_exclusive_leased_and_fenced(db: TestDb) {
    let s = &*db.store;
    let t = common::tenant(s, "jobs").await;
    let meeting = finalized_meeting(s, t.tenant.id, t.owner.id, &["Hello there."]).await;
    let queued = s.list_jobs(t.tenant.id, meeting).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].status, queued[0].attempts), (JobStatus::Queued, 0));

    let first = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().expect("a queued job");
    assert_eq!((first.id, first.status, first.attempts), (queued[0].id, JobStatus::Running, 1));
    assert!(s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().is_none(), "leased jobs are not claimed");
    assert!(s.claim_job(Job::SLACK_POST, LEASE).await.unwrap().is_none(), "claims are per kind");
    s.renew_job(&first, LEASE).await.unwrap();

    // The worker dies: once its lease runs out another worker takes the job, and the first
    // worker's late writes are refused.
    s.renew_job(&first, chrono::Duration::milliseconds(-1)).await.unwrap();
    let second = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().expect("expired lease is claimable");
    assert_eq!((second.id, second.attempts), (first.id, 2));
    assert!(claim_lost(s.renew_job(&first, LEASE).await));
    assert!(claim_lost(s.settle_job(&first, JobSettlement::Fail { error: "late".into() }).await));
    assert!(claim_lost(s.complete_meeting_intelligence(&first, intelligence(vec![task("Stale", None)])).await));

    // A retry is due later; a release (shutdown) gives the attempt back.
    let later = ddalkkak::domain::now() + chrono::Duration::hours(1);
    s.settle_job(&second, JobSettlement::Retry { at: later, error: "model busy".into() }).await.unwrap();
    let job = &s.list_jobs(t.tenant.id, meeting).await.unwrap()[0];
    assert_eq!((job.status, job.attempts, job.last_error.as_deref()), (JobStatus::Queued, 2, Some("model busy")));
    assert!(s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().is_none(), "not due yet");
}

async fn completing_writes_tasks_notifications_once(db: TestDb) {
    let s = &*db.store;
    let t = common::tenant(s, "intel").await;
    let bob = s
        .create_user(
            t.tenant.id,
            NewUser {
                email: "bob@intel.com".into(),
                name: "Bob Lee".into(),
                role: ddalkkak::domain::Role::Member,
                slack_user_id: Some("U0BOB".into()),
            },
        )
        .await
        .unwrap();
    let meeting =
        finalized_meeting(s, t.tenant.id, t.owner.id, &["Bob will send the deck.", "Owner books the room."]).await;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    let mut result = intelligence(vec![
        task("Send the deck", Some(bob.id)),
        task("Book the room", Some(t.owner.id)),
        task("Draft the FAQ", Some(bob.id)),
        task("Someone orders pizza", None),
    ]);
    // The second voice was found to be Bob: the meeting's speakers say so afterwards.
    let mut labels = s.get_meeting(t.tenant.id, meeting).await.unwrap().speaker_labels.unwrap().0;
    assert_eq!(labels.len(), 2);
    let evidence = vec![IdentityEvidence { seq: Some(0), kind: EvidenceKind::AnsweredWhenAddressed, weight: 3 }];
    labels[1].identity = Some(SpeakerIdentity { user_id: bob.id, name: bob.name.clone(), confidence: 0.67, evidence });
    result.speaker_labels = Some(labels.clone());
    let report = s.complete_meeting_intelligence(&job, result.clone()).await.unwrap();
    assert_eq!(report.meeting.speaker_labels.as_ref().map(|l| &l.0), Some(&labels));
    assert_eq!(s.get_meeting(t.tenant.id, meeting).await.unwrap().speaker_labels.unwrap().0, labels);
    assert_eq!(report.created.len(), 4);
    assert!(report.created.iter().all(|t| t.is_ai_generated && t.meeting_id == Some(meeting)));
    assert_eq!(report.notified.len(), 2, "one notification per assignee");
    assert!(!report.slack_queued, "no Slack integration");
    assert_eq!(report.meeting.ai_summary.as_deref(), Some("We agreed on the launch plan."));
    let decisions = report.meeting.ai_decisions.as_ref().map(|j| j.0.clone()).unwrap_or_default();
    assert_eq!(decisions, vec![MinutesNote { text: "Launch on Monday".into(), source_segments: vec![0] }]);
    assert_eq!(report.meeting.ai_open_questions.as_ref().map(|j| j.0.len()), Some(0));
    assert_eq!(report.meeting.ai_action_items.as_ref().unwrap().0.len(), 4);
    let bobs = s.list_notifications(t.tenant.id, bob.id, true).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].kind, "ACTION_ITEMS_READY");
    assert!(bobs[0].message.starts_with("2 action items from \"Weekly sync\""), "{}", bobs[0].message);
    let job_row = &s.list_jobs(t.tenant.id, meeting).await.unwrap()[0];
    assert_eq!(job_row.status, JobStatus::Succeeded);

    // Run twice (the job re-queued by hand, say): the meeting already has its AI tasks.
    assert!(claim_lost(s.complete_meeting_intelligence(&job, result.clone()).await), "a finished claim is spent");
    let filter = ddalkkak::store::TaskFilter { meeting_id: Some(meeting), ..Default::default() };
    assert_eq!(s.list_tasks(t.tenant.id, &filter, None, 50).await.unwrap().items.len(), 4);
}

async fn an_active_slack_integration_queues_a_post(db: TestDb) {
    let s = &*db.store;
    let t = common::tenant(s, "slackq").await;
    let integration = NewIntegration {
        service_type: ServiceType::Slack,
        access_token: Some("v1:whatever".into()),
        is_active: false,
        channel: Some("C0TEAM".into()),
    };
    let slack = s.create_integration(t.tenant.id, integration).await.unwrap();
    let first = finalized_meeting(s, t.tenant.id, t.owner.id, &["One."]).await;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    assert!(
        !s.complete_meeting_intelligence(&job, intelligence(vec![])).await.unwrap().slack_queued,
        "inactive (D-104)"
    );
    let patch = ddalkkak::store::IntegrationPatch { is_active: Some(true), ..Default::default() };
    s.update_integration(t.tenant.id, slack.id, patch).await.unwrap();
    let second = finalized_meeting(s, t.tenant.id, t.owner.id, &["Two."]).await;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    assert!(s.complete_meeting_intelligence(&job, intelligence(vec![])).await.unwrap().slack_queued);
    let kinds =
        |m| async move { s.list_jobs(t.tenant.id, m).await.unwrap().into_iter().map(|j| j.kind).collect::<Vec<_>>() };
    assert_eq!(kinds(first).await, vec![Job::MEETING_INTELLIGENCE]);
    assert_eq!(kinds(second).await, vec![Job::MEETING_INTELLIGENCE, Job::SLACK_POST]);
}

/// What the fake Slack saw, and what it should answer next.
#[derive(Default)]
struct SlackLog {
    requests: Vec<Value>,
    /// Queued answers: `(HTTP status, body, Retry-After)`; afterwards `ok: true`.
    script: Vec<(u16, Value, Option<u64>)>,
}

/// `chat.postMessage` as Slack checks it: bearer token, JSON content type, a channel and text,
/// blocks within limits. Answers `ok:false` with Slack's error names otherwise.
async fn fake_post_message(State(log): State<Arc<Mutex<SlackLog>>>, headers: HeaderMap, body: String) -> Response {
    let mut log = log.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let refuse = |error: &str| Json(json!({"ok": false, "error": error})).into_response();
    if auth.is_empty() {
        return refuse("not_authed");
    }
    if auth != "Bearer xoxb-test-token" {
        return refuse("invalid_auth");
    }
    if !ctype.starts_with("application/json") {
        return refuse("invalid_arguments");
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else { return refuse("invalid_json") };
    log.requests.push(message.clone());
    if !log.script.is_empty() {
        let (status, answer, retry_after) = log.script.remove(0);
        let mut response = (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response();
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.into());
        }
        return response;
    }
    let channel = message["channel"].as_str().unwrap_or("");
    if channel.is_empty() {
        return refuse("channel_not_found");
    }
    if message["text"].as_str().is_none_or(str::is_empty) && message["blocks"].as_array().is_none_or(Vec::is_empty) {
        return refuse("no_text");
    }
    let blocks_ok = message["blocks"].as_array().is_none_or(|blocks| {
        blocks.len() <= 50
            && blocks.iter().all(|b| {
                let text = b["text"]["text"].as_str().unwrap_or("");
                !text.is_empty() && text.chars().count() <= 3000
            })
    });
    if !blocks_ok {
        return refuse("invalid_blocks");
    }
    Json(json!({"ok": true, "channel": channel, "ts": "1763700000.000100", "message": {"text": message["text"]}}))
        .into_response()
}

async fn fake_slack(log: Arc<Mutex<SlackLog>>) -> String {
    let app =
        axum::Router::new().route("/api/chat.postMessage", axum::routing::post(fake_post_message)).with_state(log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}

/// Runs the Slack job runner until `done` holds for the meeting's `slack_post` job.
async fn run_slack_until(
    s: Arc<dyn Store>,
    base: &str,
    tenant: Uuid,
    meeting: Uuid,
    done: impl Fn(&Job) -> bool,
) -> Job {
    let cipher = TokenCipher::new(&common::TEST_KEY);
    let handler = SlackPostJob { store: s.clone(), cipher, slack: SlackClient::new(base) };
    let config = RunnerConfig {
        poll: Duration::from_millis(20),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..Default::default()
    };
    let runner = JobRunner { store: s.clone(), handler: Arc::new(handler), config };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let job = loop {
        let jobs = s.list_jobs(tenant, meeting).await.unwrap();
        if let Some(job) = jobs.into_iter().find(|j| j.kind == Job::SLACK_POST && done(j)) {
            break job;
        }
        assert!(tokio::time::Instant::now() < deadline, "slack job did not settle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    task.await.unwrap();
    job
}

async fn slack_posts_the_summary_and_retries_and_logs_failures(db: TestDb) {
    let s = db.store.clone();
    let t = common::tenant(&*s, "slack").await;
    let cipher = TokenCipher::new(&common::TEST_KEY);
    let patch = ddalkkak::store::UserPatch { slack_user_id: Some(Some("U0OWNER".into())), ..Default::default() };
    s.update_user(t.tenant.id, t.owner.id, patch).await.unwrap();
    let integration = NewIntegration {
        service_type: ServiceType::Slack,
        access_token: Some(cipher.encrypt("xoxb-test-token")),
        is_active: true,
        channel: Some("C0TEAM".into()),
    };
    let slack = s.create_integration(t.tenant.id, integration).await.unwrap();
    let log = Arc::new(Mutex::new(SlackLog::default()));
    let base = fake_slack(log.clone()).await;

    // Rate limited once (429 + an absurd Retry-After, capped at the runner's max backoff), then a
    // transient Slack error, then posted.
    log.lock().unwrap().script = vec![
        (429, json!({"ok": false, "error": "ratelimited"}), Some(u64::MAX)),
        (200, json!({"ok": false, "error": "internal_error"}), None),
    ];
    let meeting = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["Owner sends <the> deck & notes."]).await;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    s.complete_meeting_intelligence(&job, intelligence(vec![task("Send <the> deck & notes", Some(t.owner.id))]))
        .await
        .unwrap();
    let done = run_slack_until(s.clone(), &base, t.tenant.id, meeting, |j| j.status == JobStatus::Succeeded).await;
    assert_eq!(done.attempts, 3);
    assert_eq!(
        s.get_meeting(t.tenant.id, meeting).await.unwrap().slack_message_ts.as_deref(),
        Some("1763700000.000100")
    );
    let posted = log.lock().unwrap().requests.last().cloned().unwrap();
    assert_eq!(posted["channel"], "C0TEAM");
    // The decisions, then the action items.
    assert_eq!(posted["blocks"][2]["text"]["text"], "*Decisions*\n• Launch on Monday", "{posted}");
    let items = posted["blocks"][3]["text"]["text"].as_str().unwrap();
    assert!(items.contains("Send &lt;the&gt; deck &amp; notes — <@U0OWNER>"), "{items}");
    assert_eq!(s.count_errors(t.tenant.id, ErrorTable::Integration).await.unwrap(), 2, "each failed attempt logged");

    // A Korean meeting: its Slack message and its notification are worded in Korean.
    let meeting = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["제가 자료를 보낼게요."]).await;
    s.set_meeting_language(t.tenant.id, meeting, "ko").await.unwrap();
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    s.complete_meeting_intelligence(&job, intelligence(vec![task("자료 보내기", Some(t.owner.id))])).await.unwrap();
    run_slack_until(s.clone(), &base, t.tenant.id, meeting, |j| j.status == JobStatus::Succeeded).await;
    let posted = log.lock().unwrap().requests.last().cloned().unwrap();
    assert!(posted["text"].as_str().unwrap().starts_with("회의 요약: "), "{posted}");
    assert!(posted["blocks"][2]["text"]["text"].as_str().unwrap().starts_with("*결정 사항*\n"), "{posted}");
    let items = posted["blocks"][3]["text"]["text"].as_str().unwrap();
    assert!(items.starts_with("*할 일*\n• 자료 보내기 — <@U0OWNER>"), "{items}");
    let notes = s.list_notifications(t.tenant.id, t.owner.id, false).await.unwrap();
    assert!(notes.iter().any(|n| n.message.ends_with("회의에서 할 일 1개가 배정되었습니다")), "{notes:?}");
    assert!(notes.iter().any(|n| n.message.contains("assigned to you")), "the English meeting's: {notes:?}");

    // A revoked token: no retries, FAILED, logged against the integration.
    let patch = ddalkkak::store::IntegrationPatch {
        access_token: Some(Some(cipher.encrypt("xoxb-revoked"))),
        channel: Some(None),
        ..Default::default()
    };
    s.update_integration(t.tenant.id, slack.id, patch).await.unwrap();
    let meeting = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["Again."]).await;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
    s.complete_meeting_intelligence(&job, intelligence(vec![])).await.unwrap();
    let failed = run_slack_until(s.clone(), &base, t.tenant.id, meeting, |j| j.status == JobStatus::Failed).await;
    assert_eq!(failed.attempts, 1, "invalid_auth is not retried");
    assert_eq!(failed.last_error.as_deref(), Some("Slack refused the message: invalid_auth"));
    assert_eq!(s.count_errors(t.tenant.id, ErrorTable::Integration).await.unwrap(), 3);
    assert!(s.get_meeting(t.tenant.id, meeting).await.unwrap().slack_message_ts.is_none());
}

/// Tenant A queues three meetings, then tenant B one: B's job goes right after A's first, not
/// after all of A's.
async fn tenants_take_turns_in_the_job_queue(db: TestDb) {
    let s = &*db.store;
    let a = common::tenant(s, "busy").await;
    let b = common::tenant(s, "quiet").await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(finalized_meeting(s, a.tenant.id, a.owner.id, &["Line."]).await);
    }
    let b_meeting = finalized_meeting(s, b.tenant.id, b.owner.id, &["Line."]).await;
    let mut order = Vec::new();
    while let Some(job) = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap() {
        order.push(job.meeting_id.unwrap());
        s.complete_meeting_intelligence(&job, intelligence(vec![])).await.unwrap();
    }
    assert_eq!(order, vec![queued[0], b_meeting, queued[1], queued[2]]);
}

on_both_backends!(
    tenants_take_turns_in_the_job_queue,
    claims_are_exclusive_leased_and_fenced,
    completing_writes_tasks_notifications_once,
    an_active_slack_integration_queues_a_post,
    slack_posts_the_summary_and_retries_and_logs_failures,
    concurrent_claimers_never_share_a_job,
    a_panicking_handler_or_a_crash_loop_fails_the_job_not_the_runner,
);

/// Panics on the first job it sees, completes the others.
struct PanicsOnce {
    store: Arc<dyn Store>,
    seen: Mutex<Vec<Uuid>>,
}

#[async_trait::async_trait]
impl ddalkkak::jobs::JobHandler for PanicsOnce {
    fn kind(&self) -> &'static str {
        Job::MEETING_INTELLIGENCE
    }
    fn max_attempts(&self) -> i32 {
        3
    }
    fn error_table(&self) -> ErrorTable {
        ErrorTable::Ai
    }
    async fn run(&self, job: &Job) -> Result<(), ddalkkak::jobs::JobError> {
        let first = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(job.id);
            seen.len() == 1
        };
        if first {
            panic!("a bug in the handler");
        }
        self.store.complete_meeting_intelligence(job, intelligence(vec![])).await?;
        Ok(())
    }
}

/// A handler that panics fails its job (recorded) and the runner goes on with the next job; a
/// job that was claimed more often than its attempts allow (its workers kept dying) is failed
/// without running it again.
async fn a_panicking_handler_or_a_crash_loop_fails_the_job_not_the_runner(db: TestDb) {
    let s = db.store.clone();
    let t = common::tenant(&*s, "panics").await;
    let crash_loop = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["Crashes the worker."]).await;
    for _ in 0..3 {
        let job = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap().unwrap();
        s.renew_job(&job, chrono::Duration::milliseconds(-1)).await.unwrap();
    }
    let first = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["First."]).await;
    let second = finalized_meeting(&*s, t.tenant.id, t.owner.id, &["Second."]).await;
    let handler = Arc::new(PanicsOnce { store: s.clone(), seen: Mutex::new(Vec::new()) });
    let runner = JobRunner {
        store: s.clone(),
        handler: handler.clone(),
        config: RunnerConfig { poll: Duration::from_millis(20), ..RunnerConfig::default() },
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let status = |m: Uuid| {
        let s = s.clone();
        async move { s.list_jobs(t.tenant.id, m).await.unwrap()[0].clone() }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let settled = |j: Job| matches!(j.status, JobStatus::Failed | JobStatus::Succeeded);
    while !settled(status(crash_loop).await) || !settled(status(first).await) || !settled(status(second).await) {
        assert!(std::time::Instant::now() < deadline, "the runner stopped working");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.expect("the runner survived the panic");
    let looped = status(crash_loop).await;
    assert_eq!(looped.attempts, 4);
    assert!(looped.last_error.as_deref().unwrap().contains("claimed 4 times"), "{looped:?}");
    let seen = handler.seen.lock().unwrap().clone();
    assert!(!seen.contains(&looped.id), "a crash-looping job is not run again");
    let outcomes = [status(first).await, status(second).await];
    let panicked = outcomes.iter().find(|j| j.id == seen[0]).unwrap();
    assert_eq!(panicked.status, JobStatus::Failed);
    assert!(panicked.last_error.as_deref().unwrap().contains("failed unexpectedly"), "{panicked:?}");
    assert!(outcomes.iter().any(|j| j.status == JobStatus::Succeeded), "the runner went on: {outcomes:?}");
    assert_eq!(s.count_errors(t.tenant.id, ErrorTable::Ai).await.unwrap(), 2);
}

/// Many workers at once: every job is claimed exactly once (PostgreSQL `FOR UPDATE SKIP
/// LOCKED`; SQLite's single writer).
async fn concurrent_claimers_never_share_a_job(db: TestDb) {
    let s = db.store.clone();
    let t = common::tenant(&*s, "race").await;
    for _ in 0..12 {
        finalized_meeting(&*s, t.tenant.id, t.owner.id, &["Line."]).await;
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = s.claim_job(Job::MEETING_INTELLIGENCE, LEASE).await.unwrap() {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (12, 12));
}
