//! The word sets that action items are compared by: a title's or a line's topic words, and a
//! title's words for telling two titles apart.

use std::collections::BTreeSet;

/// Words that say what a task is about: lower case, three letters or more, no stopwords or verbs
/// any task could start with, cut to five letters (a crude stem: "invoices" ~ "invoice").
pub(super) fn topic_words(text: &str) -> BTreeSet<String> {
    const GENERIC: &[&str] = &[
        "the", "and", "for", "with", "our", "new", "from", "into", "about", "this", "that", "these", "those", "all",
        "any", "some", "get", "make", "do", "does", "take", "have", "has", "are", "was", "will", "can", "could",
        "would", "should", "need", "let", "put", "set", "give", "keep", "you", "your", "its", "it's", "they", "them",
        "we", "us", "one", "two", "out",
    ];
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| w.chars().count() >= 3 && !GENERIC.contains(w))
        .map(|w| w.chars().take(5).collect())
        .collect()
}

const STOPWORDS: &[&str] = &["a", "an", "the", "to", "of", "for", "and", "on", "in", "with", "by", "our", "new"];

/// A title's words for telling titles apart: lower case, split at anything not a letter or digit,
/// [`STOPWORDS`] left out.
pub(super) fn normalized_words(title: &str) -> BTreeSet<String> {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(str::to_owned)
        .collect()
}
