//! Background work the server owns. Each job runs as a task tracked by the server's
//! `TaskTracker` and stops when the shutdown token is cancelled.
//!
//! - [`RetentionJob`]: the hourly retention purge.
//! - [`JobRunner`]: the durable queue (`jobs` table) and its handlers:
//!   [`MeetingIntelligenceJob`] (LLM summary and action items → tasks, notifications) and
//!   [`SlackPostJob`] (the summary to the tenant's Slack).
//! - What turns an LLM's action items into tasks ([`AssigneeResolver`], [`DueDateParser`]) and
//!   the evaluation of those items ([`ActionItemScore`]).

mod action_item_eval;
mod assignee_resolver;
mod due_date_parser;
mod job_runner;
mod meeting_intelligence_job;
mod retention;
mod slack_client;
mod slack_post_job;

pub use action_item_eval::{
    ActionItemScore, EvalAttendee, EvalError, EvalLine, EvalMeeting, ExpectedItem, PredictedItem, match_items,
};
pub use assignee_resolver::{AssigneeResolver, Person};
pub use due_date_parser::DueDateParser;
pub use job_runner::{JobError, JobHandler, JobRunner, RunnerConfig};
pub use meeting_intelligence_job::{MeetingIntelligenceJob, meeting_input, resolve};
pub use retention::{Retention, RetentionJob};
pub use slack_client::{SlackClient, SlackError};
pub use slack_post_job::{SlackPostJob, slack_message};
