//! [`LineOwners`]: who a line makes the owner of the work it agrees on, read from the words
//! themselves.
//!
//! - Korean: the colleague a request is addressed to ("준호 씨, … 정리해 주실 수 있어요?", "김
//!   팀장님이 여쭤봐 주실 수 있을까요?"), else the speaker who promises ("제가 정리할게요",
//!   "완성하겠습니다"). Korean marks both in fixed forms (a name with 씨/님 or a title, request
//!   endings, promise endings).
//! - English: the person a request is said to by name ("Nina, can you …", "Can you take it,
//!   Kenji?"), else the speaker who promises ("I'll write the PRD"), else whoever answers a request
//!   said to nobody by name with a promise on the next line ("Can you take it?" / "Yes. I'll …").
//!
//! The small default model names owners badly: it gives most Korean items to the meeting's first
//! speaker, and English items to a person the line mentions ("I'll send it to Omar"). So where
//! these words name somebody they decide the assignee; the model's is kept only where they name
//! nobody.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignee_resolver::{AssigneeResolver, Person, may_be_same_person};
use super::extraction::{ExtractedItem, TranscriptLine};
use super::task_cues::TaskCues;
use super::title_words::topic_words;

/// Endings and words of a request to someone else ("해 주세요", "고칠 수 있을까요?" said to a
/// person called by name).
const REQUESTS: &[&str] = &[
    "주세요",
    "주실",
    "주시",
    "줄 수",
    "줄래",
    "주겠",
    "주면",
    "부탁",
    "맡아",
    "수 있을까",
    "수 있어요?",
    "수 있나요",
    "가능할까",
    "가능해요?",
];
/// Endings and words of the speaker taking work on.
const PROMISES: &[&str] = &["제가", "저는", "할게", "게요", "겠습니다", "드릴게", "맡을게", "챙길게"];
/// What a name is followed by when it is called: honorifics and titles ("준호 씨", "김 팀장님").
const HONORIFICS: &[&str] = &[
    "씨",
    "님",
    "대리",
    "과장",
    "차장",
    "부장",
    "팀장",
    "실장",
    "본부장",
    "이사",
    "대표",
    "주임",
    "매니저",
    "책임",
    "선임",
    "수석",
];
/// Particles after a called name ("지아 씨가", "팀장님이", "서연 님께서").
const PARTICLES: &[&str] = &["께서", "한테", "에게", "이", "가", "은", "는", "께", "도"];

/// The people of one meeting, to tell a called name from any other word.
pub(super) struct LineOwners {
    people: AssigneeResolver,
    promises: TaskCues,
    requests: TaskCues,
}

impl LineOwners {
    /// From the meeting's attendees (full names) and speaker labels.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut seen = std::collections::BTreeSet::new();
        let people = names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty() && seen.insert(n.to_owned()))
            .map(|name| Person { id: Uuid::nil(), name: name.to_owned(), email: String::new() });
        Self { people: AssigneeResolver::new(people), promises: TaskCues::promises(), requests: TaskCues::requests() }
    }

    /// The owner line `seq` of `lines` names, as the name of a meeting person or a speaker's
    /// label; `None` where its words name nobody.
    pub fn owner_at(&self, seq: i64, lines: &[(TranscriptLine, String)]) -> Option<String> {
        let at = lines.iter().position(|(l, _)| l.seq == seq)?;
        let line = &lines[at].0;
        if line.text.chars().any(is_hangul) {
            return self.korean_owner(line);
        }
        let speaker = line.speaker.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let mut asks = false;
        for sentence in line.text.split_inclusive(['.', '?', '!']) {
            if !self.requests.may_hold_task(sentence) {
                continue;
            }
            asks = true;
            if let Some(called) =
                self.addressed(sentence).filter(|c| !speaker.is_some_and(|s| may_be_same_person(c, s)))
            {
                return Some(called);
            }
        }
        if let Some(speaker) = speaker
            && self.promises.may_hold_task(&line.text)
        {
            return Some(speaker.to_owned());
        }
        // A request to nobody by name, taken on by the next speaker.
        let (next, _) = lines.get(at + 1)?;
        let answerer = next.speaker.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
        (asks
            && speaker != Some(answerer)
            && !next.text.chars().any(is_hangul)
            && self.promises.may_hold_task(&next.text))
        .then(|| answerer.to_owned())
    }

    /// The meeting person an English sentence is said to: a name before its first comma or after
    /// its last ("Nina, can you give Omar the background?", "Can you take it, Kenji?").
    fn addressed(&self, sentence: &str) -> Option<String> {
        let (first, last) = (sentence.split(',').next()?, sentence.rsplit(',').next()?);
        if first.len() == sentence.len() {
            return None;
        }
        [first, last].into_iter().find_map(|part| {
            let part = part.trim_matches(|c: char| !c.is_alphanumeric());
            let short = (1..=2).contains(&part.split_whitespace().count());
            short.then(|| self.people.resolve(part)).flatten().map(|p| p.name.clone())
        })
    }

    /// The owner a Korean `line` names, as the name of a meeting person or the speaker's label;
    /// `None` for a line that is not Korean or says neither.
    fn korean_owner(&self, line: &TranscriptLine) -> Option<String> {
        let text = &line.text;
        if !text.chars().any(is_hangul) {
            return None;
        }
        if REQUESTS.iter().any(|r| text.contains(r))
            && let Some(called) = self.called(text)
        {
            return Some(called);
        }
        let speaker = line.speaker.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
        PROMISES.iter().any(|p| text.contains(p)).then(|| speaker.to_owned())
    }

    /// The last person called by name and honorific in `text` (the one nearest the request).
    fn called(&self, text: &str) -> Option<String> {
        let pieces: Vec<&str> = text
            .split_whitespace()
            .map(|p| p.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|p| !p.is_empty())
            .collect();
        let mut found = None;
        for (i, piece) in pieces.iter().enumerate() {
            let bare = without_particle(piece);
            let Some(title) = HONORIFICS
                .iter()
                .map(|h| format!("{h}님"))
                .chain(HONORIFICS.iter().map(|h| h.to_string()))
                .find(|h| bare.ends_with(h.as_str()))
            else {
                continue;
            };
            // "준호씨" glued, or "준호 씨" / "김 팀장님" with the name in the piece before.
            let reference = if bare.len() > title.len() {
                bare.to_owned()
            } else if i > 0 {
                format!("{} {bare}", pieces[i - 1])
            } else {
                continue;
            };
            if let Some(person) = self.people.resolve(&reference) {
                found = Some(person.name.clone());
            }
        }
        found
    }
}

/// Words of an answer that turns a request or an idea down or puts it off ("이번엔 어렵겠어요",
/// "힘들 것 같아요", "나중에 봐요", "다음에 얘기해요", "저도 잘 모르겠어요").
const REFUSALS: &[&str] = &[
    "어렵",
    "어려",
    "힘들",
    "무리",
    "나중에",
    "다음에",
    "미루",
    "다시 얘기",
    "다시 정해",
    "안 돼",
    "안 될",
    "보류",
    "모르겠",
];

impl LineOwners {
    /// Whether the Korean line `seq` asks or proposes something that the next line, another
    /// speaker's, turns down or puts off without anyone taking it on.
    pub fn turned_down(&self, seq: i64, lines: &[(TranscriptLine, String)]) -> bool {
        let Some(at) = lines.iter().position(|(l, _)| l.seq == seq) else { return false };
        let (line, next) = (&lines[at].0, lines.get(at + 1).map(|(l, _)| l));
        let Some(next) = next else { return false };
        let promises = |t: &str| PROMISES.iter().any(|p| t.contains(p));
        // A sentence that refuses and takes nothing on ("어렵겠지만 제가 해 볼게요" takes it on;
        // "다음에 얘기해 봐요. 오늘은 여기까지 할게요." refuses, then closes the meeting).
        let refuses = next.text.split(['.', '?', '!']).any(|s| REFUSALS.iter().any(|r| s.contains(r)) && !promises(s));
        line.text.chars().any(is_hangul)
            && !promises(&line.text)
            && next.speaker.is_some()
            && next.speaker != line.speaker
            && refuses
    }

    /// Merges a Korean request and its acceptance: an item on a request that calls its owner by
    /// name, and one on that person's promise within the next two lines, are one task (the title
    /// that says more of the two lines, the first due date said). Other items pass unchanged.
    pub fn merge_accepted(&self, items: Vec<ExtractedItem>, lines: &[(TranscriptLine, String)]) -> Vec<ExtractedItem> {
        let line = |seq: i64| lines.iter().find(|(l, _)| l.seq == seq).map(|(l, _)| l);
        let mut out: Vec<ExtractedItem> = Vec::with_capacity(items.len());
        for item in items {
            let accepted = item.source_segments.first().and_then(|&seq| {
                let answer = line(seq)?;
                let speaker = answer.speaker.as_deref()?;
                (self.korean_owner(answer).as_deref() == Some(speaker)).then_some(())?;
                out.iter().rposition(|asked| {
                    let Some(&at) = asked.source_segments.first() else { return false };
                    let request = line(at);
                    (1..=2).contains(&(seq - at))
                        && request.is_some_and(|r| {
                            r.speaker.as_deref() != Some(speaker) && REQUESTS.iter().any(|q| r.text.contains(q))
                        })
                        && asked.assignee.as_deref().is_some_and(|a| may_be_same_person(a, speaker))
                })
            });
            match accepted {
                Some(i) => {
                    let asked = &mut out[i];
                    asked.source_segments.extend(&item.source_segments);
                    // The title that says more of what the two lines said ("온보딩 시안 수정" over
                    // "결과 반영" for "결과 반영해서 온보딩 시안 수정해 주실 수 있을까요?").
                    let said: BTreeSet<String> = asked
                        .source_segments
                        .iter()
                        .filter_map(|&seq| line(seq))
                        .flat_map(|l| topic_words(&l.text))
                        .collect();
                    let says = |title: &str| topic_words(title).intersection(&said).count();
                    if says(&item.title) > says(&asked.title) {
                        asked.title = item.title.clone();
                    }
                    asked.due_date = asked.due_date.take().or(item.due_date);
                    asked.confidence = asked.confidence.max(item.confidence);
                }
                None => out.push(item),
            }
        }
        out
    }
}

/// A piece less one trailing particle.
fn without_particle(piece: &str) -> &str {
    PARTICLES.iter().find_map(|p| piece.strip_suffix(p).filter(|b| !b.is_empty())).unwrap_or(piece)
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::super::test_items::item;
    use super::*;

    fn numbered(lines: &[(&str, &str)]) -> Vec<(TranscriptLine, String)> {
        (1..)
            .zip(lines)
            .map(|(seq, (speaker, text))| (TranscriptLine { seq, ..line(speaker, text) }, String::new()))
            .collect()
    }

    #[test]
    fn a_request_turned_down_is_no_task() {
        let lines = numbered(&[
            ("준호", "팀장님, 샘플 제품 백 개 정도 더 주문할 수 있을까요?"),
            ("민지", "백 개는 좀 많아요. 이번엔 어렵겠어요."),
            ("준호", "런칭 당일에 라이브 방송도 하면 재밌을 것 같아요."),
            ("민지", "아이디어는 좋네요. 다음에 한번 얘기해 봐요. 오늘은 여기까지 할게요."),
            ("민지", "서연 님, 사진 좀 많이 찍어 오세요."),
            ("서연", "알겠습니다."),
            ("민지", "제가 정 팀장님께 여쭤볼게요."),
            ("동현", "저도 잘 모르겠어요."),
            ("태민", "어렵겠지만 제가 해 볼게요."),
        ]);
        let owners = LineOwners::new(["민지", "준호", "서연", "동현", "태민"]);
        let down: Vec<i64> = (1..=9).filter(|&seq| owners.turned_down(seq, &lines)).collect();
        // Not 5 (accepted), 7 (a promise), 8 (taken on on the next line).
        assert_eq!(down, vec![1, 3]);
    }

    #[test]
    fn a_request_and_its_acceptance_are_one_task() {
        let lines = numbered(&[
            ("동현", "서연 님, 온보딩 시안 다음 주 월요일까지 수정해 주실 수 있을까요?"),
            ("서연", "네, 시안 수정해서 공유할게요."),
            ("동현", "민재 씨, 로그인 버그 고칠 수 있을까요?"),
            ("유진", "네, 제가 테스트 끝내 놓을게요."),
            ("민재", "네, 로그인 버그는 수요일까지 고칠게요."),
        ]);
        let owners = LineOwners::new(["동현", "서연", "민재", "유진"]);
        let with = |title: &str, who: &str, seq: i64, due: Option<&str>| ExtractedItem {
            due_date: due.map(Into::into),
            ..item(title, Some(who), &[seq])
        };
        let items = vec![
            with("결과 반영", "서연", 1, Some("다음 주 월요일")),
            with("온보딩 시안 수정", "서연", 2, None),
            with("로그인 버그 수정", "민재", 3, None),
            // Somebody else's promise in between stays its own task.
            with("테스트 끝내기", "유진", 4, None),
            with("로그인 버그 고치기", "민재", 5, Some("수요일까지")),
        ];
        let merged = owners.merge_accepted(items, &lines);
        let shape: Vec<(&str, &[i64], Option<&str>)> =
            merged.iter().map(|i| (i.title.as_str(), i.source_segments.as_slice(), i.due_date.as_deref())).collect();
        assert_eq!(
            shape,
            vec![
                // The acceptance's title says more of the two lines (온보딩, 시안, 수정).
                ("온보딩 시안 수정", &[1, 2][..], Some("다음 주 월요일")),
                ("로그인 버그 수정", &[3, 5][..], Some("수요일까지")),
                ("테스트 끝내기", &[4][..], None),
            ]
        );
    }

    fn line(speaker: &str, text: &str) -> TranscriptLine {
        TranscriptLine { seq: 1, speaker: Some(speaker.into()), start: 0.0, end: 0.0, text: text.into() }
    }

    #[test]
    fn a_request_goes_to_the_one_called_and_a_promise_to_the_speaker() {
        let owners = LineOwners::new(["김민지", "박준호", "이서연", "최동현", "민지", "준호", "서연", "동현"]);
        let owner = |speaker: &str, text: &str| owners.korean_owner(&line(speaker, text));
        let cases = [
            ("민지", "준호 씨, 세 군데 견적 다 받아서 비교한 거 이번 주 금요일까지 정리해 주실 수 있어요?", "준호"),
            (
                "동현",
                "네, 지난주에 메일 드렸는데 아직 답이 없으세요. 김 팀장님이 한번 여쭤봐 주실 수 있을까요?",
                "김민지",
            ),
            ("민지", "자료는 서연씨가 초안 좀 만들어 주세요.", "서연"),
            ("민지", "좋아요. 서연 님, 이 건도 맡아 주실래요?", "서연"),
            ("준호", "네, 금요일까지 인쇄 견적 비교표 만들어서 드릴게요.", "준호"),
            ("민지", "네, 그럼 제가 오늘 중으로 정 팀장님께 사양 확정됐는지 직접 여쭤볼게요.", "민지"),
            ("동현", "사양만 나오면 보도자료 초안은 다음 주 수요일까지 완성하겠습니다.", "동현"),
            // Somebody named without a request: the speaker's promise decides.
            ("서연", "네, 화요일까지 명단 정리해서 동현 씨한테 넘길게요.", "서연"),
        ];
        for (speaker, text, want) in cases {
            assert_eq!(owner(speaker, text).as_deref(), Some(want), "{text}");
        }
        // A request to nobody named here, a title with no name, a report, English: no owner.
        for (speaker, text) in [
            ("민지", "정 팀장님, 사양 좀 확정해 주세요."),
            ("준호", "팀장님, 혹시 샘플 백 개 정도 더 주문해 주실 수 있을까요?"),
            ("준호", "패키지 디자인 시안은 어제 최종본 받았어요."),
            ("Ben", "I'll send it by Friday."),
        ] {
            assert_eq!(owner(speaker, text), None, "{text}");
        }
    }

    #[test]
    fn an_english_request_goes_to_the_one_named_else_a_promise_or_its_answer_to_the_speaker() {
        let lines = numbered(&[
            ("Grace", "I'm Grace from support. Nina, can you give Omar the background?"),
            ("Maya", "Okay, can you own getting that test stable? I'd like it fixed by Wednesday."),
            ("Ben", "Yep, I'll have the flaky checkout test fixed by Wednesday."),
            ("Ben", "Monday. I'll write the public postmortem and send it to Omar and Nina for review."),
            ("Maya", "Can you take it, Kenji?"),
            ("Kenji", "Sure."),
            ("Claire", "Please show the paid search numbers next to it."),
            ("Claire", "The board deck was late again last quarter."),
            ("Tom", "We should look at the sales numbers, Omar."),
        ]);
        let owners = LineOwners::new([
            "Grace Liu",
            "Nina Petrova",
            "Omar Haddad",
            "Maya Torres",
            "Ben Adler",
            "Kenji Watanabe",
            "Claire Dubois",
        ]);
        let owner = |seq| owners.owner_at(seq, &lines);
        assert_eq!(owner(1).as_deref(), Some("Nina Petrova"), "called by name before the comma");
        assert_eq!(owner(2).as_deref(), Some("Ben"), "asked nobody by name, taken on by the next speaker");
        assert_eq!(owner(3).as_deref(), Some("Ben"), "a promise");
        assert_eq!(owner(4).as_deref(), Some("Ben"), "a promise that names others");
        assert_eq!(owner(5).as_deref(), Some("Kenji Watanabe"), "called by name after the comma");
        // An answer without a promise, a request nobody takes on, a report, a name without a request.
        for seq in [6, 7, 8, 9] {
            assert_eq!(owner(seq), None, "{:?}", lines[seq as usize - 1].0.text);
        }
    }
}
