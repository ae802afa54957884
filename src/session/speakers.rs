//! Speakers of a session's words: from the diarizer's turns as finals come, and again from the
//! end-of-meeting re-clustering for the stored finals, with the enrolled voices that name them.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::enrollment::VOICEPRINT_MODEL;
use super::live_service::LiveService;
use super::server_message::Word;
use crate::audio::MODEL_RATE;
use crate::domain::{EvidenceKind, IdentityEvidence, SpeakerIdentity};
use crate::inference::diarize::{
    EMBEDDING_DIM, SpeakerTurn, VOICE_MATCH_THRESHOLD, cosine_similarity, match_voices, speaker_for_span,
};
use crate::store::FinalSpeakers;

/// How much an enrolled voice counts as evidence: more than anything said in the meeting
/// (`intelligence::speaker_identifier` weighs a self-introduction 4).
const ENROLLED_VOICE_WEIGHT: i32 = 10;

/// An enrolled voice, opened: its user, their name, the voiceprint.
pub(super) struct EnrolledVoice {
    pub user_id: Uuid,
    pub name: String,
    pub embedding: Vec<f32>,
}

/// Who the meeting's speakers are by voice: `centroids` by re-clustered label (the speaker
/// numbers of the stored finals) against the tenant's `voices`, one to one, from `threshold` up.
pub(super) fn voice_identities(
    centroids: &BTreeMap<u32, Vec<f32>>,
    voices: &[EnrolledVoice],
    threshold: f32,
) -> BTreeMap<i32, SpeakerIdentity> {
    let embeddings: Vec<Vec<f32>> = voices.iter().map(|v| v.embedding.clone()).collect();
    match_voices(centroids, &embeddings, threshold)
        .into_iter()
        .map(|m| {
            let voice = &voices[m.voice];
            let identity = SpeakerIdentity {
                user_id: voice.user_id,
                name: voice.name.clone(),
                confidence: (m.similarity as f64 * 1000.0).round() / 1000.0,
                evidence: vec![IdentityEvidence {
                    seq: None,
                    kind: EvidenceKind::EnrolledVoice,
                    weight: ENROLLED_VOICE_WEIGHT,
                }],
            };
            (m.speaker as i32, identity)
        })
        .collect()
}

/// Each word gets the speaker of the turns it overlaps most (times in seconds, turns in samples).
pub(super) fn label_words(words: &mut [Word], turns: &[SpeakerTurn]) {
    let at = |t: f64| (t.max(0.0) * MODEL_RATE as f64).round() as u64;
    for w in words {
        w.speaker = speaker_for_span(turns, at(w.start), at(w.end).max(at(w.start) + 1));
    }
}

/// A stored final with its words' speakers taken from `turns`.
pub(super) fn relabel_final(f: crate::domain::TranscriptFinal, turns: &[SpeakerTurn]) -> FinalSpeakers {
    let mut words = f.words.0;
    label_words(&mut words, turns);
    let at = |ms: i32| ms.max(0) as u64 * MODEL_RATE as u64 / 1000;
    let speaker = majority_speaker(&words)
        .or_else(|| speaker_for_span(turns, at(f.start_ms), at(f.end_ms).max(at(f.start_ms) + 1)));
    FinalSpeakers { seq: f.seq, speaker: speaker.map(|s| s as i32), words }
}

/// The speaker of most of the words' time.
pub(super) fn majority_speaker(words: &[Word]) -> Option<u32> {
    let mut time: std::collections::BTreeMap<u32, f64> = Default::default();
    for w in words {
        if let Some(s) = w.speaker {
            *time.entry(s).or_default() += (w.end - w.start).max(1e-3);
        }
    }
    time.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(s, _)| s)
}

impl LiveService {
    /// End-of-meeting re-clustering of `session` (its diarizer stream `stream`): the stored finals get the speakers the whole meeting's
    /// embeddings agree on, before the meeting is assembled from them; returns who of them are
    /// enrolled voices, by their number in the finals. A failure keeps the live labels and names
    /// nobody.
    pub(crate) async fn relabel_speakers(
        &self,
        tenant: Uuid,
        session: Uuid,
        stream: u64,
    ) -> BTreeMap<i32, SpeakerIdentity> {
        let Some(diarize) = &self.diarize else { return BTreeMap::new() };
        let reclustered = match diarize.finish(stream).await {
            Ok(r) if !r.turns.is_empty() => r,
            Ok(_) => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(%session, error = %e, "re-clustering failed; live speaker labels kept");
                return BTreeMap::new();
            }
        };
        let store = &self.store;
        let result = async {
            let finals = store.list_finals(tenant, session).await?;
            let relabeled = finals.into_iter().map(|f| relabel_final(f, &reclustered.turns)).collect();
            store.relabel_finals(tenant, session, relabeled).await
        };
        match result.await {
            Ok(()) => {
                tracing::info!(%session, speakers = reclustered.speakers, "speakers re-clustered");
                self.identify_voices(tenant, session, &reclustered.centroids).await
            }
            Err(e) => {
                tracing::warn!(%session, error = %e, "storing re-clustered speakers failed");
                BTreeMap::new()
            }
        }
    }

    /// The speakers (re-clustered labels → centroids) whose voice the tenant has enrolled. A
    /// voice that does not open (another key) is skipped; a failure names nobody.
    async fn identify_voices(
        &self,
        tenant: Uuid,
        session: Uuid,
        centroids: &BTreeMap<u32, Vec<f32>>,
    ) -> BTreeMap<i32, SpeakerIdentity> {
        if centroids.is_empty() {
            return BTreeMap::new();
        }
        let sealed = match self.store.list_sealed_voiceprints(tenant, VOICEPRINT_MODEL).await {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(%session, error = %e, "loading enrolled voices failed; speakers stay numbered");
                return BTreeMap::new();
            }
        };
        let voices: Vec<EnrolledVoice> = sealed
            .into_iter()
            .filter_map(|v| match self.voiceprints.open(v.user_id, &v.embedding) {
                Ok(embedding) if embedding.len() == EMBEDDING_DIM => {
                    Some(EnrolledVoice { user_id: v.user_id, name: v.name, embedding })
                }
                _ => {
                    tracing::warn!(%session, user = %v.user_id, "an enrolled voice does not open; skipped");
                    None
                }
            })
            .collect();
        // The closest voice of each speaker, matched or not: what the threshold is tuned on.
        for (speaker, centroid) in centroids {
            let closest = voices
                .iter()
                .map(|v| (v.user_id, cosine_similarity(centroid, &v.embedding)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((user, similarity)) = closest {
                tracing::info!(%session, speaker, %user, similarity, "closest enrolled voice");
            }
        }
        voice_identities(centroids, &voices, VOICE_MATCH_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: f64, end: f64) -> Word {
        Word { word: "w".into(), start, end, confidence: 1.0, speaker: None, punctuated_word: "w".into() }
    }

    fn turn(speaker: u32, start_s: f64, end_s: f64) -> SpeakerTurn {
        SpeakerTurn { speaker, start: (start_s * 16_000.0) as u64, end: (end_s * 16_000.0) as u64 }
    }

    #[test]
    fn words_take_the_turn_they_overlap_most_and_the_final_its_majority() {
        let mut words = vec![word(0.0, 0.5), word(0.8, 1.6), word(1.7, 3.0)];
        label_words(&mut words, &[turn(0, 0.0, 1.0), turn(1, 1.0, 3.0)]);
        let speakers: Vec<Option<u32>> = words.iter().map(|w| w.speaker).collect();
        assert_eq!(speakers, [Some(0), Some(1), Some(1)]);
        assert_eq!(majority_speaker(&words), Some(1), "speaker 1 holds most of the words' time");
        assert_eq!(majority_speaker(&[word(0.0, 1.0)]), None, "no labelled word, no speaker");
    }

    #[test]
    fn enrolled_voices_name_the_speakers_they_match() {
        let centroids: BTreeMap<u32, Vec<f32>> = [(1, vec![1.0, 0.0]), (4, vec![0.0, 1.0])].into();
        let voices = [
            EnrolledVoice { user_id: Uuid::from_u128(1), name: "Diane".into(), embedding: vec![0.96, 0.28] },
            EnrolledVoice { user_id: Uuid::from_u128(2), name: "Omar".into(), embedding: vec![0.6, 0.8] },
        ];
        let found = voice_identities(&centroids, &voices, 0.9);
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), [1], "speaker 4 is 0.8 like Omar: not enough");
        let diane = &found[&1];
        assert_eq!((diane.user_id, diane.name.as_str(), diane.confidence), (Uuid::from_u128(1), "Diane", 0.96));
        assert!(diane.by_voice());
    }
}
