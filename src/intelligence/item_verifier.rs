//! [`ItemVerifier`]: a second, independent look at each extracted action item.
//!
//! The extraction answer decides about its lines one after another, and each decision sees the
//! ones before it: a run of tasks makes the next line likelier a task, a run of `null`s the
//! reverse. The verifier puts every surviving item to the model on its own — its lines with a
//! little context, its title and assignee: did that person promise, or agree to, exactly this? —
//! and reads the log-odds of "Yes" over "No" from a single prefill (no decoding). The
//! instructions are a cached prefix, so an item costs only its own ~150 tokens
//! (docs/decisions.md, "Items are verified one by one").

use super::extraction::{ExtractedItem, TranscriptLine};
use super::extraction_prompt::single_line;
use crate::inference::llm::{Generator, LlmError, Message};

const SYSTEM: &str = "You check action items extracted from a meeting transcript. An action item is concrete \
work that a person in the meeting agreed to do after the meeting: they promised it (\"I'll ...\") or were asked \
and did not refuse. Not action items: ideas and maybes, work already done, work done on the spot during the \
meeting (sharing a screen, answering a question), work of people or teams outside the meeting, a \
question nobody took on, a group rule or decision with nobody to do it, and a detail added to another task. \
Answer Yes or No.";

/// Lines shown around an item's cited lines.
const CONTEXT_LINES: i64 = 2;

pub struct ItemVerifier {
    yes: Vec<u32>,
    no: Vec<u32>,
}

impl ItemVerifier {
    /// Caches the instructions in `generator` and finds the answer tokens.
    pub fn new(generator: &mut Generator) -> Result<Self, LlmError> {
        let system = [Message::system(SYSTEM)];
        generator.cache_prefix(&system)?;
        let first = |word: &str| -> Result<Vec<u32>, LlmError> {
            let ids = generator.encode(word)?;
            ids.first().map(|&t| vec![t]).ok_or_else(|| LlmError::Tokenizer(format!("{word:?} encodes to nothing")))
        };
        Ok(Self { yes: first("Yes")?, no: first("No")? })
    }

    /// The model's log-odds that `item` is an action item agreed on its cited lines of `lines`
    /// (in transcript order).
    pub fn log_odds(
        &self,
        generator: &mut Generator,
        item: &ExtractedItem,
        lines: &[TranscriptLine],
    ) -> Result<f32, LlmError> {
        let messages = [Message::system(SYSTEM), Message::user(question(item, lines))];
        generator.yes_log_odds(&messages, &self.yes, &self.no)
    }
}

/// The user turn: the excerpt with the cited lines marked, the item and the question.
fn question(item: &ExtractedItem, lines: &[TranscriptLine]) -> String {
    let cited = &item.source_segments;
    let excerpt: Vec<String> = lines
        .iter()
        .filter(|l| cited.iter().any(|&c| (l.seq - c).abs() <= CONTEXT_LINES))
        .map(|l| {
            let mark = if cited.contains(&l.seq) { ">> " } else { "   " };
            let speaker = l.speaker.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or("Speaker");
            format!("{mark}{}: {}", single_line(speaker), single_line(&l.text))
        })
        .collect();
    let who = item.assignee.as_deref().map_or("nobody".into(), single_line);
    format!(
        "Transcript excerpt (the marked lines are where the item was found):\n{}\n\nProposed action item: \
         \"{}\"\nAssignee: {who}\nQuestion: do the marked lines show {who} promising, or being asked and \
         agreeing, to do exactly this after the meeting? Answer Yes or No.",
        excerpt.join("\n"),
        single_line(&item.title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: i64, speaker: &str, text: &str) -> TranscriptLine {
        TranscriptLine { seq, speaker: Some(speaker.into()), start: 0.0, end: 0.0, text: text.into() }
    }

    #[test]
    fn the_question_marks_the_cited_lines_among_their_neighbours() {
        let lines: Vec<TranscriptLine> = (1..=9).map(|s| line(s, "Ana", &format!("line  {s}"))).collect();
        let item = ExtractedItem {
            title: "Send the\nbudget".into(),
            description: String::new(),
            assignee: None,
            due_date: None,
            source_segments: vec![4, 5],
            confidence: 1.0,
        };
        let q = question(&item, &lines);
        let excerpt: Vec<&str> = q.lines().skip(1).take_while(|l| !l.is_empty()).collect();
        assert_eq!(
            excerpt,
            [
                "   Ana: line 2",
                "   Ana: line 3",
                ">> Ana: line 4",
                ">> Ana: line 5",
                "   Ana: line 6",
                "   Ana: line 7"
            ]
        );
        assert!(
            q.contains("action item: \"Send the budget\"\nAssignee: nobody\nQuestion: do the marked lines show nobody"),
            "{q}"
        );
    }
}
