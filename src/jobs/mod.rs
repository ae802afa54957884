//! Background work the server owns. Each job runs as a task tracked by the server's
//! `TaskTracker` and stops when the shutdown token is cancelled.
//!
//! - [`RetentionJob`]: the hourly retention purge.
//! - [`SessionSweeper`]: finalizes live sessions whose owner went silent (any instance).
//! - [`JobRunner`]: the durable queue (`jobs` table) and its handlers:
//!   [`MeetingIntelligenceJob`] (LLM summary and action items → tasks, notifications; the
//!   meeting logic is `crate::intelligence`'s) and [`SlackPostJob`] (the summary to the
//!   tenant's Slack), [`TranscribeRecordingJob`] (an uploaded recording → the finished meeting),
//!   [`DeliverCallbackJob`] (a pre-recorded request's result → its `callback` URL).

mod deliver_callback_job;
mod job_runner;
mod meeting_intelligence_job;
mod retention;
mod session_sweeper;
mod slack_client;
mod slack_post_job;
mod transcribe_recording_job;

pub use deliver_callback_job::DeliverCallbackJob;
pub use job_runner::{JobError, JobHandler, JobRunner, RunnerConfig};
pub use meeting_intelligence_job::{MeetingIntelligenceJob, meeting_input, resolve};
pub use retention::{Retention, RetentionJob};
pub use session_sweeper::SessionSweeper;
pub use slack_client::{SlackClient, SlackError};
pub use slack_post_job::{SlackPostJob, slack_message};
pub use transcribe_recording_job::TranscribeRecordingJob;
