//! Who each voice is. Diarization knows voices ("Speaker 2"), the tenant knows people; the
//! conversation links them:
//! - a self-introduction: "Hi, I'm Sofia", "저는 김민지입니다" → that speaker is Sofia;
//! - an answer to an address: A: "Ben, can you own that?" → B: "Sure, …" → B is Ben;
//! - thanks after a turn: B speaks, A: "Thanks, Ben." → B is Ben;
//! - and against: whoever addresses or mentions Ben by name is not Ben.
//!
//! Names resolve through the [`AssigneeResolver`] (ambiguous → no evidence). A speaker whose
//! label already names a person (a transcript with names) is that person. Otherwise each speaker
//! gets the person with the most evidence when it is strong enough and clearly ahead, and each
//! person goes to at most one speaker: a wrong name is worse than none (tasks would go to the
//! wrong person), so anything unclear stays unidentified.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::assignee_resolver::{AssigneeResolver, Person};
use super::extraction::TranscriptLine;
use crate::domain::{EvidenceKind, IdentityEvidence, SpeakerIdentity};

/// Evidence weights; a speaker is identified at [`IDENTIFIED_AT`] with a lead of [`LEAD`] over
/// the next person.
const SELF_INTRODUCTION: i32 = 4;
const ANSWERED: i32 = 3;
const SPOKE_AFTER_ADDRESS: i32 = 2;
const THANKED: i32 = 2;
const ADDRESSED_THEM: i32 = -4;
const MENTIONED_THEM: i32 = -1;
const IDENTIFIED_AT: i32 = 2;
const LEAD: i32 = 2;

/// Openings of a reply that takes on what was asked.
const ACKNOWLEDGEMENTS: &[&str] = &[
    "sure",
    "yes",
    "yeah",
    "yep",
    "yup",
    "ok",
    "okay",
    "will do",
    "on it",
    "got it",
    "i can",
    "i'll",
    "i will",
    "absolutely",
    "of course",
    "no problem",
    "sounds good",
    "happy to",
    "can do",
    "definitely",
    "i'm on",
    "네",
    "예",
    "넵",
    "알겠습니다",
    "알겠어요",
    "좋아요",
    "제가",
    "그럴게요",
    "할게요",
    "물론",
];
/// A Korean name followed by one of these (glued or not) is addressed: "민지 씨", "준호 님".
const KOREAN_ADDRESS_TITLES: &[&str] =
    &["씨", "님", "팀장님", "과장님", "대리님", "차장님", "부장님", "선배님", "매니저님"];
/// Copula endings of a Korean self-introduction: "김민지입니다", "민지예요".
const KOREAN_COPULAS: &[&str] = &["입니다", "이에요", "예요", "이고요", "라고 합니다", "이라고 합니다"];

/// Identities of the speakers of `lines`, by label.
pub fn identify(lines: &[TranscriptLine], people: &AssigneeResolver) -> HashMap<String, SpeakerIdentity> {
    identify_with(lines, people, HashMap::new())
}

/// [`identify_with`], then each identified speaker's lines carry the person's name, as the
/// model reads them (so it can write owners); returns the identities by label.
pub fn name_speakers(
    lines: &mut [TranscriptLine],
    people: &AssigneeResolver,
    known: HashMap<String, SpeakerIdentity>,
) -> HashMap<String, SpeakerIdentity> {
    let identities = identify_with(lines, people, known);
    for line in lines {
        if let Some(identity) = line.speaker.as_ref().and_then(|label| identities.get(label)) {
            line.speaker = Some(identity.name.clone());
        }
    }
    identities
}

/// [`identify`] around identities already known by label (enrolled voices): those stay as they
/// are, and their people are not given to another speaker.
pub fn identify_with(
    lines: &[TranscriptLine],
    people: &AssigneeResolver,
    known: HashMap<String, SpeakerIdentity>,
) -> HashMap<String, SpeakerIdentity> {
    let mut identities = known;
    let mut evidence = Evidence::default();
    for (i, line) in lines.iter().enumerate() {
        let Some(speaker) = line.speaker.as_deref() else { continue };
        if let Some(person) = people.resolve(speaker) {
            identities.entry(speaker.to_owned()).or_insert_with(|| identity(person, 1.0, Vec::new()));
            continue;
        }
        for person in self_introductions(&line.text, people) {
            evidence.add(speaker, person, line.seq, EvidenceKind::SelfIntroduction, SELF_INTRODUCTION);
        }
        let (addressed, thanked) = addresses(&line.text, people);
        for person in addressed.iter().chain(&thanked) {
            evidence.add(speaker, person, line.seq, EvidenceKind::AddressedThem, ADDRESSED_THEM);
        }
        for person in mentions(&line.text, people) {
            if !addressed.iter().chain(&thanked).any(|p| p.id == person.id) {
                evidence.add(speaker, person, line.seq, EvidenceKind::MentionedThem, MENTIONED_THEM);
            }
        }
        if let Some(previous) = turn_before(lines, i).and_then(|p| Some((p.speaker.as_deref()?, p.seq))) {
            for person in &thanked {
                evidence.add(previous.0, person, previous.1, EvidenceKind::Thanked, THANKED);
            }
        }
        if let Some(next) = turn_after(lines, i) {
            let (weight, kind) = if acknowledges(&next.text) {
                (ANSWERED, EvidenceKind::AnsweredWhenAddressed)
            } else {
                (SPOKE_AFTER_ADDRESS, EvidenceKind::SpokeWhenAddressed)
            };
            for person in &addressed {
                evidence.add(next.speaker.as_deref().unwrap_or_default(), person, next.seq, kind, weight);
            }
        }
    }
    identities.extend(evidence.decide(&identities));
    identities
}

/// Lines of one turn a recognizer may have split an utterance into: a speaker's address and the
/// answer to it can have this many more lines of the same speaker between them.
const TURN_CONTINUATIONS: usize = 2;

/// The first line of the next speaker's turn after line `i`, past at most
/// [`TURN_CONTINUATIONS`] more lines of `i`'s speaker.
fn turn_after(lines: &[TranscriptLine], i: usize) -> Option<&TranscriptLine> {
    let speaker = lines[i].speaker.as_deref();
    lines[i + 1..]
        .iter()
        .take(TURN_CONTINUATIONS + 1)
        .find(|l| l.speaker.as_deref() != speaker)
        .filter(|l| l.speaker.is_some())
}

/// The last line of the previous speaker's turn before line `i`, past at most
/// [`TURN_CONTINUATIONS`] earlier lines of `i`'s speaker.
fn turn_before(lines: &[TranscriptLine], i: usize) -> Option<&TranscriptLine> {
    let speaker = lines[i].speaker.as_deref();
    lines[..i].iter().rev().take(TURN_CONTINUATIONS + 1).find(|l| l.speaker.as_deref() != speaker)
}

fn identity(person: &Person, confidence: f64, evidence: Vec<IdentityEvidence>) -> SpeakerIdentity {
    SpeakerIdentity { user_id: person.id, name: person.name.clone(), confidence, evidence }
}

/// Total weight of the evidence for one (speaker label, person) pair, and that evidence.
type Score = (i32, Vec<IdentityEvidence>);

#[derive(Default)]
struct Evidence {
    scores: BTreeMap<(String, Uuid), Score>,
    people: HashMap<Uuid, Person>,
}

impl Evidence {
    fn add(&mut self, speaker: &str, person: &Person, seq: i64, kind: EvidenceKind, weight: i32) {
        let entry = self.scores.entry((speaker.to_owned(), person.id)).or_default();
        entry.0 += weight;
        entry.1.push(IdentityEvidence { seq: Some(seq), kind, weight });
        self.people.entry(person.id).or_insert_with(|| person.clone());
    }

    /// Strongest pairs first; a speaker or person already named (by label or a stronger pair)
    /// is skipped.
    fn decide(self, named: &HashMap<String, SpeakerIdentity>) -> Vec<(String, SpeakerIdentity)> {
        let mut runner_up: HashMap<&str, i32> = HashMap::new();
        let mut best: HashMap<&str, i32> = HashMap::new();
        for ((speaker, _), (score, _)) in &self.scores {
            let top = best.entry(speaker).or_insert(i32::MIN);
            let second = runner_up.entry(speaker).or_insert(0);
            if *score > *top {
                *second = (*top).max(*second);
                *top = *score;
            } else {
                *second = (*second).max(*score);
            }
        }
        let mut pairs: Vec<(&(String, Uuid), &Score)> = self.scores.iter().collect();
        pairs.sort_by_key(|(_, (score, _))| std::cmp::Reverse(*score));
        let mut taken_people: HashSet<Uuid> = named.values().map(|i| i.user_id).collect();
        let mut taken_speakers: HashSet<&str> = named.keys().map(String::as_str).collect();
        let mut out = Vec::new();
        for ((speaker, person), (score, evidence)) in pairs {
            let lead = score - runner_up.get(speaker.as_str()).copied().unwrap_or(0);
            if *score < IDENTIFIED_AT
                || lead < LEAD
                || taken_speakers.contains(speaker.as_str())
                || taken_people.contains(person)
            {
                continue;
            }
            taken_people.insert(*person);
            taken_speakers.insert(speaker);
            // 3 → 0.6, 6 → 0.8, 12 → 0.9: more agreeing evidence, more confidence.
            let confidence = 1.0 - 1.2 / (f64::from(*score) + 3.0);
            let evidence = evidence.iter().filter(|e| e.weight > 0).cloned().collect();
            out.push((speaker.clone(), identity(&self.people[person], confidence, evidence)));
        }
        out
    }
}

/// Words of `text`, lower case, punctuation kept apart: "Ben, can you?" → ["ben", ",", "can",
/// "you", "?"].
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '\'' | '’' | '-') {
            word.extend(c.to_lowercase());
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn is_punctuation(w: &str) -> bool {
    !w.chars().any(char::is_alphanumeric)
}

/// People `text` addresses by name, and (apart) people it thanks.
fn addresses<'p>(text: &str, people: &'p AssigneeResolver) -> (Vec<&'p Person>, Vec<&'p Person>) {
    let mut addressed = Vec::new();
    let mut thanked = Vec::new();
    for sentence in text.split_inclusive(['.', '?', '!', '。']) {
        let w = words(sentence);
        // "Sofia?": a name alone.
        let spoken: Vec<&str> = w.iter().map(String::as_str).filter(|x| !is_punctuation(x)).collect();
        if (1..=2).contains(&spoken.len())
            && let Some(p) = people.resolve(&spoken.join(" "))
        {
            push_unique(&mut addressed, p);
            continue;
        }
        // "Ben, …" / "Okay Ben, …" / "Hey Ben Adler, …": a name before the sentence's first comma.
        if let Some(comma) = w.iter().position(|x| x == ",") {
            let before: Vec<&str> = w[..comma].iter().map(String::as_str).collect();
            let thanks = before.first().is_some_and(|f| matches!(*f, "thanks" | "thank" | "great" | "perfect"));
            for take in [2, 1] {
                if before.len() >= take
                    && let Some(p) = people.resolve(&before[before.len() - take..].join(" "))
                {
                    push_unique(if thanks { &mut thanked } else { &mut addressed }, p);
                    break;
                }
            }
        }
        // "…, Sofia?" / "Thanks Ben." / "thank you, Maya": a name ending the sentence, after a
        // comma or a thanks.
        if let Some(end) = w.iter().rposition(|x| !is_punctuation(x)) {
            let thanks = |upto: usize| w[..upto].iter().any(|x| matches!(x.as_str(), "thanks" | "thank"));
            for take in [2, 1] {
                let Some(start) = (end + 1).checked_sub(take) else { continue };
                let before = start.checked_sub(1).map(|b| w[b].as_str());
                let after_thanks = matches!(before, Some("thanks" | "you")) && thanks(start);
                if !(before == Some(",") || after_thanks) || w[start..=end].iter().any(|x| is_punctuation(x)) {
                    continue;
                }
                if let Some(p) = people.resolve(&w[start..=end].join(" ")) {
                    push_unique(if thanks(start) { &mut thanked } else { &mut addressed }, p);
                    break;
                }
            }
        }
        // "민지 씨, …", "준호님 이거 맡아 주실래요?": a Korean name with an address title.
        for (i, word) in w.iter().enumerate() {
            let titled = KOREAN_ADDRESS_TITLES.iter().find_map(|t| word.strip_suffix(t).filter(|n| !n.is_empty()));
            let name = match titled {
                Some(name) => Some(name.to_owned()),
                None if w.get(i + 1).is_some_and(|n| KOREAN_ADDRESS_TITLES.iter().any(|t| n.starts_with(t))) => {
                    Some(word.clone())
                }
                None => None,
            };
            if let Some(p) = name.filter(|n| is_hangul(n)).and_then(|n| people.resolve(&n)) {
                push_unique(&mut addressed, p);
            }
        }
    }
    (addressed, thanked)
}

fn push_unique<'p>(list: &mut Vec<&'p Person>, person: &'p Person) {
    if !list.iter().any(|p| p.id == person.id) {
        list.push(person);
    }
}

/// People `text` names anywhere: a capitalised (or Hangul) word, or two, that resolve to one
/// person ("Kenji's PR", "what Dana described").
fn mentions<'p>(text: &str, people: &'p AssigneeResolver) -> Vec<&'p Person> {
    let w: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|x| !x.is_empty()).collect();
    let mut found = Vec::new();
    for (i, word) in w.iter().enumerate() {
        if !word.chars().next().is_some_and(|c| c.is_uppercase() || is_hangul(&c.to_string())) {
            continue;
        }
        let pair = w.get(i + 1).map(|next| format!("{word} {next}"));
        if let Some(p) = pair.and_then(|pair| people.resolve(&pair)).or_else(|| people.resolve(word)) {
            push_unique(&mut found, p);
        }
    }
    found
}

/// People `text` says its speaker is.
fn self_introductions<'p>(text: &str, people: &'p AssigneeResolver) -> Vec<&'p Person> {
    let w = words(text);
    let mut found = Vec::new();
    for (i, word) in w.iter().enumerate() {
        // "I'm Sofia", "I am Sofia Reyes", "this is Ben", "my name is Kenji".
        let lead = match word.as_str() {
            "i'm" | "im" | "i’m" => Some(i + 1),
            "am" if i > 0 && w[i - 1] == "i" => Some(i + 1),
            "is" if i > 0 && matches!(w[i - 1].as_str(), "this" | "name") => Some(i + 1),
            _ => None,
        };
        if let Some(at) = lead {
            for take in [2, 1] {
                let name: Vec<&str> = w.iter().skip(at).take(take).map(String::as_str).collect();
                if name.len() == take
                    && !name.iter().any(|n| is_punctuation(n))
                    && let Some(p) = people.resolve(&name.join(" "))
                {
                    push_unique(&mut found, p);
                    break;
                }
            }
        }
        // "김민지입니다", "저는 민지예요".
        if let Some(stem) = KOREAN_COPULAS.iter().find_map(|c| word.strip_suffix(c)).filter(|s| is_hangul(s))
            && let Some(p) = people.resolve(stem)
        {
            push_unique(&mut found, p);
        }
    }
    found
}

fn acknowledges(text: &str) -> bool {
    let lower = text.trim_start().to_lowercase();
    ACKNOWLEDGEMENTS
        .iter()
        .any(|a| lower.strip_prefix(a).is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric())))
}

fn is_hangul(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> AssigneeResolver {
        let person = |name: &str, email: &str| Person { id: Uuid::new_v4(), name: name.into(), email: email.into() };
        AssigneeResolver::new([
            person("Maya Torres", "maya@x.test"),
            person("Ben Adler", "ben@x.test"),
            person("Sofia Reyes", "sofia@x.test"),
            person("김민지", "minji@x.test"),
            person("박준호", "junho@x.test"),
        ])
    }

    fn lines(script: &[(&str, &str)]) -> Vec<TranscriptLine> {
        script
            .iter()
            .enumerate()
            .map(|(i, (speaker, text))| TranscriptLine {
                seq: i as i64,
                speaker: Some((*speaker).to_owned()),
                start: i as f64,
                end: i as f64 + 1.0,
                text: (*text).to_owned(),
            })
            .collect()
    }

    fn names(found: &HashMap<String, SpeakerIdentity>) -> BTreeMap<String, String> {
        found.iter().map(|(k, v)| (k.clone(), v.name.clone())).collect()
    }

    #[test]
    fn an_answer_to_an_address_and_a_self_introduction_name_the_speakers() {
        let script = lines(&[
            ("Speaker 1", "Morning everyone. Ben, you want to start?"),
            ("Speaker 2", "Sure. I finished the cache change on Friday."),
            ("Speaker 1", "Great, thanks Ben. Can you own the flaky test, Sofia?"),
            ("Speaker 3", "Yes, I'll have it fixed by Wednesday."),
            ("Speaker 4", "Hi all, I'm Maya Torres from finance, joining late."),
        ]);
        let found = identify(&script, &people());
        let expected: BTreeMap<String, String> =
            [("Speaker 2", "Ben Adler"), ("Speaker 3", "Sofia Reyes"), ("Speaker 4", "Maya Torres")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
        assert_eq!(names(&found), expected);
        let ben = &found["Speaker 2"];
        assert!(
            ben.evidence.iter().any(|e| e.kind == EvidenceKind::AnsweredWhenAddressed && e.seq == Some(1)),
            "{ben:?}"
        );
        assert!(ben.evidence.iter().any(|e| e.kind == EvidenceKind::Thanked), "{ben:?}");
        assert!(ben.confidence > found["Speaker 3"].confidence, "two pieces of evidence beat one");
    }

    /// A recognizer cuts a turn where its speaker pauses, so an address and its answer, or a
    /// turn and the thanks for it, can have more lines of one speaker between them.
    #[test]
    fn an_address_or_thanks_split_over_lines_of_its_speaker_still_names_who_answers() {
        let script = lines(&[
            ("Speaker 1", "Ben, can you send me the link to the runbook?"),
            ("Speaker 1", "I can't find it."),
            ("Speaker 2", "Sent it in the chat just now."),
            ("Speaker 3", "The dashboards are migrated."),
            ("Speaker 1", "Okay."),
            ("Speaker 1", "Thanks, Sofia."),
        ]);
        let found = names(&identify(&script, &people()));
        assert_eq!(found.get("Speaker 2").map(String::as_str), Some("Ben Adler"), "{found:?}");
        assert_eq!(found.get("Speaker 3").map(String::as_str), Some("Sofia Reyes"), "{found:?}");

        // A monologue longer than a split turn is not an answer to its opening address.
        let script = lines(&[
            ("Speaker 1", "Ben, can you send me the link to the runbook?"),
            ("Speaker 1", "Also the dashboards."),
            ("Speaker 1", "And the budget."),
            ("Speaker 1", "And the cutover date."),
            ("Speaker 2", "The cutover is on the twenty-ninth."),
        ]);
        assert_eq!(names(&identify(&script, &people())).get("Speaker 2"), None);
    }

    #[test]
    fn korean_addresses_and_introductions() {
        let script = lines(&[
            ("Speaker 1", "안녕하세요, 김민지입니다. 오늘 일정부터 볼게요."),
            ("Speaker 1", "준호 씨, 이번 주 금요일까지 보고서 정리해 주실 수 있어요?"),
            ("Speaker 2", "네, 제가 금요일까지 정리할게요."),
        ]);
        let found = identify(&script, &people());
        assert_eq!(found["Speaker 1"].name, "김민지");
        assert_eq!(found["Speaker 2"].name, "박준호");
    }

    #[test]
    fn unclear_or_contradicted_evidence_names_nobody() {
        // A mention is no address: whoever speaks next may be anyone.
        let script = lines(&[("Speaker 1", "Ben said the numbers are off."), ("Speaker 2", "They are.")]);
        assert!(identify(&script, &people()).is_empty());
        // Whoever addresses Sofia is not Sofia, whatever else points there.
        let script = lines(&[
            ("Speaker 1", "Sofia, can you take it?"),
            ("Speaker 2", "Sure."),
            ("Speaker 2", "Sofia, thanks, and Sofia, one more thing?"),
            ("Speaker 1", "Okay."),
        ]);
        let found = identify(&script, &people());
        assert!(!found.contains_key("Speaker 2"), "{:?}", names(&found));
        // A name nobody in the tenant has is no evidence; labels that are names are kept.
        let script = lines(&[("Maya", "Priya, can you do it?"), ("Speaker 2", "Sure.")]);
        assert_eq!(names(&identify(&script, &people())), [("Maya".into(), "Maya Torres".into())].into());
    }

    #[test]
    fn an_enrolled_voice_stands_and_its_person_goes_to_nobody_else() {
        let people = people();
        let ben = people.resolve("Ben Adler").unwrap();
        let by_voice = SpeakerIdentity {
            user_id: ben.id,
            name: ben.name.clone(),
            confidence: 0.95,
            evidence: vec![IdentityEvidence { seq: None, kind: EvidenceKind::EnrolledVoice, weight: 10 }],
        };
        // The conversation points at Speaker 2 for Ben and at Speaker 3 for Sofia; the voice
        // says Speaker 3 is Ben.
        let script = lines(&[
            ("Speaker 1", "Ben, you want to start?"),
            ("Speaker 2", "Sure, I finished the cache change."),
            ("Speaker 1", "Can you own the flaky test, Sofia?"),
            ("Speaker 3", "Yes, I'll have it fixed by Wednesday."),
        ]);
        let found = identify_with(&script, &people, [("Speaker 3".to_owned(), by_voice.clone())].into());
        assert_eq!(found["Speaker 3"], by_voice, "the voice match stands");
        assert!(!found.contains_key("Speaker 2"), "Ben is taken by his voice: {:?}", names(&found));
    }
}
