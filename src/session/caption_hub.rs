//! Fan-out of live results to read-only viewers (caption overlays). Each live session has a
//! broadcast channel: publishing never waits, so a slow viewer only misses messages (it is told
//! how many) and never slows the speaker's session. A viewer that joins late first gets the
//! last few finals.
//!
//! When a session ends with a meeting-intelligence job queued, its channel lingers (closed to new
//! viewers) until the job [announces](CaptionHub::announce) the action items or the wait times
//! out, so viewers still connected get them.
//!
//! Several instances on one PostgreSQL database: a session's channel on the instance that owns
//! it (its *origin*) also hands each message to the [`CaptionRelay`](super::CaptionRelay); a
//! viewer connected to another instance watches a *mirror* channel there, filled with the
//! session's recent finals from the database and then with what the relay delivers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dashmap::DashMap;
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

use super::caption_relay::{ListenGuard, RelayHandle};
use super::results::stored_final;
use super::server_message::ServerMessage;
use crate::domain::SessionStatus;
use crate::store::{Store, StoreError};

/// Messages a viewer may fall behind by before it starts missing some.
const VIEWER_BUFFER: usize = 256;
/// Finals replayed to a viewer that joins mid-session.
const REPLAY: usize = 10;

/// What a caption message is, for those who route it without reading its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionKind {
    /// A final `Results`; `seq` is its stored row's when it has text.
    Final {
        seq: Option<i32>,
    },
    Partial,
    Gap,
    /// `minutes_follow`: a meeting-intelligence job was queued, whose `ActionItemsReady` is
    /// worth waiting for.
    SessionEnded {
        minutes_follow: bool,
    },
    ActionItemsReady,
    Other,
}

impl CaptionKind {
    /// Finals and gaps are replayed to late viewers.
    fn replayed(self) -> bool {
        matches!(self, CaptionKind::Final { .. } | CaptionKind::Gap)
    }
}

/// What viewers get: a server message's JSON, serialized once for all of them.
#[derive(Debug)]
pub struct CaptionEvent {
    pub kind: CaptionKind,
    pub json: Arc<str>,
}

impl CaptionEvent {
    pub fn new(message: ServerMessage) -> Arc<Self> {
        let kind = match &message {
            ServerMessage::Results(r) if r.is_final => CaptionKind::Final { seq: None },
            ServerMessage::Results(_) => CaptionKind::Partial,
            ServerMessage::TranscriptGap { .. } => CaptionKind::Gap,
            ServerMessage::SessionEnded { .. } => CaptionKind::SessionEnded { minutes_follow: false },
            ServerMessage::ActionItemsReady { .. } => CaptionKind::ActionItemsReady,
            _ => CaptionKind::Other,
        };
        Arc::new(Self { kind, json: message.to_json().into() })
    }

    /// A final stored as row `seq` of its session.
    pub fn stored(message: ServerMessage, seq: i32) -> Arc<Self> {
        let json = message.to_json().into();
        Arc::new(Self { kind: CaptionKind::Final { seq: Some(seq) }, json })
    }

    /// The end of a session, and whether its minutes will follow.
    pub fn session_ended(message: ServerMessage, minutes_follow: bool) -> Arc<Self> {
        let json = message.to_json().into();
        Arc::new(Self { kind: CaptionKind::SessionEnded { minutes_follow }, json })
    }

    /// A message that came from another instance, as it was serialized there.
    pub(super) fn relayed(kind: CaptionKind, json: Arc<str>) -> Arc<Self> {
        Arc::new(Self { kind, json })
    }
}

pub struct CaptionChannel {
    pub session_id: Uuid,
    pub tenant_id: Uuid,
    pub meeting_id: Uuid,
    tx: broadcast::Sender<Arc<CaptionEvent>>,
    recent: Mutex<VecDeque<Arc<CaptionEvent>>>,
    /// The session is over: no new viewers.
    ended: AtomicBool,
    /// Set on the origin's channel when instances share a database: what it publishes is relayed.
    relay: Option<RelayHandle>,
    mirror: Option<Mirror>,
    /// While this channel exists, the relay delivers its meeting's messages from other instances.
    _listening: Option<ListenGuard>,
}

/// A channel's state when it follows a session owned by another instance.
struct Mirror {
    created: Instant,
    /// When the session's end was seen.
    ended_at: Mutex<Option<Instant>>,
    /// The recent finals from the database, loaded once, before the first viewer subscribes.
    backfilled: OnceCell<()>,
}

#[derive(Default)]
pub struct CaptionHub {
    sessions: DashMap<Uuid, Arc<CaptionChannel>>,
    relay: Option<RelayHandle>,
}

impl CaptionHub {
    /// A hub whose live sessions are relayed to, and followed from, other instances.
    pub(super) fn relayed(relay: RelayHandle) -> Self {
        Self { sessions: DashMap::new(), relay: Some(relay) }
    }

    /// The channel of a session this instance owns.
    pub fn open(&self, session: Uuid, tenant_id: Uuid, meeting_id: Uuid) -> Arc<CaptionChannel> {
        let channel = Arc::new(self.channel(session, tenant_id, meeting_id, None));
        self.sessions.insert(session, channel.clone());
        channel
    }

    fn channel(&self, session_id: Uuid, tenant_id: Uuid, meeting_id: Uuid, mirror: Option<Mirror>) -> CaptionChannel {
        let (tx, _) = broadcast::channel(VIEWER_BUFFER);
        CaptionChannel {
            session_id,
            tenant_id,
            meeting_id,
            tx,
            recent: Mutex::default(),
            ended: AtomicBool::new(false),
            relay: self.relay.clone().filter(|_| mirror.is_none()),
            _listening: self.relay.as_ref().map(|r| r.listen(meeting_id)),
            mirror,
        }
    }

    /// Dropping the channel ends every viewer's stream once it has read what was sent.
    pub fn close(&self, session: Uuid) {
        self.sessions.remove(&session);
    }

    /// The session's channel, if it is live on this server (its own or a mirror). The map guard
    /// is released before returning.
    pub fn get(&self, session: Uuid) -> Option<Arc<CaptionChannel>> {
        self.sessions.get(&session).map(|c| c.value().clone()).filter(|c| !c.ended.load(Ordering::Acquire))
    }

    /// A channel following `session` of `tenant_id` while another instance owns it, with its
    /// recent finals from the database. `None` without a relay, or when the session is not live.
    pub async fn follow(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        session: Uuid,
    ) -> Result<Option<Arc<CaptionChannel>>, StoreError> {
        if self.relay.is_none() {
            return Ok(None);
        }
        let row = match store.get_realtime_session(tenant_id, session).await {
            Ok(row) => row,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(meeting_id) = row.meeting_id.filter(|_| row.status == SessionStatus::Active) else {
            return Ok(None);
        };
        let channel = self
            .sessions
            .entry(session)
            .or_insert_with(|| {
                let mirror =
                    Mirror { created: Instant::now(), ended_at: Mutex::default(), backfilled: OnceCell::new() };
                Arc::new(self.channel(session, tenant_id, meeting_id, Some(mirror)))
            })
            .value()
            .clone();
        if channel.tenant_id != tenant_id || channel.ended.load(Ordering::Acquire) {
            return Ok(None);
        }
        if let Some(mirror) = &channel.mirror {
            // The relay listens first (the guard above), so a final is either relayed or read here.
            if let Some(relay) = &self.relay {
                relay.listening().await;
            }
            mirror.backfilled.get_or_try_init(|| channel.backfill(store)).await?;
        }
        Ok(Some(channel))
    }

    /// Sends `message` to whoever still watches the meeting's (ended) session, here and, through
    /// the relay, on the other instances.
    pub fn announce(&self, meeting_id: Uuid, message: Arc<CaptionEvent>) {
        if let Some(relay) = &self.relay {
            relay.publish(meeting_id, &message);
        }
        self.deliver(meeting_id, message);
    }

    /// A message from another instance about `meeting_id`. A mirror shows everything; a session
    /// of this instance only takes the action items (the job may run anywhere).
    pub(super) fn deliver(&self, meeting_id: Uuid, message: Arc<CaptionEvent>) {
        let channels: Vec<_> =
            self.sessions.iter().filter(|c| c.meeting_id == meeting_id).map(|c| c.value().clone()).collect();
        for channel in channels {
            match (&channel.mirror, message.kind) {
                (_, CaptionKind::ActionItemsReady) => {
                    let _ = channel.tx.send(message.clone());
                    if channel.mirror.is_some() {
                        self.drop_channel(&channel);
                    }
                }
                // The owner's own `SessionEnded` and the one the checks make when they find the
                // session ended: the first is shown.
                (Some(_), CaptionKind::SessionEnded { .. }) if channel.ended() => {}
                (Some(mirror), kind) => {
                    channel.publish(message.clone());
                    if let CaptionKind::SessionEnded { minutes_follow } = kind {
                        channel.end();
                        mirror.ended_at.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Instant::now);
                        if !minutes_follow {
                            self.drop_channel(&channel);
                        }
                    }
                }
                (None, _) => {}
            }
        }
    }

    /// The channels following sessions of other instances.
    pub(super) fn mirrors(&self) -> Vec<Arc<CaptionChannel>> {
        self.sessions.iter().filter(|c| c.mirror.is_some()).map(|c| c.value().clone()).collect()
    }

    /// Removes `channel` if it is still the session's.
    pub(super) fn drop_channel(&self, channel: &Arc<CaptionChannel>) {
        self.sessions.remove_if(&channel.session_id, |_, c| Arc::ptr_eq(c, channel));
    }
}

impl CaptionChannel {
    pub fn publish(&self, message: Arc<CaptionEvent>) {
        if message.kind.replayed() {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == REPLAY {
                recent.pop_front();
            }
            recent.push_back(message.clone());
        }
        if let Some(relay) = &self.relay {
            relay.publish(self.meeting_id, &message);
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

    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// For a mirror: how long it has existed, and how long ago its session's end was seen.
    pub(super) fn mirror_age(&self) -> Option<(std::time::Duration, Option<std::time::Duration>)> {
        let mirror = self.mirror.as_ref()?;
        let ended = *mirror.ended_at.lock().unwrap_or_else(|e| e.into_inner());
        Some((mirror.created.elapsed(), ended.map(|at| at.elapsed())))
    }

    /// Puts the session's last stored finals before whatever the relay has delivered so far
    /// (those are newer, or the same rows).
    async fn backfill(&self, store: &dyn Store) -> Result<(), StoreError> {
        let finals = store.list_finals(self.tenant_id, self.session_id).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let relayed_from = recent
            .iter()
            .filter_map(|e| match e.kind {
                CaptionKind::Final { seq } => seq,
                _ => None,
            })
            .min()
            .unwrap_or(i32::MAX);
        let older = finals.iter().rev().filter(|f| f.seq < relayed_from).take(REPLAY).collect::<Vec<_>>();
        for row in older {
            if recent.len() == REPLAY {
                break;
            }
            recent.push_front(CaptionEvent::stored(ServerMessage::Results(stored_final(row)), row.seq));
        }
        Ok(())
    }
}
