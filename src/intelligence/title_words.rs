//! The word sets that action items are compared by: a title's or a line's topic words, and a
//! title's words for telling two titles apart.
//!
//! Korean glues particles and endings to its stems ("견적은", "견적서를", "정리해서"), so a Hangul
//! word is compared by its stem: the word less one trailing particle, and for topic words only its
//! first two syllables (most Korean nouns, and the verbs made from them with 하다, start with a
//! two-syllable root: "정리해 주세요" ~ "정리할게요").

use std::collections::BTreeSet;

/// Words that say what a task is about: lower case, three letters or more, no stopwords or verbs
/// any task could start with, cut to five letters (a crude stem: "invoices" ~ "invoice"); Hangul
/// words by their two-syllable stem ([`korean_topic`]).
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
        .filter_map(|w| {
            if w.chars().any(is_hangul) {
                return korean_topic(w);
            }
            (w.chars().count() >= 3 && !GENERIC.contains(&w)).then(|| w.chars().take(5).collect())
        })
        .collect()
}

/// A Hangul word's topic stem: its first two syllables once a particle is gone, unless that says
/// nothing about the work (a pronoun, a time, a title, a politeness or helper verb).
fn korean_topic(word: &str) -> Option<String> {
    const GENERIC: &[&str] = &[
        // Who: pronouns and titles (the names themselves are the speakers').
        "제가", "저는", "저도", "저희", "우리", "내가", "나는", "여러", "다들", "팀장", "과장", "부장", "차장", "대리",
        "실장", "대표", "사원", "주임", "선배", "매니", // When.
        "이번", "다음", "지난", "오늘", "내일", "모레", "어제", "월요", "화요", "수요", "목요", "금요", "토요", "일요",
        "주말", "월말", "오전", "오후", "까지", "동안", "언제", // Talk around the work.
        "그럼", "그건", "그거", "그리", "그래", "그렇", "이건", "이거", "이렇", "어떻", "혹시", "먼저", "일단", "지금",
        "이제", "아직", "바로", "같이", "정도", "한번", "좋아", "좋겠", "좋은", "알겠", "감사", "수고", "부탁", "있어",
        "있는", "있을", "있으", "없어", "없는", "같아", "같은", "해서", "해주", "해야", "하고", "하는", "하면", "할게",
        "하겠", "합니", "했어", "했는", "드릴", "드리", "드려", "주세", "주실", "주시", "주셔", "봐주", "해볼", "해보",
        // Running the meeting itself ("시작하겠습니다", "오늘은 여기까지", "수고하셨어요").
        "회의", "시작", "마치", "여기", "수고",
    ];
    let stem = without_particle(word);
    let topic: String = stem.chars().take(2).collect();
    (stem.chars().count() >= 2 && !GENERIC.contains(&topic.as_str())).then_some(topic)
}

/// Particles glued to a Korean noun ("견적서를", "로그는", "인사팀에"), longest first.
const KOREAN_PARTICLES: &[&str] = &[
    "에서", "으로", "이랑", "에게", "한테", "께서", "까지", "부터", "을", "를", "은", "는", "이", "가", "의", "에",
    "로", "와", "과", "랑", "도", "만", "께",
];

/// A Hangul word less one trailing particle, when two or more syllables remain.
fn without_particle(word: &str) -> &str {
    KOREAN_PARTICLES.iter().find_map(|p| word.strip_suffix(p).filter(|b| b.chars().count() >= 2)).unwrap_or(word)
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

const STOPWORDS: &[&str] = &["a", "an", "the", "to", "of", "for", "and", "on", "in", "with", "by", "our", "new"];

/// A title's words for telling titles apart: lower case, split at anything not a letter or digit,
/// [`STOPWORDS`] left out, Hangul words without their particle ("견적서를" = "견적서").
pub(super) fn normalized_words(title: &str) -> BTreeSet<String> {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(|w| if w.chars().any(is_hangul) { without_particle(w) } else { w }.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn korean_words_are_compared_by_their_stems() {
        // A title and the line it comes from share their stems, whatever the particles and endings.
        assert_eq!(topic_words("인쇄소 세 곳 견적 비교표 정리"), set(&["견적", "비교", "인쇄", "정리"]));
        let line = topic_words("준호 씨, 세 군데 견적 다 받아서 비교한 거 이번 주 금요일까지 정리해 주실 수 있어요?");
        assert!(["견적", "비교", "정리"].iter().all(|w| line.contains(*w)), "{line:?}");
        assert_eq!(topic_words("견적서를 보내 주세요"), set(&["견적", "보내"]));
        // Pronouns, times, titles and politeness say nothing about the work.
        assert!(topic_words("네, 제가 다음 주 월요일 오전까지 할게요.").is_empty());
        assert!(topic_words("오늘은 여기까지 할게요. 수고하셨어요.").is_empty());
        assert!(topic_words("네, 다들 수고하셨어요. 회의 마치겠습니다.").is_empty());
        assert_eq!(topic_words("김 팀장님께 사양 확인"), set(&["사양", "확인"]));
        // Mixed text: English words as before.
        assert_eq!(topic_words("API 문서 update"), set(&["api", "문서", "updat"]));
        assert_eq!(normalized_words("견적서를 보내기"), set(&["견적서", "보내기"]));
        // A name ending in a particle's syllable keeps it when nothing would remain.
        assert_eq!(normalized_words("하은"), set(&["하은"]));
    }
}
