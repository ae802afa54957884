//! [`ChunkDrafts`]: the chunks of live meetings already extracted, so that a meeting's final
//! minutes only extract what was said after the last closed chunk.
//!
//! While a meeting is live, [`MeetingExtractor::draft`](super::MeetingExtractor::draft) extracts
//! each chunk once no later line can join it. When the meeting ends, its final extraction reuses
//! every drafted chunk whose lines (sequence numbers and text) are still the same, in order, and
//! chunks only the rest. Speakers may read differently by then (re-clustered, named): an item's
//! owner as the model wrote it is carried over to the name the same lines now carry, and the
//! owners the lines' own words give are worked out again on the final transcript. The verifier's
//! answers are kept too, by item (title, owner, cited lines), so an item verified while the
//! meeting ran is not asked about again.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use uuid::Uuid;

use super::extraction::{ExtractedItem, Extraction, MeetingInput, TranscriptLine};

/// Meetings whose drafts are kept; the least recently drafted is forgotten first (its final
/// minutes then extract every chunk, as without drafts).
const MEETINGS: usize = 64;

/// One chunk extracted while its meeting was live.
#[derive(Debug, Clone)]
pub(super) struct DraftChunk {
    /// `(seq, text)` of its lines, in order.
    lines: Vec<(i64, String)>,
    /// Each line's speaker as the draft read it.
    speakers: Vec<Option<String>>,
    /// The line the next chunk starts at (the overlap stepped back over).
    next: i64,
    /// Its answer: items grounded in its lines, owners as the model wrote them.
    pub answer: Extraction,
}

impl DraftChunk {
    pub fn new(chunk: &[(TranscriptLine, String)], next: i64, answer: &Extraction) -> Self {
        Self {
            lines: chunk.iter().map(|(l, _)| (l.seq, l.text.clone())).collect(),
            speakers: chunk.iter().map(|(l, _)| l.speaker.clone()).collect(),
            next,
            answer: answer.clone(),
        }
    }

    /// Its items, an owner the model wrote by a speaker's name given the name `lines` (which
    /// hold this chunk's lines from `start`) now give that speaker.
    pub fn items_as_read_now(&self, lines: &[(TranscriptLine, String)], start: usize) -> Vec<ExtractedItem> {
        // The draft's name → today's, where every line of that speaker agrees.
        let mut renamed: HashMap<&str, Option<&str>> = HashMap::new();
        for (then, (now, _)) in self.speakers.iter().zip(&lines[start..]) {
            if let (Some(then), Some(now)) = (then.as_deref(), now.speaker.as_deref()) {
                renamed.entry(then).and_modify(|n| *n = n.filter(|n| *n == now)).or_insert(Some(now));
            }
        }
        let mut items = self.answer.action_items.clone();
        for item in &mut items {
            if let Some(Some(now)) = item.assignee.as_deref().and_then(|a| renamed.get(a)) {
                item.assignee = Some((*now).to_owned());
            }
        }
        items
    }
}

/// What a chunk's prompt depends on besides its lines: drafts made for another title, date,
/// attendee list or minutes language are not reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DraftContext(u64);

impl DraftContext {
    pub fn of(input: &MeetingInput) -> Self {
        let mut hasher = DefaultHasher::new();
        (&input.title, input.date, &input.attendees, input.minutes_language()).hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// What the verifier is asked about an item.
type VerifiedItem = (String, Option<String>, Vec<i64>);

#[derive(Debug)]
struct MeetingDrafts {
    meeting: Uuid,
    context: DraftContext,
    chunks: Vec<DraftChunk>,
    /// The verifier's log-odds by item.
    verified: HashMap<VerifiedItem, f32>,
}

#[derive(Debug, Default)]
pub(super) struct ChunkDrafts {
    meetings: VecDeque<MeetingDrafts>,
}

impl ChunkDrafts {
    fn find(&self, meeting: Uuid, context: DraftContext) -> Option<&MeetingDrafts> {
        self.meetings.iter().find(|d| d.meeting == meeting && d.context == context)
    }

    pub fn get(&self, meeting: Uuid, context: DraftContext) -> Option<&Vec<DraftChunk>> {
        self.find(meeting, context).map(|d| &d.chunks)
    }

    pub fn put(&mut self, meeting: Uuid, context: DraftContext, chunks: Vec<DraftChunk>) {
        let verified = match self.meetings.iter().position(|d| d.meeting == meeting) {
            Some(i) => self.meetings.remove(i).filter(|d| d.context == context).map(|d| d.verified),
            None => None,
        };
        self.meetings.push_back(MeetingDrafts { meeting, context, chunks, verified: verified.unwrap_or_default() });
        while self.meetings.len() > MEETINGS {
            self.meetings.pop_front();
        }
    }

    /// The verifier's answer about `item` of `meeting`, when it was asked already.
    pub fn verified(&self, meeting: Uuid, context: DraftContext, item: &ExtractedItem) -> Option<f32> {
        self.find(meeting, context)?.verified.get(&verified_item(item)).copied()
    }

    /// Keeps the verifier's answer about `item` of a meeting that has drafts.
    pub fn remember(&mut self, meeting: Uuid, context: DraftContext, item: &ExtractedItem, log_odds: f32) {
        if let Some(d) = self.meetings.iter_mut().find(|d| d.meeting == meeting && d.context == context) {
            d.verified.insert(verified_item(item), log_odds);
        }
    }
}

fn verified_item(item: &ExtractedItem) -> VerifiedItem {
    (item.title.clone(), item.assignee.clone(), item.source_segments.clone())
}

/// Where each of the first of `drafted` (in order) that `lines` still hold unchanged starts,
/// each where the one before said the next chunk starts, and the line the rest starts at.
pub(super) fn reusable(drafted: &[DraftChunk], lines: &[(TranscriptLine, String)]) -> (Vec<usize>, usize) {
    let (mut starts, mut start) = (Vec::new(), 0);
    for chunk in drafted {
        let end = start + chunk.lines.len();
        let same = end <= lines.len()
            && lines[start..end].iter().zip(&chunk.lines).all(|((l, _), (seq, text))| l.seq == *seq && l.text == *text);
        let next = lines[start..].iter().position(|(l, _)| l.seq == chunk.next).map(|i| start + i);
        match next {
            Some(next) if same && next > start => {
                starts.push(start);
                start = next;
            }
            _ => break,
        }
    }
    (starts, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intelligence::test_items::item;

    fn answer(items: &[ExtractedItem]) -> Extraction {
        Extraction {
            summary: String::new(),
            action_items: items.to_vec(),
            decisions: Vec::new(),
            open_questions: Vec::new(),
        }
    }

    fn lines(speakers: &[&str]) -> Vec<(TranscriptLine, String)> {
        speakers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let line = TranscriptLine {
                    seq: i as i64 + 10,
                    speaker: Some((*s).to_owned()),
                    start: 0.0,
                    end: 0.0,
                    text: format!("line {i}"),
                };
                (line, String::new())
            })
            .collect()
    }

    #[test]
    fn drafted_chunks_are_reused_while_their_lines_are_unchanged() {
        let live = lines(&["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2"]);
        // Chunks of lines 0..3 and 2..5, as the draft planned them; the open one starts at 4.
        let drafted =
            vec![DraftChunk::new(&live[0..3], 12, &answer(&[])), DraftChunk::new(&live[2..5], 14, &answer(&[]))];
        assert_eq!(reusable(&drafted, &live), (vec![0, 2], 4));
        // More lines since: the same.
        let mut longer = live.clone();
        longer.extend(lines(&["a"; 9]).into_iter().skip(6).map(|(mut l, t)| {
            l.text = "later".into();
            (l, t)
        }));
        assert_eq!(reusable(&drafted, &longer), (vec![0, 2], 4));
        // A line of the second chunk reads differently: only the first is reused.
        let mut changed = live.clone();
        changed[3].0.text = "line 3, redone".into();
        assert_eq!(reusable(&drafted, &changed), (vec![0], 2));
        // The first line is gone: nothing is.
        assert_eq!(reusable(&drafted, &live[1..]), (vec![], 0));
        assert_eq!(reusable(&[], &live), (vec![], 0));
    }

    #[test]
    fn an_owner_written_by_a_live_speaker_name_follows_that_speakers_new_name() {
        let live = lines(&["Speaker 1", "Speaker 2", "Speaker 3"]);
        let items = [item("Fix the crash", Some("Speaker 2"), &[11]), item("Ship it", Some("Dana"), &[12])];
        let chunk = DraftChunk::new(&live, 13, &answer(&items));
        let now = lines(&["Ben Adler", "Nina Park", "Speaker 2"]);
        let owners: Vec<_> = chunk.items_as_read_now(&now, 0).into_iter().map(|i| i.assignee).collect();
        assert_eq!(owners, [Some("Nina Park".to_owned()), Some("Dana".to_owned())]);
        // A live speaker split in two since (two names for one): the owner stays as written.
        let split = lines(&["Ben Adler", "Nina Park", "Speaker 3"]);
        let chunk = DraftChunk::new(&lines(&["Speaker 1", "Speaker 2", "Speaker 2"]), 13, &answer(&items));
        assert_eq!(chunk.items_as_read_now(&split, 0)[0].assignee.as_deref(), Some("Speaker 2"));
    }

    #[test]
    fn drafts_are_kept_per_meeting_and_context_and_the_oldest_forgotten() {
        let context = DraftContext(1);
        let mut drafts = ChunkDrafts::default();
        let first = Uuid::new_v4();
        drafts.put(first, context, vec![]);
        assert!(drafts.get(first, context).is_some());
        assert!(drafts.get(first, DraftContext(2)).is_none(), "another prompt context");
        // The verifier's answers stay with the meeting's drafts, by title, owner and lines.
        let asked = item("Fix the crash", Some("Nina"), &[3]);
        drafts.remember(first, context, &asked, 1.5);
        drafts.put(first, context, vec![]);
        assert_eq!(drafts.verified(first, context, &asked), Some(1.5));
        assert_eq!(drafts.verified(first, context, &item("Fix the crash", Some("Ben"), &[3])), None);
        drafts.put(first, DraftContext(2), vec![]);
        assert_eq!(drafts.verified(first, DraftContext(2), &asked), None, "drafts of another context start over");
        drafts.put(first, context, vec![]);
        for _ in 0..MEETINGS {
            drafts.put(Uuid::new_v4(), context, vec![]);
        }
        assert!(drafts.get(first, context).is_none());
        assert_eq!(drafts.meetings.len(), MEETINGS);
    }
}
