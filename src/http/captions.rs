//! `GET /v1/realtime-sessions/{id}/captions`: read-only live results for caption overlays, as a
//! WebSocket (when the request is an upgrade) or as Server-Sent Events. Each message is the
//! JSON the speaker's client gets (`Results`, partial and final); viewers that fall behind get
//! `{"type":"CaptionsSkipped","count":n}` and go on. Auth: an API key of the tenant, or a view
//! token (`scope: view`) for this session, also as `?token=` for overlay URLs. The session may
//! stream into another instance sharing the PostgreSQL database (`session::CaptionRelay`).
//!
//! Limits (`LiveConfig`, docs/protocol.md): at most `max_viewers_per_session` per session (503
//! `too_many_viewers` beyond) and `max_viewers_per_tenant` per tenant (429
//! `tenant_viewer_quota`), WebSocket and SSE viewers alike; a viewer sends nothing, so a
//! WebSocket viewer's messages are capped at [`MAX_VIEWER_MESSAGE`] bytes; a WebSocket viewer is
//! pinged every third of `viewer_timeout` and closed with 4000 when it has answered nothing for
//! that long (a dead peer); a viewer that has not taken a message for [`VIEWER_SEND_TIMEOUT`] (it
//! stopped reading) is closed with 4001 instead of holding its connection forever.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, StreamCaller};
use crate::auth::StreamScope;
use crate::domain::SessionStatus;
use crate::session::{CaptionEvent, ServerMessage, ViewerSlot};
use crate::store::StoreError;

/// Largest message a viewer may send (it has nothing to say but a close frame).
pub const MAX_VIEWER_MESSAGE: usize = 4096;
/// A viewer whose connection takes no message for this long is closed.
pub const VIEWER_SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct CaptionQuery {
    token: Option<String>,
}

pub async fn captions(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let ApiPath(id) = ApiPath::<Uuid>::from_request_parts(&mut parts, &state).await?;
    let ApiQuery(query) = ApiQuery::<CaptionQuery>::from_request_parts(&mut parts, &state).await?;
    let caller = StreamCaller::authenticate(&state, &parts, query.token.as_deref()).await?;
    if caller.token.as_ref().is_some_and(|t| t.scope != StreamScope::View || t.session_id.is_some_and(|s| s != id)) {
        return Err(ApiError::Forbidden("this token does not let you watch this session"));
    }
    let live = state.live.clone();
    let mut channel = live.as_ref().and_then(|live| live.captions.get(id)).filter(|c| c.tenant_id == caller.tenant_id);
    if let (Some(live), None) = (&live, &channel) {
        // Owned by another instance sharing the database?
        channel = live.captions.follow(&*state.store, caller.tenant_id, id).await?;
    }
    let (Some(live), Some(channel)) = (live, channel) else {
        return Err(match state.store.get_realtime_session(caller.tenant_id, id).await {
            Ok(s) if s.status == SessionStatus::Ended => ApiError::Gone("the session has ended"),
            Ok(_) | Err(StoreError::NotFound) => ApiError::NotFound,
            Err(e) => e.into(),
        });
    };
    // Held for as long as the viewer is connected.
    let slot = live.admit_viewer(id, caller.tenant_id)?;
    let (recent, rx) = channel.subscribe();
    drop(channel);
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => {
            let upgrade = upgrade.max_message_size(MAX_VIEWER_MESSAGE).max_frame_size(MAX_VIEWER_MESSAGE);
            let upgrade = if caller.via_subprotocol { upgrade.protocols(["token"]) } else { upgrade };
            let timeout = live.config.viewer_timeout;
            Ok(upgrade
                .on_upgrade(move |socket| async move {
                    watch_socket(socket, recent, rx, timeout).await;
                    drop(slot);
                })
                .into_response())
        }
        Err(_) => Ok(Sse::new(event_stream(recent, rx, slot))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response()),
    }
}

fn skipped(count: u64) -> Arc<CaptionEvent> {
    CaptionEvent::new(ServerMessage::CaptionsSkipped { count })
}

async fn watch_socket(
    mut socket: WebSocket,
    recent: Vec<Arc<CaptionEvent>>,
    mut rx: broadcast::Receiver<Arc<CaptionEvent>>,
    timeout: Duration,
) {
    for message in recent {
        if !send(&mut socket, Message::Text(message.json.as_ref().into())).await {
            return;
        }
    }
    let period = timeout / 3;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = tokio::time::Instant::now();
    loop {
        let message = tokio::select! {
            received = rx.recv() => match received {
                Ok(m) => Message::Text(m.json.as_ref().into()),
                Err(RecvError::Lagged(n)) => Message::Text(skipped(n).json.as_ref().into()),
                Err(RecvError::Closed) => break,
            },
            // A viewer sends nothing but pongs (any message counts as a sign of life); a close or
            // a dropped connection ends it.
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {
                    heard = tokio::time::Instant::now();
                    continue;
                }
            },
            _ = ping.tick() => {
                if heard.elapsed() >= timeout {
                    close(&mut socket, 4000, "idle_timeout").await;
                    return;
                }
                Message::Ping(Default::default())
            }
        };
        if !send(&mut socket, message).await {
            return;
        }
    }
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame { code: 1000, reason: "session ended".into() })))
        .await;
}

/// Sends one message; `false` when the viewer is gone or stopped reading (then it is closed, 4001).
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    match tokio::time::timeout(VIEWER_SEND_TIMEOUT, socket.send(message)).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            close(socket, 4001, "slow_consumer").await;
            false
        }
    }
}

/// A close frame for a viewer that may not read it: waits at most a second.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = axum::extract::ws::CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
}

/// The SSE stream holds the viewer's slot until the stream ends or the client goes away.
fn event_stream(
    recent: Vec<Arc<CaptionEvent>>,
    rx: broadcast::Receiver<Arc<CaptionEvent>>,
    slot: ViewerSlot,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let live = futures_util::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        match rx.recv().await {
            Ok(m) => Some((m, (rx, slot))),
            Err(RecvError::Lagged(n)) => Some((skipped(n), (rx, slot))),
            Err(RecvError::Closed) => None,
        }
    });
    futures_util::StreamExt::map(futures_util::StreamExt::chain(futures_util::stream::iter(recent), live), |m| {
        Ok(Event::default().data(m.json.as_ref()))
    })
}
