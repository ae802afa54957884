//! Background work the server owns. Each job runs as a task tracked by the server's
//! `TaskTracker` and stops when the shutdown token is cancelled. Also what turns an LLM's action
//! items into tasks (assignees, due dates) and the evaluation of those items.

mod action_item_eval;
mod assignee_resolver;
mod due_date_parser;
mod retention;

pub use action_item_eval::{
    ActionItemScore, EvalAttendee, EvalError, EvalLine, EvalMeeting, ExpectedItem, PredictedItem, match_items,
};
pub use assignee_resolver::{AssigneeResolver, Person};
pub use due_date_parser::DueDateParser;
pub use retention::{Retention, RetentionJob};
