//! The extraction's input and output types: a transcript in, a summary and action items out.

use serde::{Deserialize, Serialize};

use crate::domain::MinutesNote;

/// One final transcript segment, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// The segment's sequence number; action items cite these in `source_segments`.
    pub seq: i64,
    #[serde(default)]
    pub speaker: Option<String>,
    #[serde(default)]
    pub start: f64,
    #[serde(default)]
    pub end: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingInput {
    #[serde(default)]
    pub title: String,
    /// The meeting's date: relative due dates ("by Friday") are relative to it.
    pub date: chrono::NaiveDate,
    pub lines: Vec<TranscriptLine>,
    /// Names of the tenant's users, which may help the model spell assignees.
    #[serde(default)]
    pub attendees: Vec<String>,
    /// The language the meeting was transcribed in (a Whisper code such as `ko`), when known.
    #[serde(default)]
    pub language: Option<String>,
}

impl MeetingInput {
    /// The language the minutes are written in: the one the meeting was transcribed in, else
    /// Korean when the text looks Korean ([`Self::is_korean`]), else `None` (English).
    pub fn minutes_language(&self) -> Option<&str> {
        self.language.as_deref().or_else(|| self.is_korean().then_some("ko"))
    }

    /// A guess for meetings whose language is not stored: most of its letters are Hangul.
    pub fn is_korean(&self) -> bool {
        let (mut hangul, mut letters) = (0usize, 0usize);
        for c in self.lines.iter().flat_map(|l| l.text.chars()).filter(|c| c.is_alphabetic()) {
            letters += 1;
            hangul += usize::from(('\u{AC00}'..='\u{D7A3}').contains(&c));
        }
        letters > 0 && hangul * 2 >= letters
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub summary: String,
    pub action_items: Vec<ExtractedItem>,
    /// What the meeting settled, each citing lines of the input.
    #[serde(default)]
    pub decisions: Vec<MinutesNote>,
    /// What it raised and left open.
    #[serde(default)]
    pub open_questions: Vec<MinutesNote>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedItem {
    pub title: String,
    pub description: String,
    pub assignee: Option<String>,
    /// As spoken ("by Friday") or ISO; resolved to a date by the caller.
    pub due_date: Option<String>,
    /// `seq` of the transcript lines the item comes from (only ones that exist in the input).
    pub source_segments: Vec<i64>,
    /// The model's probability that its line agrees on a task (over "no task there").
    #[serde(default)]
    pub confidence: f32,
}
