//! Transcript renderings: plain text, SRT and WebVTT.

/// One timed line of a transcript.
pub struct Cue<'a> {
    pub start: f32,
    pub end: f32,
    pub text: &'a str,
}

fn timestamp(secs: f32, decimal: char) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{decimal}{ms:03}")
}

pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (i, cue) in cues.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(cue.start, ','),
            timestamp(cue.end, ','),
            cue.text.trim()
        ));
    }
    out
}

pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(cue.start, '.'),
            timestamp(cue.end, '.'),
            cue.text.trim()
        ));
    }
    out
}

pub fn text(cues: &[Cue]) -> String {
    cues.iter().map(|c| c.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_their_specs() {
        let cues = [Cue { start: 0.0, end: 2.5, text: " Hello." }, Cue { start: 3661.25, end: 3662.0, text: " World" }];
        assert_eq!(
            srt(&cues),
            "1\n00:00:00,000 --> 00:00:02,500\nHello.\n\n2\n01:01:01,250 --> 01:01:02,000\nWorld\n\n"
        );
        assert!(vtt(&cues).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello.\n"));
        assert_eq!(text(&cues), "Hello.\nWorld");
    }
}
