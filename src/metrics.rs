//! Every metric the server exports, named in one place. Exposed in Prometheus format on the
//! separate metrics listener (`--metrics-listen`).

use std::net::SocketAddr;
use std::time::Duration;

pub const HTTP_REQUESTS_TOTAL: &str = "ddalkkak_http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "ddalkkak_http_request_duration_seconds";
pub const RETENTION_PURGED_ROWS_TOTAL: &str = "ddalkkak_retention_purged_rows_total";

pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(elapsed.as_secs_f64());
}

/// Rows the retention job deleted, by `table`: the purged tables, and `recordings_expired` /
/// `recordings_of_deleted_meetings` for recordings past their tenant's retention or the trash
/// window.
pub fn retention_purged(table: &'static str, rows: u64) {
    metrics::counter!(RETENTION_PURGED_ROWS_TOTAL, "table" => table).increment(rows);
}

/// Installs the process-wide recorder and its HTTP listener. Call once, from `serve`.
pub fn install(listen: SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        )?
        .install()?;
    Ok(())
}

pub const LIVE_SESSIONS: &str = "ddalkkak_live_sessions";
pub const LIVE_FINAL_ASR_SECONDS: &str = "ddalkkak_live_final_asr_seconds";

pub fn live_sessions(active: usize) {
    metrics::gauge!(LIVE_SESSIONS).set(active as f64);
}

/// Time from submitting an utterance's final to its transcription.
pub fn live_final(elapsed: Duration) {
    metrics::histogram!(LIVE_FINAL_ASR_SECONDS).record(elapsed.as_secs_f64());
}

pub const LIVE_PERSISTENCE_DEGRADED_TOTAL: &str = "ddalkkak_live_persistence_degraded_total";

/// A live session began keeping finals in memory because the database was away.
pub fn live_persistence_degraded() {
    metrics::counter!(LIVE_PERSISTENCE_DEGRADED_TOTAL).increment(1);
}

pub const LIVE_TRANSCRIPT_GAPS_TOTAL: &str = "ddalkkak_live_transcript_gaps_total";

/// Audio accepted but not transcribed, by reason (`engine_stopped`, `shutdown_deadline`, …).
pub fn live_transcript_gap(reason: &'static str) {
    metrics::counter!(LIVE_TRANSCRIPT_GAPS_TOTAL, "reason" => reason).increment(1);
}

pub const CAPTION_RELAY_DROPPED_TOTAL: &str = "ddalkkak_caption_relay_dropped_total";

/// Caption messages not relayed to other instances: the publisher's queue was full, or the
/// database refused the notifications.
pub fn caption_relay_dropped(reason: &'static str, messages: u64) {
    metrics::counter!(CAPTION_RELAY_DROPPED_TOTAL, "reason" => reason).increment(messages);
}

pub const MODEL_BATCH_SECONDS: &str = "ddalkkak_model_batch_seconds";
pub const MODEL_BATCH_ITEMS: &str = "ddalkkak_model_batch_items";
pub const MODEL_FAILED_BATCHES_TOTAL: &str = "ddalkkak_model_failed_batches_total";
pub const MODEL_QUEUE_DEPTH: &str = "ddalkkak_model_queue_depth";

/// One batch of a model worker (`asr-tiny.en`, `vad`, `diarize`, `llm`): its time and size,
/// whether the model failed on it, and what still waits in the worker's queue.
pub fn model_batch(worker: &str, items: usize, elapsed: Duration, ok: bool, queued: usize) {
    let worker = worker.to_owned();
    metrics::histogram!(MODEL_BATCH_SECONDS, "worker" => worker.clone()).record(elapsed.as_secs_f64());
    metrics::histogram!(MODEL_BATCH_ITEMS, "worker" => worker.clone()).record(items as f64);
    if !ok {
        metrics::counter!(MODEL_FAILED_BATCHES_TOTAL, "worker" => worker.clone()).increment(1);
    }
    metrics::gauge!(MODEL_QUEUE_DEPTH, "worker" => worker).set(queued as f64);
}
