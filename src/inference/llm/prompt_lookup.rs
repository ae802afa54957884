//! [`PromptLookup`]: drafts the next tokens by finding the text just written earlier in the
//! prompt or the answer, and proposing what followed it there ("prompt lookup decoding").
//!
//! What the extractor writes is mostly copied: a title restates its line, an assignee is an
//! attendee's name, a due date is the speaker's words. The generator feeds a draft together
//! with the token it just chose and keeps the drafted tokens the model would have chosen anyway
//! (greedy), so one model call can yield several tokens. On two CPU cores a decode call is bound
//! by reading the weights, and a call of a few tokens costs little more than a call of one.

/// Longest and shortest run of tokens looked up (longer runs are tried first: they predict
/// better).
const MAX_NGRAM: usize = 3;
const MIN_NGRAM: usize = 2;

pub struct PromptLookup {
    /// The prompt, then the tokens generated so far.
    history: Vec<u32>,
    prompt_len: usize,
}

impl PromptLookup {
    pub fn new(prompt: &[u32]) -> Self {
        Self { history: prompt.to_vec(), prompt_len: prompt.len() }
    }

    /// Writes into `out` up to `max` tokens that followed the latest earlier occurrence of the
    /// last few tokens of the prompt and `generated`; nothing when they occur nowhere else.
    pub fn propose(&mut self, generated: &[u32], max: usize, out: &mut Vec<u32>) {
        out.clear();
        self.history.truncate(self.prompt_len);
        self.history.extend_from_slice(generated);
        let h = &self.history;
        if max == 0 {
            return;
        }
        for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
            if h.len() <= n {
                continue;
            }
            let tail = &h[h.len() - n..];
            // Occurrences ending before the tail itself; the latest is the likeliest to go on alike.
            if let Some(start) = (0..h.len() - n).rev().find(|&i| &h[i..i + n] == tail) {
                let from = start + n;
                out.extend_from_slice(&h[from..(from + max).min(h.len())]);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposes_what_followed_the_latest_occurrence_of_the_last_tokens() {
        // "… 5 6 7 8 9 … 5 6 1 2 …" then generated "5 6": the latest "5 6" is followed by "1 2".
        let mut lookup = PromptLookup::new(&[1, 5, 6, 7, 8, 9, 3, 5, 6, 1, 2, 4]);
        let mut draft = Vec::new();
        lookup.propose(&[5, 6], 3, &mut draft);
        assert_eq!(draft, [1, 2, 4]);
        // A longer run wins over the latest shorter one: "7 5 6" occurred once, followed by 9.
        let mut lookup = PromptLookup::new(&[7, 5, 6, 9, 0, 5, 6, 1]);
        lookup.propose(&[7, 5, 6], 2, &mut draft);
        assert_eq!(draft, [9, 0]);
    }

    #[test]
    fn proposes_nothing_for_text_never_seen_or_no_room() {
        let mut lookup = PromptLookup::new(&[1, 2, 3, 4]);
        let mut draft = vec![9];
        lookup.propose(&[7, 8], 4, &mut draft);
        assert!(draft.is_empty());
        lookup.propose(&[1, 2], 0, &mut draft);
        assert!(draft.is_empty());
        // The continuation runs on into the generated tokens and stops where they end.
        let mut lookup = PromptLookup::new(&[1, 2, 3]);
        lookup.propose(&[1, 2], 5, &mut draft);
        assert_eq!(draft, [3, 1, 2]);
    }
}
