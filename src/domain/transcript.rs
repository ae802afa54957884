//! A meeting's transcript as stored: typed segments and words (the JSON columns
//! `meetings.transcript_segments`, `meetings.speaker_labels`, `transcript_finals.words`), and how a
//! live session's finals become one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::TranscriptFinal;

/// One recognised word, Deepgram's shape (live `Results` carry the same).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Word {
    pub word: String,
    /// Seconds from the start of the session's audio.
    pub start: f64,
    pub end: f64,
    pub confidence: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    pub punctuated_word: String,
}

/// One final of the meeting, times in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TranscriptSegment {
    pub seq: i32,
    pub speaker: Option<i32>,
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default)]
    pub words: Vec<Word>,
}

/// One speaker of the meeting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SpeakerLabel {
    pub speaker: i32,
    /// "Speaker N", N = speaker + 1.
    pub label: String,
    pub total_seconds: f64,
    /// Seconds from the start of the meeting.
    pub first_seen: f64,
    /// The tenant user this voice is, when the conversation says so (set by the meeting's
    /// intelligence job; see `intelligence::speaker_identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SpeakerIdentity>,
}

/// A speaker recognised as a tenant user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SpeakerIdentity {
    pub user_id: Uuid,
    /// The user's name when identified.
    pub name: String,
    /// 0–1; 1 when the transcript's own label names the user.
    pub confidence: f64,
    /// What the identification rests on (empty when the label names the user).
    pub evidence: Vec<IdentityEvidence>,
}

/// One line that tells who a speaker is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct IdentityEvidence {
    /// The transcript segment (`seq`) it is in.
    pub seq: i64,
    pub kind: EvidenceKind,
    /// How much it counts (negative: against).
    pub weight: i32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// "I'm Sofia", "김민지입니다".
    SelfIntroduction,
    /// Addressed by name on the line before, and took it up ("Sure, …", "네, 제가 …").
    AnsweredWhenAddressed,
    /// Addressed by name on the line before, and spoke next.
    SpokeWhenAddressed,
    /// Thanked by name right after speaking.
    Thanked,
    /// Addressed that person by name: not them.
    AddressedThem,
    /// Spoke of that person by name: most likely not them.
    MentionedThem,
}

/// A meeting's transcript as assembled from its session's finals.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledTranscript {
    /// One line per final with text.
    pub text: String,
    pub segments: Vec<TranscriptSegment>,
    /// For the finals that carry a speaker, by speaker number.
    pub speaker_labels: Vec<SpeakerLabel>,
    pub last_end_ms: i32,
}

impl AssembledTranscript {
    /// `finals` in `seq` order.
    pub fn from_finals(finals: &[TranscriptFinal]) -> Self {
        let secs = |ms: i32| ms as f64 / 1000.0;
        let mut speakers: BTreeMap<i32, (f64, f64)> = BTreeMap::new();
        for f in finals {
            if let Some(s) = f.speaker {
                let entry = speakers.entry(s).or_insert((0.0, secs(f.start_ms)));
                entry.0 += secs(f.end_ms - f.start_ms);
            }
        }
        Self {
            text: finals.iter().map(|f| f.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n"),
            segments: finals
                .iter()
                .map(|f| TranscriptSegment {
                    seq: f.seq,
                    speaker: f.speaker,
                    start: secs(f.start_ms),
                    end: secs(f.end_ms),
                    text: f.text.clone(),
                    words: f.words.0.clone(),
                })
                .collect(),
            speaker_labels: speakers
                .into_iter()
                .map(|(speaker, (total, first))| SpeakerLabel {
                    speaker,
                    label: format!("Speaker {}", speaker + 1),
                    total_seconds: (total * 100.0).round() / 100.0,
                    first_seen: first,
                    identity: None,
                })
                .collect(),
            last_end_ms: finals.iter().map(|f| f.end_ms).max().unwrap_or(0),
        }
    }
}
