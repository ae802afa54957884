//! Spoken due dates ("by Friday", "end of the month", "in two weeks", "금요일까지") turned into a
//! calendar date, relative to the day the meeting took place. Anything it does not recognise
//! ("soon", "ASAP", "after the launch") gives `None`: the task then has no due date rather than an
//! invented one.
//!
//! Conventions (also in docs/decisions.md), weeks start on Monday:
//! - a bare weekday ("Friday", "this Friday", "by Friday", "금요일까지") is its next occurrence
//!   *after* the meeting day; said on that same weekday it means a week later;
//! - "next <weekday>" / "다음 주 <요일>" is that weekday in the following calendar week;
//! - "next week" / "다음 주" is the Friday of the following week, "end of (the/this) week" /
//!   "this week" / "이번 주" the Friday of the meeting's week (the Sunday when the meeting is on a
//!   weekend), "early next week" its Monday; "the week after next" / "다다음 주" its Friday;
//! - "end of (the) month" the month's last day, "next month" the last day of the next month;
//! - "the 15th" the next 15th on or after the meeting day; "March 3" / "3 March" the next such
//!   date on or after the meeting day unless a year is given;
//! - "today", "EOD", "end of day", "tonight" are the meeting day; "in N days/weeks/months", "N
//!   days from now", "within N days" count from it, "N business days" skip weekends.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

/// Parses due dates relative to one meeting's date.
#[derive(Debug, Clone, Copy)]
pub struct DueDateParser {
    meeting: NaiveDate,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];
const KOREAN_WEEKDAYS: [(&str, Weekday); 7] = [
    ("월요일", Weekday::Mon),
    ("화요일", Weekday::Tue),
    ("수요일", Weekday::Wed),
    ("목요일", Weekday::Thu),
    ("금요일", Weekday::Fri),
    ("토요일", Weekday::Sat),
    ("일요일", Weekday::Sun),
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Words that carry no date meaning in "by the end of the week", "no later than Friday".
const FILLER: &[&str] = &[
    "the", "by", "before", "until", "till", "til", "on", "at", "due", "no", "later", "than", "of", "is", "please",
    "around",
];

impl DueDateParser {
    pub fn new(meeting: NaiveDate) -> Self {
        Self { meeting }
    }

    pub fn meeting_date(&self) -> NaiveDate {
        self.meeting
    }

    /// The date `spoken` means, or `None` when it is not a date phrase this parser knows.
    pub fn parse(&self, spoken: &str) -> Option<NaiveDate> {
        let lower = spoken.trim().to_lowercase();
        if lower.is_empty() {
            return None;
        }
        if let Some(date) = iso_date(&lower) {
            return Some(date);
        }
        if lower.chars().any(is_hangul) {
            return self.korean(&lower);
        }
        self.english(&lower)
    }

    /// The due date of an item whose evidence is `quote` (the lines it was said in), with the words
    /// of the quote that say it: the date of the model's `spoken` phrase when the quote says it
    /// (the quote's own longer phrase around it when that one means another day: "수요일" of "다음
    /// 주 수요일까지", "Tuesday" of "next Tuesday"), else the first deadline phrase in the quote. A
    /// phrase the quote does not contain (a model that "resolved" "by Friday" to a date of its own)
    /// is never used.
    pub fn from_quote(&self, spoken: Option<&str>, quote: &str) -> Option<(String, NaiveDate)> {
        let grounded = spoken.map(str::trim).filter(|s| said_in(s, quote));
        match grounded.and_then(|s| Some((s, self.parse(s)?))) {
            Some((spoken, date)) => {
                let around = self.phrases(quote).filter(|(p, _)| said_in(spoken, p)).max_by_key(|(p, _)| p.len());
                let same_day = || self.phrases(quote).find(|(_, d)| *d == date);
                Some(around.or_else(same_day).unwrap_or_else(|| (spoken.to_owned(), date)))
            }
            None => self.phrases(quote).next(),
        }
    }

    /// The first deadline phrase in a sentence and its date.
    pub fn find(&self, sentence: &str) -> Option<(String, NaiveDate)> {
        self.phrases(sentence).next()
    }

    /// Every deadline phrase in a sentence, in order: each word that can open one ("by", "next", a
    /// weekday …) is tried with the few words after it, up to the clause's end; Korean is read
    /// clause by clause ("금요일까지", "다음 주 월요일 오전") where a clause has a deadline word.
    fn phrases<'a>(&'a self, sentence: &'a str) -> Box<dyn Iterator<Item = (String, NaiveDate)> + 'a> {
        if sentence.chars().any(is_hangul) {
            return Box::new(
                sentence
                    .split([',', '.', '?', '!', '\n'])
                    .filter(|c| KOREAN_DEADLINE_WORDS.iter().any(|w| c.contains(w)))
                    .filter_map(|c| self.korean(&c.to_lowercase()).map(|d| (c.trim().to_owned(), d))),
            );
        }
        let words: Vec<&str> = sentence.split_whitespace().collect();
        Box::new((0..words.len()).filter_map(move |i| {
            let first = words[i].trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            if !opens_deadline(&first) {
                return None;
            }
            let phrase = words[i..(i + 6).min(words.len())].join(" ");
            let phrase = phrase.split([',', '.', '?', '!', ';']).next().unwrap_or_default().trim().to_owned();
            self.parse(&phrase).map(|d| (phrase, d))
        }))
    }

    fn english(&self, lower: &str) -> Option<NaiveDate> {
        let all: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
        let t: Vec<&str> = all.iter().copied().filter(|w| !FILLER.contains(w)).collect();
        let has = |phrase: &[&str]| t.windows(phrase.len()).any(|w| w == phrase);
        let m = self.meeting;

        if let Some(date) = self.month_day(&t) {
            return Some(date);
        }
        if let Some(date) = self.amount_from_now(&t) {
            return Some(date);
        }
        let weekday = t
            .iter()
            .find_map(|w| WEEKDAYS.iter().find(|(n, _)| n == w || abbreviation(w) == Some(*n)).map(|(_, d)| *d));
        if let Some(day) = weekday {
            return Some(if has(&["week", "after", "next"]) {
                in_week(m, 2, day)
            } else if t.iter().position(|w| *w == "next").is_some_and(|i| {
                t.get(i + 1).is_some_and(|n| {
                    *n == "week" || WEEKDAYS.iter().any(|(d, _)| d == n || abbreviation(n) == Some(*d))
                })
            }) {
                in_week(m, 1, day)
            } else {
                next_weekday(m, day)
            });
        }
        if has(&["week", "after", "next"]) {
            return Some(in_week(m, 2, Weekday::Fri));
        }
        if has(&["next", "week"]) {
            let early = ["early", "beginning", "start"].iter().any(|w| t.contains(w));
            let mid = ["mid", "middle"].iter().any(|w| t.contains(w));
            let day = if early {
                Weekday::Mon
            } else if mid {
                Weekday::Wed
            } else {
                Weekday::Fri
            };
            return Some(in_week(m, 1, day));
        }
        if has(&["end", "week"]) || has(&["this", "week"]) || has(&["end", "this", "week"]) {
            return Some(end_of_week(m));
        }
        if has(&["next", "month"]) {
            return Some(last_of_month(m.checked_add_months(Months::new(1))?));
        }
        if has(&["end", "month"]) || has(&["this", "month"]) || has(&["month", "end"]) {
            return Some(last_of_month(m));
        }
        if has(&["day", "after", "tomorrow"]) {
            return m.checked_add_days(Days::new(2));
        }
        if t.contains(&"tomorrow") {
            return m.checked_add_days(Days::new(1));
        }
        if ["today", "tonight", "eod", "cob", "eob"].iter().any(|w| t.contains(w))
            || has(&["end", "day"])
            || has(&["close", "business"])
            || has(&["end", "business", "day"])
        {
            return Some(m);
        }
        // "by the 15th": an ordinal, a spoken ordinal ("the twenty-fourth"), or a number right
        // after "the" in the original words.
        if let Some(day) =
            (1..all.len()).find_map(|i| (all[i - 1] == "the").then(|| spoken_ordinal(&all[i..])).flatten())
        {
            return self.day_of_month(day);
        }
        let day = all.iter().enumerate().find_map(|(i, w)| {
            let the_n = i > 0 && all[i - 1] == "the" && all.get(i + 1).is_none_or(|n| *n == "of");
            ordinal(w).or_else(|| the_n.then(|| w.parse::<u32>().ok()).flatten())
        })?;
        self.day_of_month(day)
    }

    /// "March 3", "3 March", "3rd of March", "Mar 3, 2027", "end of March".
    fn month_day(&self, t: &[&str]) -> Option<NaiveDate> {
        for (i, w) in t.iter().enumerate() {
            let Some(month) = month_number(w) else { continue };
            let day_after = t.get(i + 1).and_then(|n| day_number(n)).or_else(|| spoken_ordinal(&t[i + 1..]));
            let day_before = i.checked_sub(1).and_then(|j| day_number(t[j])).or_else(|| spoken_ordinal_ending(&t[..i]));
            let year = t.get(i + 2).filter(|_| day_after.is_some()).or(t.get(i + 1)).and_then(|y| year_number(y));
            if let Some(day) = day_after.or(day_before) {
                return self.dated(year, month, day);
            }
            // "end of March" ("of" is filler): the month's last day.
            if i > 0 && t[i - 1] == "end" {
                let first = self.dated(year, month, 1)?;
                return Some(last_of_month(first));
            }
            // "May" alone is a modal verb far more often than a deadline.
        }
        None
    }

    /// A year-less date is the next one on or after the meeting day.
    fn dated(&self, year: Option<i32>, month: u32, day: u32) -> Option<NaiveDate> {
        match year {
            Some(y) => NaiveDate::from_ymd_opt(y, month, day),
            None => {
                let this = NaiveDate::from_ymd_opt(self.meeting.year(), month, day);
                match this {
                    Some(d) if d >= self.meeting => Some(d),
                    _ => NaiveDate::from_ymd_opt(self.meeting.year() + 1, month, day),
                }
            }
        }
    }

    /// The next `day`-th of a month on or after the meeting (months without it are skipped).
    fn day_of_month(&self, day: u32) -> Option<NaiveDate> {
        if !(1..=31).contains(&day) {
            return None;
        }
        let mut month = self.meeting.with_day(1)?;
        for _ in 0..3 {
            if let Some(d) = month.with_day(day)
                && d >= self.meeting
            {
                return Some(d);
            }
            month = month.checked_add_months(Months::new(1))?;
        }
        None
    }

    /// "in two weeks", "3 days from now", "within a week", "5 business days", "a fortnight".
    fn amount_from_now(&self, t: &[&str]) -> Option<NaiveDate> {
        for (i, w) in t.iter().enumerate() {
            if *w == "fortnight" {
                return self.meeting.checked_add_days(Days::new(14));
            }
            let Some(mut n) = count(w) else { continue };
            let mut j = i + 1;
            if t.get(j) == Some(&"couple") {
                n = 2;
                j += 1;
            }
            let business = matches!(t.get(j), Some(&"business") | Some(&"working"));
            if business {
                j += 1;
            }
            let unit = t.get(j).copied().unwrap_or_default();
            // A bare number needs a cue that it counts from now, so "2 weeks" alone is read too but
            // "the 3 slides" is not: the unit word has to follow.
            return match unit.trim_end_matches('s') {
                "day" if business => Some(add_business_days(self.meeting, n)),
                "day" => self.meeting.checked_add_days(Days::new(n.into())),
                "week" => self.meeting.checked_add_days(Days::new(u64::from(n) * 7)),
                "month" => self.meeting.checked_add_months(Months::new(n)),
                _ => continue,
            };
        }
        None
    }

    fn korean(&self, lower: &str) -> Option<NaiveDate> {
        let s: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
        let m = self.meeting;
        // "3월 15일"
        if let Some((month, rest)) = number_before(&s, "월")
            && let Some((day, _)) = number_before(rest, "일")
        {
            return self.dated(None, month, day);
        }
        // "3일 후", "3일 안에", "2주 뒤", "일주일 내로"
        for (unit, days) in [("일", 1u64), ("주", 7)] {
            for cue in ["후", "뒤", "안에", "내로", "내에", "이내"] {
                if let Some((n, _)) = number_before(&s, &format!("{unit}{cue}")) {
                    return m.checked_add_days(Days::new(u64::from(n) * days));
                }
            }
        }
        if ["일주일", "한주", "1주일"].iter().any(|w| s.contains(w)) && !s.contains("다음주") {
            return m.checked_add_days(Days::new(7));
        }
        let weekday = KOREAN_WEEKDAYS.iter().find(|(n, _)| s.contains(n)).map(|(_, d)| *d);
        // "다다음 주" is one word; "다 다음 주" ("all of it next week") is not two weeks away.
        let next_next = lower.split_whitespace().any(|w| w.starts_with("다다음")) && s.contains("다다음주");
        let next = !next_next && s.contains("다음주");
        if let Some(day) = weekday {
            return Some(if next_next {
                in_week(m, 2, day)
            } else if next {
                in_week(m, 1, day)
            } else {
                next_weekday(m, day)
            });
        }
        if next_next {
            return Some(in_week(m, 2, Weekday::Fri));
        }
        if next {
            return Some(in_week(m, 1, Weekday::Fri));
        }
        if s.contains("이번주") || s.contains("주말") || s.contains("금주") {
            return Some(end_of_week(m));
        }
        if s.contains("다음달") {
            return Some(last_of_month(m.checked_add_months(Months::new(1))?));
        }
        if s.contains("월말") || s.contains("이번달") || s.contains("이달말") {
            return Some(last_of_month(m));
        }
        if s.contains("모레") {
            return m.checked_add_days(Days::new(2));
        }
        if s.contains("내일") {
            return m.checked_add_days(Days::new(1));
        }
        if s.contains("오늘") || s.contains("퇴근전") {
            return Some(m);
        }
        // "15일까지"
        if let Some((day, _)) = number_before(&s, "일") {
            return self.day_of_month(day);
        }
        None
    }
}

/// The first ISO date (`2026-12-01`) in the text, if it is a real date.
fn iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(9)).find_map(|i| {
        let w = &b[i..i + 10];
        let shape = w.iter().enumerate().all(|(j, c)| if j == 4 || j == 7 { *c == b'-' } else { c.is_ascii_digit() });
        let bounded = (i == 0 || !b[i - 1].is_ascii_digit()) && b.get(i + 10).is_none_or(|c| !c.is_ascii_digit());
        if shape && bounded { NaiveDate::parse_from_str(std::str::from_utf8(w).ok()?, "%Y-%m-%d").ok() } else { None }
    })
}

/// The number written right before `marker` ("15일" → 15, "십오일" → 15) and the text after
/// the marker. Whisper writes Korean dates in digits ("3월 15일"); people and other transcribers
/// also write them in Sino-Korean numerals ("삼월 십오일"): both are read.
fn number_before<'a>(s: &'a str, marker: &str) -> Option<(u32, &'a str)> {
    let mut at = s.find(marker)?;
    // "십일일" (the 11th): the first 일 is the numeral one, the second the day.
    while marker == "일" && s[at + marker.len()..].starts_with("일") && s[..at].ends_with(|c| NUMERALS.contains(c)) {
        at += marker.len();
    }
    let head = &s[..at];
    let digits: String =
        head.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    let n = if digits.is_empty() { sino_korean(head)? } else { digits.parse().ok()? };
    Some((n, &s[at + marker.len()..]))
}

/// Sino-Korean digits and the units 십, 백.
const NUMERALS: &str = "일이삼사오육칠팔구십백";

/// The Sino-Korean number that ends `head` ("이십오" → 25, "십" → 10, "삼" → 3). Native counts
/// ("이틀", "사흘") are not numbers here.
fn sino_korean(head: &str) -> Option<u32> {
    let run: Vec<char> = {
        let mut run: Vec<char> = head.chars().rev().take_while(|c| NUMERALS.contains(*c)).collect();
        run.reverse();
        run
    };
    if run.is_empty() {
        return None;
    }
    let (mut total, mut digit) = (0u32, None::<u32>);
    for c in run {
        match c {
            '십' => total += digit.take().unwrap_or(1) * 10,
            '백' => total += digit.take().unwrap_or(1) * 100,
            _ => digit = "일이삼사오육칠팔구".chars().position(|d| d == c).map(|i| i as u32 + 1),
        }
    }
    Some(total + digit.unwrap_or(0))
}

/// Whether every word of `phrase` (but fillers such as "by", "the") occurs in `quote`; for Hangul,
/// whether the phrase without spaces is part of the quote without spaces.
fn said_in(phrase: &str, quote: &str) -> bool {
    let squash = |s: &str| s.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect::<String>();
    if phrase.chars().any(is_hangul) {
        let p = squash(phrase);
        return !p.is_empty() && squash(quote).contains(&p);
    }
    let words = |s: &str| {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && !FILLER.contains(w))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let said = words(quote);
    let asked = words(phrase);
    !asked.is_empty() && asked.iter().all(|w| said.contains(w))
}

/// A Korean clause is read for a date only when it has one of these ("이 일은" alone is no date).
const KOREAN_DEADLINE_WORDS: &[&str] = &[
    "까지",
    "전에",
    "중으로",
    "내로",
    "안에",
    "내에",
    "이내",
    "마감",
    "후에",
    "뒤에",
    "요일",
    "내일",
    "오늘",
    "모레",
    "월말",
    "주말",
    "다음 주",
    "다음주",
    "이번 주",
    "이번주",
];

/// Words that can open an English deadline phrase.
fn opens_deadline(w: &str) -> bool {
    const OPENERS: &[&str] = &[
        "by", "before", "until", "till", "due", "next", "this", "end", "in", "within", "today", "tonight", "tomorrow",
        "eod",
    ];
    OPENERS.contains(&w)
        || WEEKDAYS.iter().any(|(n, _)| *n == w)
        || abbreviation(w).is_some()
        || month_number(w).is_some()
}

fn abbreviation(w: &str) -> Option<&'static str> {
    // Only abbreviations that are not ordinary words ("sat", "sun", "wed" are).
    match w {
        "mon" => Some("monday"),
        "tue" | "tues" => Some("tuesday"),
        "thu" | "thur" | "thurs" => Some("thursday"),
        "fri" => Some("friday"),
        _ => None,
    }
}

fn month_number(w: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == w || (w.len() >= 3 && w != "may" && m.starts_with(w) && (w.len() == 3 || w == "sept")))
        .map(|i| i as u32 + 1)
}

fn day_number(w: &str) -> Option<u32> {
    let n = ordinal(w).or_else(|| (w.len() <= 2).then(|| w.parse().ok()).flatten())?;
    (1..=31).contains(&n).then_some(n)
}

fn year_number(w: &str) -> Option<i32> {
    (w.len() == 4).then(|| w.parse().ok()).flatten().filter(|y| (2000..=2100).contains(y))
}

/// "15th", "1st", "22nd", "3rd" (not a bare number: "3 slides" is no date).
fn ordinal(w: &str) -> Option<u32> {
    let digits = w.strip_suffix("st").or(w.strip_suffix("nd")).or(w.strip_suffix("rd")).or(w.strip_suffix("th"))?;
    if digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|n| (1..=31).contains(n))
}

const ORDINAL_WORDS: [&str; 19] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];

/// A spoken day ordinal at the start of `words`: "fourth", "twenty fourth" (from "twenty-fourth"),
/// "twentieth", "thirty first". Only called where a day is expected ("the …", next to a month),
/// because "second" and "first" are ordinary words too.
fn spoken_ordinal(words: &[&str]) -> Option<u32> {
    let unit = |w: &str| ORDINAL_WORDS.iter().position(|o| *o == w).map(|i| i as u32 + 1);
    match words {
        ["twenty", next, ..] if unit(next).is_some_and(|u| u < 10) => unit(next).map(|u| 20 + u),
        ["thirty", "first", ..] => Some(31),
        ["twentieth", ..] => Some(20),
        ["thirtieth", ..] => Some(30),
        [w, ..] => unit(w),
        [] => None,
    }
}

/// The spoken ordinal that ends `words` ("the twenty fourth" of "the twenty fourth of March").
fn spoken_ordinal_ending(words: &[&str]) -> Option<u32> {
    let n = words.len();
    (n >= 2)
        .then(|| spoken_ordinal(&words[n - 2..]))
        .flatten()
        .filter(|d| *d > 20)
        .or_else(|| spoken_ordinal(words.get(n.checked_sub(1)?..)?))
}

fn count(w: &str) -> Option<u32> {
    let words =
        ["a", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
    if w == "an" || w == "couple" {
        return Some(if w == "an" { 1 } else { 2 });
    }
    words
        .iter()
        .position(|x| *x == w)
        .map(|i| i.max(1) as u32)
        .or_else(|| (w.len() <= 3).then(|| w.parse().ok()).flatten())
        .filter(|n| (1..=365).contains(n))
}

/// The next `day` strictly after `from` (the same weekday means a week later).
fn next_weekday(from: NaiveDate, day: Weekday) -> NaiveDate {
    let ahead = (day.num_days_from_monday() + 7 - from.weekday().num_days_from_monday()) % 7;
    from + Days::new(if ahead == 0 { 7 } else { u64::from(ahead) })
}

/// `day` of the calendar week `weeks` after the one holding `from`.
fn in_week(from: NaiveDate, weeks: u64, day: Weekday) -> NaiveDate {
    let monday = from - Days::new(from.weekday().num_days_from_monday().into());
    monday + Days::new(weeks * 7 + u64::from(day.num_days_from_monday()))
}

fn end_of_week(from: NaiveDate) -> NaiveDate {
    let friday = in_week(from, 0, Weekday::Fri);
    if friday >= from { friday } else { in_week(from, 0, Weekday::Sun) }
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    let first = d.with_day(1).unwrap_or(d);
    first.checked_add_months(Months::new(1)).and_then(|n| n.pred_opt()).unwrap_or(d)
}

fn add_business_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut d = from;
    let mut left = n;
    while left > 0 {
        d = d.succ_opt().unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 4 March 2026.
    fn wed() -> DueDateParser {
        DueDateParser::new(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap())
    }

    fn d(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn meeting_day_is_a_wednesday() {
        assert_eq!(wed().meeting_date().weekday(), Weekday::Wed);
    }

    #[test]
    fn today_tomorrow_eod() {
        let p = wed();
        for s in ["today", "EOD", "by end of day", "end of the day", "tonight", "Today EOD", "by COB"] {
            assert_eq!(p.parse(s), d("2026-03-04"), "{s}");
        }
        assert_eq!(p.parse("tomorrow"), d("2026-03-05"));
        assert_eq!(p.parse("tomorrow morning"), d("2026-03-05"));
        assert_eq!(p.parse("the day after tomorrow"), d("2026-03-06"));
    }

    #[test]
    fn weekdays_are_the_next_occurrence() {
        let p = wed();
        assert_eq!(p.parse("by Friday"), d("2026-03-06"));
        assert_eq!(p.parse("Friday"), d("2026-03-06"));
        assert_eq!(p.parse("this Friday"), d("2026-03-06"));
        assert_eq!(p.parse("Fri EOD"), d("2026-03-06"));
        assert_eq!(p.parse("Monday"), d("2026-03-09"));
        assert_eq!(p.parse("before Tuesday's standup"), d("2026-03-10"));
        // Said on a Wednesday, "Wednesday" is a week later, not today.
        assert_eq!(p.parse("by Wednesday"), d("2026-03-11"));
    }

    #[test]
    fn next_weekday_is_in_the_following_week() {
        let p = wed();
        assert_eq!(p.parse("next Tuesday"), d("2026-03-10"));
        assert_eq!(p.parse("next Friday"), d("2026-03-13"), "not this week's Friday");
        assert_eq!(p.parse("next week Thursday"), d("2026-03-12"));
        assert_eq!(p.parse("Monday the week after next"), d("2026-03-16"));
    }

    #[test]
    fn weeks() {
        let p = wed();
        assert_eq!(p.parse("end of the week"), d("2026-03-06"));
        assert_eq!(p.parse("by the end of this week"), d("2026-03-06"));
        assert_eq!(p.parse("end of week"), d("2026-03-06"));
        assert_eq!(p.parse("this week"), d("2026-03-06"));
        assert_eq!(p.parse("next week"), d("2026-03-13"));
        assert_eq!(p.parse("by the end of next week"), d("2026-03-13"));
        assert_eq!(p.parse("early next week"), d("2026-03-09"));
        assert_eq!(p.parse("the week after next"), d("2026-03-20"));
        let saturday = DueDateParser::new(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap());
        assert_eq!(saturday.parse("end of the week"), d("2026-03-08"), "weekend meeting: that Sunday");
    }

    #[test]
    fn months() {
        let p = wed();
        assert_eq!(p.parse("end of the month"), d("2026-03-31"));
        assert_eq!(p.parse("by end of month"), d("2026-03-31"));
        assert_eq!(p.parse("next month"), d("2026-04-30"));
        assert_eq!(p.parse("end of April"), d("2026-04-30"));
        let jan = DueDateParser::new(NaiveDate::from_ymd_opt(2026, 1, 30).unwrap());
        assert_eq!(jan.parse("end of the month"), d("2026-01-31"));
        assert_eq!(jan.parse("end of next month"), d("2026-02-28"));
    }

    #[test]
    fn amounts_from_now() {
        let p = wed();
        assert_eq!(p.parse("in two weeks"), d("2026-03-18"));
        assert_eq!(p.parse("in 3 days"), d("2026-03-07"));
        assert_eq!(p.parse("within a week"), d("2026-03-11"));
        assert_eq!(p.parse("a couple of days"), d("2026-03-06"));
        assert_eq!(p.parse("10 days from now"), d("2026-03-14"));
        assert_eq!(p.parse("in a fortnight"), d("2026-03-18"));
        assert_eq!(p.parse("in one month"), d("2026-04-04"));
        assert_eq!(p.parse("in 3 business days"), d("2026-03-09"), "Thu, Fri, Mon");
    }

    #[test]
    fn days_of_the_month() {
        let p = wed();
        assert_eq!(p.parse("by the 15th"), d("2026-03-15"));
        assert_eq!(p.parse("the 4th"), d("2026-03-04"), "on or after the meeting day");
        assert_eq!(p.parse("by the 2nd"), d("2026-04-02"), "already past: next month");
        assert_eq!(p.parse("on the 31st"), d("2026-03-31"));
        let april = DueDateParser::new(NaiveDate::from_ymd_opt(2026, 4, 10).unwrap());
        assert_eq!(april.parse("the 31st"), d("2026-05-31"), "April has no 31st");
        assert_eq!(p.parse("by the twenty-fourth"), d("2026-03-24"));
        assert_eq!(p.parse("the eighteenth"), d("2026-03-18"));
        assert_eq!(p.parse("by the first"), d("2026-04-01"));
        assert_eq!(p.parse("on the thirty-first"), d("2026-03-31"));
        assert_eq!(p.parse("the twentieth"), d("2026-03-20"));
        assert_eq!(p.parse("a second"), None);
    }

    #[test]
    fn calendar_dates() {
        let p = wed();
        assert_eq!(p.parse("March 3"), d("2027-03-03"), "already past: next year");
        assert_eq!(p.parse("March 13"), d("2026-03-13"));
        assert_eq!(p.parse("3 April"), d("2026-04-03"));
        assert_eq!(p.parse("the 3rd of April"), d("2026-04-03"));
        assert_eq!(p.parse("Apr 3rd"), d("2026-04-03"));
        assert_eq!(p.parse("Sept 1"), d("2026-09-01"));
        assert_eq!(p.parse("April twenty-first"), d("2026-04-21"));
        assert_eq!(p.parse("the fifth of May"), d("2026-05-05"));
        assert_eq!(p.parse("December fourth"), d("2026-12-04"));
        assert_eq!(p.parse("March 3, 2027"), d("2027-03-03"));
        assert_eq!(p.parse("May 5"), d("2026-05-05"));
        assert_eq!(p.parse("February 30"), None, "no such date");
    }

    #[test]
    fn iso_dates() {
        let p = wed();
        assert_eq!(p.parse("2026-12-01"), d("2026-12-01"));
        assert_eq!(p.parse("due 2026-03-20 (Friday)"), d("2026-03-20"));
        assert_eq!(p.parse("2026-02-30"), None);
    }

    #[test]
    fn korean() {
        let p = wed();
        assert_eq!(p.parse("오늘"), d("2026-03-04"));
        assert_eq!(p.parse("오늘 퇴근 전까지"), d("2026-03-04"));
        assert_eq!(p.parse("내일"), d("2026-03-05"));
        assert_eq!(p.parse("내일까지"), d("2026-03-05"));
        assert_eq!(p.parse("모레"), d("2026-03-06"));
        assert_eq!(p.parse("금요일까지"), d("2026-03-06"));
        assert_eq!(p.parse("이번 주 금요일"), d("2026-03-06"));
        assert_eq!(p.parse("수요일"), d("2026-03-11"));
        assert_eq!(p.parse("다음 주"), d("2026-03-13"));
        assert_eq!(p.parse("다음주까지"), d("2026-03-13"));
        assert_eq!(p.parse("다음 주 화요일"), d("2026-03-10"));
        assert_eq!(p.parse("다다음 주"), d("2026-03-20"));
        assert_eq!(p.parse("다다음주 월요일"), d("2026-03-16"));
        assert_eq!(p.parse("두 곳 다 다음 주 월요일 오전에"), d("2026-03-09"));
        assert_eq!(p.parse("이번 주까지"), d("2026-03-06"));
        assert_eq!(p.parse("월말까지"), d("2026-03-31"));
        assert_eq!(p.parse("다음 달"), d("2026-04-30"));
        assert_eq!(p.parse("3일 후"), d("2026-03-07"));
        assert_eq!(p.parse("2주 안에"), d("2026-03-18"));
        assert_eq!(p.parse("일주일 안에"), d("2026-03-11"));
        assert_eq!(p.parse("15일까지"), d("2026-03-15"));
        assert_eq!(p.parse("4월 3일"), d("2026-04-03"));
        assert_eq!(p.parse("나중에"), None);
        // Sino-Korean numerals, as written out instead of digits.
        assert_eq!(p.parse("삼월 십오일"), d("2026-03-15"));
        assert_eq!(p.parse("십이월 이십오일까지"), d("2026-12-25"));
        assert_eq!(p.parse("오월 삼십일일"), d("2026-05-31"));
        assert_eq!(p.parse("십일일까지"), d("2026-03-11"));
        assert_eq!(p.parse("삼 일 후"), d("2026-03-07"));
        assert_eq!(p.parse("이월 삼십일"), None, "there is no 30 February");
    }

    #[test]
    fn due_dates_come_from_what_was_said() {
        let p = wed();
        let quote = "Alice, can you send the budget report to finance by Friday?";
        // The model's phrase is used when the line says it …
        assert_eq!(p.from_quote(Some("by Friday"), quote), Some(("by Friday".into(), d("2026-03-06").unwrap())));
        assert_eq!(p.from_quote(Some("Friday"), quote).map(|x| x.1), d("2026-03-06"));
        // … a date the line does not say is never used: the line's own phrase is.
        assert_eq!(
            p.from_quote(Some("December 1st, 2026"), quote),
            Some(("by Friday".into(), d("2026-03-06").unwrap()))
        );
        assert_eq!(p.from_quote(Some("2026-12-01"), quote).map(|x| x.1), d("2026-03-06"));
        assert_eq!(p.from_quote(None, quote).map(|x| x.1), d("2026-03-06"));
        assert_eq!(p.from_quote(Some("by Monday"), "I'll fix the login bug."), None);
        assert_eq!(
            p.from_quote(None, "And Bob will fix the login bug before the release next Tuesday.").map(|x| x.1),
            d("2026-03-10")
        );
        assert_eq!(p.from_quote(None, "Sure, I'll do it by the end of next week, okay?").map(|x| x.1), d("2026-03-13"));
        // No date in the line, none in the task: "the first draft" is not the 1st.
        assert_eq!(p.find("I will write the first draft of the spec."), None);
        assert_eq!(p.find("This is great, thanks."), None);
        // Korean: the clause with a deadline word.
        assert_eq!(p.find("네, 제가 보고서를 금요일까지 보낼게요.").map(|x| x.1), d("2026-03-06"));
        assert_eq!(p.find("준호 씨, 다음 주 월요일 오전까지 정리해 주세요.").map(|x| x.1), d("2026-03-09"));
        assert_eq!(p.find("이 일은 제가 할게요."), None);
        assert_eq!(p.from_quote(Some("금요일까지"), "보고서는 금요일까지 드릴게요").map(|x| x.1), d("2026-03-06"));
        // The model kept part of the phrase: the quote's whole phrase gives the day.
        let quote = "사양만 나오면 보도자료 초안은 다음 주 수요일까지 완성하겠습니다.";
        assert_eq!(p.from_quote(Some("수요일"), quote).map(|x| x.1), d("2026-03-11"), "the same day: a week on");
        let monday = DueDateParser::new(d("2026-03-02").unwrap());
        assert_eq!(monday.from_quote(Some("수요일"), quote).map(|x| x.1), d("2026-03-11"));
        assert_eq!(
            monday.from_quote(Some("다음 주"), "제가 다음 주 화요일까지 요청해 둘게요.").map(|x| x.1),
            d("2026-03-10")
        );
        assert_eq!(monday.from_quote(Some("Tuesday"), "I'll send it next Tuesday.").map(|x| x.1), d("2026-03-10"));
    }

    #[test]
    fn unknown_is_none() {
        let p = wed();
        for s in [
            "",
            "soon",
            "ASAP",
            "sometime",
            "after the launch",
            "when possible",
            "Q3",
            "3 slides",
            "may be later",
            "TBD",
        ] {
            assert_eq!(p.parse(s), None, "{s:?}");
        }
    }
}
