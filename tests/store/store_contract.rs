//! The Store contract: every test runs against SQLite and (when configured) PostgreSQL, through
//! the `Store` trait only, bypassing the HTTP layer's own validation so the database's
//! constraints and the store's rules are what is tested.

use chrono::Duration;
use ddalkkak::domain::{Role, ServiceType, SessionStatus, SttStatus, TaskStatus, now};
use ddalkkak::store::*;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, tenant};

on_both_backends!(
    slug_check_and_uniqueness,
    email_format_and_per_tenant_uniqueness_with_reuse_after_soft_delete,
    at_most_one_owner_per_tenant,
    audio_duration_must_be_positive,
    task_rules_ai_meeting_assignee_and_status_machine,
    hard_deletes_follow_the_fk_policies,
    tenant_delete_cascades_to_everything_and_spares_others,
    one_active_session_per_socket_and_one_session_per_meeting,
    a_live_meeting_keeps_the_language_it_was_transcribed_in,
    one_integration_per_service_per_tenant,
    soft_deleted_rows_vanish_from_lists_and_come_back,
    meetings_page_by_cursor_with_filters,
    meetings_are_found_by_their_transcript_in_hangul,
    cross_tenant_ids_are_not_found,
    updated_at_is_maintained,
    usage_is_counted_per_day,
    retention_purges_only_expired_rows,
    recordings_go_when_older_than_their_tenants_retention,
    a_deleted_meetings_recording_goes_after_the_trash_window,
    api_keys_resolve_by_prefix_and_die_with_their_user,
    notifications_belong_to_their_user,
    verify_counts_rows_and_finds_broken_references,
    voiceprints_are_kept_per_user_and_go_with_them,
    stored_speakers_are_named_and_split_voices_merged,
    retranscriptions_are_versions_and_old_ones_stay_readable,
    a_live_recording_is_retranscribed_and_a_cancelled_version_goes,
);

fn user(email: &str, role: Role) -> NewUser {
    NewUser { email: email.into(), name: "Someone".into(), role, slack_user_id: None }
}

fn meeting(host: Uuid, title: &str) -> NewMeeting {
    NewMeeting {
        title: title.into(),
        host_id: host,
        audio_file_url: None,
        audio_duration: None,
        stt_status: SttStatus::Pending,
    }
}

fn task(title: &str) -> NewTask {
    NewTask {
        meeting_id: None,
        title: title.into(),
        description: None,
        status: TaskStatus::Todo,
        assignee_id: None,
        due_date: None,
        is_ai_generated: false,
    }
}

fn constraint(result: StoreResult<impl std::fmt::Debug>) -> String {
    match result {
        Err(StoreError::Constraint(name)) => name,
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}

fn rule(result: StoreResult<impl std::fmt::Debug>) -> &'static str {
    match result {
        Err(StoreError::Rule { code, .. }) => code,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

fn not_found(result: StoreResult<impl std::fmt::Debug>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected NotFound, got {result:?}");
}

fn key(name: &str) -> NewApiKey {
    let secret = ddalkkak::auth::ApiKeySecret::generate();
    NewApiKey { user_id: None, name: name.into(), prefix: secret.prefix.clone(), key_hash: secret.hash() }
}

async fn slug_check_and_uniqueness(db: TestDb) {
    let s = &*db.store;
    s.create_tenant("A", "company-abc", user("o@a.com", Role::Owner), key("k")).await.unwrap();
    for bad in ["Company_B", "-abc", "abc-", "a--b", "has space"] {
        let r = s.create_tenant("B", bad, user("o@b.com", Role::Owner), key("k")).await;
        assert_eq!(constraint(r), "chk_tenants_slug", "{bad}");
    }
    let r = s.create_tenant("C", "company-abc", user("o@c.com", Role::Owner), key("k")).await;
    assert_eq!(constraint(r), "uq_tenants_slug");
    // The whole creation is one transaction: no half-made tenant remains.
    not_found(s.tenant_by_slug("has space").await);
}

async fn email_format_and_per_tenant_uniqueness_with_reuse_after_soft_delete(db: TestDb) {
    let s = &*db.store;
    let t1 = tenant(s, "one").await.tenant.id;
    let t2 = tenant(s, "two").await.tenant.id;
    for bad in ["not-an-email", "a@b", "@x.com", "a b@c.com", "a@b@c.com"] {
        assert_eq!(constraint(s.create_user(t1, user(bad, Role::Member)).await), "chk_users_email", "{bad}");
    }
    let first = s.create_user(t1, user("dup@x.com", Role::Member)).await.unwrap();
    assert_eq!(constraint(s.create_user(t1, user("dup@x.com", Role::Member)).await), "uq_users_tenant_email");
    assert_eq!(constraint(s.create_user(t1, user("DUP@x.com", Role::Member)).await), "uq_users_tenant_email");
    s.create_user(t2, user("dup@x.com", Role::Member)).await.expect("same email, other tenant");

    s.soft_delete_user(t1, first.id).await.unwrap();
    let second = s.create_user(t1, user("dup@x.com", Role::Member)).await.expect("email reusable after soft delete");
    assert_ne!(second.id, first.id);
    assert_eq!(constraint(s.restore_user(t1, first.id).await), "uq_users_tenant_email");
}

async fn at_most_one_owner_per_tenant(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    assert_eq!(constraint(s.create_user(tid, user("o2@x.com", Role::Owner)).await), "uq_users_tenant_owner");
    let admin = s.create_user(tid, user("admin@x.com", Role::Admin)).await.unwrap();
    let promote = UserPatch { role: Some(Role::Owner), ..Default::default() };
    assert_eq!(constraint(s.update_user(tid, admin.id, promote).await), "uq_users_tenant_owner");
    let other = tenant(s, "other").await;
    assert_eq!(other.owner.role, Role::Owner, "another tenant has its own owner");
}

async fn audio_duration_must_be_positive(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    for bad in [0, -5] {
        let m = NewMeeting { audio_duration: Some(bad), ..meeting(t.owner.id, "x") };
        assert_eq!(constraint(s.create_meeting(t.tenant.id, m).await), "chk_meetings_audio_duration");
    }
    let ok = NewMeeting { audio_duration: Some(90), ..meeting(t.owner.id, "x") };
    assert_eq!(s.create_meeting(t.tenant.id, ok).await.unwrap().audio_duration, Some(90));
    assert_eq!(s.create_meeting(t.tenant.id, meeting(t.owner.id, "y")).await.unwrap().audio_duration, None);
}

async fn task_rules_ai_meeting_assignee_and_status_machine(db: TestDb) {
    let s = &*db.store;
    let a = tenant(s, "a").await;
    let b = tenant(s, "b").await;
    let (ta, tb) = (a.tenant.id, b.tenant.id);
    let m = s.create_meeting(ta, meeting(a.owner.id, "standup")).await.unwrap();
    let foreign_meeting = s.create_meeting(tb, meeting(b.owner.id, "theirs")).await.unwrap();

    let ai_without_meeting = NewTask { is_ai_generated: true, ..task("x") };
    assert_eq!(rule(s.create_task(ta, ai_without_meeting).await), "ai_task_requires_meeting");
    let ai = s.create_task(ta, NewTask { is_ai_generated: true, meeting_id: Some(m.id), ..task("x") }).await.unwrap();
    assert!(ai.is_ai_generated && ai.meeting_id == Some(m.id));
    let manual = s.create_task(ta, task("manual")).await.expect("manual tasks need no meeting");
    assert_eq!(manual.meeting_id, None);

    let foreign = NewTask { assignee_id: Some(b.owner.id), ..task("x") };
    assert_eq!(rule(s.create_task(ta, foreign).await), "assignee_not_in_tenant");
    let foreign_m = NewTask { meeting_id: Some(foreign_meeting.id), ..task("x") };
    assert_eq!(rule(s.create_task(ta, foreign_m).await), "meeting_not_found");
    let patch = TaskPatch { assignee_id: Some(Some(b.owner.id)), ..Default::default() };
    assert_eq!(rule(s.update_task(ta, manual.id, patch).await), "assignee_not_in_tenant");
    let unlink = TaskPatch { meeting_id: Some(None), ..Default::default() };
    assert_eq!(rule(s.update_task(ta, ai.id, unlink).await), "ai_task_requires_meeting");

    let leaver = s.create_user(ta, user("leaver@a.com", Role::Member)).await.unwrap();
    s.soft_delete_user(ta, leaver.id).await.unwrap();
    let to_leaver = NewTask { assignee_id: Some(leaver.id), ..task("x") };
    assert_eq!(rule(s.create_task(ta, to_leaver).await), "assignee_not_in_tenant");

    let set = |st| TaskPatch { status: Some(st), ..Default::default() };
    s.update_task(ta, manual.id, set(TaskStatus::InProgress)).await.unwrap();
    s.update_task(ta, manual.id, set(TaskStatus::Done)).await.unwrap();
    assert_eq!(rule(s.update_task(ta, manual.id, set(TaskStatus::InProgress)).await), "invalid_status_transition");
    assert_eq!(s.update_task(ta, manual.id, set(TaskStatus::Todo)).await.unwrap().status, TaskStatus::Todo);

    // A task may keep its meeting after the meeting is soft-deleted (D-112) and still be edited.
    s.soft_delete_meeting(ta, m.id).await.unwrap();
    let retitle = TaskPatch { title: Some("renamed".into()), ..Default::default() };
    assert_eq!(s.update_task(ta, ai.id, retitle).await.unwrap().meeting_id, Some(m.id));
}

async fn hard_deletes_follow_the_fk_policies(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let host = s.create_user(tid, user("host@a.com", Role::Member)).await.unwrap();
    let worker = s.create_user(tid, user("worker@a.com", Role::Member)).await.unwrap();
    let m = s.create_meeting(tid, meeting(host.id, "m")).await.unwrap();
    let session = s.create_realtime_session(tid, host.id, Some(m.id), "sock-1").await.unwrap();
    let linked = s
        .create_task(tid, NewTask { meeting_id: Some(m.id), assignee_id: Some(worker.id), ..task("t") })
        .await
        .unwrap();

    // D-074: a host of meetings cannot be removed.
    assert_eq!(constraint(s.hard_delete_user(tid, host.id).await), "fk_meetings_users_host");
    // D-092: deleting the assignee leaves the task unassigned.
    s.hard_delete_user(tid, worker.id).await.unwrap();
    assert_eq!(s.get_task(tid, linked.id).await.unwrap().assignee_id, None);
    // D-095/D-079: deleting the meeting orphans its tasks and detaches its session.
    s.hard_delete_meeting(tid, m.id).await.unwrap();
    assert_eq!(s.get_task(tid, linked.id).await.unwrap().meeting_id, None);
    assert_eq!(s.get_realtime_session(tid, session.id).await.unwrap().meeting_id, None);
    // D-080 (decision): sessions are temporary data and go with their host.
    s.hard_delete_user(tid, host.id).await.unwrap();
    not_found(s.get_realtime_session(tid, session.id).await);
}

async fn tenant_delete_cascades_to_everything_and_spares_others(db: TestDb) {
    let s = &*db.store;
    let doomed = tenant(s, "doomed").await;
    let kept = tenant(s, "kept").await;
    let mut ids = Vec::new();
    for t in [&doomed, &kept] {
        let tid = t.tenant.id;
        let member = s.create_user(tid, user("m@x.com", Role::Member)).await.unwrap();
        let m = s.create_meeting(tid, meeting(member.id, "m")).await.unwrap();
        let tk = s
            .create_task(tid, NewTask { meeting_id: Some(m.id), assignee_id: Some(member.id), ..task("t") })
            .await
            .unwrap();
        s.create_realtime_session(tid, member.id, Some(m.id), &format!("sock-{tid}")).await.unwrap();
        s.create_integration(
            tid,
            NewIntegration { service_type: ServiceType::Slack, access_token: None, is_active: true, channel: None },
        )
        .await
        .unwrap();
        s.create_notification(tid, member.id, "test", "hello").await.unwrap();
        let e = ErrorRecord {
            table: ErrorTable::Ai,
            subject_id: Some(m.id),
            trace_id: None,
            payload: json!({}),
            error: "x".into(),
        };
        s.record_error(tid, e).await.unwrap();
        s.quarantine(Some(tid), "meetings", Some(m.id), json!({"bad": true}), "corrupt").await.unwrap();
        ids.push((tid, member.id, m.id, tk.id));
    }
    // The diamond (tenant → users → meetings.host RESTRICT, tenant → meetings) must not block it (D-184).
    s.delete_tenant(doomed.tenant.id).await.unwrap();
    let (tid, member, m, tk) = ids[0];
    not_found(s.get_tenant(tid).await);
    assert!(s.list_users(tid, false).await.unwrap().is_empty());
    assert!(s.list_users(tid, true).await.unwrap().is_empty());
    not_found(s.get_user(tid, member).await);
    not_found(s.get_meeting(tid, m).await);
    not_found(s.get_task(tid, tk).await);
    assert!(s.list_realtime_sessions(tid, None).await.unwrap().is_empty());
    assert!(s.list_integrations(tid).await.unwrap().is_empty());
    assert!(s.list_api_keys(tid, None).await.unwrap().is_empty());
    assert_eq!(s.count_errors(tid, ErrorTable::Ai).await.unwrap(), 0);
    assert_eq!(s.tenant_totals(tid).await.unwrap(), TenantTotals::default());
    not_found(s.api_key_by_prefix("whatever").await);

    let (tid, member, m, tk) = ids[1];
    s.get_tenant(tid).await.unwrap();
    s.get_user(tid, member).await.unwrap();
    s.get_meeting(tid, m).await.unwrap();
    s.get_task(tid, tk).await.unwrap();
    assert_eq!(s.count_errors(tid, ErrorTable::Ai).await.unwrap(), 1);
    assert_eq!(s.tenant_totals(tid).await.unwrap().active_sessions, 1);
}

async fn one_active_session_per_socket_and_one_session_per_meeting(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let (tid, host) = (t.tenant.id, t.owner.id);
    let m1 = s.create_meeting(tid, meeting(host, "1")).await.unwrap();
    let m2 = s.create_meeting(tid, meeting(host, "2")).await.unwrap();
    let first = s.create_realtime_session(tid, host, Some(m1.id), "sock").await.unwrap();
    assert_eq!((first.status, first.ended_at), (SessionStatus::Active, None));
    assert_eq!(
        constraint(s.create_realtime_session(tid, host, Some(m2.id), "sock").await),
        "uq_realtime_sessions_active_socket"
    );
    assert_eq!(
        constraint(s.create_realtime_session(tid, host, Some(m1.id), "other").await),
        "uq_realtime_sessions_meeting"
    );
    let ended = s.end_realtime_session(tid, first.id).await.unwrap();
    assert_eq!(ended.status, SessionStatus::Ended);
    let ended_at = ended.ended_at.expect("ended_at set");
    assert_eq!(s.end_realtime_session(tid, first.id).await.unwrap().ended_at, Some(ended_at), "ending is idempotent");
    s.create_realtime_session(tid, host, Some(m2.id), "sock").await.expect("socket free again once ENDED");
    let active = s.list_realtime_sessions(tid, Some(SessionStatus::Active)).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(s.list_realtime_sessions(tid, None).await.unwrap().len(), 2);
}

async fn a_live_meeting_keeps_the_language_it_was_transcribed_in(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let (tid, host) = (t.tenant.id, t.owner.id);
    let live = |language: Option<&str>| NewLiveSession {
        host_id: host,
        title: "주간 회의".into(),
        socket_id: Uuid::new_v4().to_string(),
        server_instance: "test".into(),
        language: language.map(str::to_owned),
        model: None,
    };
    // A fixed language is stored from the start; finalizing without one keeps it (crash recovery).
    let (session, fixed) = s.start_live_session(tid, live(Some("ko"))).await.unwrap();
    assert_eq!(fixed.language.as_deref(), Some("ko"));
    let finalized = s.finalize_live_session(tid, session.id, None, None, &Default::default()).await.unwrap();
    assert_eq!(finalized.language.as_deref(), Some("ko"));
    // A detected one arrives with the finalization, and is in the meeting's JSON.
    let (session, detected) = s.start_live_session(tid, live(None)).await.unwrap();
    assert_eq!(detected.language, None);
    assert_eq!(
        constraint(s.finalize_live_session(tid, session.id, None, Some("ko-KR"), &Default::default()).await),
        "chk_meetings_language"
    );
    s.finalize_live_session(tid, session.id, None, Some("en"), &Default::default()).await.unwrap();
    let stored = s.get_meeting(tid, detected.id).await.unwrap();
    assert_eq!(serde_json::to_value(&stored).unwrap()["language"], json!("en"));
    // The intelligence job reads it: the minutes' language is the stored one.
    assert_eq!(ddalkkak::jobs::meeting_input(&stored, Vec::new()).minutes_language(), Some("en"));
    assert_eq!(ddalkkak::jobs::meeting_input(&finalized, Vec::new()).minutes_language(), Some("ko"));
    let listed = s.list_meetings(tid, &MeetingFilter::default(), None, 10).await.unwrap().items;
    assert!(listed.iter().any(|m| m.id == detected.id && m.language.as_deref() == Some("en")));
    // A language locked mid-session is stored at once: crash recovery (finalizing with none)
    // keeps it.
    let (recovered, locked) = s.start_live_session(tid, live(None)).await.unwrap();
    s.set_meeting_language(tid, locked.id, "ko").await.unwrap();
    assert_eq!(
        s.finalize_live_session(tid, recovered.id, None, None, &Default::default()).await.unwrap().language.as_deref(),
        Some("ko")
    );
    let other = tenant(s, "other").await;
    not_found(s.set_meeting_language(other.tenant.id, locked.id, "en").await);
    assert_eq!(constraint(s.set_meeting_language(tid, locked.id, "Korean").await), "chk_meetings_language");
    // Finalizing again changes nothing.
    let again = s.finalize_live_session(tid, session.id, None, Some("ja"), &Default::default()).await.unwrap();
    assert_eq!(again.language.as_deref(), Some("en"));
    // Meetings registered without a live session have none.
    assert_eq!(s.create_meeting(tid, meeting(host, "registered")).await.unwrap().language, None);
}

async fn one_integration_per_service_per_tenant(db: TestDb) {
    let s = &*db.store;
    let a = tenant(s, "a").await.tenant.id;
    let b = tenant(s, "b").await.tenant.id;
    let slack = |token: &str| NewIntegration {
        service_type: ServiceType::Slack,
        access_token: Some(token.into()),
        is_active: true,
        channel: None,
    };
    let i = s.create_integration(a, slack("v1:abc")).await.unwrap();
    assert_eq!(constraint(s.create_integration(a, slack("v1:def")).await), "uq_integrations_tenant_service");
    s.create_integration(b, slack("v1:ghi")).await.expect("other tenant may connect Slack too");
    let notion =
        NewIntegration { service_type: ServiceType::Notion, access_token: None, is_active: true, channel: None };
    s.create_integration(a, notion).await.expect("other service");

    let off = IntegrationPatch { is_active: Some(false), ..Default::default() };
    let updated = s.update_integration(a, i.id, off).await.unwrap();
    assert!(!updated.is_active);
    assert_eq!(updated.access_token.as_deref(), Some("v1:abc"), "token kept when not patched");
    let cleared = s
        .update_integration(a, i.id, IntegrationPatch { access_token: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(cleared.access_token, None);
    s.delete_integration(a, i.id).await.unwrap();
    s.create_integration(a, slack("v1:new")).await.expect("reconnect after delete");
}

async fn soft_deleted_rows_vanish_from_lists_and_come_back(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let u = s.create_user(tid, user("u@a.com", Role::Member)).await.unwrap();
    let m = s.create_meeting(tid, meeting(u.id, "m")).await.unwrap();
    let tk = s.create_task(tid, NewTask { assignee_id: Some(u.id), ..task("open") }).await.unwrap();
    let done = s
        .create_task(tid, NewTask { assignee_id: Some(u.id), status: TaskStatus::Done, ..task("done") })
        .await
        .unwrap();
    let live = MeetingFilter::default();
    let gone = MeetingFilter { deleted: true, ..Default::default() };

    s.soft_delete_user(tid, u.id).await.unwrap();
    not_found(s.get_user(tid, u.id).await);
    assert!(!s.list_users(tid, false).await.unwrap().iter().any(|x| x.id == u.id));
    assert!(s.list_users(tid, true).await.unwrap().iter().any(|x| x.id == u.id && x.deleted_at.is_some()));
    // Open work returns to the pool; finished work keeps its history (D-092 with D-118).
    assert_eq!(s.get_task(tid, tk.id).await.unwrap().assignee_id, None);
    assert_eq!(s.get_task(tid, done.id).await.unwrap().assignee_id, Some(u.id));
    assert_eq!(s.restore_user(tid, u.id).await.unwrap().deleted_at, None);
    s.get_user(tid, u.id).await.unwrap();
    not_found(s.restore_user(tid, u.id).await);

    s.soft_delete_meeting(tid, m.id).await.unwrap();
    not_found(s.get_meeting(tid, m.id).await);
    not_found(s.soft_delete_meeting(tid, m.id).await);
    assert!(s.list_meetings(tid, &live, None, 10).await.unwrap().items.is_empty());
    assert_eq!(s.list_meetings(tid, &gone, None, 10).await.unwrap().items.len(), 1);
    s.restore_meeting(tid, m.id).await.unwrap();
    assert_eq!(s.list_meetings(tid, &live, None, 10).await.unwrap().items.len(), 1);

    s.soft_delete_task(tid, tk.id).await.unwrap();
    not_found(s.get_task(tid, tk.id).await);
    let tasks = s.list_tasks(tid, &TaskFilter::default(), None, 10).await.unwrap().items;
    assert!(!tasks.iter().any(|x| x.id == tk.id));
    let deleted = TaskFilter { deleted: true, ..Default::default() };
    assert_eq!(s.list_tasks(tid, &deleted, None, 10).await.unwrap().items.len(), 1);
    s.restore_task(tid, tk.id).await.unwrap();
    s.get_task(tid, tk.id).await.unwrap();
}

async fn meetings_page_by_cursor_with_filters(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let other_host = s.create_user(tid, user("h@a.com", Role::Member)).await.unwrap();
    let mut created = Vec::new();
    for i in 0..23 {
        let host = if i % 2 == 0 { t.owner.id } else { other_host.id };
        let title = if i == 7 { "50% done_review".to_owned() } else { format!("Meeting {i}") };
        created.push(s.create_meeting(tid, meeting(host, &title)).await.unwrap().id);
    }
    let all = MeetingFilter::default();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_meetings(tid, &all, cursor, 10).await.unwrap();
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|m| m.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "every meeting exactly once, newest first");

    let by_host = MeetingFilter { host_id: Some(other_host.id), ..Default::default() };
    assert_eq!(s.list_meetings(tid, &by_host, None, 100).await.unwrap().items.len(), 11);
    // `%` and `_` in the search text match literally.
    let search = MeetingFilter { text_contains: Some("50% DONE_".into()), ..Default::default() };
    let found = s.list_meetings(tid, &search, None, 100).await.unwrap().items;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].title, "50% done_review");
    let literal = MeetingFilter { text_contains: Some("g_1".into()), ..Default::default() };
    assert!(s.list_meetings(tid, &literal, None, 100).await.unwrap().items.is_empty());
    let status = MeetingFilter { stt_status: Some(SttStatus::Completed), ..Default::default() };
    assert!(s.list_meetings(tid, &status, None, 100).await.unwrap().items.is_empty());
    let future = MeetingFilter { created_from: Some(now() + Duration::hours(1)), ..Default::default() };
    assert!(s.list_meetings(tid, &future, None, 100).await.unwrap().items.is_empty());
    let past = MeetingFilter { created_to: Some(now() + Duration::hours(1)), ..Default::default() };
    assert_eq!(s.list_meetings(tid, &past, None, 100).await.unwrap().items.len(), 23);
}

async fn meetings_are_found_by_their_transcript_in_hangul(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let (tid, host) = (t.tenant.id, t.owner.id);
    let lines = [(0, "오늘 회의록을 공유하겠습니다."), (1, "Rollout is 50% done_ now.")];
    let finalized = crate::common::finalized_live_meeting(s, tid, host, "Weekly sync", &lines).await;
    s.create_meeting(tid, meeting(host, "예산 회의록 검토")).await.unwrap();
    // A meeting still live: the finals stored so far are searched.
    let live = NewLiveSession {
        host_id: host,
        title: "Standup".into(),
        socket_id: Uuid::new_v4().to_string(),
        server_instance: "test".into(),
        language: Some("ko".into()),
        model: None,
    };
    let (session, ongoing) = s.start_live_session(tid, live).await.unwrap();
    let words = Vec::new();
    let f = NewFinal {
        session_id: session.id,
        meeting_id: ongoing.id,
        seq: 0,
        start_ms: 0,
        end_ms: 900,
        speaker: None,
        text: "예산안 먼저 볼까요?".into(),
        words,
    };
    s.append_final(tid, f).await.unwrap();
    // Another tenant's identical meeting is never found.
    let other = tenant(s, "other").await;
    crate::common::finalized_live_meeting(s, other.tenant.id, other.owner.id, "Weekly sync", &lines).await;

    let titles = |q: &str| {
        let filter = MeetingFilter { text_contains: Some(q.into()), ..Default::default() };
        async move {
            let mut found: Vec<String> =
                s.list_meetings(tid, &filter, None, 100).await.unwrap().items.into_iter().map(|m| m.title).collect();
            found.sort();
            found
        }
    };
    // Inside a longer word ("회의록을"), in the title or the transcript.
    assert_eq!(titles("회의록").await, ["Weekly sync", "예산 회의록 검토"]);
    assert_eq!(titles("록을 공유").await, ["Weekly sync"], "across a space");
    assert_eq!(titles("회의록들").await, Vec::<String>::new());
    // Two syllables (a common Korean word length) and a live meeting's stored finals.
    assert_eq!(titles("예산").await, ["Standup", "예산 회의록 검토"]);
    assert_eq!(titles("예산안").await, ["Standup"]);
    // Case-insensitive for Latin text, and `%`/`_` literal.
    assert_eq!(titles("ROLLOUT").await, ["Weekly sync"]);
    assert_eq!(titles("50% DONE_").await, ["Weekly sync"]);
    assert_eq!(titles("50_ done").await, Vec::<String>::new());
    assert_eq!(titles("s_ync").await, Vec::<String>::new());
    // Once finalized, the meeting's text is what is searched.
    s.finalize_live_session(tid, session.id, Some(1.0), None, &Default::default()).await.unwrap();
    assert_eq!(titles("예산안").await, ["Standup"]);
    s.soft_delete_meeting(tid, finalized).await.unwrap();
    assert_eq!(titles("회의록").await, ["예산 회의록 검토"], "soft-deleted meetings are left out");
}

async fn cross_tenant_ids_are_not_found(db: TestDb) {
    let s = &*db.store;
    let a = tenant(s, "a").await;
    let b = tenant(s, "b").await;
    let (ta, tb) = (a.tenant.id, b.tenant.id);
    let u = s.create_user(ta, user("u@a.com", Role::Member)).await.unwrap();
    let m = s.create_meeting(ta, meeting(u.id, "m")).await.unwrap();
    let tk = s.create_task(ta, task("t")).await.unwrap();
    let rs = s.create_realtime_session(ta, u.id, None, "sock").await.unwrap();
    let i = s
        .create_integration(
            ta,
            NewIntegration { service_type: ServiceType::Teams, access_token: None, is_active: true, channel: None },
        )
        .await
        .unwrap();
    let n = s.create_notification(ta, u.id, "t", "m").await.unwrap();
    let keys = s.list_api_keys(ta, None).await.unwrap();

    not_found(s.get_user(tb, u.id).await);
    not_found(s.update_user(tb, u.id, UserPatch { name: Some("x".into()), ..Default::default() }).await);
    not_found(s.soft_delete_user(tb, u.id).await);
    not_found(s.get_meeting(tb, m.id).await);
    not_found(s.update_meeting(tb, m.id, MeetingPatch { title: Some("x".into()) }).await);
    not_found(s.soft_delete_meeting(tb, m.id).await);
    not_found(s.hard_delete_meeting(tb, m.id).await);
    not_found(s.get_task(tb, tk.id).await);
    not_found(s.update_task(tb, tk.id, TaskPatch::default()).await);
    not_found(s.soft_delete_task(tb, tk.id).await);
    not_found(s.get_realtime_session(tb, rs.id).await);
    not_found(s.end_realtime_session(tb, rs.id).await);
    not_found(s.get_integration(tb, i.id).await);
    not_found(s.update_integration(tb, i.id, IntegrationPatch::default()).await);
    not_found(s.delete_integration(tb, i.id).await);
    not_found(s.revoke_api_key(tb, keys[0].id).await);
    not_found(s.mark_notification_read(tb, u.id, n.id).await);
    assert!(matches!(s.create_realtime_session(tb, u.id, None, "x").await, Err(StoreError::NotFound)));
    assert!(!s.list_users(tb, false).await.unwrap().iter().any(|x| x.id == u.id));
    assert!(s.list_realtime_sessions(tb, None).await.unwrap().is_empty());
    // …and nothing was changed by the attempts.
    assert_eq!(s.get_meeting(ta, m.id).await.unwrap().title, "m");
    assert!(s.get_integration(ta, i.id).await.is_ok());
}

async fn updated_at_is_maintained(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let u = s.create_user(tid, user("u@a.com", Role::Member)).await.unwrap();
    let m = s.create_meeting(tid, meeting(u.id, "m")).await.unwrap();
    let tk = s.create_task(tid, task("t")).await.unwrap();
    assert_eq!(u.created_at, u.updated_at);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let u2 = s.update_user(tid, u.id, UserPatch { name: Some("New".into()), ..Default::default() }).await.unwrap();
    assert!(u2.updated_at > u.updated_at, "{:?} > {:?}", u2.updated_at, u.updated_at);
    assert_eq!(u2.created_at, u.created_at);
    let m2 = s.update_meeting(tid, m.id, MeetingPatch { title: Some("n".into()) }).await.unwrap();
    assert!(m2.updated_at > m.updated_at);
    let tk2 = s.update_task(tid, tk.id, TaskPatch { title: Some("n".into()), ..Default::default() }).await.unwrap();
    assert!(tk2.updated_at > tk.updated_at);
}

async fn usage_is_counted_per_day(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    for i in 0..3 {
        s.create_meeting(tid, meeting(t.owner.id, &format!("m{i}"))).await.unwrap();
    }
    let today = now().date_naive();
    s.add_usage(tid, today, 0, 12, 2).await.unwrap();
    s.add_usage(tid, today, 0, 3, 1).await.unwrap();
    let yesterday = today - Duration::days(1);
    s.add_usage(tid, yesterday, 1, 0, 0).await.unwrap();
    let days = s.usage(tid, yesterday, today).await.unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!((days[0].date, days[0].meetings_count), (yesterday, 1));
    assert_eq!((days[1].meetings_count, days[1].audio_minutes, days[1].ai_requests), (3, 15, 3));
    assert!(s.usage(tid, today + Duration::days(1), today + Duration::days(2)).await.unwrap().is_empty());
    let totals = s.tenant_totals(tid).await.unwrap();
    assert_eq!((totals.users, totals.meetings, totals.tasks), (1, 3, 0));
}

async fn retention_purges_only_expired_rows(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    for table in [ErrorTable::Meetings, ErrorTable::Ai, ErrorTable::Integration] {
        let e = ErrorRecord {
            table,
            subject_id: None,
            trace_id: Some(Uuid::new_v4()),
            payload: json!({"raw": "x"}),
            error: "boom".into(),
        };
        s.record_error(tid, e).await.unwrap();
    }
    s.quarantine(None, "meetings", None, json!({"raw": 1}), "unparseable").await.unwrap();
    let active = s.create_realtime_session(tid, t.owner.id, None, "live").await.unwrap();
    let ended = s.create_realtime_session(tid, t.owner.id, None, "old").await.unwrap();
    s.end_realtime_session(tid, ended.id).await.unwrap();

    let job = ddalkkak::jobs::RetentionJob {
        store: db.store.clone(),
        recordings: None,
        retention: ddalkkak::jobs::Retention::default(),
        interval: std::time::Duration::from_secs(3600),
    };
    assert_eq!(job.run_once().await.unwrap(), PurgeReport::default(), "nothing is old yet");
    let later = now() + Duration::days(31);
    let report = s.purge_expired(ddalkkak::jobs::Retention::default().cutoffs(later)).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            meetings_error: 1,
            ai_error_log: 1,
            integration_error_log: 1,
            quarantine: 0,
            ended_sessions: 1,
            recordings: RecordingPurge::default(),
        }
    );
    let much_later = ddalkkak::jobs::Retention::default().cutoffs(now() + Duration::days(91));
    assert_eq!(s.purge_expired(much_later).await.unwrap().quarantine, 1);
    for table in [ErrorTable::Meetings, ErrorTable::Ai, ErrorTable::Integration] {
        assert_eq!(s.count_errors(tid, table).await.unwrap(), 0);
    }
    s.get_realtime_session(tid, active.id).await.expect("ACTIVE sessions are never purged");
    not_found(s.get_realtime_session(tid, ended.id).await);

    // Retention differs per table: at 5 days only the 3-day integration log is due.
    let e = |table| ErrorRecord { table, subject_id: None, trace_id: None, payload: json!({}), error: "e".into() };
    s.record_error(tid, e(ErrorTable::Integration)).await.unwrap();
    s.record_error(tid, e(ErrorTable::Ai)).await.unwrap();
    let five_days =
        s.purge_expired(ddalkkak::jobs::Retention::default().cutoffs(now() + Duration::days(5))).await.unwrap();
    assert_eq!((five_days.integration_error_log, five_days.ai_error_log), (1, 0));
}

/// A live session of `title` that kept its audio (`record=true`) as `<title>.ogg`, finalized
/// (its meeting COMPLETED with a transcript) unless `ended` is false: (meeting, session, key).
async fn recorded_session(s: &dyn Store, tenant: Uuid, host: Uuid, title: &str, ended: bool) -> (Uuid, Uuid, String) {
    let live = NewLiveSession {
        host_id: host,
        title: title.into(),
        socket_id: format!("socket-{title}"),
        server_instance: "test".into(),
        language: None,
        model: None,
    };
    let (session, meeting) = s.start_live_session(tenant, live).await.unwrap();
    let key = format!("{tenant}/{title}.ogg");
    s.start_live_recording(tenant, meeting.id, session.id, &key, "ogg", 47).await.unwrap();
    if ended {
        let final_ = NewFinal {
            session_id: session.id,
            meeting_id: meeting.id,
            seq: 0,
            start_ms: 0,
            end_ms: 1_000,
            text: format!("{title} said something"),
            words: Vec::new(),
            speaker: None,
        };
        s.append_final(tenant, final_).await.unwrap();
        s.finish_live_recording(tenant, meeting.id, 3_000, 1_000).await.unwrap();
        s.finalize_live_session(tenant, session.id, Some(1.0), None, &Default::default()).await.unwrap();
    }
    (meeting.id, session.id, key)
}

fn retention_days(days: Option<i32>) -> TenantPatch {
    TenantPatch { recording_retention_days: Some(days), ..TenantPatch::default() }
}

/// A tenant's `recording_retention_days`: older recordings go (row here, the key returned for
/// the file), newer ones stay, `null` keeps them all, and neither a live recording still being
/// written nor an upload being transcribed ever goes; the meeting and its transcript stay.
async fn recordings_go_when_older_than_their_tenants_retention(db: TestDb) {
    let s = &*db.store;
    let (t, other) = (tenant(s, "acme").await, tenant(s, "keep").await);
    let (tid, host) = (t.tenant.id, t.owner.id);
    let retention = ddalkkak::jobs::Retention::default();
    let purge_in = |days: i64| s.purge_expired(retention.cutoffs(now() + Duration::days(days)));

    let (done, _, done_key) = recorded_session(s, tid, host, "done", true).await;
    let (writing, writing_session, writing_key) = recorded_session(s, tid, host, "writing", false).await;
    let uploaded = s.create_meeting(tid, meeting(host, "upload")).await.unwrap();
    let upload = NewRecording {
        storage_key: format!("{tid}/upload.wav"),
        source_url: None,
        format: "wav".into(),
        bytes: 44,
        language: None,
        model: None,
        diarize: false,
        keyterms: Vec::new(),
        callback: None,
        duration_ms: None,
    };
    s.attach_recording(tid, uploaded.id, upload).await.unwrap();
    let (kept, _, _) = recorded_session(s, other.tenant.id, other.owner.id, "kept", true).await;

    assert_eq!(s.get_tenant(tid).await.unwrap().recording_retention_days, None);
    assert_eq!(purge_in(4_000).await.unwrap().recordings, RecordingPurge::default(), "null keeps them all");

    assert_eq!(s.update_tenant(tid, retention_days(Some(30))).await.unwrap().recording_retention_days, Some(30));
    assert_eq!(purge_in(29).await.unwrap().recordings, RecordingPurge::default(), "newer than 30 days");
    let purged = purge_in(31).await.unwrap().recordings;
    assert_eq!(purged, RecordingPurge { expired: 1, of_deleted_meetings: 0, keys: vec![done_key] });
    assert!(s.get_recording(tid, done).await.unwrap().is_none());
    let meeting = s.get_meeting(tid, done).await.unwrap();
    assert_eq!(meeting.stt_status, SttStatus::Completed);
    assert_eq!(meeting.transcript_text.as_deref(), Some("done said something"));
    assert!(s.get_recording(tid, writing).await.unwrap().is_some(), "its session is ACTIVE");
    let (_, job) = s.get_recording(tid, uploaded.id).await.unwrap().expect("being transcribed");
    assert_eq!(job.unwrap().status, ddalkkak::domain::JobStatus::Queued);
    assert!(s.get_recording(other.tenant.id, kept).await.unwrap().is_some(), "the other tenant keeps them");

    // Once its session has ended, the live recording goes as well.
    s.finalize_live_session(tid, writing_session, Some(1.0), None, &Default::default()).await.unwrap();
    assert_eq!(purge_in(31).await.unwrap().recordings.keys, vec![writing_key]);

    // Deleting the upload cancels its transcription, with the same removal the purge uses.
    assert_eq!(s.delete_recording(tid, uploaded.id).await.unwrap(), format!("{tid}/upload.wav"));
    assert!(s.get_recording(tid, uploaded.id).await.unwrap().is_none());
    assert_eq!(s.get_meeting(tid, uploaded.id).await.unwrap().stt_status, SttStatus::Pending);

    assert_eq!(s.update_tenant(tid, retention_days(None)).await.unwrap().recording_retention_days, None);
    for days in [0, 3_651] {
        assert_eq!(
            constraint(s.update_tenant(tid, retention_days(Some(days))).await),
            "chk_tenants_recording_retention_days"
        );
    }
}

/// A soft-deleted meeting keeps its recording for the trash window (a restore brings it back),
/// then loses it; a meeting deleted for good gives its recording's key back.
async fn a_deleted_meetings_recording_goes_after_the_trash_window(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let (tid, host) = (t.tenant.id, t.owner.id);
    let retention = ddalkkak::jobs::Retention::default();
    assert_eq!(retention.deleted_meeting_recordings, Duration::days(7));
    let purge_in = |days: i64| s.purge_expired(retention.cutoffs(now() + Duration::days(days)));

    let (gone, _, gone_key) = recorded_session(s, tid, host, "gone", true).await;
    let (restored, _, restored_key) = recorded_session(s, tid, host, "restored", true).await;
    s.soft_delete_meeting(tid, gone).await.unwrap();
    s.soft_delete_meeting(tid, restored).await.unwrap();
    assert_eq!(purge_in(6).await.unwrap().recordings, RecordingPurge::default(), "inside the window");
    s.restore_meeting(tid, restored).await.unwrap();
    let purged = purge_in(8).await.unwrap().recordings;
    assert_eq!(purged, RecordingPurge { expired: 0, of_deleted_meetings: 1, keys: vec![gone_key] });

    let back = s.restore_meeting(tid, gone).await.unwrap();
    assert_eq!(back.transcript_text.as_deref(), Some("gone said something"), "the transcript stays");
    assert!(s.get_recording(tid, gone).await.unwrap().is_none());
    assert!(s.get_recording(tid, restored).await.unwrap().is_some(), "a restored meeting keeps it");

    assert_eq!(s.hard_delete_meeting(tid, restored).await.unwrap(), Some(restored_key));
    assert_eq!(s.hard_delete_meeting(tid, gone).await.unwrap(), None);
}

async fn api_keys_resolve_by_prefix_and_die_with_their_user(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let member = s.create_user(tid, user("m@a.com", Role::Member)).await.unwrap();
    let secret = ddalkkak::auth::ApiKeySecret::generate();
    let new = NewApiKey {
        user_id: Some(member.id),
        name: "ci".into(),
        prefix: secret.prefix.clone(),
        key_hash: secret.hash(),
    };
    let k = s.create_api_key(tid, new).await.unwrap();
    let (found, owner) = s.api_key_by_prefix(&secret.prefix).await.unwrap();
    assert_eq!((found.id, owner.id), (k.id, member.id));
    assert_eq!(found.key_hash, secret.hash());
    let dup = NewApiKey {
        user_id: Some(member.id),
        name: "dup".into(),
        prefix: secret.prefix.clone(),
        key_hash: secret.hash(),
    };
    assert_eq!(constraint(s.create_api_key(tid, dup).await), "uq_api_keys_prefix");
    assert_eq!(s.list_api_keys(tid, Some(member.id)).await.unwrap().len(), 1);
    assert_eq!(s.list_api_keys(tid, None).await.unwrap().len(), 2);

    s.soft_delete_user(tid, member.id).await.unwrap();
    not_found(s.api_key_by_prefix(&secret.prefix).await);
    s.restore_user(tid, member.id).await.unwrap();
    let (again, _) = s.api_key_by_prefix(&secret.prefix).await.unwrap();
    assert!(again.revoked_at.is_some(), "deleting a user revoked their keys for good");
    let revoked = s.revoke_api_key(tid, k.id).await.unwrap();
    assert_eq!(revoked.revoked_at, again.revoked_at, "first revocation time is kept");
}

async fn voiceprints_are_kept_per_user_and_go_with_them(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let tid = t.tenant.id;
    let member = s.create_user(tid, user("m@a.com", Role::Member)).await.unwrap();
    assert_eq!(s.get_voiceprint(tid, member.id).await.unwrap(), None);
    let first = s.put_voiceprint(tid, member.id, "v1:first", "m1", 6_000).await.unwrap();
    assert_eq!((first.user_id, first.speech_ms), (member.id, 6_000));
    // Enrolling again replaces the voice.
    let second = s.put_voiceprint(tid, member.id, "v1:second", "m1", 9_500).await.unwrap();
    assert_eq!(s.get_voiceprint(tid, member.id).await.unwrap(), Some(second.clone()));
    s.put_voiceprint(tid, t.owner.id, "v1:owner", "m2", 7_000).await.unwrap();
    let sealed = s.list_sealed_voiceprints(tid, "m1").await.unwrap();
    assert_eq!(sealed.len(), 1, "only voices of the same model");
    assert_eq!(
        (sealed[0].user_id, sealed[0].name.as_str(), sealed[0].embedding.as_str()),
        (member.id, "Someone", "v1:second")
    );
    assert_eq!(constraint(s.put_voiceprint(tid, member.id, "v1:x", "m1", 0).await), "chk_voiceprints_speech_ms");

    // Another tenant neither sees nor touches it, nor enrolls its users from outside.
    assert_eq!(s.get_voiceprint(other.tenant.id, member.id).await.unwrap(), None);
    assert!(s.list_sealed_voiceprints(other.tenant.id, "m1").await.unwrap().is_empty());
    not_found(s.delete_voiceprint(other.tenant.id, member.id).await);
    not_found(s.put_voiceprint(other.tenant.id, member.id, "v1:x", "m1", 6_000).await);

    // Deleting is for good; so is deleting the user, and a restore does not bring it back.
    s.delete_voiceprint(tid, t.owner.id).await.unwrap();
    not_found(s.delete_voiceprint(tid, t.owner.id).await);
    s.soft_delete_user(tid, member.id).await.unwrap();
    not_found(s.put_voiceprint(tid, member.id, "v1:x", "m1", 6_000).await);
    s.restore_user(tid, member.id).await.unwrap();
    assert_eq!(s.get_voiceprint(tid, member.id).await.unwrap(), None);
    assert!(s.list_sealed_voiceprints(tid, "m1").await.unwrap().is_empty());
}

async fn stored_speakers_are_named_and_split_voices_merged(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let tid = t.tenant.id;
    let ana = s.create_user(tid, user("ana@a.com", Role::Member)).await.unwrap();
    let live = NewLiveSession {
        host_id: t.owner.id,
        title: "m".into(),
        socket_id: "s".into(),
        server_instance: "test".into(),
        language: None,
        model: None,
    };
    let (session, meeting) = s.start_live_session(tid, live).await.unwrap();
    for (seq, speaker) in [(0, 4), (1, 2), (2, 7)] {
        let f = NewFinal {
            session_id: session.id,
            meeting_id: meeting.id,
            seq,
            start_ms: seq * 3000,
            end_ms: seq * 3000 + 2000,
            speaker: Some(speaker),
            text: format!("line {seq}"),
            words: Vec::new(),
        };
        s.append_final(tid, f).await.unwrap();
    }
    s.finalize_live_session(tid, session.id, None, None, &Default::default()).await.unwrap();
    let m = s.name_meeting_speaker(tid, meeting.id, 0, Some(ana.id)).await.unwrap();
    let labels = m.speaker_labels.unwrap().0;
    // Stored in order of appearance: the diarizer's 4, 2, 7 are 0, 1, 2.
    assert_eq!(labels.iter().map(|l| l.speaker).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(labels[0].identity.as_ref().map(|i| (i.user_id, i.confidence)), Some((ana.id, 1.0)));
    // Speaker 2 is Ana too: merged into 0.
    let m = s.name_meeting_speaker(tid, meeting.id, 2, Some(ana.id)).await.unwrap();
    assert_eq!(m.speaker_labels.unwrap().0.len(), 2);
    let speakers: Vec<Option<i32>> = m.transcript_segments.unwrap().0.iter().map(|s| s.speaker).collect();
    assert_eq!(speakers, [Some(0), Some(1), Some(0)]);
    assert_eq!(rule(s.name_meeting_speaker(tid, meeting.id, 9, None).await), "unknown_speaker");
    assert_eq!(rule(s.name_meeting_speaker(tid, meeting.id, 1, Some(Uuid::new_v4())).await), "user_not_in_tenant");
    assert_eq!(rule(s.name_meeting_speaker(tid, meeting.id, 1, Some(other.owner.id)).await), "user_not_in_tenant");
    not_found(s.name_meeting_speaker(other.tenant.id, meeting.id, 0, None).await);
    let m = s.name_meeting_speaker(tid, meeting.id, 0, None).await.unwrap();
    assert!(m.speaker_labels.unwrap().0.iter().all(|l| l.identity.is_none()));
}

async fn notifications_belong_to_their_user(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let tid = t.tenant.id;
    let other = s.create_user(tid, user("o@a.com", Role::Member)).await.unwrap();
    let n1 = s.create_notification(tid, t.owner.id, "action_items_ready", "3 new tasks").await.unwrap();
    s.create_notification(tid, t.owner.id, "action_items_ready", "1 new task").await.unwrap();
    assert!(!n1.is_read);
    assert_eq!(s.list_notifications(tid, t.owner.id, true).await.unwrap().len(), 2);
    not_found(s.mark_notification_read(tid, other.id, n1.id).await);
    assert!(s.mark_notification_read(tid, t.owner.id, n1.id).await.unwrap().is_read);
    assert_eq!(s.list_notifications(tid, t.owner.id, true).await.unwrap().len(), 1);
    assert_eq!(s.list_notifications(tid, t.owner.id, false).await.unwrap().len(), 2);
    assert!(s.list_notifications(tid, other.id, false).await.unwrap().is_empty());
}

async fn verify_counts_rows_and_finds_broken_references(db: TestDb) {
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    s.create_meeting(t.tenant.id, meeting(t.owner.id, "m")).await.unwrap();
    let clean = s.verify().await.unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    let count = |r: &VerifyReport, table: &str| r.row_counts.iter().find(|(n, _)| n == table).map(|(_, c)| *c);
    assert_eq!(
        (count(&clean, "tenants"), count(&clean, "users"), count(&clean, "meetings")),
        (Some(1), Some(1), Some(1))
    );

    // Break a reference behind the foreign keys' back, as a bad restore would.
    let ghost = Uuid::new_v4();
    if let Some(pg) = &db.pg {
        let mut tx = pg.pool().begin().await.unwrap();
        sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO tasks (id, tenant_id, title, assignee_id) VALUES ($1, $2, 'x', $3)")
            .bind(Uuid::new_v4())
            .bind(t.tenant.id)
            .bind(ghost)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    } else {
        use sqlx::ConnectOptions as _;
        let options: sqlx::sqlite::SqliteConnectOptions = db.sqlite_url.as_deref().unwrap().parse().unwrap();
        let mut conn = options.foreign_keys(false).connect().await.unwrap();
        sqlx::query("INSERT INTO tasks (id, tenant_id, title, assignee_id) VALUES ($1, $2, 'x', $3)")
            .bind(Uuid::new_v4())
            .bind(t.tenant.id)
            .bind(ghost)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let broken = s.verify().await.unwrap();
    assert!(broken.problems.iter().any(|p| p.contains("tasks.assignee_id")), "{:?}", broken.problems);
}

/// Runs the claimed `transcribe_recording` job of `meeting` as the job's handler does: begins,
/// stores `lines` as finals of the version's session, and completes (or, with `fail`, gives up
/// as for a recording that does not decode). Returns the version's (session's) id.
async fn transcribe_claimed(s: &dyn Store, meeting: Uuid, lines: &[&str], fail: bool) -> Uuid {
    use ddalkkak::domain::Job;
    let job = s.claim_job(Job::TRANSCRIBE_RECORDING, Duration::minutes(5)).await.unwrap().expect("a queued job");
    assert_eq!(job.meeting_id, Some(meeting));
    let (_, session) = s.begin_recording_transcription(&job).await.unwrap();
    for (seq, text) in lines.iter().enumerate() {
        let at = seq as i32 * 2_000;
        let final_ = NewFinal {
            session_id: session.id,
            meeting_id: meeting,
            seq: seq as i32,
            start_ms: at,
            end_ms: at + 1_500,
            speaker: None,
            text: (*text).into(),
            words: Vec::new(),
        };
        s.append_final(job.tenant_id, final_).await.unwrap();
    }
    if fail {
        s.fail_recording_transcription(&job).await.unwrap();
        s.settle_job(&job, JobSettlement::Fail { error: "does not decode".into() }).await.unwrap();
    } else {
        s.complete_recording_transcription(&job, lines.len() as f64 * 2.0, Some("en"), &Default::default())
            .await
            .unwrap();
    }
    session.id
}

/// The meeting-intelligence job run once more, each run proposing the same task.
async fn run_intelligence(s: &dyn Store, meeting: Uuid, summary: &str) -> usize {
    use ddalkkak::domain::Job;
    let job = s.claim_job(Job::MEETING_INTELLIGENCE, Duration::minutes(5)).await.unwrap().expect("queued");
    assert_eq!(job.meeting_id, Some(meeting));
    let result = MeetingIntelligence {
        summary: summary.into(),
        action_items: Vec::new(),
        decisions: Vec::new(),
        open_questions: Vec::new(),
        tasks: vec![NewTask { meeting_id: Some(meeting), is_ai_generated: true, ..task("Send the notes") }],
        speaker_labels: None,
    };
    s.complete_meeting_intelligence(&job, result).await.unwrap().created.len()
}

fn version_states(versions: &[ddalkkak::domain::TranscriptVersion]) -> Vec<(Uuid, &'static str, bool)> {
    use ddalkkak::domain::VersionStatus::*;
    versions
        .iter()
        .map(|v| {
            let status = match v.status {
                Queued => "queued",
                Running => "running",
                Completed => "completed",
                Failed => "failed",
            };
            (v.id, status, v.current)
        })
        .collect()
}

fn retranscription(model: &str, language: &str) -> Retranscription {
    Retranscription { model: model.into(), language: Some(language.into()), diarize: false }
}

/// Every transcription of a meeting is a version: an upload's, then re-transcriptions. The
/// meeting's transcript is the newest completed one, an older one stays readable as it was, a
/// failed one leaves the meeting as it was, the minutes are written again without making the
/// AI tasks twice; re-transcribing is refused without a recording, while one runs, and before a
/// first transcript.
async fn retranscriptions_are_versions_and_old_ones_stay_readable(db: TestDb) {
    use ddalkkak::domain::{Job, JobStatus, TranscriptSource};
    let s = &*db.store;
    let (t, other) = (tenant(s, "acme").await, tenant(s, "other").await);
    let (tid, host) = (t.tenant.id, t.owner.id);
    let m = s.create_meeting(tid, meeting(host, "Weekly")).await.unwrap().id;
    assert_eq!(rule(s.retranscribe_recording(tid, m, retranscription("base", "en")).await), "no_recording");
    let upload = NewRecording {
        storage_key: format!("{tid}/weekly.wav"),
        source_url: None,
        format: "wav".into(),
        bytes: 44,
        language: Some("en".into()),
        model: Some("tiny.en".into()),
        diarize: false,
        keyterms: Vec::new(),
        callback: None,
        duration_ms: None,
    };
    s.attach_recording(tid, m, upload).await.unwrap();
    assert!(s.list_transcript_versions(tid, m).await.unwrap().is_empty(), "queued, not begun");
    let refused = s.retranscribe_recording(tid, m, retranscription("base", "en")).await;
    assert_eq!(rule(refused), "transcription_in_progress");

    let first = transcribe_claimed(s, m, &["hello world", "see you friday"], false).await;
    let versions = s.list_transcript_versions(tid, m).await.unwrap();
    assert_eq!(version_states(&versions), vec![(first, "completed", true)]);
    assert_eq!(
        (versions[0].source, versions[0].model.as_deref(), versions[0].language.as_deref()),
        (TranscriptSource::Recording, Some("tiny.en"), Some("en"))
    );
    assert_eq!(run_intelligence(s, m, "first").await, 1);
    let before = s.get_meeting(tid, m).await.unwrap();
    let old = s.get_transcript_version(tid, m, first).await.unwrap();
    assert_eq!(old.text, before.transcript_text);
    assert_eq!(old.segments.len(), 2);

    // A re-transcription that fails leaves the meeting as it was.
    let failed = s.retranscribe_recording(tid, m, retranscription("base", "en")).await.unwrap();
    assert_eq!((failed.source, failed.model.as_deref()), (TranscriptSource::Retranscribe, Some("base")));
    let listed = s.list_transcript_versions(tid, m).await.unwrap();
    assert_eq!(version_states(&listed), vec![(first, "completed", true), (failed.id, "queued", false)]);
    assert_eq!(
        rule(s.retranscribe_recording(tid, m, retranscription("base", "en")).await),
        "transcription_in_progress"
    );
    assert_eq!(transcribe_claimed(s, m, &["half of it"], true).await, failed.id);
    let listed = s.list_transcript_versions(tid, m).await.unwrap();
    assert_eq!(version_states(&listed), vec![(first, "completed", true), (failed.id, "failed", false)]);
    let after_failure = s.get_meeting(tid, m).await.unwrap();
    assert_eq!(
        (after_failure.stt_status, &after_failure.transcript_text),
        (SttStatus::Completed, &before.transcript_text)
    );
    assert!(s.get_transcript_version(tid, m, failed.id).await.unwrap().segments.is_empty());

    // The next one replaces the failed one and completes: the meeting's transcript is its.
    let second = s.retranscribe_recording(tid, m, retranscription("base", "ko")).await.unwrap();
    assert_eq!(transcribe_claimed(s, m, &["안녕하세요", "금요일에 봬요", "네"], false).await, second.id);
    let listed = s.list_transcript_versions(tid, m).await.unwrap();
    assert_eq!(version_states(&listed), vec![(first, "completed", false), (second.id, "completed", true)]);
    let now_ = s.get_meeting(tid, m).await.unwrap();
    assert_eq!(now_.transcript_text.as_deref(), Some("안녕하세요\n금요일에 봬요\n네"));
    let kept = s.get_transcript_version(tid, m, first).await.unwrap();
    assert_eq!((&kept.text, kept.segments.len()), (&before.transcript_text, 2), "the old version as it was");
    assert_eq!(kept.segments, old.segments);
    let current = s.get_transcript_version(tid, m, second.id).await.unwrap();
    assert_eq!((current.text, current.segments.len()), (now_.transcript_text, 3));
    // The minutes are written again from the new text, the AI task not made twice.
    let jobs = s.list_jobs(tid, m).await.unwrap();
    let intelligence = jobs.iter().find(|j| j.kind == Job::MEETING_INTELLIGENCE).unwrap();
    assert_eq!(intelligence.status, JobStatus::Queued, "{jobs:?}");
    assert_eq!(run_intelligence(s, m, "second").await, 0);
    assert_eq!(s.get_meeting(tid, m).await.unwrap().ai_summary.as_deref(), Some("second"));
    let tasks =
        s.list_tasks(tid, &TaskFilter { meeting_id: Some(m), ..TaskFilter::default() }, None, 100).await.unwrap();
    assert_eq!(tasks.items.len(), 1);

    // Another tenant sees nothing; a version of another meeting is not found.
    not_found(s.list_transcript_versions(other.tenant.id, m).await);
    not_found(s.get_transcript_version(other.tenant.id, m, first).await);
    not_found(s.retranscribe_recording(other.tenant.id, m, retranscription("base", "en")).await);
    let elsewhere = s.create_meeting(tid, meeting(host, "Other")).await.unwrap().id;
    not_found(s.get_transcript_version(tid, elsewhere, first).await);
    // A recording whose first transcription failed has no transcript to redo.
    let broken = s.create_meeting(tid, meeting(host, "Broken")).await.unwrap().id;
    let upload = NewRecording { storage_key: format!("{tid}/broken.wav"), ..upload_of(tid) };
    s.attach_recording(tid, broken, upload).await.unwrap();
    transcribe_claimed(s, broken, &[], true).await;
    assert_eq!(s.get_meeting(tid, broken).await.unwrap().stt_status, SttStatus::Failed);
    assert_eq!(
        rule(s.retranscribe_recording(tid, broken, retranscription("base", "en")).await),
        "meeting_not_transcribed"
    );
}

fn upload_of(tenant: Uuid) -> NewRecording {
    NewRecording {
        storage_key: format!("{tenant}/upload.wav"),
        source_url: None,
        format: "wav".into(),
        bytes: 44,
        language: None,
        model: None,
        diarize: false,
        keyterms: Vec::new(),
        callback: None,
        duration_ms: None,
    }
}

/// A live session's kept recording is transcribed again like an upload; a live session's
/// version records its model. A re-transcription cancelled by deleting the recording goes with
/// it and the meeting keeps its transcript; a live recording whose re-transcription failed is
/// still purged by retention.
async fn a_live_recording_is_retranscribed_and_a_cancelled_version_goes(db: TestDb) {
    use ddalkkak::domain::TranscriptSource;
    let s = &*db.store;
    let t = tenant(s, "acme").await;
    let (tid, host) = (t.tenant.id, t.owner.id);
    let live = NewLiveSession {
        host_id: host,
        title: "Standup".into(),
        socket_id: "live-socket".into(),
        server_instance: "test".into(),
        language: Some("en".into()),
        model: Some("tiny.en".into()),
    };
    let (session, m) = s.start_live_session(tid, live).await.unwrap();
    s.start_live_recording(tid, m.id, session.id, &format!("{tid}/standup.ogg"), "ogg", 47).await.unwrap();
    let listed = s.list_transcript_versions(tid, m.id).await.unwrap();
    assert_eq!(version_states(&listed), vec![(session.id, "running", false)]);
    assert_eq!(
        rule(s.retranscribe_recording(tid, m.id, retranscription("base", "en")).await),
        "transcription_in_progress",
        "the session still streams"
    );
    let final_ = NewFinal {
        session_id: session.id,
        meeting_id: m.id,
        seq: 0,
        start_ms: 0,
        end_ms: 1_000,
        speaker: None,
        text: "live words".into(),
        words: Vec::new(),
    };
    s.append_final(tid, final_).await.unwrap();
    s.finish_live_recording(tid, m.id, 3_000, 1_000).await.unwrap();
    s.finalize_live_session(tid, session.id, Some(1.0), None, &Default::default()).await.unwrap();
    let listed = s.list_transcript_versions(tid, m.id).await.unwrap();
    assert_eq!(version_states(&listed), vec![(session.id, "completed", true)]);
    assert_eq!((listed[0].source, listed[0].model.as_deref()), (TranscriptSource::Live, Some("tiny.en")));

    let again = s.retranscribe_recording(tid, m.id, retranscription("base", "en")).await.unwrap();
    assert_eq!(transcribe_claimed(s, m.id, &["recorded words"], false).await, again.id);
    let meeting_now = s.get_meeting(tid, m.id).await.unwrap();
    assert_eq!(meeting_now.transcript_text.as_deref(), Some("recorded words"));
    assert_eq!(s.get_transcript_version(tid, m.id, session.id).await.unwrap().text.as_deref(), Some("live words"));
    let (recording, _) = s.get_recording(tid, m.id).await.unwrap().unwrap();
    assert!(recording.live, "still the live session's audio");

    // Cancelled: the recording deleted while its re-transcription is queued.
    let cancelled = s.retranscribe_recording(tid, m.id, retranscription("base", "en")).await.unwrap();
    s.delete_recording(tid, m.id).await.unwrap();
    let listed = s.list_transcript_versions(tid, m.id).await.unwrap();
    assert_eq!(version_states(&listed), vec![(session.id, "completed", false), (again.id, "completed", true)]);
    assert!(!listed.iter().any(|v| v.id == cancelled.id));
    let kept = s.get_meeting(tid, m.id).await.unwrap();
    assert_eq!((kept.stt_status, kept.transcript_text), (SttStatus::Completed, meeting_now.transcript_text));
    let jobs = s.list_jobs(tid, m.id).await.unwrap();
    let transcribe = jobs.iter().find(|j| j.kind == ddalkkak::domain::Job::TRANSCRIBE_RECORDING).unwrap();
    assert_eq!(transcribe.status, ddalkkak::domain::JobStatus::Failed, "cancelled");

    // A live recording whose re-transcription failed is purged when it expires.
    let (other, other_session, key) = recorded_session(s, tid, host, "expiring", true).await;
    s.retranscribe_recording(tid, other, retranscription("base", "en")).await.unwrap();
    transcribe_claimed(s, other, &["a bit"], true).await;
    assert_eq!(s.get_meeting(tid, other).await.unwrap().stt_status, SttStatus::Completed);
    s.update_tenant(tid, retention_days(Some(30))).await.unwrap();
    let retention = ddalkkak::jobs::Retention::default();
    let purged = s.purge_expired(retention.cutoffs(now() + Duration::days(31))).await.unwrap().recordings;
    assert_eq!(purged.keys, vec![key]);
    let listed = s.list_transcript_versions(tid, other).await.unwrap();
    assert_eq!(version_states(&listed), vec![(other_session, "completed", true)], "the failed version went with it");
}
