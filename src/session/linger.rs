//! The end of a session after its meeting is stored: viewers still watching (and a client that
//! asked with `wait_for_action_items=true`) wait for the meeting-intelligence job's
//! `ActionItemsReady`, up to `LiveConfig::action_items_wait` or shutdown; then the caption channel
//! and the socket close.

use std::sync::Arc;

use axum::extract::ws::Message;
use tokio::sync::broadcast;
use tokio::time::sleep_until;
use uuid::Uuid;

use super::caption_hub::{CaptionEvent, CaptionKind};
use super::live_service::LiveService;
use super::outbox::Outbox;

pub(super) struct Linger {
    pub session: Uuid,
    pub announcements: Option<broadcast::Receiver<Arc<CaptionEvent>>>,
    /// Set when the client waits too: the announcement is forwarded to it, then the socket is
    /// closed with this code and reason.
    pub client: Option<(Outbox, u16, &'static str)>,
}

impl Linger {
    pub async fn wait(self, service: &LiveService) {
        if let Some(mut rx) = self.announcements {
            let deadline = tokio::time::Instant::now() + service.config.action_items_wait;
            loop {
                let message = tokio::select! {
                    _ = service.shutdown.cancelled() => break,
                    _ = sleep_until(deadline) => break,
                    m = rx.recv() => m,
                };
                match message {
                    Ok(m) if m.kind == CaptionKind::ActionItemsReady => {
                        if let Some((client, _, _)) = &self.client {
                            client.forward(Message::Text(m.json.as_ref().into())).await;
                        }
                        break;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        service.captions.close(self.session);
        if let Some((client, code, reason)) = self.client {
            client.close(code, reason).await;
        }
    }
}
