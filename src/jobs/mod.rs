//! Background work the server owns. Each job runs as a task tracked by the server's
//! `TaskTracker` and stops when the shutdown token is cancelled.
//!
//! - [`RetentionJob`]: the hourly retention purge.
//! - [`JobRunner`]: the durable queue (`jobs` table) and its handlers:
//!   `meeting_intelligence` (LLM summary and action items → tasks, notifications) and
//!   `slack_post` (the summary to the tenant's Slack).

mod job_runner;
mod retention;
mod slack_client;
mod slack_post_job;

pub use job_runner::{JobError, JobHandler, JobRunner, RunnerConfig};
pub use retention::{Retention, RetentionJob};
pub use slack_client::{SlackClient, SlackError};
pub use slack_post_job::{SlackPostJob, slack_message};
