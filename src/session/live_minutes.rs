//! [`LiveMinutes`]: action items proposed while a meeting is live.
//!
//! The session hands each stored final to a task it owns. Every so much new text
//! ([`MinutesDrafting::every_chars`]), the task asks the LLM worker for a draft of the transcript so far
//! ([`MeetingExtractor::draft`]): each chunk no later line can change is extracted once, at the
//! LLM's low priority, and kept by the worker, so the meeting's final minutes extract only what
//! came after the last closed chunk (a 60-minute meeting's minutes are then about as quick as a
//! 15-minute one's). Each draft that extracts a chunk is sent as `ActionItemsProposed` (the
//! whole provisional list, maybe empty) to the client and the viewers;
//! `ActionItemsReady` after the meeting confirms or revises them.
//!
//! Lines go to the task through an unbounded channel: one entry per stored final, which the
//! store holds anyway. A draft the LLM queue refuses (`Overloaded`) is asked again with the next
//! line; one that fails otherwise is logged and the final minutes do that work instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::domain::{ActionItem, Meeting};
use crate::inference::llm::{LlmError, LlmWorker};
use crate::intelligence::{
    AssigneeResolver, MeetingExtractor, MeetingInput, TranscriptLine, name_speakers, resolve_items,
};
use crate::store::Store;

/// How live sessions draft their minutes.
#[derive(Clone)]
pub struct MinutesDrafting {
    pub llm: Arc<LlmWorker<MeetingExtractor>>,
    /// New transcript text (characters) between two drafts. A draft that closes no chunk costs
    /// only the tokenization of the transcript so far.
    pub every_chars: usize,
}

/// One stored final, as the minutes read it.
#[derive(Debug)]
pub struct MinutesLine {
    pub seq: i32,
    /// The live speaker number, when the session is diarized.
    pub speaker: Option<i32>,
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// The session's language as its meeting stores it so far.
    pub language: Option<String>,
}

pub struct LiveMinutes {
    lines: mpsc::UnboundedSender<MinutesLine>,
    proposals: watch::Receiver<Vec<ActionItem>>,
}

impl LiveMinutes {
    /// Starts the drafting task on `tasks` (stopped by `shutdown`; otherwise it ends once this
    /// is dropped and its last draft is done).
    pub fn start(
        drafting: &MinutesDrafting,
        store: Arc<dyn Store>,
        meeting: &Meeting,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let (lines, rx) = mpsc::unbounded_channel();
        let (proposed, proposals) = watch::channel(Vec::new());
        let drafter = Drafter {
            llm: drafting.llm.clone(),
            every_chars: drafting.every_chars,
            store,
            tenant: meeting.tenant_id,
            meeting: meeting.id,
            title: meeting.title.clone(),
            date: meeting.created_at.date_naive(),
            proposed,
        };
        tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = drafter.run(rx) => {}
            }
        });
        Self { lines, proposals }
    }

    pub fn push(&self, line: MinutesLine) {
        // Only fails once the task stopped (shutdown): nothing more to draft then.
        let _ = self.lines.send(line);
    }

    /// The provisional items, as they change.
    pub fn proposals(&self) -> watch::Receiver<Vec<ActionItem>> {
        self.proposals.clone()
    }
}

/// The next change of `proposals` (pending forever once the drafting task stopped, or with none).
pub async fn next_proposal(proposals: &mut Option<watch::Receiver<Vec<ActionItem>>>) -> Vec<ActionItem> {
    if let Some(rx) = proposals
        && rx.changed().await.is_ok()
    {
        return rx.borrow_and_update().clone();
    }
    std::future::pending().await
}

struct Drafter {
    llm: Arc<LlmWorker<MeetingExtractor>>,
    every_chars: usize,
    store: Arc<dyn Store>,
    tenant: Uuid,
    meeting: Uuid,
    title: String,
    date: chrono::NaiveDate,
    proposed: watch::Sender<Vec<ActionItem>>,
}

impl Drafter {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<MinutesLine>) {
        // The tenant's people: names the model may write, and whom speakers may be.
        let users = match self.store.list_users(self.tenant, false).await {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(meeting = %self.meeting, error = %e, "no live minutes: the tenant's users could not be read");
                return;
            }
        };
        let people = AssigneeResolver::from_users(&users);
        let mut input = MeetingInput {
            title: self.title.clone(),
            date: self.date,
            lines: Vec::new(),
            attendees: users.iter().map(|u| u.name.clone()).collect(),
            language: None,
        };
        // Live speaker numbers → "Speaker N" in order of appearance, as the stored meeting names them.
        let mut voices: BTreeMap<i32, usize> = BTreeMap::new();
        let mut new_text = 0;
        while let Some(line) = rx.recv().await {
            let mut next = Some(line);
            while let Some(line) = next {
                let speaker = line.speaker.map(|s| {
                    let n = voices.len();
                    format!("Speaker {}", *voices.entry(s).or_insert(n) + 1)
                });
                new_text += line.text.chars().count();
                input.language = line.language;
                input.lines.push(TranscriptLine {
                    seq: line.seq.into(),
                    speaker,
                    start: line.start,
                    end: line.end,
                    text: line.text,
                });
                next = rx.try_recv().ok();
            }
            if new_text < self.every_chars {
                continue;
            }
            let mut named = input.clone();
            name_speakers(&mut named.lines, &people, HashMap::new());
            match self.llm.draft(self.meeting, named.clone()).await {
                Ok((extraction, stats)) => {
                    new_text = 0;
                    tracing::debug!(meeting = %self.meeting, chunks = stats.chunks, items = extraction.action_items.len(), "live minutes drafted");
                    let items = resolve_items(&extraction, &named.lines, &people, self.date);
                    // Sent whenever a chunk was drafted: an empty list says "none so far".
                    let drafted = stats.chunks > stats.reused_chunks;
                    self.proposed.send_if_modified(|proposed| {
                        let changed = drafted || *proposed != items;
                        *proposed = items;
                        changed
                    });
                }
                // Asked again with the next line.
                Err(LlmError::Overloaded) => {}
                Err(e) => {
                    new_text = 0;
                    tracing::warn!(meeting = %self.meeting, error = %e, "drafting live minutes failed");
                }
            }
        }
    }
}
