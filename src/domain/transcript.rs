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
    /// The tenant user this voice is: when it matches their enrolled voiceprint (set when the
    /// meeting is stored), or when the conversation says so (set by the meeting's intelligence
    /// job; see `intelligence::speaker_identifier`, which never overrides a voice match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SpeakerIdentity>,
}

/// A speaker recognised as a tenant user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SpeakerIdentity {
    pub user_id: Uuid,
    /// The user's name when identified.
    pub name: String,
    /// 0–1; 1 when the transcript's own label names the user; for an enrolled voice, the cosine
    /// similarity of the speaker's voice with it.
    pub confidence: f64,
    /// What the identification rests on (empty when the label names the user).
    pub evidence: Vec<IdentityEvidence>,
}

/// One thing that tells who a speaker is: a line of the conversation, or their enrolled voice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct IdentityEvidence {
    /// The transcript segment (`seq`) it is in; absent for an enrolled voice (the whole of the
    /// speaker's speech).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
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
    /// The speaker's voice matches the person's enrolled voiceprint.
    EnrolledVoice,
    /// A person named the speaker in the app (`PATCH /v1/meetings/{id}/speaker-labels`).
    Assigned,
}

impl SpeakerIdentity {
    /// Whether this identity rests on an enrolled voice.
    pub fn by_voice(&self) -> bool {
        self.evidence.iter().any(|e| e.kind == EvidenceKind::EnrolledVoice)
    }

    /// Whether the conversation must leave this identity as it is: an enrolled voice, or a person
    /// who named the speaker.
    pub fn stands(&self) -> bool {
        self.evidence.iter().any(|e| matches!(e.kind, EvidenceKind::EnrolledVoice | EvidenceKind::Assigned))
    }
}

/// Names stored speaker `speaker` as `identity` (`None`: unnamed again). When another speaker
/// already is that person, the two are one voice the diarizer split: `speaker`'s segments and
/// words join that speaker (named `identity`) and its label goes. `false` when the meeting has
/// no such speaker.
pub fn name_speaker(
    labels: &mut Vec<SpeakerLabel>,
    segments: &mut [TranscriptSegment],
    speaker: i32,
    identity: Option<SpeakerIdentity>,
) -> bool {
    let Some(at) = labels.iter().position(|l| l.speaker == speaker) else { return false };
    let same_person = identity.as_ref().and_then(|new| {
        labels
            .iter()
            .position(|l| l.speaker != speaker && l.identity.as_ref().is_some_and(|old| old.user_id == new.user_id))
    });
    let Some(into) = same_person else {
        labels[at].identity = identity;
        return true;
    };
    let target = labels[into].speaker;
    for s in segments.iter_mut() {
        if s.speaker == Some(speaker) {
            s.speaker = Some(target);
        }
        for w in s.words.iter_mut().filter(|w| w.speaker == Some(speaker as u32)) {
            w.speaker = Some(target as u32);
        }
    }
    let merged = labels.remove(at);
    let into = if at < into { into - 1 } else { into };
    let kept = &mut labels[into];
    kept.total_seconds = ((kept.total_seconds + merged.total_seconds) * 100.0).round() / 100.0;
    kept.first_seen = kept.first_seen.min(merged.first_seen);
    kept.identity = identity;
    true
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
    /// `finals` in `seq` order. Speakers are numbered in order of appearance (the first voice
    /// heard is 0, "Speaker 1"), whatever numbers the diarizer gave them: its labels are its own
    /// (a two-person call may come out as 1 and 3), the stored meeting's must read naturally.
    ///
    /// `identities`: who some speakers are (enrolled voices), by their number in the finals.
    pub fn from_finals(finals: &[TranscriptFinal], identities: &BTreeMap<i32, SpeakerIdentity>) -> Self {
        let order = appearance_order(finals);
        let renumber = |s: i32| order.get(&s).copied().unwrap_or(s);
        let secs = |ms: i32| ms as f64 / 1000.0;
        // Renumbered speaker → (seconds, first seen, number in the finals).
        let mut speakers: BTreeMap<i32, (f64, f64, i32)> = BTreeMap::new();
        for f in finals {
            if let Some(s) = f.speaker {
                let entry = speakers.entry(renumber(s)).or_insert((0.0, secs(f.start_ms), s));
                entry.0 += secs(f.end_ms - f.start_ms);
            }
        }
        Self {
            text: finals.iter().map(|f| f.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n"),
            segments: finals
                .iter()
                .map(|f| TranscriptSegment {
                    seq: f.seq,
                    speaker: f.speaker.map(renumber),
                    start: secs(f.start_ms),
                    end: secs(f.end_ms),
                    text: f.text.clone(),
                    words: f
                        .words
                        .0
                        .iter()
                        .map(|w| Word { speaker: w.speaker.map(|s| renumber(s as i32) as u32), ..w.clone() })
                        .collect(),
                })
                .collect(),
            speaker_labels: speakers
                .into_iter()
                .map(|(speaker, (total, first, stored))| SpeakerLabel {
                    speaker,
                    label: format!("Speaker {}", speaker + 1),
                    total_seconds: (total * 100.0).round() / 100.0,
                    first_seen: first,
                    identity: identities.get(&stored).cloned(),
                })
                .collect(),
            last_end_ms: finals.iter().map(|f| f.end_ms).max().unwrap_or(0),
        }
    }
}

/// Speaker number as stored → number in order of appearance. Segments' speakers come first, by
/// their first segment, so the labelled speakers are 0..n without holes; a speaker heard only in
/// a few words inside others' segments (never a segment's majority) is numbered after them.
fn appearance_order(finals: &[TranscriptFinal]) -> BTreeMap<i32, i32> {
    let mut order = BTreeMap::new();
    let segment_speakers = finals.iter().filter_map(|f| f.speaker);
    let word_speakers = finals.iter().flat_map(|f| f.words.0.iter().filter_map(|w| w.speaker.map(|s| s as i32)));
    for s in segment_speakers.chain(word_speakers) {
        let next = order.len() as i32;
        order.entry(s).or_insert(next);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_(seq: i32, start_ms: i32, speaker: Option<i32>, word_speakers: &[u32]) -> TranscriptFinal {
        let words = word_speakers
            .iter()
            .enumerate()
            .map(|(i, &s)| Word {
                word: "w".into(),
                start: (start_ms as f64 / 1000.0) + i as f64 * 0.2,
                end: (start_ms as f64 / 1000.0) + i as f64 * 0.2 + 0.1,
                confidence: 1.0,
                speaker: Some(s),
                punctuated_word: "w".into(),
            })
            .collect();
        TranscriptFinal {
            session_id: Uuid::nil(),
            seq,
            tenant_id: Uuid::nil(),
            meeting_id: Uuid::nil(),
            start_ms,
            end_ms: start_ms + 1000,
            speaker,
            text: format!("line {seq}"),
            words: sqlx::types::Json(words),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn speakers_are_numbered_in_order_of_appearance() {
        // The diarizer called the first voice 3 and the second 1; 5 only speaks a word inside 1's line.
        let finals = [
            final_(0, 0, Some(3), &[3, 3]),
            final_(1, 2000, Some(1), &[1, 5, 1]),
            final_(2, 4000, Some(3), &[3]),
            final_(3, 6000, None, &[]),
        ];
        let diane = SpeakerIdentity {
            user_id: Uuid::from_u128(7),
            name: "Diane".into(),
            confidence: 0.9,
            evidence: vec![IdentityEvidence { seq: None, kind: EvidenceKind::EnrolledVoice, weight: 10 }],
        };
        let t = AssembledTranscript::from_finals(&finals, &[(3, diane.clone())].into());
        let segment_speakers: Vec<Option<i32>> = t.segments.iter().map(|s| s.speaker).collect();
        assert_eq!(segment_speakers, [Some(0), Some(1), Some(0), None]);
        let word_speakers: Vec<Vec<Option<u32>>> =
            t.segments.iter().map(|s| s.words.iter().map(|w| w.speaker).collect()).collect();
        assert_eq!(word_speakers, [vec![Some(0), Some(0)], vec![Some(1), Some(2), Some(1)], vec![Some(0)], vec![]]);
        let labels: Vec<(i32, &str, f64, f64)> =
            t.speaker_labels.iter().map(|l| (l.speaker, l.label.as_str(), l.first_seen, l.total_seconds)).collect();
        assert_eq!(labels, [(0, "Speaker 1", 0.0, 2.0), (1, "Speaker 2", 2.0, 1.0)]);
        // The identity given for the finals' speaker 3 goes with it to its new number, 0.
        assert_eq!(t.speaker_labels[0].identity.as_ref(), Some(&diane));
        assert_eq!(t.speaker_labels[1].identity, None);
        assert!(diane.by_voice());
        assert_eq!(t.text, "line 0\nline 1\nline 2\nline 3");
    }

    fn assigned(user: u128, name: &str) -> SpeakerIdentity {
        SpeakerIdentity {
            user_id: Uuid::from_u128(user),
            name: name.into(),
            confidence: 1.0,
            evidence: vec![IdentityEvidence { seq: None, kind: EvidenceKind::Assigned, weight: 0 }],
        }
    }

    #[test]
    fn naming_a_speaker_and_merging_a_split_voice() {
        let finals = [final_(0, 0, Some(0), &[0]), final_(1, 2000, Some(1), &[1, 0]), final_(2, 4000, Some(2), &[2])];
        let t = AssembledTranscript::from_finals(&finals, &BTreeMap::new());
        let (mut labels, mut segments) = (t.speaker_labels, t.segments);
        assert!(!name_speaker(&mut labels, &mut segments, 7, Some(assigned(1, "Ana"))), "no speaker 7");
        assert!(name_speaker(&mut labels, &mut segments, 0, Some(assigned(1, "Ana"))));
        assert_eq!(labels[0].identity.as_ref().map(|i| i.name.as_str()), Some("Ana"));
        assert!(labels[0].identity.as_ref().unwrap().stands());
        // Speaker 2 is Ana too: the diarizer split her; 2's segment and words become 0's.
        assert!(name_speaker(&mut labels, &mut segments, 2, Some(assigned(1, "Ana"))));
        assert_eq!(labels.iter().map(|l| l.speaker).collect::<Vec<_>>(), [0, 1]);
        assert_eq!((labels[0].total_seconds, labels[0].first_seen), (2.0, 0.0));
        assert_eq!(segments.iter().map(|s| s.speaker).collect::<Vec<_>>(), [Some(0), Some(1), Some(0)]);
        assert_eq!(segments[2].words[0].speaker, Some(0));
        // Unnamed again.
        assert!(name_speaker(&mut labels, &mut segments, 0, None));
        assert_eq!(labels[0].identity, None);
    }
}
