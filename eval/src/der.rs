//! Diarization error rate (NIST md-eval style) and RTTM files.
//!
//! DER = (missed speech + false alarm + speaker confusion) / total reference speech, where every
//! quantity counts speakers × seconds, so overlapped speech is scored: a stretch where two
//! reference speakers talk counts twice. Reference segments are scored except within `collar`
//! seconds of each of their boundaries (a collar of 0.25 s is the usual, 0 the strict figure).
//! Hypothesis speakers are mapped one-to-one onto reference speakers so that the mapped overlap
//! is largest (the server's [`hungarian`], which re-clustering uses too); unmapped hypothesis
//! speakers are all confusion or false alarm.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ddalkkak::inference::diarize::hungarian;

/// One speaker turn, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RttmTurn {
    pub start: f64,
    pub end: f64,
    pub speaker: String,
}

/// The parts of a DER figure, in seconds (speaker-weighted).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DerReport {
    /// Scored reference speech.
    pub total: f64,
    pub missed: f64,
    pub false_alarm: f64,
    pub confusion: f64,
}

impl DerReport {
    /// The error rate as a fraction (0.25 = 25 %); 0 when there is no reference speech.
    pub fn der(&self) -> f64 {
        if self.total <= 0.0 { 0.0 } else { (self.missed + self.false_alarm + self.confusion) / self.total }
    }

    /// Adds another file's figures (for a corpus total).
    pub fn add(&mut self, other: &DerReport) {
        self.total += other.total;
        self.missed += other.missed;
        self.false_alarm += other.false_alarm;
        self.confusion += other.confusion;
    }
}

/// Parses the `SPEAKER` lines of an RTTM file (`SPEAKER file chan start dur <NA> <NA> name ...`),
/// keeping those of `file` when given (all files otherwise). Other lines are skipped.
pub fn parse_rttm(text: &str, file: Option<&str>) -> Vec<RttmTurn> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first() != Some(&"SPEAKER") || f.len() < 8 || file.is_some_and(|name| f[1] != name) {
                return None;
            }
            let (start, dur): (f64, f64) = (f[3].parse().ok()?, f[4].parse().ok()?);
            Some(RttmTurn { start, end: start + dur, speaker: f[7].to_owned() })
        })
        .collect()
}

/// RTTM text for `turns` of recording `file` (channel 1, times to the millisecond).
pub fn write_rttm(file: &str, turns: &[RttmTurn]) -> String {
    let mut out = String::new();
    for t in turns {
        let _ = writeln!(
            out,
            "SPEAKER {file} 1 {:.3} {:.3} <NA> <NA> {} <NA> <NA>",
            t.start,
            (t.end - t.start).max(0.0),
            t.speaker
        );
    }
    out
}

/// The DER of `hypothesis` against `reference` with a no-score `collar` (seconds) around every
/// reference boundary and the optimal one-to-one speaker mapping.
pub fn diarization_error(reference: &[RttmTurn], hypothesis: &[RttmTurn], collar: f64) -> DerReport {
    let ref_ids = speaker_ids(reference);
    let hyp_ids = speaker_ids(hypothesis);
    // No-score zones: ±collar around each reference boundary.
    let mut no_score: Vec<(f64, f64)> = Vec::new();
    if collar > 0.0 {
        for t in reference {
            no_score.push((t.start - collar, t.start + collar));
            no_score.push((t.end - collar, t.end + collar));
        }
    }
    let no_score = merge_intervals(no_score);
    // Elementary intervals between all boundaries.
    let mut cuts: Vec<f64> = reference.iter().chain(hypothesis).flat_map(|t| [t.start, t.end]).collect();
    cuts.extend(no_score.iter().flat_map(|&(a, b)| [a, b]));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let active = |turns: &[RttmTurn], ids: &BTreeMap<String, usize>, mid: f64| -> Vec<usize> {
        let mut v: Vec<usize> =
            turns.iter().filter(|t| t.start <= mid && mid < t.end).map(|t| ids[&t.speaker]).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut pieces: Vec<(f64, Vec<usize>, Vec<usize>)> = Vec::new();
    let mut overlap = vec![vec![0f64; hyp_ids.len()]; ref_ids.len()];
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dur, mid) = (b - a, 0.5 * (a + b));
        if dur <= 0.0 || no_score.iter().any(|&(s, e)| s <= mid && mid < e) {
            continue;
        }
        let r = active(reference, &ref_ids, mid);
        let h = active(hypothesis, &hyp_ids, mid);
        if r.is_empty() && h.is_empty() {
            continue;
        }
        for &i in &r {
            for &j in &h {
                overlap[i][j] += dur;
            }
        }
        pieces.push((dur, r, h));
    }
    // Optimal mapping hypothesis → reference (maximal overlap).
    let mapping = hungarian(&overlap);
    let mut report = DerReport::default();
    for (dur, r, h) in &pieces {
        let (nr, nh) = (r.len() as f64, h.len() as f64);
        let correct = h.iter().filter(|&&j| mapping.iter().any(|&(i, jj)| jj == j && r.contains(&i))).count() as f64;
        report.total += dur * nr;
        report.missed += dur * (nr - nh).max(0.0);
        report.false_alarm += dur * (nh - nr).max(0.0);
        report.confusion += dur * (nr.min(nh) - correct);
    }
    report
}

fn speaker_ids(turns: &[RttmTurn]) -> BTreeMap<String, usize> {
    let mut names: Vec<&str> = turns.iter().map(|t| t.speaker.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().enumerate().map(|(i, n)| (n.to_owned(), i)).collect()
}

fn merge_intervals(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(v: &[(f64, f64, &str)]) -> Vec<RttmTurn> {
        v.iter().map(|&(start, end, s)| RttmTurn { start, end, speaker: s.to_owned() }).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn perfect_and_swapped_labels_score_zero() {
        let r = turns(&[(0.0, 5.0, "A"), (5.0, 9.0, "B"), (9.0, 12.0, "A"), (10.0, 11.0, "B")]);
        assert!(close(diarization_error(&r, &r, 0.0).der(), 0.0));
        let h = turns(&[(0.0, 5.0, "x"), (5.0, 9.0, "y"), (9.0, 12.0, "x"), (10.0, 11.0, "y")]);
        let rep = diarization_error(&r, &h, 0.0);
        assert!(close(rep.der(), 0.0), "{rep:?}");
        assert!(close(rep.total, 13.0));
    }

    #[test]
    fn all_missed_is_100_percent_and_false_alarm_adds() {
        let r = turns(&[(0.0, 4.0, "A"), (6.0, 10.0, "B")]);
        let rep = diarization_error(&r, &[], 0.0);
        assert!(close(rep.der(), 1.0) && close(rep.missed, 8.0));
        let h = turns(&[(0.0, 4.0, "x"), (4.0, 6.0, "x"), (6.0, 10.0, "y")]);
        let rep = diarization_error(&r, &h, 0.0);
        assert!(close(rep.false_alarm, 2.0) && close(rep.der(), 0.25), "{rep:?}");
    }

    #[test]
    fn confusion_and_overlap() {
        // One hypothesis speaker for two reference speakers: the shorter is confusion.
        let r = turns(&[(0.0, 6.0, "A"), (6.0, 10.0, "B")]);
        let h = turns(&[(0.0, 10.0, "x")]);
        let rep = diarization_error(&r, &h, 0.0);
        assert!(close(rep.confusion, 4.0) && close(rep.der(), 0.4), "{rep:?}");
        // Overlap counted twice; a hypothesis with one speaker there misses one.
        let r = turns(&[(0.0, 6.0, "A"), (4.0, 10.0, "B")]);
        let h = turns(&[(0.0, 5.0, "x"), (5.0, 10.0, "y")]);
        let rep = diarization_error(&r, &h, 0.0);
        assert!(close(rep.total, 12.0) && close(rep.missed, 2.0), "{rep:?}");
        assert!(close(rep.confusion, 0.0) && close(rep.false_alarm, 0.0), "{rep:?}");
    }

    #[test]
    fn collar_forgives_boundary_errors() {
        let r = turns(&[(1.0, 5.0, "A"), (5.0, 9.0, "B")]);
        let h = turns(&[(1.2, 5.2, "x"), (5.2, 8.8, "y")]);
        let strict = diarization_error(&r, &h, 0.0);
        assert!(close(strict.missed, 0.4) && close(strict.confusion, 0.2), "{strict:?}");
        let forgiving = diarization_error(&r, &h, 0.25);
        assert!(close(forgiving.der(), 0.0), "{forgiving:?}");
        // Scored time is the reference minus the collars inside it: 8 - (0.25 + 0.5 + 0.25) s.
        assert!(close(forgiving.total, 7.0), "{forgiving:?}");
    }

    #[test]
    fn rttm_round_trip() {
        let t = turns(&[(0.5, 1.25, "spk0"), (2.0, 3.0, "spk1")]);
        let text = write_rttm("meeting", &t);
        assert!(text.starts_with("SPEAKER meeting 1 0.500 0.750 <NA> <NA> spk0"));
        assert_eq!(parse_rttm(&text, Some("meeting")), t);
        assert!(parse_rttm(&text, Some("other")).is_empty());
        assert_eq!(parse_rttm(";; comment\n\nSPEAKER m 1 x 1 <NA> <NA> a", None), []);
    }
}
