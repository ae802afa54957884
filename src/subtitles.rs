//! Transcript renderings: plain text, SRT and WebVTT.
//!
//! Subtitle lines are broken for reading, never inside a grapheme (a Hangul syllable, whether
//! precomposed or spelled with conjoining jamo, an emoji with its modifiers, a letter with its
//! accents), preferably at spaces: a word longer than a line is the only thing cut, and then
//! between graphemes. A line's length depends on its script: [`LINE_LATIN`] narrow graphemes, or
//! [`LINE_WIDE`] wide ones (Hangul, CJK, kana, fullwidth forms), mixed lines in proportion. A cue
//! holds at most [`MAX_LINES`] lines; a longer final becomes several consecutive cues, its time
//! shared in proportion to their length.
//!
//! Speakers: WebVTT marks a cue's voice as `<v Name>`; SRT has no markup for it, so each cue's
//! first line starts with `[Name] ` (brackets, not `Name: `, because Korean lines use colons
//! themselves: "회의록: 오늘 결정 사항"). The name is the speaker's identity when the meeting's
//! intelligence job recognised the voice, else its label (`Speaker 2`).

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;

use crate::domain::{SpeakerLabel, TranscriptSegment};

/// Narrow graphemes per line: the usual limit for Latin-script subtitles (EBU, BBC, Netflix).
pub const LINE_LATIN: u32 = 42;
/// Wide graphemes (Hangul syllables, CJK) per line: 16, as Netflix's Korean timed-text style
/// guide sets and Korean broadcast captions keep (16–20 syllables): a syllable is read as one
/// unit and is about twice as wide on screen as a Latin letter, so 42 of them would be two
/// lines' worth of text and too long to read in a cue's time.
pub const LINE_WIDE: u32 = 16;
/// Lines per cue, as subtitle guidelines keep it.
pub const MAX_LINES: usize = 2;
/// A line's capacity in units: a narrow grapheme takes `LINE_WIDE` of them, a wide one
/// `LINE_LATIN`, so a line holds exactly `LINE_LATIN` narrow or `LINE_WIDE` wide graphemes.
const LINE_UNITS: u32 = LINE_LATIN * LINE_WIDE;

/// One timed line of a transcript.
pub struct Cue<'a> {
    pub start: f32,
    pub end: f32,
    pub text: &'a str,
    /// Who speaks, when known.
    pub speaker: Option<Cow<'a, str>>,
}

impl<'a> Cue<'a> {
    pub fn new(start: f32, end: f32, text: &'a str) -> Self {
        Self { start, end, text, speaker: None }
    }
}

/// The stored segments of a meeting as cues, segments without text (an acknowledged `Finalize`)
/// left out; speakers named by `labels` (see the module's header).
pub fn meeting_cues<'a>(segments: &'a [TranscriptSegment], labels: &'a [SpeakerLabel]) -> Vec<Cue<'a>> {
    segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .map(|s| Cue {
            start: s.start as f32,
            end: s.end as f32,
            text: &s.text,
            speaker: s.speaker.map(|n| speaker_name(labels, n)),
        })
        .collect()
}

/// A stored speaker as people read it: the name of who they are where known, else the label.
pub fn speaker_name(labels: &[SpeakerLabel], speaker: i32) -> Cow<'_, str> {
    match labels.iter().find(|l| l.speaker == speaker) {
        Some(SpeakerLabel { identity: Some(identity), .. }) => Cow::Borrowed(&identity.name),
        Some(label) => Cow::Borrowed(&label.label),
        None => Cow::Owned(format!("Speaker {}", speaker + 1)),
    }
}

fn timestamp(secs: f32, decimal: char) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{decimal}{ms:03}")
}

pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    let mut n = 0;
    for cue in cues {
        let prefix = cue.speaker.as_ref().map(|name| format!("[{}] ", one_line(name)));
        for part in split_cue(cue, prefix.as_deref().map_or(0, units)) {
            n += 1;
            let text = part.lines.join("\n");
            out.push_str(&format!(
                "{n}\n{} --> {}\n{}{text}\n\n",
                timestamp(part.start, ','),
                timestamp(part.end, ','),
                prefix.as_deref().unwrap_or_default(),
            ));
        }
    }
    out
}

pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        // The voice tag is markup, not shown text: it takes no room on the line.
        let voice = cue.speaker.as_ref().map(|name| format!("<v {}>", escape_vtt(&one_line(name))));
        for part in split_cue(cue, 0) {
            let text: Vec<String> = part.lines.iter().map(|l| escape_vtt(l).into_owned()).collect();
            out.push_str(&format!(
                "{} --> {}\n{}{}\n\n",
                timestamp(part.start, '.'),
                timestamp(part.end, '.'),
                voice.as_deref().unwrap_or_default(),
                text.join("\n")
            ));
        }
    }
    out
}

pub fn text(cues: &[Cue]) -> String {
    cues.iter().map(|c| c.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n")
}

/// `&`, `<` and `>` would be read as WebVTT markup.
fn escape_vtt(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}

/// A name on one line (a newline in it would end the cue).
fn one_line(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a grapheme takes two columns: Hangul (syllables and jamo), CJK ideographs, kana,
/// fullwidth forms. Decided by its first scalar (a Hangul syllable spelled in jamo starts with a
/// leading consonant, itself wide).
fn is_wide(grapheme: &str) -> bool {
    let Some(c) = grapheme.chars().next() else { return false };
    matches!(c as u32,
        0x1100..=0x115F        // Hangul leading jamo
        | 0x2E80..=0x303E      // CJK radicals, punctuation
        | 0x3041..=0x33FF      // kana, Hangul compatibility jamo, CJK compatibility
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xA960..=0xA97F      // Hangul jamo extended A
        | 0xAC00..=0xD7A3      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFE30..=0xFE4F      // CJK compatibility forms
        | 0xFF00..=0xFF60      // fullwidth forms
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

fn grapheme_units(grapheme: &str) -> u32 {
    if is_wide(grapheme) { LINE_LATIN } else { LINE_WIDE }
}

/// The room `text` takes on a line, in line units.
fn units(text: &str) -> u32 {
    text.graphemes(true).map(grapheme_units).sum()
}

/// Breaks `text` into lines of at most [`LINE_UNITS`]: at spaces, and inside a word (between
/// graphemes) only when the word alone is longer than a line. `reserved(i)` is room line `i`
/// gives to something else (a speaker's name).
fn break_lines(text: &str, reserved: impl Fn(usize) -> u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    let room = |lines: &[String]| LINE_UNITS.saturating_sub(reserved(lines.len())).max(LINE_LATIN);
    for word in text.split_whitespace() {
        let width = units(word);
        let space = if line.is_empty() { 0 } else { LINE_WIDE };
        if used + space + width <= room(&lines) {
            if space > 0 {
                line.push(' ');
            }
            line.push_str(word);
            used += space + width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if width <= room(&lines) {
            line.push_str(word);
            used = width;
            continue;
        }
        // A word longer than a line (a URL, a run of CJK without spaces): cut between graphemes.
        for grapheme in word.graphemes(true) {
            let width = grapheme_units(grapheme);
            if used + width > room(&lines) && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push_str(grapheme);
            used += width;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One displayed cue of a [`Cue`] that may need several.
struct CuePart {
    start: f32,
    end: f32,
    lines: Vec<String>,
}

/// The cue's text in cues of at most [`MAX_LINES`] lines, each cue's first line leaving
/// `prefix` units for the speaker's name; the cue's time is shared in proportion to the text.
fn split_cue(cue: &Cue, prefix: u32) -> Vec<CuePart> {
    let lines = break_lines(cue.text, |i| if i % MAX_LINES == 0 { prefix } else { 0 });
    let total: u32 = lines.iter().map(|l| units(l)).sum::<u32>().max(1);
    let duration = (cue.end - cue.start).max(0.0);
    let mut done = 0;
    let mut parts = Vec::new();
    for chunk in lines.chunks(MAX_LINES) {
        let start = cue.start + duration * done as f32 / total as f32;
        done += chunk.iter().map(|l| units(l)).sum::<u32>();
        let end = cue.start + duration * done as f32 / total as f32;
        parts.push(CuePart { start, end, lines: chunk.to_vec() });
    }
    if let Some(last) = parts.last_mut() {
        last.end = cue.end; // exactly the final's end, whatever the rounding
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SpeakerIdentity;

    #[test]
    fn formats_match_their_specs() {
        let cues = [Cue::new(0.0, 2.5, " Hello."), Cue::new(3661.25, 3662.0, " World")];
        assert_eq!(
            srt(&cues),
            "1\n00:00:00,000 --> 00:00:02,500\nHello.\n\n2\n01:01:01,250 --> 01:01:02,000\nWorld\n\n"
        );
        assert!(vtt(&cues).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello.\n"));
        assert_eq!(text(&cues), "Hello.\nWorld");
    }

    fn widths(lines: &[String]) -> Vec<usize> {
        lines.iter().map(|l| l.graphemes(true).count()).collect()
    }

    #[test]
    fn hangul_lines_hold_sixteen_syllables_and_break_at_spaces() {
        let text = "네, 제가 금요일까지 API 문서 정리해서 공유드릴게요. 다음 주 회의록은 민지 씨가 맡아 주세요.";
        let lines = break_lines(text, |_| 0);
        assert_eq!(lines.join(" "), text, "only spaces are replaced by line breaks");
        for line in &lines {
            assert!(units(line) <= LINE_UNITS, "{line:?}");
            assert!(!line.starts_with(' ') && !line.ends_with(' '), "{line:?}");
        }
        assert_eq!(lines[0], "네, 제가 금요일까지 API 문서");
        // Hangul alone: 16 syllables fit, a 17th goes on the next line.
        let sixteen = "가나다라마바사아자차카타파하거너";
        assert_eq!(break_lines(sixteen, |_| 0), [sixteen]);
        assert_eq!(widths(&break_lines(&format!("{sixteen}더"), |_| 0)), [16, 1]);
        // Latin alone: 42 letters.
        let latin = "a".repeat(42);
        assert_eq!(break_lines(&latin, |_| 0), [latin.as_str()]);
        assert_eq!(widths(&break_lines(&format!("{latin}b"), |_| 0)), [42, 1]);
    }

    #[test]
    fn a_line_is_never_cut_inside_a_grapheme() {
        // 회의 spelled with conjoining jamo (ᄒ ᅬ ᄋ ᅴ), 20 times, no spaces: cut between
        // syllables only, each still whole.
        let jamo = "\u{1112}\u{116C}\u{110B}\u{1174}".repeat(20);
        let lines = break_lines(&jamo, |_| 0);
        assert_eq!(lines.concat(), jamo);
        for line in &lines {
            assert_eq!(line.chars().count() % 2, 0, "a syllable split: {line:?}");
            assert!(line.starts_with('\u{1112}') || line.starts_with('\u{110B}'), "{line:?}");
        }
        assert_eq!(widths(&lines), [16, 16, 8]);
        // Emoji with modifiers and accented letters stay whole too.
        let family = "👩‍👩‍👧‍👦".repeat(50);
        assert!(break_lines(&family, |_| 0).iter().all(|l| l.graphemes(true).all(|g| g == "👩‍👩‍👧‍👦")));
        let accents = "e\u{0301}".repeat(50);
        assert!(break_lines(&accents, |_| 0).iter().all(|l| !l.starts_with('\u{0301}')));
    }

    fn segment(seq: i32, speaker: Option<i32>, start: f64, end: f64, text: &str) -> TranscriptSegment {
        TranscriptSegment { seq, speaker, start, end, text: text.into(), words: Vec::new() }
    }

    fn label(speaker: i32, name: Option<&str>) -> SpeakerLabel {
        SpeakerLabel {
            speaker,
            label: format!("Speaker {}", speaker + 1),
            total_seconds: 1.0,
            first_seen: 0.0,
            identity: name.map(|n| SpeakerIdentity {
                user_id: uuid::Uuid::nil(),
                name: n.into(),
                confidence: 1.0,
                evidence: Vec::new(),
            }),
        }
    }

    #[test]
    fn korean_cues_carry_their_speakers_in_srt_and_vtt() {
        let segments = [
            segment(0, Some(0), 1.0, 3.0, "안녕하세요, 주간 회의 시작하겠습니다."),
            segment(1, Some(1), 3.5, 5.0, "네, 회의록: 제가 정리할게요."),
            segment(2, None, 5.0, 5.5, "  "),
            segment(3, Some(2), 6.0, 7.0, "좋아요."),
        ];
        let labels = [label(0, Some("김민수")), label(1, None)];
        let cues = meeting_cues(&segments, &labels);
        assert_eq!(cues.len(), 3, "the empty final is no cue");
        assert_eq!(
            srt(&cues),
            "1\n00:00:01,000 --> 00:00:03,000\n[김민수] 안녕하세요, 주간 회의\n시작하겠습니다.\n\n\
             2\n00:00:03,500 --> 00:00:05,000\n[Speaker 2] 네, 회의록: 제가\n정리할게요.\n\n\
             3\n00:00:06,000 --> 00:00:07,000\n[Speaker 3] 좋아요.\n\n"
        );
        assert_eq!(
            vtt(&cues),
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v 김민수>안녕하세요, 주간 회의\n시작하겠습니다.\n\n\
             00:00:03.500 --> 00:00:05.000\n<v Speaker 2>네, 회의록: 제가 정리할게요.\n\n\
             00:00:06.000 --> 00:00:07.000\n<v Speaker 3>좋아요.\n\n"
        );
    }

    #[test]
    fn a_long_final_becomes_consecutive_cues_of_two_lines() {
        let text = "오늘은 세 가지를 정했습니다. 첫째, 배포는 다음 주 화요일로 미룹니다. 둘째, 결제 \
                    오류는 민지 씨가 금요일까지 고칩니다. 셋째, 회의록은 제가 오늘 안에 공유하겠습니다.";
        let cue = Cue { start: 10.0, end: 25.0, text, speaker: Some(Cow::Borrowed("이지은")) };
        let parts = split_cue(&cue, units("[이지은] "));
        assert!(parts.len() >= 2, "{} parts", parts.len());
        assert!(parts.iter().all(|p| (1..=MAX_LINES).contains(&p.lines.len())));
        assert_eq!((parts[0].start, parts.last().unwrap().end), (10.0, 25.0));
        for pair in parts.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "consecutive, no gap or overlap");
            assert!(pair[0].start < pair[0].end);
        }
        let rendered = srt(std::slice::from_ref(&cue));
        // Every cue names the speaker; its first line, name included, still fits.
        let firsts: Vec<&str> =
            rendered.split("\n\n").filter(|c| !c.is_empty()).map(|c| c.lines().nth(2).unwrap()).collect();
        assert_eq!(firsts.len(), parts.len());
        assert!(firsts.iter().all(|l| l.starts_with("[이지은] ") && units(l) <= LINE_UNITS), "{firsts:?}");
        let words: String = parts.iter().flat_map(|p| p.lines.clone()).collect::<Vec<_>>().join(" ");
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>().join(" "), "no word lost or cut");
    }

    #[test]
    fn vtt_text_and_names_are_escaped() {
        let cue = Cue { start: 0.0, end: 1.0, text: "a <b> & c", speaker: Some(Cow::Borrowed("R&D <lead>")) };
        assert_eq!(
            vtt(&[cue]),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v R&amp;D &lt;lead&gt;>a &lt;b&gt; &amp; c\n\n"
        );
    }
}
