//! Deepgram's `Results` from Whisper's segments: words with times spread over each segment,
//! silence read as text dropped, speakers on words when diarizing. Pure functions.

use uuid::Uuid;

use super::pending_finals::FinalDone;
use super::server_message::{Alternative, Channel, ModelInfo, Results, ResultsMetadata, Word};
use super::speakers::label_words;
use crate::audio::MODEL_RATE;
use crate::domain::TranscriptFinal;
use crate::inference::asr::Segment;
use crate::inference::diarize::SpeakerTurn;

/// What every `Results` of one session says about the session and its model.
pub(super) struct ResultsStamp {
    pub request_id: Uuid,
    pub model_info: ModelInfo,
    pub model_uuid: Uuid,
}

/// The `model_info` of a served Whisper model.
pub fn model_info(model_name: &str) -> ModelInfo {
    ModelInfo {
        name: format!("whisper-{model_name}"),
        version: env!("CARGO_PKG_VERSION").into(),
        arch: "whisper-onnx".into(),
    }
}

/// `Results` for an utterance starting at sample `start`: a partial, or the final `done`.
pub(super) fn results(
    stamp: &ResultsStamp,
    start: u64,
    segments: &[Segment],
    done: Option<&FinalDone>,
) -> (Results, Vec<Word>) {
    let offset = seconds(start);
    let turns = done.map_or(&[][..], |d| d.turns.as_slice());
    let (transcript, words) = utterance_words(start, segments, turns, done.is_some_and(|d| !d.speech_final));
    let confidence =
        if words.is_empty() { 0.0 } else { words.iter().map(|w| w.confidence).sum::<f64>() / words.len() as f64 };
    let duration = match done {
        Some(d) => d.samples as f64 / MODEL_RATE as f64,
        None => segments.iter().rev().find(|s| !is_hallucination(s)).map_or(0.0, |s| s.end as f64),
    };
    let results = Results {
        channel_index: [0, 1],
        start: round3(offset),
        duration: round3(duration),
        is_final: done.is_some(),
        speech_final: done.is_some_and(|d| d.speech_final),
        from_finalize: done.is_some_and(|d| d.from_finalize),
        channel: Channel { alternatives: vec![Alternative { transcript, confidence, words: words.clone() }] },
        metadata: ResultsMetadata {
            request_id: stamp.request_id,
            model_info: stamp.model_info.clone(),
            model_uuid: stamp.model_uuid,
        },
    };
    (results, words)
}

/// `Results` for a final read back from the database (a viewer on another instance joining
/// late): what the speaker's client got, except `speech_final` (not stored; `true`), and the
/// model, which the row does not name (`model_uuid` nil).
pub(super) fn stored_final(row: &TranscriptFinal) -> Results {
    let words = row.words.0.clone();
    let confidence =
        if words.is_empty() { 0.0 } else { words.iter().map(|w| w.confidence).sum::<f64>() / words.len() as f64 };
    Results {
        channel_index: [0, 1],
        start: f64::from(row.start_ms) / 1000.0,
        duration: f64::from(row.end_ms - row.start_ms) / 1000.0,
        is_final: true,
        speech_final: true,
        from_finalize: false,
        channel: Channel { alternatives: vec![Alternative { transcript: row.text.clone(), confidence, words }] },
        metadata: ResultsMetadata {
            request_id: row.session_id,
            model_info: ModelInfo {
                name: "whisper".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                arch: "whisper-onnx".into(),
            },
            model_uuid: Uuid::nil(),
        },
    }
}

/// The text and timed words of an utterance starting at sample `start`, with the speakers of
/// `turns` when diarizing. `cut`: the audio was cut before its speaker paused.
pub(super) fn utterance_words(
    start: u64,
    segments: &[Segment],
    turns: &[SpeakerTurn],
    cut: bool,
) -> (String, Vec<Word>) {
    let offset = seconds(start);
    let kept: Vec<&Segment> = segments.iter().filter(|s| !is_hallucination(s)).collect();
    let mut words = Vec::new();
    for s in &kept {
        words.extend(segment_words(s, offset));
    }
    if !turns.is_empty() {
        label_words(&mut words, turns);
    }
    let mut transcript = kept.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
    // A final cut before its speaker paused (Stop, Finalize, the length cap) ends where the audio
    // was cut; Whisper marks such an end with an ellipsis, which is no part of what was said.
    if cut {
        transcript = without_trailing_ellipsis(&transcript).to_owned();
        if let Some(last) = words.last_mut() {
            last.punctuated_word = without_trailing_ellipsis(&last.punctuated_word).to_owned();
        }
    }
    (transcript, words)
}

fn without_trailing_ellipsis(text: &str) -> &str {
    let trimmed = text.trim_end();
    trimmed.strip_suffix("...").or_else(|| trimmed.strip_suffix('…')).map_or(trimmed, str::trim_end)
}

pub(super) fn seconds(samples: u64) -> f64 {
    samples as f64 / MODEL_RATE as f64
}

pub(super) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// faster-whisper's rule for windows that are silence decoded as text.
fn is_hallucination(s: &Segment) -> bool {
    s.text.trim().is_empty() || (s.no_speech_prob > 0.6 && s.avg_logprob < -1.0)
}

/// Words of a segment with times spread over the segment by character count (Whisper gives
/// segment timestamps; word-level alignment is not implemented).
fn segment_words(s: &Segment, offset: f64) -> Vec<Word> {
    let tokens: Vec<&str> = s.text.split_whitespace().collect();
    let total: usize = tokens.iter().map(|t| t.chars().count()).sum::<usize>().max(1);
    let (start, end) = (s.start as f64, (s.end as f64).max(s.start as f64));
    let confidence = round3((s.avg_logprob as f64).exp().clamp(0.0, 1.0));
    let mut at = start;
    tokens
        .iter()
        .map(|t| {
            let len = (end - start) * t.chars().count() as f64 / total as f64;
            let word = Word {
                word: t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase(),
                start: round3(offset + at),
                end: round3(offset + at + len),
                confidence,
                speaker: None,
                punctuated_word: (*t).to_owned(),
            };
            at += len;
            word
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(text: &str, start: f32, end: f32) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            tokens: vec![],
            avg_logprob: -0.2,
            no_speech_prob: 0.1,
            temperature: 0.0,
            compression_ratio: 1.0,
        }
    }

    #[test]
    fn words_cover_the_segment_in_order() {
        let words = segment_words(&segment(" Hello, world. Yes!", 1.0, 3.0), 10.0);
        assert_eq!(words.len(), 3);
        assert_eq!(words[0].word, "hello");
        assert_eq!(words[0].punctuated_word, "Hello,");
        assert_eq!(words[0].start, 11.0);
        assert_eq!(words[2].end, 13.0);
        assert!(words.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
        assert!((words[0].confidence - (-0.2f64).exp()).abs() < 1e-3);
    }

    #[test]
    fn a_cut_final_ends_without_an_ellipsis() {
        let stamp =
            ResultsStamp { request_id: Uuid::nil(), model_info: model_info("tiny.en"), model_uuid: Uuid::nil() };
        let done = |speech_final| FinalDone {
            start: 0,
            samples: 32_000,
            speech_final,
            from_finalize: !speech_final,
            latency: std::time::Duration::ZERO,
            reply: Ok(crate::inference::asr::UtteranceText::default()),
            turns: Vec::new(),
        };
        let segments = [segment(" So we need to design...", 0.0, 2.0)];
        let (cut, words) = results(&stamp, 0, &segments, Some(&done(false)));
        assert_eq!(cut.channel.alternatives[0].transcript, "So we need to design");
        assert_eq!(words.last().unwrap().punctuated_word, "design");
        // Ended by a pause, the text is Whisper's own; so are partials.
        let (paused, _) = results(&stamp, 0, &segments, Some(&done(true)));
        assert_eq!(paused.channel.alternatives[0].transcript, "So we need to design...");
        assert_eq!(results(&stamp, 0, &segments, None).0.channel.alternatives[0].transcript, "So we need to design...");
        assert_eq!(without_trailing_ellipsis("Wait for it…"), "Wait for it");
        assert_eq!(without_trailing_ellipsis("Dr. No."), "Dr. No.");
    }

    #[test]
    fn silence_read_as_text_is_dropped() {
        let mut s = segment("Thank you.", 0.0, 1.0);
        assert!(!is_hallucination(&s));
        s.no_speech_prob = 0.9;
        s.avg_logprob = -1.5;
        assert!(is_hallucination(&s));
    }
}
