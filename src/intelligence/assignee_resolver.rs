//! Turns the assignee an LLM wrote ("Dana", "jsmith", "민수 씨", "José Álvarez") into one user of
//! the meeting's tenant, or into nobody. A wrong owner is worse than no owner: the task would
//! notify the wrong person, while an unassigned task is visibly waiting for one. So every step
//! below stops at the first step that finds *anyone*, and more than one candidate there means
//! "ambiguous" → `None`, never a pick.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::domain::User;

/// One person an item may be assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// The names under which one person can be meant.
#[derive(Debug, Clone)]
struct Keys {
    /// Normalised full name without any whitespace ("minsukim", "김민수").
    compact: String,
    /// Normalised name tokens, sorted (order-insensitive: "Kim Minsu" = "Minsu Kim").
    tokens: Vec<String>,
    /// Given name(s) a person is called by alone: the first token; for a Korean name written as
    /// one Hangul word, the syllables after the surname ("민수" of "김민수").
    given: BTreeSet<String>,
    /// Family name(s): the last token; the surname syllable(s) of a one-word Korean name.
    family: BTreeSet<String>,
    /// The first and last tokens as written, for "Sarah K." style references.
    first: String,
    last: String,
    email: String,
    /// Email local part without separators ("john.smith" → "johnsmith").
    local: String,
}

/// Resolves spoken or written names to the people of one tenant.
#[derive(Debug, Clone, Default)]
pub struct AssigneeResolver {
    people: Vec<(Person, Keys)>,
}

/// Two-syllable Korean surnames; every other Korean name's surname is its first syllable.
const COMPOUND_SURNAMES: &[&str] = &["남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "어금", "망절"];
/// Titles that say nothing about who is meant ("Dr. Park", "김 과장님", "민수 씨").
const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"];
const KOREAN_TITLES: &[&str] = &[
    "님",
    "씨",
    "선배",
    "선배님",
    "후배",
    "대리",
    "과장",
    "차장",
    "부장",
    "팀장",
    "실장",
    "본부장",
    "이사",
    "대표",
    "사원",
    "주임",
    "매니저",
    "책임",
    "선임",
    "수석",
    "연구원",
];

impl AssigneeResolver {
    /// From the tenant's users; soft-deleted users are never assigned.
    pub fn from_users(users: &[User]) -> Self {
        Self::new(users.iter().filter(|u| u.deleted_at.is_none()).map(|u| Person {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
        }))
    }

    pub fn new(people: impl IntoIterator<Item = Person>) -> Self {
        let people = people
            .into_iter()
            .map(|p| {
                let keys = Keys::of(&p);
                (p, keys)
            })
            .collect();
        Self { people }
    }

    pub fn people(&self) -> impl Iterator<Item = &Person> {
        self.people.iter().map(|(p, _)| p)
    }

    /// The one person `reference` means, or `None` when it names nobody here or several people.
    pub fn resolve(&self, reference: &str) -> Option<&Person> {
        let raw = reference.trim();
        if raw.is_empty() {
            return None;
        }
        // An address names exactly one account: a different domain is a different person.
        if raw.contains('@') {
            let email = raw.trim_matches(|c: char| c == '<' || c == '>').to_lowercase();
            return self.unique(|k| k.email == email);
        }
        let tokens = name_tokens(raw);
        if tokens.is_empty() {
            return None;
        }
        let compact: String = tokens.concat();
        let mut sorted = tokens.clone();
        sorted.sort();

        // The email's local part shares a step with partial names: "priya" may be priya@ or
        // another Priya, and then it is ambiguous.
        let steps: [&dyn Fn(&Keys) -> bool; 3] = [&|k| k.compact == compact, &|k| k.tokens == sorted, &|k| {
            (!k.local.is_empty() && k.local == compact)
                || match tokens.as_slice() {
                    [one] => k.given.contains(one) || k.family.contains(one),
                    // "Sarah K" / "Sarah Kim-Lee": the first name and the start of the last one.
                    [first, .., last] => k.tokens.len() > 1 && &k.first == first && k.last.starts_with(last.as_str()),
                    [] => false,
                }
        }];
        for step in steps {
            let found: Vec<usize> =
                self.people.iter().enumerate().filter(|(_, (_, k))| step(k)).map(|(i, _)| i).collect();
            match found.as_slice() {
                [] => continue,
                [one] => return Some(&self.people[*one].0),
                _ => return None,
            }
        }
        None
    }

    fn unique(&self, pred: impl Fn(&Keys) -> bool) -> Option<&Person> {
        let mut found = self.people.iter().filter(|(_, k)| pred(k));
        match (found.next(), found.next()) {
            (Some((p, _)), None) => Some(p),
            _ => None,
        }
    }
}

impl Keys {
    fn of(person: &Person) -> Self {
        let tokens = name_tokens(&person.name);
        let email = person.email.trim().to_lowercase();
        let local: String = email
            .split('@')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !matches!(c, '.' | '_' | '-' | '+'))
            .collect();
        let mut given = BTreeSet::new();
        let mut family = BTreeSet::new();
        match tokens.as_slice() {
            [] => {}
            [one] if is_hangul_word(one) && one.chars().count() >= 2 => {
                let (surname, rest) = split_korean_name(one);
                family.insert(surname);
                given.insert(rest);
            }
            [one] => {
                given.insert(one.clone());
            }
            [first, .., last] => {
                given.insert(first.clone());
                family.insert(last.clone());
                // "김 민수": Korean order, family name first.
                if is_hangul_word(first) && is_hangul_word(last) {
                    given.insert(last.clone());
                    family.insert(first.clone());
                }
            }
        }
        let mut sorted = tokens.clone();
        sorted.sort();
        Self {
            compact: tokens.concat(),
            first: tokens.first().cloned().unwrap_or_default(),
            last: tokens.last().cloned().unwrap_or_default(),
            tokens: sorted,
            given,
            family,
            email,
            local,
        }
    }
}

/// Whether two names may mean the same person, with no tenant to look them up in: the same name
/// tokens ("Ben Adler" / "adler, ben"), a lone first name and a name it starts ("Ben" / "Ben
/// Adler"), or a Korean given name and the full name it ends ("민지 님" / "김민지"; Korean puts the
/// surname first and calls colleagues by the given name).
pub(super) fn may_be_same_person(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (name_tokens(a), name_tokens(b));
    if x.is_empty() || y.is_empty() {
        return false;
    }
    let lone_first = |one: &[String], full: &[String]| one.len() == 1 && full.len() > 1 && one[0] == full[0];
    let given_of = |given: &str, full: &str| {
        is_hangul_word(given)
            && is_hangul_word(full)
            && given.chars().count() >= 2
            && full.chars().count() > given.chars().count()
            && full.ends_with(given)
    };
    let (cx, cy) = (x.concat(), y.concat());
    if lone_first(&x, &y) || lone_first(&y, &x) || given_of(&cx, &cy) || given_of(&cy, &cx) {
        return true;
    }
    x.sort();
    y.sort();
    x == y
}

/// Lower case, accents removed (NFD without combining marks), hyphens and apostrophes joined
/// ("Min-su" = "Minsu", "O'Brien" = "OBrien"), other punctuation splitting, titles dropped.
fn name_tokens(text: &str) -> Vec<String> {
    let folded: String = text
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| !matches!(c, '-' | '\'' | '’' | '‐'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .nfc()
        .collect();
    folded
        .split_whitespace()
        .map(strip_korean_title)
        .filter(|t| !t.is_empty() && !TITLES.contains(&t.as_str()) && !KOREAN_TITLES.contains(&t.as_str()))
        .collect()
}

/// "민수씨" → "민수", "김과장님" → "김": a title glued to a Hangul name.
fn strip_korean_title(token: &str) -> String {
    let mut t = token.to_string();
    if !is_hangul_word(&t) {
        return t;
    }
    // Titles may stack ("과장님"); longest first so "선배님" goes before "님".
    loop {
        let before = t.clone();
        let mut titles: Vec<&&str> = KOREAN_TITLES.iter().collect();
        titles.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
        for title in titles {
            if let Some(rest) = t.strip_suffix(*title)
                && !rest.is_empty()
            {
                t = rest.to_string();
                break;
            }
        }
        if t == before {
            return t;
        }
    }
}

fn split_korean_name(name: &str) -> (String, String) {
    let chars: Vec<char> = name.chars().collect();
    let two: String = chars.iter().take(2).collect();
    let cut = if chars.len() >= 3 && COMPOUND_SURNAMES.contains(&two.as_str()) { 2 } else { 1 };
    (chars[..cut].iter().collect(), chars[cut..].iter().collect())
}

fn is_hangul_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, email: &str) -> Person {
        Person { id: Uuid::new_v5(&Uuid::NAMESPACE_OID, email.as_bytes()), name: name.into(), email: email.into() }
    }

    fn team() -> AssigneeResolver {
        AssigneeResolver::new([
            person("Dana Whitfield", "dana.w@acme.test"),
            person("José Álvarez", "jalvarez@acme.test"),
            person("Priya Raman", "priya@acme.test"),
            person("Priya Shah", "pshah@acme.test"),
            person("Tom Okafor", "tom.okafor@acme.test"),
            person("Lena Okafor", "lena@acme.test"),
            person("김민수", "minsu@acme.test"),
            person("이지은", "jieun.lee@acme.test"),
            person("남궁민", "namgung@acme.test"),
            person("Zoë Brandt", "zoe@acme.test"),
        ])
    }

    fn who(r: &AssigneeResolver, q: &str) -> Option<String> {
        r.resolve(q).map(|p| p.name.clone())
    }

    #[test]
    fn exact_full_name_in_any_case_and_order() {
        let r = team();
        assert_eq!(who(&r, "Dana Whitfield").as_deref(), Some("Dana Whitfield"));
        assert_eq!(who(&r, "  dana   WHITFIELD ").as_deref(), Some("Dana Whitfield"));
        assert_eq!(who(&r, "Whitfield, Dana").as_deref(), Some("Dana Whitfield"));
        assert_eq!(who(&r, "Priya Shah").as_deref(), Some("Priya Shah"));
    }

    #[test]
    fn accents_do_not_matter() {
        let r = team();
        assert_eq!(who(&r, "Jose Alvarez").as_deref(), Some("José Álvarez"));
        assert_eq!(who(&r, "jose").as_deref(), Some("José Álvarez"));
        assert_eq!(who(&r, "Zoe").as_deref(), Some("Zoë Brandt"));
        assert_eq!(who(&r, "ZOË").as_deref(), Some("Zoë Brandt"));
    }

    #[test]
    fn unique_first_or_last_name() {
        let r = team();
        assert_eq!(who(&r, "Dana").as_deref(), Some("Dana Whitfield"));
        assert_eq!(who(&r, "Whitfield").as_deref(), Some("Dana Whitfield"));
        assert_eq!(who(&r, "Tom").as_deref(), Some("Tom Okafor"));
        assert_eq!(who(&r, "Dr. Raman").as_deref(), Some("Priya Raman"));
        assert_eq!(who(&r, "Priya S.").as_deref(), Some("Priya Shah"));
    }

    #[test]
    fn ambiguous_names_are_unassigned() {
        let r = team();
        assert_eq!(who(&r, "Priya"), None, "two Priyas");
        assert_eq!(who(&r, "Okafor"), None, "two Okafors");
        let twins = AssigneeResolver::new([person("Sam Lee", "sam1@x.test"), person("Sam Lee", "sam2@x.test")]);
        assert_eq!(who(&twins, "Sam Lee"), None, "same full name twice");
        assert_eq!(who(&twins, "sam1@x.test").as_deref(), Some("Sam Lee"), "the address still tells them apart");
    }

    #[test]
    fn unknown_names_are_unassigned() {
        let r = team();
        for q in ["", "   ", "Marcus", "the design team", "everyone", "Dana Smith", "someone from legal", "?"] {
            assert_eq!(who(&r, q), None, "{q:?}");
        }
    }

    #[test]
    fn email_and_local_part() {
        let r = team();
        assert_eq!(who(&r, "pshah@acme.test").as_deref(), Some("Priya Shah"));
        assert_eq!(who(&r, "PShah@ACME.test").as_deref(), Some("Priya Shah"));
        assert_eq!(who(&r, "<priya@acme.test>").as_deref(), Some("Priya Raman"));
        assert_eq!(who(&r, "pshah").as_deref(), Some("Priya Shah"));
        assert_eq!(who(&r, "jalvarez").as_deref(), Some("José Álvarez"));
        assert_eq!(who(&r, "tom.okafor").as_deref(), Some("Tom Okafor"));
        assert_eq!(who(&r, "pshah@other.test"), None, "another domain is another person");
    }

    #[test]
    fn korean_names() {
        let r = team();
        assert_eq!(who(&r, "김민수").as_deref(), Some("김민수"));
        assert_eq!(who(&r, "김 민수").as_deref(), Some("김민수"));
        assert_eq!(who(&r, "민수").as_deref(), Some("김민수"));
        assert_eq!(who(&r, "민수 씨").as_deref(), Some("김민수"));
        assert_eq!(who(&r, "민수씨").as_deref(), Some("김민수"));
        assert_eq!(who(&r, "지은님").as_deref(), Some("이지은"));
        assert_eq!(who(&r, "이 과장님").as_deref(), Some("이지은"));
        assert_eq!(who(&r, "민").as_deref(), Some("남궁민"), "two-syllable surname 남궁");
        assert_eq!(who(&r, "남궁").as_deref(), Some("남궁민"));
        assert_eq!(who(&r, "철수"), None);
        let kims = AssigneeResolver::new([person("김민수", "a@x.test"), person("김지훈", "b@x.test")]);
        assert_eq!(who(&kims, "김"), None, "two Kims");
        assert_eq!(who(&kims, "지훈").as_deref(), Some("김지훈"));
    }

    #[test]
    fn names_that_may_mean_one_person() {
        for (a, b) in [
            ("Ben Adler", "adler ben"),
            ("Nina", "Nina Petrova"),
            ("민지", "김민지"),
            ("민지 님", "김민지"),
            ("김민지 팀장님", "민지씨"),
            ("현우", "남궁현우"),
        ] {
            assert!(may_be_same_person(a, b) && may_be_same_person(b, a), "{a} / {b}");
        }
        for (a, b) in [
            ("Speaker 1", "Speaker 2"),
            ("Priya Shah", "Priya Raman"),
            ("김 민지", "김 서연"),
            ("김", "김민지"),
            ("민지", "김서연"),
            ("", "Ben"),
        ] {
            assert!(!may_be_same_person(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn deleted_users_are_not_candidates() {
        let now = chrono::Utc::now();
        let user = |name: &str, email: &str, deleted: bool| User {
            id: Uuid::new_v4(),
            tenant_id: Uuid::nil(),
            email: email.into(),
            name: name.into(),
            role: crate::domain::Role::Member,
            slack_user_id: None,
            created_at: now,
            updated_at: now,
            deleted_at: deleted.then_some(now),
        };
        let users = [user("Ana Costa", "ana@x.test", true), user("Ana Lima", "lima@x.test", false)];
        let r = AssigneeResolver::from_users(&users);
        assert_eq!(r.people().count(), 1);
        assert_eq!(who(&r, "Ana").as_deref(), Some("Ana Lima"), "the deleted Ana does not make it ambiguous");
        assert_eq!(who(&r, "Ana Costa"), None);
    }
}
