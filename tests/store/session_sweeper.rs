//! The session sweeper: a live session whose owner stopped stamping its heartbeat (a crashed or
//! cut-off instance) is finalized from its stored finals by any instance; one that is alive is
//! left alone.

use std::time::Duration;

use ddalkkak::domain::{SessionStatus, SttStatus};
use ddalkkak::jobs::SessionSweeper;
use ddalkkak::store::{NewFinal, NewLiveSession, Store};

use crate::common::{self, TestDb};

async fn start(s: &dyn Store, tenant: uuid::Uuid, host: uuid::Uuid, instance: &str) -> (uuid::Uuid, uuid::Uuid) {
    let live = NewLiveSession {
        host_id: host,
        title: format!("on {instance}"),
        socket_id: uuid::Uuid::new_v4().to_string(),
        server_instance: instance.into(),
        language: None,
        model: None,
    };
    let (session, meeting) = s.start_live_session(tenant, live).await.unwrap();
    let final_row = NewFinal {
        session_id: session.id,
        meeting_id: meeting.id,
        seq: 0,
        start_ms: 0,
        end_ms: 2000,
        speaker: None,
        text: format!("said on {instance}"),
        words: Vec::new(),
    };
    s.append_final(tenant, final_row).await.unwrap();
    (session.id, meeting.id)
}

async fn sessions_whose_owner_went_silent_are_finalized(db: TestDb) {
    let s = db.store.clone();
    let t = common::tenant(&*s, "sweep").await;
    let (tenant, host) = (t.tenant.id, t.owner.id);
    let now = ddalkkak::domain::now();
    let (dead, dead_meeting) = start(&*s, tenant, host, "crashed").await;
    let (alive, alive_meeting) = start(&*s, tenant, host, "alive").await;
    // The dead one's last sign of life was ten minutes ago; the live one stamped just now.
    s.touch_session(tenant, dead, now - chrono::Duration::minutes(10)).await.unwrap();
    s.touch_session(tenant, alive, now).await.unwrap();

    let sweeper = SessionSweeper {
        store: s.clone(),
        captions: Default::default(),
        stale_after: Duration::from_secs(120),
        interval: Duration::from_secs(30),
    };
    assert_eq!(sweeper.sweep_once().await.unwrap(), 1);
    let swept = s.get_realtime_session(tenant, dead).await.unwrap();
    assert_eq!(swept.status, SessionStatus::Ended);
    let meeting = s.get_meeting(tenant, dead_meeting).await.unwrap();
    assert_eq!(meeting.stt_status, SttStatus::Completed);
    assert_eq!(meeting.transcript_text.as_deref(), Some("said on crashed"));
    let untouched = s.get_realtime_session(tenant, alive).await.unwrap();
    assert_eq!(untouched.status, SessionStatus::Active);
    assert!(untouched.heartbeat_at.is_some());
    assert_eq!(s.get_meeting(tenant, alive_meeting).await.unwrap().stt_status, SttStatus::Processing);
    // Sweeping again finds nothing; a touch does not revive an ended session.
    assert_eq!(sweeper.sweep_once().await.unwrap(), 0);
    s.touch_session(tenant, dead, now).await.unwrap();
    assert_eq!(s.get_realtime_session(tenant, dead).await.unwrap().status, SessionStatus::Ended);

    // The sweeper's loop does it by itself, and stops on shutdown.
    s.touch_session(tenant, alive, now - chrono::Duration::minutes(10)).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let looping = SessionSweeper {
        store: s.clone(),
        captions: Default::default(),
        stale_after: Duration::from_millis(200),
        interval: Duration::from_millis(50),
    };
    let task = tokio::spawn(looping.run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.get_realtime_session(tenant, alive).await.unwrap().status == SessionStatus::Active {
        assert!(tokio::time::Instant::now() < deadline, "the sweeper did not finalize the silent session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
}

on_both_backends!(sessions_whose_owner_went_silent_are_finalized);
