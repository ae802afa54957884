//! Enrolled voices against a finished meeting's speakers: each speaker's centroid (the mean of
//! its window embeddings after re-clustering) is compared with every voiceprint of the tenant by
//! cosine similarity; pairs at or above the threshold are matched one to one (Hungarian, largest
//! total similarity), so a voice names at most one speaker and a speaker gets at most one name.

use std::collections::BTreeMap;

use super::hungarian::hungarian;
use super::speaker_encoder::cosine_similarity;

/// Cosine similarity from which a speaker is taken to be an enrolled voice. Measured with
/// Resemblyzer on the two-speaker telephone call (`tests/models/diarization.rs`, figures in
/// docs/benchmarks.md, "Voice enrollment"): a voiceprint against its own speaker's centroid
/// 0.98-0.99, against the other speaker's 0.84-0.87 (same line, same room), against strangers
/// (other recordings) at most 0.55; two disjoint parts of one voice 0.88-0.92, of two voices
/// 0.79-0.82. A wrong name is worse than none (tasks would go to the wrong person), so the
/// threshold sits above everything measured between different people.
pub const VOICE_MATCH_THRESHOLD: f32 = 0.9;

/// One speaker recognised as one enrolled voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoiceMatch {
    pub speaker: u32,
    /// Index into the voices compared.
    pub voice: usize,
    pub similarity: f32,
}

/// The one-to-one matching of `speakers` (label → centroid) with `voices` whose pairs reach
/// `threshold`, largest total similarity first. Speakers without a voice above it stay unnamed.
pub fn match_voices(speakers: &BTreeMap<u32, Vec<f32>>, voices: &[Vec<f32>], threshold: f32) -> Vec<VoiceMatch> {
    let labels: Vec<u32> = speakers.keys().copied().collect();
    let similarity: Vec<Vec<f32>> =
        speakers.values().map(|c| voices.iter().map(|v| cosine_similarity(c, v)).collect()).collect();
    // Pairs below the threshold weigh nothing, and `hungarian` leaves weightless pairs out.
    let weights: Vec<Vec<f64>> = similarity
        .iter()
        .map(|row| row.iter().map(|&s| if s.is_finite() && s >= threshold { s as f64 } else { 0.0 }).collect())
        .collect();
    let mut matches: Vec<VoiceMatch> = hungarian(&weights)
        .into_iter()
        .map(|(row, voice)| VoiceMatch { speaker: labels[row], voice, similarity: similarity[row][voice] })
        .collect();
    matches.sort_by_key(|m| m.speaker);
    matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn each_voice_names_at_most_one_speaker_and_weak_pairs_none() {
        let speakers: BTreeMap<u32, Vec<f32>> = [
            (0, unit(&[1.0, 0.1, 0.0])),
            (2, unit(&[0.9, 0.3, 0.0])), // like voice 0 too, a little less
            (5, unit(&[0.0, 0.0, 1.0])),
        ]
        .into();
        let voices = vec![unit(&[1.0, 0.2, 0.0]), unit(&[0.8, 0.6, 0.0]), unit(&[0.0, 1.0, 0.2])];
        let found = match_voices(&speakers, &voices, 0.8);
        let pairs: Vec<(u32, usize)> = found.iter().map(|m| (m.speaker, m.voice)).collect();
        // Speaker 0 and 2 both resemble voice 0; 2 resembles voice 1 more than 0 does: the
        // total is largest with 0 → voice 0, 2 → voice 1. Speaker 5 is nobody enrolled.
        assert_eq!(pairs, [(0, 0), (2, 1)]);
        assert!(found.iter().all(|m| m.similarity >= 0.8));
        assert!(match_voices(&speakers, &[], 0.8).is_empty());
        assert!(match_voices(&BTreeMap::new(), &voices, 0.8).is_empty());
        // One voice, two speakers like it: only the closer one is named.
        let one = match_voices(&speakers, &voices[..1], 0.8);
        assert_eq!(one.iter().map(|m| (m.speaker, m.voice)).collect::<Vec<_>>(), [(0, 0)]);
    }
}
