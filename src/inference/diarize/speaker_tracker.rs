//! Online speaker tracking for one live stream: each final utterance is cut into sliding 1.6 s
//! windows, every window is embedded ([`SpeakerEncoder::embed_windows`], one batched run) and
//! compared with the centroids of the speakers seen so far; the labels are smoothed and merged
//! into [`SpeakerTurn`]s that cover the utterance, so a speaker change inside one VAD segment
//! becomes a turn boundary.
//!
//! - A window joins the most similar speaker when the cosine similarity reaches `threshold`.
//! - Windows that match nobody become a new speaker only when they form a run of at least
//!   `min_new_speaker_s` (a stretch of overlapped speech or a short noise lies between speakers
//!   for a window or two and must not create a phantom); otherwise they join the most similar
//!   speaker. At `max_speakers` everyone joins the most similar speaker.
//! - Centroids are running means of the windows that matched them well (an exponential mean once
//!   `centroid_memory` windows have been seen, so a voice may drift slowly).
//! - Labels of a speaker never change once given: a returning speaker keeps its label.
//!
//! Every window embedding is kept with its time and label ([`TrackerHistory`]) for the
//! end-of-meeting re-clustering ([`super::reclustering::recluster`]).

use std::ops::Range;

use serde::Serialize;

use super::speaker_encoder::{PARTIAL_FRAMES, SpeakerEncoder};
use super::speaker_mel::{HOP, MelFrame, normalize_volume};
use crate::inference::InferenceError;

/// Samples per second of the stream.
pub const SAMPLE_RATE: u64 = 16_000;

/// One speaker's turn: sample indices (16 kHz) from the start of the stream, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpeakerTurn {
    pub start: u64,
    pub end: u64,
    /// 0, 1, 2, … in order of first appearance (live); stable for a returning speaker.
    pub speaker: u32,
}

impl SpeakerTurn {
    pub fn start_s(&self) -> f64 {
        self.start as f64 / SAMPLE_RATE as f64
    }

    pub fn end_s(&self) -> f64 {
        self.end as f64 / SAMPLE_RATE as f64
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// Window length in 10 ms frames (160: Resemblyzer's 1.6 s partial).
    pub window_frames: usize,
    /// Step between windows in 10 ms frames (40 = 0.4 s).
    pub hop_frames: usize,
    /// Cosine similarity at which a window belongs to a known speaker.
    pub threshold: f32,
    pub max_speakers: usize,
    /// Unmatched audio must last this long (seconds, window spans) to become a new speaker.
    pub min_new_speaker_s: f32,
    /// Majority filter over window labels: this many windows on each side (0: none).
    pub smoothing_radius: usize,
    /// Windows at least this similar to their speaker update its centroid.
    pub update_threshold: f32,
    /// The centroid is a plain mean of its first `centroid_memory` windows, then an exponential
    /// mean with that time constant.
    pub centroid_memory: usize,
    /// Raise quiet utterances to this level (dBFS) before embedding, as Resemblyzer's
    /// `preprocess_wav` does (-30); `None`: leave the audio as it is.
    pub normalize_dbfs: Option<f64>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            window_frames: PARTIAL_FRAMES,
            hop_frames: 40,
            threshold: 0.8,
            max_speakers: 8,
            min_new_speaker_s: 2.8,
            smoothing_radius: 1,
            update_threshold: 0.8,
            centroid_memory: 200,
            normalize_dbfs: Some(-30.0),
        }
    }
}

/// One embedded window of the stream.
#[derive(Debug, Clone)]
pub struct WindowEmbedding {
    /// Samples covered (from the start of the stream).
    pub start: u64,
    pub end: u64,
    /// L2-normalised, [`super::EMBEDDING_DIM`] values.
    pub embedding: Vec<f32>,
    /// The live label given to the window (after smoothing).
    pub speaker: u32,
}

impl WindowEmbedding {
    /// The sample the window is centred on.
    pub fn center(&self) -> u64 {
        (self.start + self.end) / 2
    }
}

/// One observed utterance and its windows.
#[derive(Debug, Clone)]
pub struct UtteranceRecord {
    pub start: u64,
    pub end: u64,
    /// Indices into [`TrackerHistory::windows`].
    pub windows: Range<usize>,
}

/// Everything the tracker saw: the input of the re-clustering.
#[derive(Debug, Clone, Default)]
pub struct TrackerHistory {
    pub windows: Vec<WindowEmbedding>,
    pub utterances: Vec<UtteranceRecord>,
    /// The live turns, in order.
    pub turns: Vec<SpeakerTurn>,
    /// Step between windows, samples (for durations).
    pub hop_samples: u64,
}

struct Centroid {
    sum: Vec<f32>,
    count: usize,
    mean: Vec<f32>,
}

impl Centroid {
    fn new(members: &[&[f32]]) -> Self {
        let mut c = Self { sum: vec![0.0; members[0].len()], count: 0, mean: Vec::new() };
        for m in members {
            c.sum.iter_mut().zip(*m).for_each(|(s, x)| *s += x);
            c.count += 1;
        }
        c.mean = normalized(&c.sum);
        c
    }

    fn add(&mut self, e: &[f32], memory: usize) {
        if self.count >= memory {
            let keep = (memory as f32 - 1.0) / memory as f32;
            self.sum.iter_mut().for_each(|s| *s *= keep);
        }
        self.sum.iter_mut().zip(e).for_each(|(s, x)| *s += x);
        self.count = (self.count + 1).min(memory);
        self.mean = normalized(&self.sum);
    }
}

/// The online tracker of one stream. Pure state; the encoder is passed in, so one encoder
/// (one ONNX session) can serve several streams on a worker thread.
pub struct SpeakerTracker {
    config: TrackerConfig,
    centroids: Vec<Centroid>,
    history: TrackerHistory,
}

impl SpeakerTracker {
    pub fn new(config: TrackerConfig) -> Self {
        assert!(config.window_frames > 0 && config.hop_frames > 0 && config.max_speakers > 0);
        let history = TrackerHistory { hop_samples: (config.hop_frames * HOP) as u64, ..Default::default() };
        Self { config, centroids: Vec::new(), history }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Speakers seen so far.
    pub fn speaker_count(&self) -> usize {
        self.centroids.len()
    }

    /// All windows, utterances and live turns so far.
    pub fn history(&self) -> &TrackerHistory {
        &self.history
    }

    pub fn into_history(self) -> TrackerHistory {
        self.history
    }

    /// Embeds a final utterance (16 kHz mono; `start`: the sample index of `audio_16k[0]` from
    /// the start of the stream) and returns its speaker turns, covering `start ..
    /// start + audio_16k.len()` without gaps. Empty audio gives no turns.
    pub fn observe(
        &mut self,
        encoder: &mut SpeakerEncoder,
        start: u64,
        audio_16k: &[f32],
    ) -> Result<Vec<SpeakerTurn>, InferenceError> {
        if audio_16k.is_empty() {
            return Ok(Vec::new());
        }
        let mel = match self.config.normalize_dbfs {
            Some(dbfs) => {
                let mut audio = audio_16k.to_vec();
                normalize_volume(&mut audio, dbfs, true);
                encoder.mel().compute(&audio)
            }
            None => encoder.mel().compute(audio_16k),
        };
        let ranges = window_ranges(mel.len(), self.config.window_frames, self.config.hop_frames);
        let frames: Vec<&[MelFrame]> = ranges.iter().map(|r| &mel[r.clone()]).collect();
        let embeddings = encoder.embed_windows(&frames)?;
        let end = start + audio_16k.len() as u64;
        let windows = ranges
            .iter()
            .zip(embeddings)
            .filter(|(_, e)| e.iter().all(|x| x.is_finite()))
            .map(|(r, e)| {
                let (a, b) = ((r.start * HOP) as u64, (r.end * HOP) as u64);
                (start + a, (start + b).min(end), e)
            })
            .collect();
        Ok(self.observe_embeddings(start, end, windows))
    }

    /// The tracking step on windows already embedded: `(start, end, embedding)` in time order,
    /// inside the utterance `start .. end` (samples). For callers with their own embeddings,
    /// and for tests.
    pub fn observe_embeddings(&mut self, start: u64, end: u64, windows: Vec<(u64, u64, Vec<f32>)>) -> Vec<SpeakerTurn> {
        if end <= start {
            return Vec::new();
        }
        let c = self.config;
        let embeddings: Vec<Vec<f32>> = windows.iter().map(|w| normalized(&w.2)).collect();
        let first = self.history.windows.len();
        if embeddings.is_empty() {
            // Nothing to embed (should not happen for speech): the last speaker, if any.
            let turns = match self.history.turns.last() {
                Some(t) => vec![SpeakerTurn { start, end, speaker: t.speaker }],
                None => Vec::new(),
            };
            self.history.utterances.push(UtteranceRecord { start, end, windows: first..first });
            self.history.turns.extend(&turns);
            return turns;
        }
        let span = |r: &Range<usize>| (windows[r.end - 1].1 - windows[r.start].0) as f32 / SAMPLE_RATE as f32;

        // Known speakers first.
        let mut labels: Vec<Option<u32>> =
            embeddings.iter().map(|e| self.best(e).filter(|&(_, s)| s >= c.threshold).map(|(l, _)| l)).collect();
        // New speakers grow from unmatched windows: a seed and the unmatched windows right after
        // it that are like it; long enough, they are a new speaker (or, taken together, a known one).
        let mut i = 0;
        while i < labels.len() && self.centroids.len() < c.max_speakers {
            if labels[i].is_some() {
                i += 1;
                continue;
            }
            let mut members: Vec<&[f32]> = vec![&embeddings[i]];
            let mut seed = Centroid::new(&members);
            let mut j = i + 1;
            while j < labels.len() && labels[j].is_none() && dot(&embeddings[j], &seed.mean) >= c.threshold {
                members.push(&embeddings[j]);
                seed = Centroid::new(&members);
                j += 1;
            }
            if span(&(i..j)) + 1e-3 < c.min_new_speaker_s && !self.centroids.is_empty() {
                i += 1;
                continue;
            }
            let label = match self.best(&seed.mean).filter(|&(_, s)| s >= c.threshold) {
                Some((known, _)) => known,
                None => {
                    self.centroids.push(seed);
                    (self.centroids.len() - 1) as u32
                }
            };
            let mean = &self.centroids[label as usize].mean;
            for (k, (l, e)) in labels.iter_mut().zip(&embeddings).enumerate() {
                if l.is_none() && ((i..j).contains(&k) || dot(e, mean) >= c.threshold) {
                    *l = Some(label);
                }
            }
            i = j;
        }
        // The rest joins the most similar speaker.
        let mut labels: Vec<u32> = labels
            .iter()
            .zip(&embeddings)
            .map(|(l, e)| l.unwrap_or_else(|| self.best(e).map_or(0, |(l, _)| l)))
            .collect();
        labels = majority_filter(&labels, c.smoothing_radius);
        for (e, &l) in embeddings.iter().zip(&labels) {
            let centroid = &mut self.centroids[l as usize];
            if dot(e, &centroid.mean) >= c.update_threshold {
                centroid.add(e, c.centroid_memory);
            }
        }
        let centers: Vec<u64> = windows.iter().map(|w| (w.0 + w.1) / 2).collect();
        let turns = turns_from_labels(start, end, &centers, &labels);
        for ((s, e, _), (embedding, speaker)) in windows.into_iter().zip(embeddings.into_iter().zip(labels)) {
            self.history.windows.push(WindowEmbedding { start: s, end: e, embedding, speaker });
        }
        let last = self.history.windows.len();
        self.history.utterances.push(UtteranceRecord { start, end, windows: first..last });
        self.history.turns.extend(&turns);
        turns
    }

    /// The most similar speaker and its similarity.
    fn best(&self, e: &[f32]) -> Option<(u32, f32)> {
        self.centroids.iter().enumerate().map(|(i, c)| (i as u32, dot(e, &c.mean))).max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The windows of an utterance of `n_frames` mel frames: `window` frames every `hop`, the last
/// one aligned to the end so the tail is covered; one window of all frames when the utterance
/// is shorter than a window.
pub fn window_ranges(n_frames: usize, window: usize, hop: usize) -> Vec<Range<usize>> {
    if n_frames <= window {
        #[allow(clippy::single_range_in_vec_init)]
        return vec![0..n_frames.max(1)];
    }
    let mut v: Vec<Range<usize>> = (0..=n_frames - window).step_by(hop).map(|s| s..s + window).collect();
    if v.last().is_some_and(|r| r.end < n_frames) {
        v.push(n_frames - window..n_frames);
    }
    v
}

/// A person's voiceprint from their speech alone (16 kHz, silence removed): the normalised mean
/// of the embeddings of the windows [`SpeakerTracker::observe`] would cut from it, with the same
/// volume normalisation, window and hop, so it compares with the speakers' centroids of a
/// meeting. `None` when no window gives a finite embedding.
pub fn speech_embedding(
    encoder: &mut SpeakerEncoder,
    config: &TrackerConfig,
    audio_16k: &[f32],
) -> Result<Option<Vec<f32>>, InferenceError> {
    if audio_16k.is_empty() {
        return Ok(None);
    }
    let mut audio = audio_16k.to_vec();
    if let Some(dbfs) = config.normalize_dbfs {
        normalize_volume(&mut audio, dbfs, true);
    }
    let mel = encoder.mel().compute(&audio);
    let ranges = window_ranges(mel.len(), config.window_frames, config.hop_frames);
    let frames: Vec<&[MelFrame]> = ranges.iter().map(|r| &mel[r.clone()]).collect();
    let mut sum = vec![0f32; super::EMBEDDING_DIM];
    let mut kept = 0usize;
    for e in encoder.embed_windows(&frames)?.into_iter().filter(|e| e.iter().all(|x| x.is_finite())) {
        sum.iter_mut().zip(&e).for_each(|(s, x)| *s += x);
        kept += 1;
    }
    Ok((kept > 0).then(|| normalized(&sum)))
}

/// Turns covering `start .. end` from per-window labels: a label holds from the midpoint
/// between its window's centre and the previous window's centre to the next midpoint.
pub fn turns_from_labels(start: u64, end: u64, centers: &[u64], labels: &[u32]) -> Vec<SpeakerTurn> {
    let mut turns: Vec<SpeakerTurn> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        let from = if i == 0 { start } else { (centers[i - 1] + centers[i]) / 2 };
        let to = if i + 1 == labels.len() { end } else { (centers[i] + centers[i + 1]) / 2 };
        let (from, to) = (from.clamp(start, end), to.clamp(start, end));
        match turns.last_mut() {
            Some(t) if t.speaker == l => t.end = to,
            _ if to > from => turns.push(SpeakerTurn { start: from, end: to, speaker: l }),
            _ => {}
        }
    }
    turns
}

/// The speaker of the stretch `start .. end` (samples): the one whose turns overlap it most,
/// else the one of the nearest turn; `None` without turns. For words and transcript segments.
pub fn speaker_for_span(turns: &[SpeakerTurn], start: u64, end: u64) -> Option<u32> {
    let mut overlap: Vec<(u32, u64)> = Vec::new();
    for t in turns {
        let o = end.min(t.end).saturating_sub(start.max(t.start));
        if o > 0 {
            match overlap.iter_mut().find(|(s, _)| *s == t.speaker) {
                Some((_, total)) => *total += o,
                None => overlap.push((t.speaker, o)),
            }
        }
    }
    if let Some(&(s, _)) = overlap.iter().max_by_key(|(s, o)| (*o, std::cmp::Reverse(*s))) {
        return Some(s);
    }
    let distance = |t: &SpeakerTurn| if t.end <= start { start - t.end } else { t.start.saturating_sub(end) };
    turns.iter().min_by_key(|t| distance(t)).map(|t| t.speaker)
}

/// Each label replaced by the most frequent one within `radius` windows (ties keep the label
/// when it is among the most frequent, else the earliest most frequent).
pub fn majority_filter(labels: &[u32], radius: usize) -> Vec<u32> {
    if radius == 0 {
        return labels.to_vec();
    }
    (0..labels.len())
        .map(|i| {
            let around = &labels[i.saturating_sub(radius)..(i + radius + 1).min(labels.len())];
            let count = |l: u32| around.iter().filter(|&&x| x == l).count();
            let own = count(labels[i]);
            let best = around.iter().copied().max_by_key(|&l| (count(l), std::cmp::Reverse(l))).unwrap();
            if count(best) > own { best } else { labels[i] }
        })
        .collect()
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 { v.iter().map(|x| x / n).collect() } else { vec![0.0; v.len()] }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector along axis `k` with a little of axis 7 (so speakers are not orthogonal).
    fn voice(k: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[k] = 1.0;
        v[7] = 0.3;
        normalized(&v)
    }

    fn mix(a: &[f32], b: &[f32], w: f32) -> Vec<f32> {
        normalized(&a.iter().zip(b).map(|(x, y)| (1.0 - w) * x + w * y).collect::<Vec<_>>())
    }

    /// Windows every 0.4 s (6400 samples), 1.6 s long, from `start`, one per embedding.
    fn utterance(t: &mut SpeakerTracker, start: u64, embeddings: Vec<Vec<f32>>) -> Vec<SpeakerTurn> {
        let n = embeddings.len() as u64;
        let windows = embeddings
            .into_iter()
            .enumerate()
            .map(|(i, e)| (start + i as u64 * 6400, start + i as u64 * 6400 + 25_600, e));
        t.observe_embeddings(start, start + (n - 1) * 6400 + 25_600, windows.collect())
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn windows_cover_the_utterance() {
        assert_eq!(window_ranges(50, 160, 40), [0..50]);
        assert_eq!(window_ranges(160, 160, 40), [0..160]);
        assert_eq!(window_ranges(250, 160, 40), [0..160, 40..200, 80..240, 90..250]);
        assert_eq!(window_ranges(240, 160, 40), [0..160, 40..200, 80..240]);
    }

    #[test]
    fn a_change_inside_an_utterance_and_a_returning_speaker() {
        let mut t = SpeakerTracker::new(TrackerConfig::default());
        // A for 8 windows, then B for 8 windows, in one utterance.
        let mut e = vec![voice(0); 8];
        e.extend(vec![voice(1); 8]);
        let turns = utterance(&mut t, 0, e);
        assert_eq!(turns.iter().map(|t| t.speaker).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(turns[0].start, 0);
        assert_eq!(turns[0].end, turns[1].start);
        // Boundary between the centres of window 7 and window 8.
        assert_eq!(turns[0].end, (7 * 6400 + 8 * 6400) / 2 + 12_800);
        // A returns, alone.
        let turns = utterance(&mut t, 500_000, vec![voice(0); 3]);
        assert_eq!(turns, [SpeakerTurn { start: 500_000, end: 500_000 + 2 * 6400 + 25_600, speaker: 0 }]);
        assert_eq!(t.speaker_count(), 2);
        assert_eq!(t.history().windows.len(), 19);
        assert_eq!(t.history().utterances.len(), 2);
    }

    #[test]
    fn overlap_and_blips_make_no_phantom_speaker() {
        let mut t = SpeakerTracker::new(TrackerConfig::default());
        utterance(&mut t, 0, vec![voice(0); 6]);
        utterance(&mut t, 100_000, vec![voice(1); 6]);
        // Overlapped speech: two windows halfway between A and B, and one odd window.
        let mut e = vec![voice(0); 4];
        e.extend([mix(&voice(0), &voice(1), 0.5), mix(&voice(0), &voice(1), 0.5), voice(3)]);
        e.extend(vec![voice(1); 4]);
        let turns = utterance(&mut t, 200_000, e);
        assert_eq!(t.speaker_count(), 2, "{turns:?}");
        assert_eq!(turns.iter().map(|t| t.speaker).collect::<Vec<_>>(), [0, 1]);
        // A short utterance of an unknown voice joins the most similar speaker…
        utterance(&mut t, 400_000, vec![voice(4); 2]);
        assert_eq!(t.speaker_count(), 2);
        // …a long one is a new speaker.
        let turns = utterance(&mut t, 500_000, vec![voice(4); 6]);
        assert_eq!(t.speaker_count(), 3);
        assert_eq!(turns[0].speaker, 2);
    }

    #[test]
    fn speakers_are_capped() {
        let config = TrackerConfig { max_speakers: 2, ..Default::default() };
        let mut t = SpeakerTracker::new(config);
        for k in 0..4 {
            utterance(&mut t, k as u64 * 100_000, vec![voice(k); 6]);
        }
        assert_eq!(t.speaker_count(), 2);
    }

    #[test]
    fn smoothing_and_span_assignment() {
        assert_eq!(majority_filter(&[0, 0, 1, 0, 0, 1, 1, 1], 1), [0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(majority_filter(&[0, 1], 1), [0, 1]);
        let turns = [
            SpeakerTurn { start: 0, end: 100, speaker: 0 },
            SpeakerTurn { start: 100, end: 300, speaker: 1 },
            SpeakerTurn { start: 500, end: 600, speaker: 0 },
        ];
        assert_eq!(speaker_for_span(&turns, 50, 150), Some(0));
        assert_eq!(speaker_for_span(&turns, 80, 250), Some(1));
        assert_eq!(speaker_for_span(&turns, 460, 480), Some(0));
        assert_eq!(speaker_for_span(&[], 0, 10), None);
    }
}
