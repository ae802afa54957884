//! `GET /v1/realtime-sessions/{id}/captions`: read-only live results for caption overlays, as a
//! WebSocket (when the request is an upgrade) or as Server-Sent Events. Each message is the
//! JSON the speaker's client gets (`Results`, partial and final); viewers that fall behind get
//! `{"type":"CaptionsSkipped","count":n}` and go on. Auth: an API key of the tenant, or a view
//! token (`scope: view`) for this session, also as `?token=` for overlay URLs.
//!
//! Limits: at most [`MAX_VIEWERS`] per session (503 `too_many_viewers` beyond); a viewer sends
//! nothing, so a WebSocket viewer's messages are capped at [`MAX_VIEWER_MESSAGE`] bytes; a viewer
//! that has not taken a message for [`VIEWER_SEND_TIMEOUT`] (it stopped reading) is closed with
//! 4001 instead of holding its connection forever.

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
use crate::session::{CaptionEvent, ServerMessage};
use crate::store::StoreError;

/// Viewers of one session at once.
pub const MAX_VIEWERS: usize = 500;
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
    let channel =
        state.live.as_ref().and_then(|live| live.captions.get(id)).filter(|c| c.tenant_id == caller.tenant_id);
    let Some(channel) = channel else {
        return Err(match state.store.get_realtime_session(caller.tenant_id, id).await {
            Ok(s) if s.status == SessionStatus::Ended => ApiError::Gone("the session has ended"),
            Ok(_) | Err(StoreError::NotFound) => ApiError::NotFound,
            Err(e) => e.into(),
        });
    };
    if channel.viewers() >= MAX_VIEWERS {
        return Err(ApiError::Unavailable {
            code: "too_many_viewers",
            detail: "this session has as many viewers as it takes",
        });
    }
    let (recent, rx) = channel.subscribe();
    drop(channel);
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => {
            let upgrade = upgrade.max_message_size(MAX_VIEWER_MESSAGE).max_frame_size(MAX_VIEWER_MESSAGE);
            let upgrade = if caller.via_subprotocol { upgrade.protocols(["token"]) } else { upgrade };
            Ok(upgrade.on_upgrade(move |socket| watch_socket(socket, recent, rx)).into_response())
        }
        Err(_) => Ok(Sse::new(event_stream(recent, rx))
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
) {
    for message in recent {
        if !send(&mut socket, &message.json).await {
            return;
        }
    }
    loop {
        let message = tokio::select! {
            received = rx.recv() => match received {
                Ok(m) => m,
                Err(RecvError::Lagged(n)) => skipped(n),
                Err(RecvError::Closed) => break,
            },
            // A viewer sends nothing; anything (close included) or a dropped connection ends it.
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        if !send(&mut socket, &message.json).await {
            return;
        }
    }
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame { code: 1000, reason: "session ended".into() })))
        .await;
}

/// Sends one message; `false` when the viewer is gone or stopped reading (then it is closed, 4001).
async fn send(socket: &mut WebSocket, message: &str) -> bool {
    match tokio::time::timeout(VIEWER_SEND_TIMEOUT, socket.send(Message::Text(message.into()))).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            let frame = axum::extract::ws::CloseFrame { code: 4001, reason: "slow_consumer".into() };
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
            false
        }
    }
}

fn event_stream(
    recent: Vec<Arc<CaptionEvent>>,
    rx: broadcast::Receiver<Arc<CaptionEvent>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let live = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(m) => Some((m, rx)),
            Err(RecvError::Lagged(n)) => Some((skipped(n), rx)),
            Err(RecvError::Closed) => None,
        }
    });
    futures_util::StreamExt::map(futures_util::StreamExt::chain(futures_util::stream::iter(recent), live), |m| {
        Ok(Event::default().data(m.json.as_ref()))
    })
}
