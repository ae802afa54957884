//! A session's outgoing messages: a bounded queue to a writer task that owns the socket's sink.
//!
//! The policy for a full queue is per message kind: partials and events are dropped (the next
//! one supersedes them), finals and control messages wait up to `slow_consumer_timeout` and then
//! the client is closed with 4001; the error and close frames at the end wait at most a second.
//! The writer task belongs to its [`Writer`]: awaited when the session ends, aborted if it does
//! not finish in time or the session is dropped, never left running detached.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::server_message::ServerMessage;
use super::session_error::SessionError;

/// Messages queued for the writer; beyond this partials are dropped and finals wait.
const OUTBOUND: usize = 64;
/// How long the writer gets to send what is queued (the close frame last) at the end.
const WRITER_FINISH: Duration = Duration::from_secs(5);
/// How long the last error and close frames may wait for room.
const LAST_WORDS: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::Sender<Message>,
    slow_consumer_timeout: Duration,
}

/// The writer task; see the module header.
pub(super) struct Writer(Option<JoinHandle<()>>);

impl Outbox {
    pub fn start(sink: SplitSink<WebSocket, Message>, slow_consumer_timeout: Duration) -> (Outbox, Writer) {
        let (tx, rx) = mpsc::channel(OUTBOUND);
        let writer = tokio::spawn(write_loop(sink, rx));
        (Outbox { tx, slow_consumer_timeout }, Writer(Some(writer)))
    }

    /// Partials and events: dropped when the client is behind.
    pub fn send_droppable(&self, json: String) {
        let _ = self.tx.try_send(Message::Text(json.into()));
    }

    /// Finals and control messages: wait for room, but not forever.
    pub async fn send_reliable(&self, json: String) -> Result<(), SessionError> {
        match self.tx.send_timeout(Message::Text(json.into()), self.slow_consumer_timeout).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(SessionError::SlowConsumer),
            // The writer has stopped: the client is gone. Finals are stored; nothing to do.
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Ok(()),
        }
    }

    /// A message for a client that is waiting for it (the action items after the session).
    pub async fn forward(&self, message: Message) {
        let _ = self.tx.send(message).await;
    }

    pub async fn send_error(&self, e: &SessionError, trace: Uuid) {
        let message =
            ServerMessage::Error { code: e.code(), message: e.public_message(trace), retryable: e.retryable() };
        let _ = self.tx.send_timeout(Message::Text(message.to_json().into()), LAST_WORDS).await;
    }

    pub async fn close(&self, code: u16, reason: &str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = self.tx.send_timeout(Message::Close(Some(frame)), LAST_WORDS).await;
    }
}

impl Writer {
    /// Waits for the writer to send what is queued; a writer stuck on a dead peer is aborted.
    pub async fn finish(mut self) {
        let Some(mut task) = self.0.take() else { return };
        if tokio::time::timeout(WRITER_FINISH, &mut task).await.is_err() {
            tracing::debug!("writer did not finish; dropping the connection");
            task.abort();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Sends until the queue closes or a close frame went out.
async fn write_loop(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(message) = rx.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}
