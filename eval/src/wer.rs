//! Word error rate with one simple normaliser (lower case, punctuation removed, apostrophes
//! kept), applied to every system compared, so the comparison is fair even where the normaliser
//! is cruder than Whisper's English one; and the character error rate used for Korean, where
//! word spacing is a matter of style: spaces and punctuation removed before counting.

pub fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word-level edit distance between reference and hypothesis.
pub fn errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            row[j + 1] = sub.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[hypothesis.len()]
}

/// WER of `hypothesis` against `reference`, as a fraction.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    errors(&r, &h) as f64 / r.len() as f64
}

/// Character error rate, insensitive to spaces, punctuation and case, as a fraction.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let chars =
        |s: &str| s.to_lowercase().chars().filter(|c| c.is_alphanumeric()).map(String::from).collect::<Vec<_>>();
    let (r, h) = (chars(reference), chars(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    errors(&r, &h) as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cer_ignores_spacing_and_punctuation() {
        assert_eq!(cer("동료 인 장동 련", "동료인 장동련."), 0.0);
        assert_eq!(cer("가나다라", "가나마라"), 0.25);
        assert_eq!(cer("", ""), 0.0);
    }

    #[test]
    fn counts_substitutions_insertions_deletions() {
        assert_eq!(wer("Hello, World!", "hello world"), 0.0);
        assert_eq!(wer("a b c d", "a x c"), 0.5);
        assert_eq!(wer("a b", "a b c d"), 1.0);
        assert_eq!(normalize("Don't STOP-now."), vec!["don't", "stop", "now"]);
    }
}
