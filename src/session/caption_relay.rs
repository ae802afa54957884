//! [`CaptionRelay`]: caption messages between instances sharing one PostgreSQL database, over
//! `LISTEN`/`NOTIFY` (docs/deployment.md, "Captions across instances").
//!
//! - Each meeting has a notification channel, `ddk_captions_<meeting id>`. The instance owning a
//!   live session notifies every message its viewers get there; an instance listens to a meeting
//!   while it has a channel for it (a viewer's mirror, or its own session, which may receive the
//!   action items of a job that ran elsewhere).
//! - A notification carries at most 8,000 bytes, so a message is cut into numbered parts; the
//!   parts of a batch are notified by one statement, hence in one transaction, which PostgreSQL
//!   delivers whole and in order.
//! - Best effort, as the in-process channel is: a message that cannot be notified (the queue to
//!   the publisher is full, the database is away) is counted and dropped. Finals are in the
//!   database anyway, and a viewer that joins later reads them from there.
//! - A mirror whose owner died hears nothing more; the relay checks each mirror's session every
//!   [`MIRROR_CHECK`] and ends it once the session is ended (the sweeper finalized it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use super::caption_hub::{CaptionEvent, CaptionHub, CaptionKind};
use super::server_message::ServerMessage;
use crate::domain::SessionStatus;
use crate::store::Store;

const CHANNEL_PREFIX: &str = "ddk_captions_";
/// PostgreSQL's limit is 8,000 bytes per payload; the rest is room for the part's header.
const PART_BYTES: usize = 7_800;
/// Messages waiting for the publisher; beyond this they are dropped (and counted).
const OUTGOING: usize = 4_096;
/// Notifications sent by one statement.
const BATCH: usize = 256;
/// How often mirrors are checked against the database.
pub const MIRROR_CHECK: Duration = Duration::from_secs(2);
/// A mirror nobody watches any more is dropped after this long.
const MIRROR_GRACE: Duration = Duration::from_secs(5);
/// Messages being reassembled; more means parts were lost, and the oldest are forgotten.
const REASSEMBLING: usize = 64;

/// What the hub holds to publish and to listen.
#[derive(Clone)]
pub struct RelayHandle {
    outgoing: mpsc::Sender<Outgoing>,
    /// Unbounded: one command per channel opened or closed, and those are bounded by admission.
    commands: mpsc::UnboundedSender<Command>,
}

struct Outgoing {
    meeting: Uuid,
    kind: CaptionKind,
    json: Arc<str>,
}

enum Command {
    Listen(Uuid),
    Unlisten(Uuid),
    /// Answered once every command sent before it is done.
    Sync(oneshot::Sender<()>),
}

/// Held by a channel: while it lives, its meeting's notifications reach this instance.
pub struct ListenGuard {
    meeting: Uuid,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for ListenGuard {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unlisten(self.meeting));
    }
}

impl RelayHandle {
    pub(super) fn publish(&self, meeting: Uuid, event: &Arc<CaptionEvent>) {
        let message = Outgoing { meeting, kind: event.kind, json: event.json.clone() };
        if self.outgoing.try_send(message).is_err() {
            crate::metrics::caption_relay_dropped("queue_full", 1);
        }
    }

    pub(super) fn listen(&self, meeting: Uuid) -> ListenGuard {
        let _ = self.commands.send(Command::Listen(meeting));
        ListenGuard { meeting, commands: self.commands.clone() }
    }

    /// Returns once the listens asked for so far are in effect.
    pub(super) async fn listening(&self) {
        let (ack, done) = oneshot::channel();
        if self.commands.send(Command::Sync(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

/// The relay's tasks: the publisher, the listener and the mirror checks. Dropping it stops them.
pub struct CaptionRelay {
    _tasks: [AbortOnDropHandle<()>; 3],
}

impl CaptionRelay {
    /// A hub whose channels are relayed through `pool`'s database, and the tasks doing it.
    /// `linger`: how long a mirror of an ended session waits for its action items.
    pub async fn start(
        pool: PgPool,
        store: Arc<dyn Store>,
        linger: Duration,
    ) -> anyhow::Result<(Arc<CaptionHub>, CaptionRelay)> {
        let listener = PgListener::connect_with(&pool).await?;
        let origin = Uuid::new_v4();
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(CaptionHub::relayed(RelayHandle { outgoing, commands }));
        let tasks = [
            AbortOnDropHandle::new(tokio::spawn(publish(pool, origin, outgoing_rx))),
            AbortOnDropHandle::new(tokio::spawn(listen(listener, origin, commands_rx, hub.clone()))),
            AbortOnDropHandle::new(tokio::spawn(check_mirrors(hub.clone(), store, linger))),
        ];
        Ok((hub, CaptionRelay { _tasks: tasks }))
    }
}

fn channel_name(meeting: Uuid) -> String {
    format!("{CHANNEL_PREFIX}{}", meeting.simple())
}

fn kind_code(kind: CaptionKind) -> String {
    match kind {
        CaptionKind::Final { seq: Some(seq) } => format!("f{seq}"),
        CaptionKind::Final { seq: None } => "f".into(),
        CaptionKind::Partial => "p".into(),
        CaptionKind::Gap => "g".into(),
        CaptionKind::SessionEnded { minutes_follow: true } => "e1".into(),
        CaptionKind::SessionEnded { minutes_follow: false } => "e0".into(),
        CaptionKind::ActionItemsReady => "a".into(),
        CaptionKind::Other => "o".into(),
    }
}

fn parse_kind(code: &str) -> Option<CaptionKind> {
    Some(match code {
        "f" => CaptionKind::Final { seq: None },
        "p" => CaptionKind::Partial,
        "g" => CaptionKind::Gap,
        "e1" => CaptionKind::SessionEnded { minutes_follow: true },
        "e0" => CaptionKind::SessionEnded { minutes_follow: false },
        "a" => CaptionKind::ActionItemsReady,
        "o" => CaptionKind::Other,
        _ => CaptionKind::Final { seq: Some(code.strip_prefix('f')?.parse().ok()?) },
    })
}

/// `text` in pieces of at most `max` bytes, cut between characters.
fn parts(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    if parts.is_empty() {
        parts.push("");
    }
    parts
}

/// The notifications of one message: `origin|message|part|parts|kind|text`.
fn encode(origin: Uuid, id: u64, message: &Outgoing) -> Vec<(String, String)> {
    let channel = channel_name(message.meeting);
    let kind = kind_code(message.kind);
    let pieces = parts(&message.json, PART_BYTES);
    let count = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| (channel.clone(), format!("{}|{id}|{i}|{count}|{kind}|{piece}", origin.simple())))
        .collect()
}

async fn publish(pool: PgPool, origin: Uuid, mut outgoing: mpsc::Receiver<Outgoing>) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let mut batch = Vec::with_capacity(BATCH);
    while outgoing.recv_many(&mut batch, BATCH).await > 0 {
        let (channels, payloads): (Vec<String>, Vec<String>) =
            batch.drain(..).flat_map(|m| encode(origin, NEXT_ID.fetch_add(1, Ordering::Relaxed), &m)).unzip();
        // One statement: one transaction, delivered whole and in this order.
        let sent = sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)")
            .bind(&channels)
            .bind(&payloads)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, notifications = payloads.len(), "caption relay: notifying failed");
            crate::metrics::caption_relay_dropped("database", payloads.len() as u64);
        }
    }
}

/// Parts of messages being put back together.
#[derive(Default)]
struct Reassembly {
    messages: HashMap<(String, u64), Vec<String>>,
}

impl Reassembly {
    /// A notification's meeting and, when it completes one, the message from another instance.
    fn push(&mut self, origin: Uuid, channel: &str, payload: &str) -> Option<(Uuid, Arc<CaptionEvent>)> {
        let meeting = Uuid::try_parse(channel.strip_prefix(CHANNEL_PREFIX)?).ok()?;
        let mut fields = payload.splitn(6, '|');
        let (from, id, part, count, kind, text) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        if Uuid::try_parse(from).ok()? == origin {
            return None;
        }
        let (id, part, count): (u64, usize, usize) = (id.parse().ok()?, part.parse().ok()?, count.parse().ok()?);
        let kind = parse_kind(kind)?;
        let json: Arc<str> = if count == 1 {
            text.into()
        } else {
            if self.messages.len() >= REASSEMBLING {
                tracing::warn!("caption relay: parts of messages were lost");
                self.messages.clear();
            }
            let parts = self.messages.entry((from.to_owned(), id)).or_default();
            if parts.len() != part {
                self.messages.remove(&(from.to_owned(), id));
                return None;
            }
            parts.push(text.to_owned());
            if parts.len() < count {
                return None;
            }
            self.messages.remove(&(from.to_owned(), id))?.concat().into()
        };
        Some((meeting, CaptionEvent::relayed(kind, json)))
    }
}

async fn listen(
    mut listener: PgListener,
    origin: Uuid,
    mut commands: mpsc::UnboundedReceiver<Command>,
    hub: Arc<CaptionHub>,
) {
    // Channels per meeting on this instance; a meeting is listened to while it has one.
    let mut channels: HashMap<Uuid, usize> = HashMap::new();
    let mut reassembly = Reassembly::default();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Listen(meeting)) => {
                    let held = channels.entry(meeting).or_default();
                    *held += 1;
                    if *held == 1 {
                        // A failed LISTEN is not remembered by the listener: the meeting's
                        // mirror then gets its end from the checks, and nothing in between.
                        if let Err(e) = listener.listen(&channel_name(meeting)).await {
                            tracing::warn!(%meeting, error = %e, "caption relay: LISTEN failed");
                        }
                    }
                }
                Some(Command::Unlisten(meeting)) => {
                    let Some(held) = channels.get_mut(&meeting) else { continue };
                    *held -= 1;
                    if *held == 0 {
                        channels.remove(&meeting);
                        if let Err(e) = listener.unlisten(&channel_name(meeting)).await {
                            tracing::debug!(%meeting, error = %e, "caption relay: UNLISTEN failed");
                        }
                    }
                }
                Some(Command::Sync(ack)) => {
                    let _ = ack.send(());
                }
            },
            // Cancel-safe: a notification is taken from the connection only when whole.
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => {
                    if let Some((meeting, event)) = reassembly.push(origin, notification.channel(), notification.payload()) {
                        hub.deliver(meeting, event);
                    }
                }
                Ok(None) => tracing::warn!("caption relay: lost its database connection; messages until it is back are missed"),
                Err(e) => {
                    tracing::warn!(error = %e, "caption relay: listening failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
}

/// Drops mirrors nobody watches, and those whose session ended long enough ago; ends the
/// mirrors whose session was ended without their hearing of it (its owner died).
async fn check_mirrors(hub: Arc<CaptionHub>, store: Arc<dyn Store>, linger: Duration) {
    let mut tick = tokio::time::interval(MIRROR_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for channel in hub.mirrors() {
            let Some((age, ended)) = channel.mirror_age() else { continue };
            if channel.viewers() == 0 && age >= MIRROR_GRACE || ended.is_some_and(|since| since >= linger) {
                hub.drop_channel(&channel);
                continue;
            }
            if ended.is_some() {
                continue;
            }
            let session = match store.get_realtime_session(channel.tenant_id, channel.session_id).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(session = %channel.session_id, error = %e, "caption relay: checking a mirror failed");
                    continue;
                }
            };
            if session.status != SessionStatus::Ended {
                continue;
            }
            let meeting = store.get_meeting(channel.tenant_id, channel.meeting_id).await.ok();
            let ended = ServerMessage::SessionEnded {
                session_id: channel.session_id,
                meeting_id: channel.meeting_id,
                duration: meeting.as_ref().and_then(|m| m.audio_duration).map_or(0.0, f64::from),
            };
            let minutes_follow =
                !linger.is_zero() && meeting.and_then(|m| m.transcript_text).is_some_and(|t| !t.is_empty());
            hub.deliver(channel.meeting_id, CaptionEvent::session_ended(ended, minutes_follow));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassembled(origin: Uuid, message: &Outgoing) -> Option<(Uuid, Arc<CaptionEvent>)> {
        let mut reassembly = Reassembly::default();
        let mut last = None;
        for (channel, payload) in encode(origin, 7, message) {
            assert!(payload.len() <= 8_000, "a notification holds at most 8,000 bytes");
            last = reassembly.push(Uuid::new_v4(), &channel, &payload);
        }
        last
    }

    #[test]
    fn a_long_message_is_cut_into_notifications_and_put_back_together() {
        let meeting = Uuid::new_v4();
        // Hangul is three bytes a character: the cuts must fall between characters.
        let json: String = format!("{{\"text\":\"{}\"}}", "회의록|".repeat(5_000));
        let kind = CaptionKind::Final { seq: Some(41) };
        let message = Outgoing { meeting, kind, json: json.as_str().into() };
        assert!(encode(Uuid::new_v4(), 1, &message).len() > 2);
        let (to, event) = reassembled(Uuid::new_v4(), &message).expect("whole again");
        assert_eq!(to, meeting);
        assert_eq!(&*event.json, json.as_str());
        assert_eq!(event.kind, kind);
    }

    #[test]
    fn own_messages_and_lost_parts_are_not_delivered() {
        let origin = Uuid::new_v4();
        let message = Outgoing { meeting: Uuid::new_v4(), kind: CaptionKind::Partial, json: "{}".into() };
        let (channel, payload) = encode(origin, 1, &message).remove(0);
        assert!(Reassembly::default().push(origin, &channel, &payload).is_none(), "an instance skips its own");
        let (to, event) = Reassembly::default().push(Uuid::new_v4(), &channel, &payload).expect("another's");
        assert_eq!((to, event.kind, &*event.json), (message.meeting, CaptionKind::Partial, "{}"));

        let long = Outgoing { meeting: Uuid::new_v4(), kind: CaptionKind::Other, json: "x".repeat(20_000).into() };
        let notifications = encode(origin, 2, &long);
        let mut reassembly = Reassembly::default();
        let other = Uuid::new_v4();
        assert!(reassembly.push(other, &notifications[0].0, &notifications[0].1).is_none());
        // The middle part is lost: the message is dropped, not delivered torn.
        assert!(reassembly.push(other, &notifications[2].0, &notifications[2].1).is_none());
        assert!(reassembly.messages.is_empty());
    }

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in [
            CaptionKind::Final { seq: Some(0) },
            CaptionKind::Final { seq: None },
            CaptionKind::Partial,
            CaptionKind::Gap,
            CaptionKind::SessionEnded { minutes_follow: true },
            CaptionKind::SessionEnded { minutes_follow: false },
            CaptionKind::ActionItemsReady,
            CaptionKind::Other,
        ] {
            assert_eq!(parse_kind(&kind_code(kind)), Some(kind));
        }
        assert_eq!(parse_kind("fx"), None);
    }
}
