//! What an item says against what was said: an item is kept only when the chunk talked about
//! it, cites the line that says it and quotes that line; a question its own assignee asked is
//! no task of theirs.

use std::collections::BTreeSet;

use super::assignee_resolver::may_be_same_person;
use super::extraction::{ExtractedItem, TranscriptLine};
use super::extraction_prompt::{single_line, speaker_prefix};
use super::task_cues::TaskCues;
use super::title_words::topic_words;
use crate::domain::MinutesNote;

/// Whether at least half of a title's topic words were said in `chunk` (small models echo the
/// worked example or invent tasks; both name things nobody in this meeting said).
fn grounded(title: &BTreeSet<String>, chunk: &BTreeSet<String>) -> bool {
    !title.is_empty() && 2 * title.intersection(chunk).count() >= title.len()
}

/// The line that shares the most topic words with `title` (ties: nearest to `near`, else the
/// earliest); `None` when no line shares one.
fn best_line(title: &BTreeSet<String>, lines: &[(TranscriptLine, BTreeSet<String>)], near: Option<i64>) -> Option<i64> {
    lines
        .iter()
        .map(|(l, w)| (w.intersection(title).count(), l.seq))
        .filter(|&(n, _)| n > 0)
        .min_by_key(|&(n, seq)| (std::cmp::Reverse(n), near.map_or(seq, |x| (seq - x).abs())))
        .map(|(_, seq)| seq)
}

/// Keeps the items whose titles are grounded in the chunk and makes each cite one line that
/// says what the title says: the model's own line when it shares a topic word with the title,
/// else the line sharing the most (the model's number is often one or two lines off).
pub(super) fn cite_lines(items: &mut Vec<ExtractedItem>, chunk: &[(TranscriptLine, String)]) {
    cite_lines_of(items, chunk, |i| (&i.title, &mut i.source_segments));
}

/// [`cite_lines`] for decisions and open questions, by their text, most of whose topic words must
/// also be said by the one line they cite: a note is a sentence of the meeting, not a topic of it
/// (a small model echoes the worked example's decisions with a word or two the chunk happens to
/// say).
pub(super) fn cite_note_lines(notes: &mut Vec<MinutesNote>, chunk: &[(TranscriptLine, String)]) {
    cite_lines_of(notes, chunk, |n| (&n.text, &mut n.source_segments));
    notes.retain(|n| {
        let line = n.source_segments.first().and_then(|seq| chunk.iter().find(|(l, _)| l.seq == *seq));
        let words = topic_words(&n.text);
        let kept = line.is_some_and(|(l, _)| 2 * words.intersection(&topic_words(&l.text)).count() > words.len());
        if !kept {
            tracing::debug!(text = %n.text, "dropping a note its line does not say");
        }
        kept
    });
}

fn cite_lines_of<T>(
    entries: &mut Vec<T>,
    chunk: &[(TranscriptLine, String)],
    parts: impl Fn(&mut T) -> (&String, &mut Vec<i64>),
) {
    let lines: Vec<(TranscriptLine, BTreeSet<String>)> =
        chunk.iter().map(|(l, _)| (l.clone(), topic_words(&l.text))).collect();
    let said: BTreeSet<String> = lines.iter().flat_map(|(_, w)| w.iter().cloned()).collect();
    entries.retain_mut(|entry| {
        let (text, segments) = parts(entry);
        let title = topic_words(text);
        if !grounded(&title, &said) {
            tracing::debug!(%text, "dropping an entry nobody in the chunk talked about");
            return false;
        }
        let cited = segments.first().copied();
        let fits =
            cited.and_then(|c| lines.iter().find(|(l, _)| l.seq == c)).is_some_and(|(_, w)| !w.is_disjoint(&title));
        if !fits {
            *segments = best_line(&title, &lines, cited).into_iter().collect();
        }
        true
    });
}

/// `Speaker: "text"` of a line, cut to `max` characters with an ellipsis.
pub(super) fn quote(line: &TranscriptLine, max: usize) -> String {
    let text = single_line(&line.text);
    let full = format!("{}\"{text}\"", speaker_prefix(line));
    if full.chars().count() <= max {
        return full;
    }
    let mut cut: String = full.chars().take(max.saturating_sub(2)).collect();
    cut.push_str("…\"");
    cut
}

/// Whether the item's only line is a question its own assignee asked without promising anything
/// ("Should we offer service credits?"): asking is not taking, and no line says anybody took it.
pub(super) fn asked_by_assignee(item: &ExtractedItem, lines: &[(TranscriptLine, String)], promises: &TaskCues) -> bool {
    let [seq] = item.source_segments[..] else { return false };
    let Some((line, _)) = lines.iter().find(|(l, _)| l.seq == seq) else { return false };
    let (Some(speaker), Some(assignee)) = (&line.speaker, &item.assignee) else { return false };
    line.text.trim_end().ends_with('?') && !promises.may_hold_task(&line.text) && may_be_same_person(speaker, assignee)
}

#[cfg(test)]
mod tests {
    use super::super::test_items::item;
    use super::*;

    #[test]
    fn a_question_is_not_a_promise_of_the_one_who_asks_it() {
        let line = |seq, speaker: &str, text: &str| {
            let l = TranscriptLine { seq, speaker: Some(speaker.into()), start: 0.0, end: 0.0, text: text.into() };
            (l, String::new())
        };
        let lines = [
            line(1, "Nina", "One more idea. Should we offer service credits?"),
            line(2, "Speaker 1", "Can you send me the link?"),
            line(3, "Nina", "I'll call their CTO."),
            line(4, "Ella", "I'll prepare the forecast. Is August fifth okay?"),
            line(5, "서연", "기자단 초청 명단은 누가 챙기나요?"),
            line(6, "서연", "명단은 제가 챙길까요?"),
        ];
        let promises = TaskCues::promises();
        assert!(asked_by_assignee(&item("Offer service credits", Some("Nina Petrova"), &[1]), &lines, &promises));
        // Korean: the speaker is called by the given name, the assignee written in full.
        assert!(asked_by_assignee(&item("기자단 초청 명단 챙기기", Some("이서연"), &[5]), &lines, &promises));
        assert!(!asked_by_assignee(&item("기자단 초청 명단 챙기기", Some("이서연"), &[6]), &lines, &promises));
        // Asked of somebody else, answered on another line, a diarization label, or a promise.
        for (title, assignee, segs) in [
            ("Offer service credits", "Omar", &[1][..]),
            ("Offer service credits", "Nina", &[1, 3][..]),
            ("Send the link", "Speaker 2", &[2][..]),
            ("Call the CTO", "Nina", &[3][..]),
            ("Prepare the forecast", "Ella", &[4][..]),
        ] {
            assert!(!asked_by_assignee(&item(title, Some(assignee), segs), &lines, &promises), "{title}");
        }
    }

    #[test]
    fn items_must_be_grounded_and_cite_a_line_that_says_them() {
        let lines: Vec<(TranscriptLine, String)> = [
            (1, "Let's talk about the release."),
            (2, "Bob, can you fix the Android login crash by Friday?"),
            (3, "Sure, I will fix the login crash."),
            (4, "The weather is nice, the release notes are done."),
        ]
        .into_iter()
        .map(|(seq, text)| {
            (TranscriptLine { seq, speaker: None, start: 0.0, end: 0.0, text: text.into() }, String::new())
        })
        .collect();
        let mut items = vec![
            // No number, and one that is off: the line saying the most of the title.
            item("Fix the Android login crashes", Some("Bob"), &[]),
            item("Fix login crash", Some("Bob"), &[4]),
            // Echoed from the worked example / invented: nobody said it.
            item("Get quotes from two moving companies", None, &[2]),
            item("Do it", None, &[1]),
            // Its own line fits: kept.
            item("Write the release notes", None, &[4]),
            item("Publish the release notes", None, &[1]),
        ];
        cite_lines(&mut items, &lines);
        let got: Vec<(&str, &[i64])> = items.iter().map(|i| (i.title.as_str(), i.source_segments.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                ("Fix the Android login crashes", &[2][..]),
                ("Fix login crash", &[3][..]),
                ("Write the release notes", &[4][..]),
                ("Publish the release notes", &[1][..]),
            ]
        );
    }

    #[test]
    fn items_quote_the_line_they_cite() {
        let line = TranscriptLine {
            seq: 4,
            speaker: Some("Bob".into()),
            start: 0.0,
            end: 1.0,
            text: "Yes,  I will\nfix it.".into(),
        };
        assert_eq!(quote(&line, 100), "Bob: \"Yes, I will fix it.\"");
        assert_eq!(quote(&line, 12), "Bob: \"Yes,…\"");
        assert_eq!(quote(&line, 12).chars().count(), 12);
    }
}
