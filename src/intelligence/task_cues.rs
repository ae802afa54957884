//! [`TaskCues`]: which transcript lines may agree on a task, by the words people use to promise
//! ("I'll", "let me"), to ask ("can you", "please", "who can"), to oblige ("need to", "has to")
//! or to set a deadline ("by Friday").
//!
//! The extractor asks the model about these lines only (see `meeting_extractor`): deciding
//! "task or not" for a listed line is a job a small model does far better than finding tasks in
//! a whole transcript, and its answer stays as long as the number of lines it is asked about.
//! The list errs on the side of asking: a line the model is asked about in vain costs one
//! `null`; a task on a line it is never asked about is lost. Every task of the evaluation set is
//! said on a line these cues catch (checked by the tests of `ddalkkak_eval::action_items`).
//!
//! Korean glues its endings to the verb ("정리할게요", "보내 주세요"), so Korean cues are parts of
//! a word, not whole words.

/// Word sequences of a speaker taking work on (lower case, apostrophes straight).
const PROMISES: &[&str] = &[
    "i'll",
    "i will",
    "i can",
    "i could",
    "i'm going to",
    "i am going to",
    "i'd like to",
    "i'd be happy to",
    "i plan to",
    "i'm planning to",
    "let me",
    "i'm on it",
    "leave it with me",
    "i volunteer",
    "on me",
];

/// Word sequences of a request said to the one spoken to.
const REQUESTS: &[&str] = &[
    "can you",
    "could you",
    "would you",
    "will you",
    "want you to",
    "need you to",
    "please",
    "you take",
    "you own",
    "you handle",
    "you grab",
    "you pick",
    "you do",
];

/// The other word sequences that mark a possible task.
const CUES: &[&str] = &[
    // Requests to anyone.
    "who can",
    "who will",
    "who wants",
    "who's going",
    "who is going",
    "can we get",
    "make sure",
    "take care",
    "follow up",
    "action item",
    "action items",
    "owner",
    "own it",
    "own that",
    "own this",
    "take it",
    "take that",
    "take this",
    // Obligations. Group intentions ("let's", "we should", "we'll", "someone has to") name no
    // owner: the line where somebody takes the work ("I'll do it") is the one asked about.
    "need to",
    "needs to",
    "have to",
    "has to",
    // Deadlines.
    "by monday",
    "by tuesday",
    "by wednesday",
    "by thursday",
    "by friday",
    "by saturday",
    "by sunday",
    "by tomorrow",
    "by tonight",
    "by today",
    "by the end",
    "by end of",
    "by next",
    "by eod",
    "by noon",
];

/// Korean promises: "제가 할게요", "보내드리겠습니다", "맡을게요" (polite and plain forms).
const KOREAN_PROMISES: &[&str] = &["제가", "할게", "게요", "겠습니다", "드릴게", "맡을", "챙길", "내가 할"];

/// Korean requests, obligations and deadlines: "해 주세요", "부탁드려요", "해야 해요", "금요일까지".
const KOREAN_CUES: &[&str] = &[
    "주세요",
    "주실",
    "주시",
    "줄래",
    "줄 수",
    "해줘",
    "해 줘",
    "부탁",
    "맡아",
    "담당",
    "해야",
    "돼야",
    "필요",
    "까지",
    "수 있을까",
    "가능할까",
];

/// The cue list, split into words once.
pub struct TaskCues {
    cues: Vec<Vec<&'static str>>,
    /// Parts of Korean words (or of two words) that are cues.
    korean: &'static [&'static [&'static str]],
}

impl Default for TaskCues {
    /// Promises, requests, obligations and deadlines.
    fn default() -> Self {
        Self::of(PROMISES.iter().chain(REQUESTS).chain(CUES), &[KOREAN_PROMISES, KOREAN_CUES])
    }
}

impl TaskCues {
    /// Promises only ("I'll", "let me", "on me").
    pub fn promises() -> Self {
        Self::of(PROMISES.iter(), &[KOREAN_PROMISES])
    }

    /// English requests to the one spoken to ("can you", "please", "you take").
    pub fn requests() -> Self {
        Self::of(REQUESTS.iter(), &[])
    }

    fn of<'a>(cues: impl Iterator<Item = &'a &'static str>, korean: &'static [&'static [&'static str]]) -> Self {
        Self { cues: cues.map(|c| c.split(' ').collect()).collect(), korean }
    }

    /// Whether `text` holds a cue (whole words, any case, curly or straight apostrophes).
    pub fn may_hold_task(&self, text: &str) -> bool {
        self.first_cue(text).is_some()
    }

    /// Where the first cue starts, as an index into `text.split_whitespace()`.
    pub fn first_cue(&self, text: &str) -> Option<usize> {
        // (word, index of the whitespace-separated piece it came from)
        let mut words: Vec<(String, usize)> = Vec::new();
        for (i, piece) in text.split_whitespace().enumerate() {
            let piece = piece.to_lowercase().replace('\u{2019}', "'");
            for w in piece.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
                let w = w.trim_matches('\'');
                if !w.is_empty() {
                    words.push((w.to_owned(), i));
                }
            }
        }
        let english = (0..words.len()).find_map(|start| {
            let matches = |cue: &Vec<&str>| {
                cue.len() <= words.len() - start && cue.iter().zip(&words[start..]).all(|(c, (w, _))| c == w)
            };
            self.cues.iter().any(matches).then(|| words[start].1)
        });
        english.into_iter().chain(self.first_korean_cue(text)).min()
    }

    /// The first whitespace-separated piece holding a Korean cue, alone or with the next piece
    /// ("해 주세요").
    fn first_korean_cue(&self, text: &str) -> Option<usize> {
        let pieces: Vec<&str> = text.split_whitespace().collect();
        let cues = || self.korean.iter().flat_map(|list| list.iter());
        (0..pieces.len()).find(|&i| {
            let hangul = |p: &str| p.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
            if !hangul(pieces[i]) {
                return false;
            }
            let pair = pieces.get(i + 1).map(|next| format!("{} {next}", pieces[i]));
            cues().any(|cue| {
                if cue.contains(' ') {
                    pair.as_ref().is_some_and(|p| p.starts_with(pieces[i]) && p.contains(cue))
                } else {
                    pieces[i].contains(cue)
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promises_requests_and_deadlines_are_cues_and_small_talk_is_not() {
        let cues = TaskCues::default();
        for yes in [
            "Yep, I'll have the flaky checkout test fixed by Wednesday.",
            "Ben, can you own getting that test stable?",
            "Let me look into it.",
            "Somebody has to label the desks.",
            "Send the invoices BY FRIDAY",
            "I\u{2019}ll do the labels.",
            "Who can take the follow-up with legal?",
        ] {
            assert!(cues.may_hold_task(yes), "{yes}");
        }
        for no in [
            "Morning everyone.",
            "Is it the same timeout as last week?",
            "I finished the cache eviction change, that's merged and deployed.",
            "Great. Sofia?",
            "Should we also think about switching banks?",
            "Let's not plan for it, we'll see.",
        ] {
            assert!(!cues.may_hold_task(no), "{no}");
        }
        assert_eq!(cues.first_cue("The fix is small. I'll ship a hotfix by Monday."), Some(4));
        assert_eq!(cues.first_cue("Morning everyone."), None);
        // Whole words only.
        assert!(!cues.may_hold_task("The shoulder season and the ownership model."));
        let promises = TaskCues::promises();
        assert!(promises.may_hold_task("I'll prepare the forecast. Is August fifth okay?"));
        assert!(!promises.may_hold_task("Can you send a reminder when the date is fixed?"));
    }

    #[test]
    fn korean_promises_requests_and_deadlines() {
        let cues = TaskCues::default();
        for yes in [
            "네, 제가 금요일까지 보고서 정리할게요.",
            "준호 씨, 견적서 좀 보내 주세요.",
            "디자인 시안은 민지 님이 맡아 주실 수 있을까요?",
            "이번 주 안에 서버 점검을 해야 해요.",
            "자료는 제가 내일 오전까지 공유드리겠습니다.",
            "그건 다음 주 월요일까지 끝내죠.",
        ] {
            assert!(cues.may_hold_task(yes), "{yes}");
        }
        for no in
            ["안녕하세요, 다들 잘 지내셨어요?", "지난주 배포는 문제없이 끝났어요.", "좋네요. 다음 안건으로 넘어가죠."]
        {
            assert!(!cues.may_hold_task(no), "{no}");
        }
        // The piece where the cue is: "정리할게요" is the fourth.
        assert_eq!(cues.first_cue("오늘 회의록은 바로 정리할게요."), Some(3));
        let promises = TaskCues::promises();
        assert!(promises.may_hold_task("제가 할게요."));
        assert!(!promises.may_hold_task("견적서 좀 보내 주세요."));
    }
}
