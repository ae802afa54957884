//! Stable-prefix finals during continuous speech. Each partial re-decodes the open utterance;
//! the leading segments that two consecutive partials of the same utterance agree on are
//! settled (LocalAgreement-2, as whisper_streaming commits words), so the session can send them
//! as a final, cut the audio after them, and decode only the rest from then on. The newest
//! hypothesis's last segment is never settled: the speaker may still be in it.

use crate::inference::asr::Segment;

/// Whisper's own loop test: text compressing better than this repeats itself.
const MAX_COMPRESSION_RATIO: f32 = 2.4;

#[derive(Default)]
pub struct LocalAgreement {
    /// The previous hypothesis: its utterance and its segments' texts, normalized.
    previous: Option<(u64, Vec<String>)>,
}

impl LocalAgreement {
    /// Offers a partial hypothesis of utterance `id` and returns how many of its leading
    /// segments are settled (0 when none is).
    pub fn offer(&mut self, id: u64, segments: &[Segment]) -> usize {
        let texts: Vec<String> = segments.iter().map(|s| normalize(&s.text)).collect();
        let settled = match &self.previous {
            Some((previous_id, previous)) if *previous_id == id => texts
                .iter()
                .zip(previous)
                .zip(segments)
                .take(segments.len().saturating_sub(1))
                .take_while(|((now, before), segment)| {
                    !now.is_empty() && now == before && segment.compression_ratio <= MAX_COMPRESSION_RATIO
                })
                .count(),
            _ => 0,
        };
        self.previous = Some((id, texts));
        settled
    }
}

/// Letters and digits, lowercased: partials that differ only in punctuation or case agree.
fn normalize(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(texts: &[&str]) -> Vec<Segment> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Segment {
                start: i as f32,
                end: i as f32 + 1.0,
                text: (*t).into(),
                tokens: Vec::new(),
                avg_logprob: -0.2,
                no_speech_prob: 0.1,
                temperature: 0.0,
                compression_ratio: 1.2,
            })
            .collect()
    }

    #[test]
    fn leading_segments_two_hypotheses_share_are_settled_but_never_the_newest_one() {
        let mut a = LocalAgreement::default();
        assert_eq!(a.offer(3, &segments(&[" So we ship", " on Fri"])), 0, "nothing to compare with");
        // The first segment reads the same (up to case and punctuation); the last may still grow.
        assert_eq!(a.offer(3, &segments(&[" So, we ship.", " On Friday,", " and then"])), 1);
        assert_eq!(a.offer(3, &segments(&[" So we ship.", " On Friday.", " And then we"])), 2);
        // A one-segment hypothesis settles nothing, even when it repeats.
        assert_eq!(a.offer(4, &segments(&[" 안녕하세요"])), 0);
        assert_eq!(a.offer(4, &segments(&[" 안녕하세요"])), 0);
        assert_eq!(a.offer(4, &segments(&[" 안녕하세요.", " 오늘은"])), 1);
    }

    #[test]
    fn a_new_utterance_a_change_or_a_loop_settles_nothing() {
        let mut a = LocalAgreement::default();
        a.offer(1, &segments(&[" one", " two", " three"]));
        assert_eq!(a.offer(2, &segments(&[" one", " two", " three"])), 0, "another utterance");
        assert_eq!(a.offer(2, &segments(&[" one", " too", " three"])), 1, "stops at the first change");
        let mut looping = segments(&[" one", " two", " three"]);
        looping[0].compression_ratio = 3.0;
        assert_eq!(a.offer(2, &looping), 0);
        let blank = segments(&[" ", " two", " three"]);
        a.offer(5, &blank);
        assert_eq!(a.offer(5, &blank), 0, "an empty segment is no agreement");
    }
}
