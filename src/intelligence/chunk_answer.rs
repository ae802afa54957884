//! [`ChunkAnswer`]: what the model wrote for one chunk, read back: parsed (a cut answer keeps
//! the lines it finished), turned into action items tied to the transcript lines they come
//! from, and tidied.

use super::extraction::{ExtractedItem, Extraction, TranscriptLine};
use super::grounding::{cite_lines, cite_note_lines, quote};
use super::title_words::normalized_words;
use crate::domain::MinutesNote;
use crate::inference::llm::{LlmError, StopReason};

/// One chunk's answer, as the schema makes the model write it.
#[derive(serde::Deserialize)]
pub(super) struct ChunkAnswer {
    summary: String,
    /// By line key; absent when the chunk has no candidate line.
    #[serde(default)]
    tasks: std::collections::HashMap<String, Option<ChunkTask>>,
    /// Absent when the answer was cut before them.
    #[serde(default)]
    decisions: Vec<ChunkNote>,
    #[serde(default)]
    open_questions: Vec<ChunkNote>,
}

#[derive(serde::Deserialize)]
struct ChunkNote {
    line: i64,
    text: String,
}

#[derive(serde::Deserialize)]
struct ChunkTask {
    title: String,
    assignee: Option<String>,
    due_date: Option<String>,
}

impl ChunkAnswer {
    /// Turns the model's tasks into [`ExtractedItem`]s tied to the transcript: each comes from
    /// the line it was written for (moved to a line that says it when that one does not, or
    /// dropped when nothing in the chunk does; see [`cite_lines`]) and quotes that line as its
    /// description, so a reader sees what was actually said.
    /// `log_odds[i]` is the model's log-odds of a task on the line of `keys[i]`; descriptions
    /// are cut to `description_chars`.
    pub fn ground(
        self,
        keys: &[(String, i64)],
        log_odds: &[f32],
        chunk: &[(TranscriptLine, String)],
        description_chars: u16,
    ) -> Extraction {
        let mut tasks = self.tasks;
        let mut items: Vec<ExtractedItem> = keys
            .iter()
            .zip(log_odds)
            .filter_map(|((key, seq), &log_odds)| {
                let task = tasks.remove(key).flatten()?;
                Some(ExtractedItem {
                    title: task.title,
                    description: String::new(),
                    assignee: task.assignee,
                    due_date: task.due_date,
                    source_segments: vec![*seq],
                    confidence: 1.0 / (1.0 + (-log_odds).exp()),
                })
            })
            .collect();
        cite_lines(&mut items, chunk);
        for item in &mut items {
            if let Some((line, _)) = item.source_segments.first().and_then(|s| chunk.iter().find(|(l, _)| l.seq == *s))
            {
                item.description = quote(line, usize::from(description_chars));
            }
        }
        let notes = |notes: Vec<ChunkNote>| {
            let mut notes: Vec<MinutesNote> = notes
                .into_iter()
                .map(|n| MinutesNote { text: n.text.trim().to_owned(), source_segments: vec![n.line] })
                .filter(|n| !n.text.is_empty())
                .collect();
            cite_note_lines(&mut notes, chunk);
            notes
        };
        Extraction {
            summary: self.summary,
            action_items: items,
            decisions: notes(self.decisions),
            open_questions: notes(self.open_questions),
        }
    }
}

/// Parses one chunk's answer. An answer cut off by the token budget keeps the items written
/// before the cut (see [`close_truncated`]).
pub(super) fn parse(text: &str, stop: StopReason) -> Result<ChunkAnswer, LlmError> {
    let parsed = match stop {
        StopReason::MaxTokens | StopReason::ContextFull => {
            close_truncated(text).map(|t| serde_json::from_str(&t)).unwrap_or_else(|| serde_json::from_str(text))
        }
        _ => serde_json::from_str(text),
    };
    parsed.map_err(|e| LlmError::Output(format!("{e}: {text}")))
}

/// A truncated `{"summary": …, "tasks": {"k1": null, "k2": {…}, "k3": {"tit` closed after
/// the last complete line's value (an empty `tasks` when none is complete); an answer cut in its
/// decisions or questions keeps its whole `tasks` and drops them. `None` when the summary itself
/// is cut.
fn close_truncated(text: &str) -> Option<String> {
    // The key is forced, so these bytes are the key (in a string a quote is escaped): all before
    // it is whole.
    if let Some(notes) = text.find(",\"decisions\":") {
        return Some(format!("{}}}", &text[..notes]));
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut end = None;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                // `tasks` just opened: closing here leaves it empty.
                if depth == 2 {
                    end = Some(i + 1);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            // Between two lines' entries: everything before is whole.
            b',' if depth == 2 => end = Some(i),
            _ => {}
        }
    }
    end.map(|e| format!("{}}}}}", &text[..e]))
}

/// Tidies one chunk's answer: trimmed strings, `null`-like words as `None`, items without a
/// title dropped.
pub(super) fn clean(extraction: &mut Extraction) {
    extraction.summary = without_loop(extraction.summary.trim());
    let optional = |v: &mut Option<String>| {
        let t = v.as_deref().map(str::trim).unwrap_or_default();
        let empty =
            t.is_empty() || ["null", "none", "n/a", "unknown", "nobody", "-"].contains(&t.to_lowercase().as_str());
        *v = if empty { None } else { Some(t.to_owned()) };
    };
    for item in &mut extraction.action_items {
        item.title = item.title.trim().to_owned();
        item.description = item.description.trim().to_owned();
        optional(&mut item.assignee);
        optional(&mut item.due_date);
    }
    extraction.action_items.retain(|i| !normalized_words(&i.title).is_empty());
}

/// Times a phrase must follow itself to count as a loop rather than emphasis.
const LOOP_REPEATS: usize = 3;
/// Longest phrase (words) looked for: a repeated sentence.
const LOOP_MAX_WORDS: usize = 24;

/// `text` up to where it starts repeating one phrase (greedy decoding of a small model can
/// loop: "I'm going to be the one who is going to be the one who is …"), cut back to its last
/// finished sentence or clause; `text` itself when it does not loop.
pub(super) fn without_loop(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let repeats_from = |start: usize, n: usize| {
        start + n * LOOP_REPEATS <= words.len()
            && (1..LOOP_REPEATS).all(|k| words[start..start + n] == words[start + k * n..start + (k + 1) * n])
    };
    let Some((start, n)) =
        (0..words.len()).find_map(|start| (1..=LOOP_MAX_WORDS).find(|&n| repeats_from(start, n)).map(|n| (start, n)))
    else {
        return text.to_owned();
    };
    let kept = if start == 0 { words[..n].join(" ") } else { words[..start].join(" ") };
    let kept = kept.trim_end_matches([',', ';', ':', ' ']);
    if kept.ends_with(['.', '!', '?', '。']) {
        return kept.to_owned();
    }
    if let Some(end) = kept.rfind(['.', '!', '?', '。']) {
        return kept[..=end].to_owned();
    }
    match kept.rfind([',', ';']) {
        Some(end) => format!("{}.", &kept[..end]),
        None => kept.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_items::item;
    use super::*;

    #[test]
    fn a_looping_summary_is_cut_before_the_loop() {
        let looped = "The team is going to be working on a new project, and I'm going to be the one who is going \
            to be the one who is going to be the one who is going to be the one who is";
        assert_eq!(without_loop(looped), "The team is going to be working on a new project.");
        let sentences = "We agreed on the launch. Mina will write the notes. Mina will write the notes. Mina will write \
            the notes. Mina will write the notes.";
        assert_eq!(without_loop(sentences), "We agreed on the launch.");
        let korean = "출시 일정을 정했습니다. 다음 주에 다시 다음 주에 다시 다음 주에 다시 다음 주에 다시";
        assert_eq!(without_loop(korean), "출시 일정을 정했습니다.");
        // Emphasis is no loop; a summary that is only a loop keeps one copy.
        for fine in ["It was very, very good.", "No no no, not that one.", "We met. We met again."] {
            assert_eq!(without_loop(fine), fine);
        }
        assert_eq!(without_loop("ok ok ok ok"), "ok");
    }

    #[test]
    fn cleaning_trims_and_drops_null_words() {
        let mut e = Extraction {
            decisions: Vec::new(),
            open_questions: Vec::new(),
            summary: "  s ".into(),
            action_items: vec![
                ExtractedItem {
                    title: " t ".into(),
                    description: "d".into(),
                    assignee: Some("None".into()),
                    due_date: Some(" by Friday ".into()),
                    source_segments: vec![1, 2],
                    confidence: 0.9,
                },
                item("  ", None, &[]),
            ],
        };
        clean(&mut e);
        assert_eq!(e.summary, "s");
        assert_eq!(e.action_items.len(), 1);
        let i = &e.action_items[0];
        assert_eq!((i.title.as_str(), i.assignee.as_deref(), i.due_date.as_deref()), ("t", None, Some("by Friday")));
    }

    #[test]
    fn a_truncated_answer_keeps_its_whole_lines() {
        let cut = r#"{"summary": "s [x] {y}","tasks": {"[1] A: a, b": {"title": "a \"},\"","assignee": null,"due_date": null},"[2] B: c": null,"[3] C: d": {"title": "b","assignee": "Bo"#;
        let closed = close_truncated(cut).unwrap();
        let answer: ChunkAnswer = serde_json::from_str(&closed).unwrap();
        assert_eq!(answer.summary, "s [x] {y}");
        assert_eq!(answer.tasks.len(), 2);
        assert_eq!(answer.tasks["[1] A: a, b"].as_ref().unwrap().title, "a \"},\"");
        assert!(answer.tasks["[2] B: c"].is_none());
        let none = close_truncated(r#"{"summary": "s","tasks": {"[1] A: a": {"ti"#).unwrap();
        assert!(serde_json::from_str::<ChunkAnswer>(&none).unwrap().tasks.is_empty());
        assert_eq!(close_truncated(r#"{"summary": "the meeting was about"#), None);
        assert!(parse(r#"{"summary": "the meeting"#, StopReason::MaxTokens).is_err());
        assert!(parse(cut, StopReason::MaxTokens).is_ok());
        assert!(parse(cut, StopReason::Complete).is_err());
        // Cut in the decisions: the tasks stand, the decisions go.
        let notes = r#"{"summary": "s","tasks": {"[1] A: a": null,"[2] B: b": {"title": "t","assignee": null,"due_date": null}},"decisions": [{"line": 1,"text": "Ship it"}, {"line": 2,"te"#;
        let answer: ChunkAnswer = serde_json::from_str(&close_truncated(notes).unwrap()).unwrap();
        assert_eq!(answer.tasks.len(), 2);
        assert!(answer.decisions.is_empty() && answer.open_questions.is_empty());
        let untasked = r#"{"summary": "s \",\"decisions\": x","decisions": [{"line": 1,"te"#;
        let answer: ChunkAnswer = serde_json::from_str(&close_truncated(untasked).unwrap()).unwrap();
        assert_eq!(answer.summary, "s \",\"decisions\": x");
    }

    #[test]
    fn decisions_and_questions_cite_the_line_that_says_them() {
        let line = |seq: i64, text: &str| {
            let l = TranscriptLine { seq, speaker: Some("Ana".into()), start: 0.0, end: 1.0, text: text.into() };
            (l, String::new())
        };
        let chunk = [
            line(1, "Let's go with the blue logo for the launch."),
            line(2, "We still don't know the printing budget."),
            line(3, "Okay, thanks everyone."),
            line(4, "The launch moves to a new date next year."),
        ];
        let answer: ChunkAnswer = serde_json::from_str(
            r#"{"summary": "s","decisions": [{"line": 3,"text": "Use the blue logo"}, {"line": 1,"text": "Hire a new chef"}, {"line": 4,"text": "Buy new printing chairs this year"}],"open_questions": [{"line": 9,"text": "The printing budget"}]}"#,
        )
        .unwrap();
        let e = answer.ground(&[], &[], &chunk, 80);
        // Moved to the line that says it; one nobody talked about is dropped, and so is one whose
        // words are spread over the chunk but said on no line.
        assert_eq!(e.decisions, vec![MinutesNote { text: "Use the blue logo".into(), source_segments: vec![1] }]);
        assert_eq!(
            e.open_questions,
            vec![MinutesNote { text: "The printing budget".into(), source_segments: vec![2] }]
        );
    }
}
