//! Keyterms without side effects: an utterance is decoded twice, without and with the terms as
//! hotwords, and only the words where the prompted text spells a term are taken from it.
//!
//! Why: a prompt makes Whisper spell a term the glossary's way ("장동련", "PgBouncer"), but it
//! also changes the rest of the text (measured: a 20-term glossary raised tiny.en's WER on
//! speech that holds none of the terms from 17 % to 23 %, and base sometimes ended a prompted
//! Korean window early, dropping a sentence). Patching keeps the plain decode everywhere else, so
//! speech without the terms reads exactly as it would without a vocabulary.
//!
//! How: the two texts are aligned character by character (edit distance, case-insensitive);
//! each term found in the prompted text is mapped to the plain text's span, widened to whole
//! words on both sides, and that span is replaced. A term the prompted text holds where the
//! plain text has nothing, or a span of very different length, is an insertion the prompt made
//! up and is left out.

/// One utterance's text in pieces (Whisper's segments), each patched in place.
pub fn patch_terms(plain: &[String], prompted: &str, terms: &[String]) -> Vec<String> {
    let joined = plain.join("\u{0}");
    let p: Vec<char> = joined.chars().collect();
    let q: Vec<char> = prompted.chars().collect();
    let mut spans = Vec::new();
    for term in terms {
        for (qa, qb) in find_all(&q, term) {
            spans.push((qa, qb));
        }
    }
    if spans.is_empty() {
        return plain.to_vec();
    }
    let map = align(&p, &q);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (qa, qb) in spans {
        let (qa, qb) = widen(&q, qa, qb);
        // The plain characters aligned with the prompted span.
        let matched: Vec<usize> = (qa..qb).filter_map(|j| map[j]).collect();
        let (Some(&first), Some(&last)) = (matched.first(), matched.last()) else { continue };
        let (pa, pb) = widen(&p, first, last + 1);
        let (plain_len, prompted_len) = ((pb - pa) as f32, (qb - qa) as f32);
        if p[pa..pb].contains(&'\u{0}') || plain_len < prompted_len / 3.0 || plain_len > prompted_len * 3.0 {
            continue;
        }
        if edits.iter().any(|(a, b, _)| pa < *b && *a < pb) {
            continue;
        }
        edits.push((pa, pb, q[qa..qb].iter().collect()));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::new();
    let mut at = 0;
    for (a, b, text) in edits {
        out.extend(&p[at..a]);
        out.push_str(&text);
        at = b;
    }
    out.extend(&p[at..]);
    out.split('\u{0}').map(str::to_owned).collect()
}

/// Where `term` occurs in `text`, case-insensitively, as char ranges.
fn find_all(text: &[char], term: &str) -> Vec<(usize, usize)> {
    let lower = |c: &char| c.to_lowercase().next().unwrap_or(*c);
    let term: Vec<char> = term.chars().map(|c| lower(&c)).collect();
    let text: Vec<char> = text.iter().map(lower).collect();
    if term.is_empty() || term.len() > text.len() {
        return Vec::new();
    }
    (0..=text.len() - term.len())
        .filter(|&i| text[i..i + term.len()] == term[..])
        .map(|i| (i, i + term.len()))
        .collect()
}

/// The range grown to whole words: to the spaces (or the ends) on either side, punctuation at
/// its edges left out.
fn widen(text: &[char], mut a: usize, mut b: usize) -> (usize, usize) {
    let inside = |c: char| !c.is_whitespace() && c != '\u{0}';
    while a > 0 && inside(text[a - 1]) {
        a -= 1;
    }
    while b < text.len() && inside(text[b]) {
        b += 1;
    }
    while a < b && !text[a].is_alphanumeric() {
        a += 1;
    }
    while b > a && !text[b - 1].is_alphanumeric() {
        b -= 1;
    }
    (a, b)
}

/// For each character of `q`, the character of `p` it lines up with (`None`: inserted), from a
/// minimal edit-distance alignment.
fn align(p: &[char], q: &[char]) -> Vec<Option<usize>> {
    let eq = |a: char, b: char| a.to_lowercase().eq(b.to_lowercase());
    let (n, m) = (p.len(), q.len());
    let mut d = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in 0..=n {
        d[at(i, 0)] = i as u32;
    }
    for j in 0..=m {
        d[at(0, j)] = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[at(i - 1, j - 1)] + u32::from(!eq(p[i - 1], q[j - 1]));
            d[at(i, j)] = sub.min(d[at(i - 1, j)] + 1).min(d[at(i, j - 1)] + 1);
        }
    }
    let mut map = vec![None; m];
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let sub = d[at(i - 1, j - 1)] + u32::from(!eq(p[i - 1], q[j - 1]));
        if d[at(i, j)] == sub {
            map[j - 1] = Some(i - 1);
            i -= 1;
            j -= 1;
        } else if d[at(i, j)] == d[at(i - 1, j)] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(plain: &str, prompted: &str, terms: &[&str]) -> String {
        let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        patch_terms(&[plain.to_owned()], prompted, &terms).concat()
    }

    #[test]
    fn only_the_words_of_a_term_come_from_the_prompted_text() {
        // The prompted text also dropped "본격적인": that is not taken.
        assert_eq!(
            patch(
                "김 전 장관의 동료인 장동량 홍잇대 교수가 자문단장으로 위촉되면서 본격적인 공모와",
                "김 전 장관의 동료인 장동련 홍익대 교수가 자문단장으로 위촉되면서 공모와",
                &["장동련", "홍익대"]
            ),
            "김 전 장관의 동료인 장동련 홍익대 교수가 자문단장으로 위촉되면서 본격적인 공모와"
        );
        assert_eq!(
            patch(
                "She-1 will move the staging day to make the behind the G-mounts or before Friday.",
                "Siobhan, we'll move the staging database behind PgBouncer before Friday",
                &["Siobhan", "PgBouncer"]
            ),
            "Siobhan will move the staging day to make the behind PgBouncer before Friday."
        );
    }

    #[test]
    fn a_term_the_plain_text_has_no_words_for_is_not_inserted() {
        assert_eq!(
            patch("Thanks, that is all.", "Thanks, PgBouncer, that is all.", &["PgBouncer"]),
            "Thanks, that is all."
        );
        assert_eq!(patch("Go forward ten meters.", "Go forward ten meters.", &["Grafana"]), "Go forward ten meters.");
    }

    #[test]
    fn segments_are_patched_in_place() {
        let plain = vec![" Ask new enter".to_owned(), " check the graph on a dashboard.".to_owned()];
        let out =
            patch_terms(&plain, "Ask Nguyen to check the Grafana dashboard.", &["Nguyen".into(), "Grafana".into()]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], " check the Grafana dashboard.");
        assert!(out[0].contains("Nguyen"), "{out:?}");
    }
}
