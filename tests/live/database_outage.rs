//! The database goes away in the middle of a live session (SQLite: another writer holds the
//! lock; PostgreSQL: connections refused and the server's terminated, as a restart does): the
//! session keeps serving captions, tells the client its finals are only in memory
//! (`PersistenceDegraded`) and that they are stored again (`PersistenceRestored`), and the
//! finalized meeting holds every final the client received. The speech models are scripted
//! stand-ins: what matters here is the database.

use std::time::Duration;

use serde_json::Value;

use super::live_session::{connect, scripted_app, stream_pcm};
use crate::common::stand_in_models::tone_speech;
use crate::common::{self, TestDb};

async fn a_live_session_rides_out_a_database_outage(db: TestDb) {
    let (app, key) = scripted_app(db, Default::default()).await;
    let pcm = tone_speech(30.0);
    let ws = connect(&app, "encoding=linear16&sample_rate=16000", &key).await.unwrap();
    // 30 s of utterances at 2x: the database is away from 3 s to 11 s of the 15 s stream.
    let outage = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        app.db.outage(Duration::from_secs(8)).await;
    };
    let ((got, _), ()) = tokio::join!(stream_pcm(ws, &pcm, 2.0), outage);

    assert_eq!(got.close, Some((1000, String::new())), "{:?}", got.of_type("Error"));
    let degraded = got.of_type("PersistenceDegraded");
    let restored = got.of_type("PersistenceRestored");
    eprintln!("degraded: {degraded:?}, restored: {restored:?}, finals: {}", got.finals().len());
    assert_eq!(degraded.len(), 1, "told once that finals are kept in memory");
    assert_eq!(restored.len(), 1, "and once that they are stored again");
    assert!(restored[0]["stored_finals"].as_u64().unwrap() >= 1, "{restored:?}");
    assert!(got.of_type("TranscriptGap").is_empty(), "{:?}", got.of_type("TranscriptGap"));
    // Every final the client received is in the meeting, in order.
    let meeting_id = got.messages[0].1["meeting_id"].as_str().unwrap();
    let (_, meeting) = app.get(&format!("/v1/meetings/{meeting_id}"), &key).await;
    assert_eq!(meeting["stt_status"], "COMPLETED");
    assert_eq!(meeting["transcript_text"].as_str().unwrap().replace('\n', " "), got.final_text());
    assert_eq!(meeting["transcript_gaps"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_live_session_rides_out_a_database_outage() {
    a_live_session_rides_out_a_database_outage(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_live_session_rides_out_a_database_outage() {
    let Some(db) = common::postgres().await else { return };
    a_live_session_rides_out_a_database_outage(db).await;
}
