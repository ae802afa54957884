//! The durable job loop: claims jobs of one kind from the `jobs` table, runs them with a renewed
//! lease, and settles failures with retry and backoff. A job survives crashes because the claim
//! is only a lease: when its worker dies, the lease runs out and any worker claims it again.
//! Every claim counts as an attempt, so a job that kills its worker (and so never settles) is
//! failed for good once it has been claimed more than `max_attempts` times; a handler that panics
//! fails its job like a permanent error and the runner goes on. Both are recorded in the handler's
//! error table.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::Job;
use crate::store::{ErrorRecord, ErrorTable, JobSettlement, Store, StoreError};

/// One kind of job. `run` writes its own result through a store call fenced by the claim, so a
/// worker whose lease expired can never overwrite what its successor wrote.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Attempts before the job is FAILED for good.
    fn max_attempts(&self) -> i32;
    /// Where failed attempts are recorded (`ai_error_log`, `integration_error_log`).
    fn error_table(&self) -> ErrorTable;
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (model busy, network, rate limit).
    #[error("{message}")]
    Retryable {
        message: String,
        /// The service asked for this delay (Slack's Retry-After).
        after: Option<Duration>,
        /// The error log's subject (an integration id); the meeting otherwise.
        subject: Option<uuid::Uuid>,
    },
    /// Retrying cannot help (bad token, deleted meeting).
    #[error("{message}")]
    Permanent { message: String, subject: Option<uuid::Uuid> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    pub fn retryable(message: impl Into<String>) -> Self {
        JobError::Retryable { message: message.into(), after: None, subject: None }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent { message: message.into(), subject: None }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    /// How long a claim holds without renewal; a crashed worker's job waits this long.
    pub lease: Duration,
    /// Idle polling interval.
    pub poll: Duration,
    /// First retry delay; doubled per attempt, capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl RunnerConfig {
    /// Delay before attempt `attempts + 1`.
    pub fn backoff_after(&self, attempts: i32) -> Duration {
        let doublings = (attempts.max(1) - 1).min(20) as u32;
        self.backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

pub struct JobRunner {
    pub store: Arc<dyn Store>,
    pub handler: Arc<dyn JobHandler>,
    pub config: RunnerConfig,
}

impl JobRunner {
    /// Claims and runs jobs until `shutdown`. A job interrupted by shutdown is released to the
    /// queue without counting the attempt.
    pub async fn run(self, shutdown: CancellationToken) {
        let kind = self.handler.kind();
        tracing::info!(kind, "job runner started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let job = match self.store.claim_job(kind, lease(self.config.lease)).await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.config.poll) => continue,
                    }
                }
                Err(e) => {
                    tracing::warn!(kind, error = %e, "claiming a job failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.config.poll * 5) => continue,
                    }
                }
            };
            self.run_job(job, &shutdown).await;
        }
        tracing::info!(kind, "job runner stopped");
    }

    /// Runs one claimed job to its settlement.
    async fn run_job(&self, job: Job, shutdown: &CancellationToken) {
        let span = tracing::info_span!("job", kind = self.handler.kind(), id = %job.id, attempt = job.attempts);
        self.settle(job, shutdown).instrument(span).await
    }

    async fn settle(&self, job: Job, shutdown: &CancellationToken) {
        if job.attempts > self.handler.max_attempts() {
            let message = format!(
                "claimed {} times without settling (a worker died running it each time); not run again",
                job.attempts
            );
            tracing::error!(error = %message, "job failed for good");
            self.record(&job, None, &message, false).await;
            if let Err(e) = self.store.settle_job(&job, JobSettlement::Fail { error: message }).await {
                tracing::warn!(error = %e, "settling the job failed");
            }
            return;
        }
        let started = std::time::Instant::now();
        let renew_every = self.config.lease / 3;
        // A panic is a bug in the handler: it fails this job (logged with the panic's message),
        // not the runner.
        let work = std::panic::AssertUnwindSafe(self.handler.run(&job)).catch_unwind().map(|r| {
            r.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "job handler panicked");
                Err(JobError::permanent("the job's handler failed unexpectedly (see the server log)"))
            })
        });
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                result = &mut work => break Some(result),
                _ = shutdown.cancelled() => break None,
                _ = tokio::time::sleep(renew_every) => {
                    if let Err(e) = self.store.renew_job(&job, lease(self.config.lease)).await {
                        tracing::warn!(error = %e, "renewing the job's lease failed");
                    }
                }
            }
        };
        let settlement = match result {
            Some(Ok(())) => {
                tracing::info!(seconds = started.elapsed().as_secs_f64(), "job succeeded");
                return;
            }
            None => {
                tracing::info!("shutting down: job released to the queue");
                JobSettlement::Release
            }
            Some(Err(JobError::Store(StoreError::Rule { code: "claim_lost", .. }))) => {
                tracing::warn!("the job's lease expired and another worker took it; result dropped");
                return;
            }
            Some(Err(e)) => {
                let (retry, after, subject) = match &e {
                    JobError::Retryable { after, subject, .. } => (true, *after, *subject),
                    JobError::Permanent { subject, .. } => (false, None, *subject),
                    JobError::Store(_) => (true, None, None),
                };
                let message = match &e {
                    // Database details stay in the server log.
                    JobError::Store(inner) => {
                        tracing::error!(error = %inner, "job failed on the database");
                        "database error".to_owned()
                    }
                    other => other.to_string(),
                };
                let retry = retry && job.attempts < self.handler.max_attempts();
                self.record(&job, subject, &message, retry).await;
                if retry {
                    // A service's own delay (Retry-After) is honoured up to `max_backoff`: an
                    // absurd one must not overflow a timestamp or park the job for years.
                    let delay = after
                        .map_or_else(|| self.config.backoff_after(job.attempts), |d| d.min(self.config.max_backoff));
                    tracing::warn!(error = %message, retry_in_secs = delay.as_secs_f64(), "job failed; will retry");
                    JobSettlement::Retry { at: crate::domain::now() + lease(delay), error: message }
                } else {
                    tracing::error!(error = %message, "job failed for good");
                    JobSettlement::Fail { error: message }
                }
            }
        };
        if let Err(e) = self.store.settle_job(&job, settlement).await {
            tracing::warn!(error = %e, "settling the job failed; its lease will expire and it will run again");
        }
    }

    async fn record(&self, job: &Job, subject: Option<uuid::Uuid>, message: &str, will_retry: bool) {
        let table = self.handler.error_table();
        let record = ErrorRecord {
            table,
            subject_id: match table {
                ErrorTable::Integration => subject,
                _ => subject.or(job.meeting_id),
            },
            trace_id: Some(job.id),
            payload: json!({
                "job_id": job.id, "kind": job.kind, "meeting_id": job.meeting_id,
                "attempt": job.attempts, "will_retry": will_retry,
            }),
            error: message.to_owned(),
        };
        if let Err(e) = self.store.record_error(job.tenant_id, record).await {
            tracing::warn!(error = %e, "recording the job failure failed");
        }
    }
}

fn lease(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = RunnerConfig {
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(100),
            ..Default::default()
        };
        assert_eq!(c.backoff_after(1), Duration::from_secs(30));
        assert_eq!(c.backoff_after(2), Duration::from_secs(60));
        assert_eq!(c.backoff_after(3), Duration::from_secs(100));
        assert_eq!(c.backoff_after(400), Duration::from_secs(100));
    }
}
