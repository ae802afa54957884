//! Keyterm recall: whether a transcript spells a term the way the glossary does. Case, spaces and
//! punctuation are ignored ("PgBouncer" = "pg bouncer", "장동련" = "장동 련"), as Korean spacing is
//! a matter of style; anything else (one wrong syllable or letter) is a miss.

fn letters(text: &str) -> String {
    text.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Whether `transcript` contains `term`, spelled right.
pub fn spelled(transcript: &str, term: &str) -> bool {
    let term = letters(term);
    !term.is_empty() && letters(transcript).contains(&term)
}

/// Terms spelled right, out of those asked for, over a set.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TermRecall {
    pub found: usize,
    pub total: usize,
}

impl TermRecall {
    pub fn add(&mut self, transcript: &str, terms: &[String]) {
        self.total += terms.len();
        self.found += terms.iter().filter(|t| spelled(transcript, t)).count();
    }

    pub fn recall(&self) -> f64 {
        if self.total == 0 { 1.0 } else { self.found as f64 / self.total as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_counts_only_when_spelled_right() {
        assert!(spelled("민간 자문단장인 장동 련 홍익대 교수", "장동련"));
        assert!(!spelled("장동량 홍잇대 교수가", "장동련"));
        assert!(spelled("We moved it behind PG Bouncer.", "PgBouncer"));
        assert!(!spelled("We moved it behind PG bowncer.", "PgBouncer"));
        assert!(!spelled("anything", ""));
        let mut r = TermRecall::default();
        r.add("홍익대 교수", &["홍익대".into(), "장동련".into()]);
        assert_eq!((r.found, r.total), (1, 2));
        assert_eq!(r.recall(), 0.5);
    }
}
