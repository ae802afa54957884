//! Background work the server owns. Each job runs as a task tracked by the server's
//! `TaskTracker` and stops when the shutdown token is cancelled.

mod retention;

pub use retention::{Retention, RetentionJob};
