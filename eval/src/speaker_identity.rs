//! Speaker identification against the evaluation meetings: each meeting's named speakers are
//! replaced by voice labels ("Speaker 1", … in order of first words, as diarization gives them),
//! and [`identify_speakers`] must give each voice back its attendee from the conversation alone.

use std::collections::HashMap;

use ddalkkak::intelligence::{TranscriptLine, identify_speakers};

use crate::action_items::EvalMeeting;

/// Speakers of one or more meetings, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityScore {
    pub speakers: usize,
    pub correct: usize,
    pub wrong: usize,
}

impl IdentityScore {
    /// Scores one meeting; speakers that are no attendee are not counted.
    pub fn score(meeting: &EvalMeeting) -> Self {
        let people = meeting.resolver();
        let mut voices: HashMap<&str, String> = HashMap::new();
        let lines: Vec<TranscriptLine> = meeting
            .lines
            .iter()
            .map(|l| {
                let speaker = l.speaker.as_deref().map(|name| {
                    let next = voices.len() + 1;
                    voices.entry(name).or_insert_with(|| format!("Speaker {next}")).clone()
                });
                TranscriptLine { seq: l.seq, speaker, start: l.start, end: l.end, text: l.text.clone() }
            })
            .collect();
        let found = identify_speakers(&lines, &people);
        let mut score = Self::default();
        for (name, voice) in &voices {
            let Some(truth) = people.resolve(name) else { continue };
            score.speakers += 1;
            match found.get(voice) {
                Some(identity) if identity.user_id == truth.id => score.correct += 1,
                Some(_) => score.wrong += 1,
                None => {}
            }
        }
        score
    }

    pub fn add(&mut self, other: Self) {
        self.speakers += other.speakers;
        self.correct += other.correct;
        self.wrong += other.wrong;
    }

    /// Of the speakers given a name, the share named right (1 when none was named).
    pub fn precision(&self) -> f64 {
        let named = self.correct + self.wrong;
        if named == 0 { 1.0 } else { self.correct as f64 / named as f64 }
    }

    /// Of all speakers, the share named right.
    pub fn recall(&self) -> f64 {
        if self.speakers == 0 { 1.0 } else { self.correct as f64 / self.speakers as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The development set: the rules were written against it, so it holds them to account for
    /// regressions, not for their quality (the held-out set is `examples/speaker_identity_eval.rs`).
    #[test]
    fn development_set_speakers_are_named_and_never_wrongly() {
        let meetings = EvalMeeting::load_dir(&crate::action_items::fixtures().join("action_items")).unwrap();
        let mut total = IdentityScore::default();
        for meeting in &meetings {
            total.add(IdentityScore::score(meeting));
        }
        assert!(total.speakers > 20, "{total:?}");
        assert_eq!(total.wrong, 0, "{total:?}");
        assert!(total.recall() >= 0.5, "{total:?}");
    }
}
