//! Words a session expects (people's names, product names, jargon): Deepgram's `keyterm` and
//! `keywords` parameters and the tenant's glossary, so that Whisper spells them the glossary's
//! way ("장동련", not "장동량"; "PgBouncer", not "PG bouncer").
//!
//! The ASR engine decodes each utterance of such a session twice, without and with the terms as
//! text that came before (`<|startofprev|>`), and takes from the second only the words that
//! spell a term (`inference/asr/term_patch.rs`). The prompt has room for half of Whisper's text
//! context (223 tokens); terms are kept in order (the session's before the glossary's) and
//! those beyond that budget are dropped.

/// Most terms one session or one glossary holds.
pub const MAX_TERMS: usize = 100;
/// Longest term, in characters.
pub const MAX_TERM_CHARS: usize = 100;

/// Terms in order, trimmed, without empty ones or repeats (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    terms: Vec<String>,
}

/// Why a list of terms is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabularyError {
    #[error("at most {MAX_TERMS} terms")]
    TooMany,
    #[error("a term has at most {MAX_TERM_CHARS} characters")]
    TooLong,
    #[error("a term may not hold control characters")]
    Control,
}

impl Vocabulary {
    pub fn new(terms: impl IntoIterator<Item = String>) -> Self {
        let mut out = Self::default();
        out.extend(terms);
        out
    }

    /// `terms`, refused when there are too many, or one is too long or holds control characters.
    pub fn checked(terms: Vec<String>) -> Result<Self, VocabularyError> {
        if terms.len() > MAX_TERMS {
            return Err(VocabularyError::TooMany);
        }
        if terms.iter().any(|t| t.trim().chars().count() > MAX_TERM_CHARS) {
            return Err(VocabularyError::TooLong);
        }
        if terms.iter().any(|t| t.chars().any(char::is_control)) {
            return Err(VocabularyError::Control);
        }
        Ok(Self::new(terms))
    }

    /// Adds terms after the ones held (a session's keyterms, then its tenant's glossary).
    pub fn extend(&mut self, terms: impl IntoIterator<Item = String>) {
        for term in terms {
            let term = term.split_whitespace().collect::<Vec<_>>().join(" ");
            if !term.is_empty() && !self.terms.iter().any(|t| t.to_lowercase() == term.to_lowercase()) {
                self.terms.push(term);
            }
        }
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The terms for the ASR engine; `None` when there are none.
    pub fn keyterms(&self) -> Option<std::sync::Arc<[String]>> {
        (!self.terms.is_empty()).then(|| self.terms.clone().into())
    }
}

/// The terms of a query string: Deepgram's `keyterm` and `keywords` (each repeatable), in order.
pub fn query_terms(query: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter_map(|(name, value)| match name.as_ref() {
            "keyterm" => Some(value.into_owned()),
            "keywords" => Some(keyword_term(&value)),
            _ => None,
        })
        .collect()
}

/// A Deepgram `keywords` value is `word` or `word:intensifier`; the intensifier has no meaning
/// for a prompt and is dropped.
fn keyword_term(keyword: &str) -> String {
    match keyword.rsplit_once(':') {
        Some((word, boost)) if boost.trim().parse::<f32>().is_ok() => word.to_owned(),
        _ => keyword.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_trimmed_deduplicated_and_kept_in_order() {
        let mut v = Vocabulary::new(["  장동련 ".into(), "PgBouncer".into(), "".into(), "pgbouncer".into()]);
        v.extend(["홍익대".into(), "장동련".into(), "Kubernetes  operator".into()]);
        assert_eq!(v.terms(), ["장동련", "PgBouncer", "홍익대", "Kubernetes operator"]);
        assert_eq!(Vocabulary::default().keyterms(), None);
    }

    #[test]
    fn limits_are_refused_with_their_reason() {
        assert_eq!(Vocabulary::checked(vec!["x".into(); MAX_TERMS + 1]), Err(VocabularyError::TooMany));
        assert_eq!(Vocabulary::checked(vec!["가".repeat(MAX_TERM_CHARS + 1)]), Err(VocabularyError::TooLong));
        assert_eq!(Vocabulary::checked(vec!["a\u{0}b".into()]), Err(VocabularyError::Control));
        assert!(Vocabulary::checked(vec!["가".repeat(MAX_TERM_CHARS)]).is_ok());
    }

    #[test]
    fn terms_come_from_every_keyterm_and_keywords_of_a_query() {
        let q = "model=base&keyterm=%EC%9E%A5%EB%8F%99%EB%A0%A8&keywords=PgBouncer:2&keyterm=Grafana+Loki&language=ko";
        assert_eq!(query_terms(q), ["장동련", "PgBouncer", "Grafana Loki"]);
        assert!(query_terms("language=ko").is_empty());
    }

    #[test]
    fn a_keyword_loses_its_intensifier() {
        assert_eq!(keyword_term("Siobhan:2"), "Siobhan");
        assert_eq!(keyword_term("Siobhan:-1.5"), "Siobhan");
        assert_eq!(keyword_term("Siobhan"), "Siobhan");
    }
}
