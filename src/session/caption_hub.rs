//! Fan-out of live results to read-only viewers (caption overlays). Each live session has a
//! broadcast channel: publishing never waits, so a slow viewer only misses messages (it is told
//! how many) and never slows the speaker's session. A viewer that joins late first gets the
//! last few finals.
//!
//! When a session ends with a meeting-intelligence job queued, its channel lingers (closed to new
//! viewers) until the job [announces](CaptionHub::announce) the action items or the wait times
//! out, so viewers still connected get them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::server_message::ServerMessage;

/// Messages a viewer may fall behind by before it starts missing some.
const VIEWER_BUFFER: usize = 256;
/// Finals replayed to a viewer that joins mid-session.
const REPLAY: usize = 10;

/// What viewers get: a server message with its JSON, serialized once for all of them.
#[derive(Debug)]
pub struct CaptionEvent {
    pub message: ServerMessage,
    pub json: Arc<str>,
}

impl CaptionEvent {
    pub fn new(message: ServerMessage) -> Arc<Self> {
        let json = message.to_json().into();
        Arc::new(Self { message, json })
    }
}

pub struct CaptionChannel {
    pub tenant_id: Uuid,
    pub meeting_id: Uuid,
    tx: broadcast::Sender<Arc<CaptionEvent>>,
    recent: Mutex<VecDeque<Arc<CaptionEvent>>>,
    /// The session is over: no new viewers.
    ended: AtomicBool,
}

#[derive(Default)]
pub struct CaptionHub {
    sessions: DashMap<Uuid, Arc<CaptionChannel>>,
}

impl CaptionHub {
    pub fn open(&self, session: Uuid, tenant_id: Uuid, meeting_id: Uuid) -> Arc<CaptionChannel> {
        let (tx, _) = broadcast::channel(VIEWER_BUFFER);
        let channel = Arc::new(CaptionChannel {
            tenant_id,
            meeting_id,
            tx,
            recent: Mutex::default(),
            ended: AtomicBool::new(false),
        });
        self.sessions.insert(session, channel.clone());
        channel
    }

    /// Dropping the channel ends every viewer's stream once it has read what was sent.
    pub fn close(&self, session: Uuid) {
        self.sessions.remove(&session);
    }

    /// The session's channel, if it is live on this server. The map guard is released before
    /// returning.
    pub fn get(&self, session: Uuid) -> Option<Arc<CaptionChannel>> {
        self.sessions.get(&session).map(|c| c.value().clone()).filter(|c| !c.ended.load(Ordering::Acquire))
    }

    /// Sends `message` to whoever still watches the meeting's (ended) session.
    pub fn announce(&self, meeting_id: Uuid, message: Arc<CaptionEvent>) {
        let channel = self.sessions.iter().find(|c| c.meeting_id == meeting_id).map(|c| c.value().clone());
        if let Some(channel) = channel {
            let _ = channel.tx.send(message);
        }
    }
}

impl CaptionChannel {
    pub fn publish(&self, message: Arc<CaptionEvent>, is_final: bool) {
        if is_final {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == REPLAY {
                recent.pop_front();
            }
            recent.push_back(message.clone());
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(message);
    }

    /// The recent finals, then everything published from now on.
    pub fn subscribe(&self) -> (Vec<Arc<CaptionEvent>>, broadcast::Receiver<Arc<CaptionEvent>>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        (recent.iter().cloned().collect(), self.tx.subscribe())
    }

    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// No new viewers from now on; current ones stay until the channel is closed.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }
}
