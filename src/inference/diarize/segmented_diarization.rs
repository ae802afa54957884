//! End-of-meeting diarization with overlap, pyannote-style: the segmentation model
//! ([`SpeakerSegmentation`]) says who speaks when *within* 10 s windows (up to three local
//! speakers, two at once), the speaker encoder says who each local speaker *is*, and a global
//! clustering of those embeddings joins the windows.
//!
//! - The stream's final utterances are laid end to end (the speech timeline: silence between
//!   utterances is left out, so every window is full of speech) and cut into 10 s windows every
//!   `step_frames`; each window is segmented as soon as its audio is there, on the diarization
//!   thread, so the end of a meeting only pays for its last window and the clustering.
//! - Each local speaker of a window is embedded from the frames where it speaks alone (from all
//!   its frames when those are too few), with the tracker's sliding windows
//!   ([`speech_embedding`]).
//! - End of meeting ([`SegmentedStream::diarize`]): the embeddings with enough single-speaker
//!   speech are clustered (spectral with the speaker count from the eigengap, or agglomerative);
//!   two local speakers of one window never share a cluster (zero affinity), and each window's
//!   local speakers take distinct clusters (Hungarian on cosine similarity).
//! - Reconstruction: per frame of the speech timeline, each cluster's activity is averaged over
//!   the windows that see the frame, and so is the number of speakers; the `count` most active
//!   clusters speak. The most active is the frame's dominant speaker (words take it); the others
//!   are overlapped speech.

use std::collections::BTreeMap;

use super::hungarian::hungarian;
use super::reclustering::{ClusterMethod, average_linkage, mean_of, spectral_clusters};
use super::speaker_encoder::SpeakerEncoder;
use super::speaker_segmentation::{
    FRAME_SPAN, FRAME_STEP, FrameSpeakers, LOCAL_SPEAKERS, SpeakerSegmentation, WINDOW_SAMPLES,
};
use super::speaker_tracker::{SAMPLE_RATE, SpeakerTurn, TrackerConfig, dot, normalized, speech_embedding};
use crate::inference::InferenceError;

#[derive(Debug, Clone, Copy)]
pub struct SegmentationConfig {
    /// Frames between the starts of two windows. 592 (10 s): windows side by side, so no two
    /// local speakers share audio; overlapping windows (148, 2.5 s) made one voice's embeddings
    /// alike by the audio they share, and clustering split speakers by time.
    pub step_frames: usize,
    /// Seconds of single-speaker speech a local speaker needs for its embedding to shape the
    /// clusters (shorter ones are only assigned to them).
    pub min_clean_s: f32,
    /// Local speakers with less speech than this (seconds) are left out.
    pub min_active_s: f32,
    pub method: ClusterMethod,
    /// Agglomerative: clusters merge while their average cosine similarity is at least this.
    pub threshold: f32,
    /// Spectral: see [`super::ReclusterConfig::p_percentile`].
    pub p_percentile: f32,
    pub max_speakers: usize,
    /// A cluster with less speech than this (seconds) joins the most similar other one.
    pub min_speaker_s: f32,
    /// How local speakers are embedded: window, hop and volume normalisation of the encoder.
    pub embedding: TrackerConfig,
    /// Windows segmented in one batched run.
    pub batch: usize,
}

impl Default for SegmentationConfig {
    fn default() -> Self {
        Self {
            step_frames: 592,
            min_clean_s: 1.0,
            min_active_s: 0.3,
            method: ClusterMethod::AverageLinkage,
            threshold: 0.85,
            p_percentile: 0.7,
            max_speakers: 8,
            min_speaker_s: 2.0,
            embedding: TrackerConfig { hop_frames: 80, ..TrackerConfig::default() },
            batch: 4,
        }
    }
}

/// One local speaker of a window, embedded.
#[derive(Debug, Clone)]
pub struct LocalSpeaker {
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// Seconds where it speaks alone, and in all.
    pub clean_s: f32,
    pub active_s: f32,
}

/// One segmented window.
#[derive(Debug, Clone)]
pub struct SegmentedWindow {
    /// First sample on the speech timeline (a multiple of [`FRAME_STEP`]).
    pub start: u64,
    pub frames: Vec<FrameSpeakers>,
    pub speakers: [Option<LocalSpeaker>; LOCAL_SPEAKERS],
}

/// An utterance's place on the speech timeline and in the stream.
#[derive(Debug, Clone, Copy)]
struct Piece {
    speech: u64,
    stream: u64,
    len: u64,
}

/// The outcome of [`SegmentedStream::diarize`], in stream samples.
#[derive(Debug, Clone, Default)]
pub struct SegmentedDiarization {
    /// The dominant speaker of every stretch of speech, in time order, not overlapping.
    pub turns: Vec<SpeakerTurn>,
    /// Where more than one speaks: the other speakers (time order).
    pub overlaps: Vec<SpeakerTurn>,
    pub speakers: usize,
    /// Per speaker: the normalised mean of its local speakers' embeddings.
    pub centroids: BTreeMap<u32, Vec<f32>>,
}

/// The segmentation state of one stream; see the module documentation.
pub struct SegmentedStream {
    config: SegmentationConfig,
    /// Speech not yet behind every window, from `buffer_start` on the speech timeline.
    buffer: Vec<f32>,
    buffer_start: u64,
    pieces: Vec<Piece>,
    /// Length of the speech timeline.
    total: u64,
    next_window: u64,
    windows: Vec<SegmentedWindow>,
}

impl SegmentedStream {
    pub fn new(config: SegmentationConfig) -> Self {
        assert!(config.step_frames > 0 && config.step_frames * FRAME_STEP <= WINDOW_SAMPLES);
        Self {
            config,
            buffer: Vec::new(),
            buffer_start: 0,
            pieces: Vec::new(),
            total: 0,
            next_window: 0,
            windows: Vec::new(),
        }
    }

    pub fn windows(&self) -> &[SegmentedWindow] {
        &self.windows
    }

    fn step(&self) -> u64 {
        (self.config.step_frames * FRAME_STEP) as u64
    }

    /// Adds a final utterance (16 kHz; `start`: its first sample in the stream) and segments
    /// the windows it completes.
    pub fn push(
        &mut self,
        segmentation: &mut SpeakerSegmentation,
        encoder: &mut SpeakerEncoder,
        start: u64,
        audio: &[f32],
    ) -> Result<(), InferenceError> {
        if audio.is_empty() {
            return Ok(());
        }
        self.pieces.push(Piece { speech: self.total, stream: start, len: audio.len() as u64 });
        self.buffer.extend_from_slice(audio);
        self.total += audio.len() as u64;
        let mut ready = Vec::new();
        while self.next_window + WINDOW_SAMPLES as u64 <= self.total {
            ready.push(self.next_window);
            self.next_window += self.step();
        }
        for batch in ready.chunks(self.config.batch.max(1)) {
            self.segment(segmentation, encoder, batch)?;
        }
        // Keep what a later window, or the last one aligned to the end, still needs.
        let keep = self.next_window.min(floor_to_frame(self.total.saturating_sub(WINDOW_SAMPLES as u64)));
        if keep > self.buffer_start {
            self.buffer.drain(..(keep - self.buffer_start) as usize);
            self.buffer_start = keep;
        }
        Ok(())
    }

    /// Segments what no window has covered yet: one last window, aligned to the end of the
    /// speech (padded when the whole meeting is shorter than a window).
    pub fn flush(
        &mut self,
        segmentation: &mut SpeakerSegmentation,
        encoder: &mut SpeakerEncoder,
    ) -> Result<(), InferenceError> {
        let covered = self.windows.last().map_or(0, |w| w.start + WINDOW_SAMPLES as u64);
        if self.total == 0 || covered >= self.total {
            return Ok(());
        }
        let start = floor_to_frame(self.total.saturating_sub(WINDOW_SAMPLES as u64));
        self.segment(segmentation, encoder, &[start])
    }

    fn segment(
        &mut self,
        segmentation: &mut SpeakerSegmentation,
        encoder: &mut SpeakerEncoder,
        starts: &[u64],
    ) -> Result<(), InferenceError> {
        let audio: Vec<&[f32]> = starts
            .iter()
            .map(|&s| {
                let from = (s - self.buffer_start) as usize;
                &self.buffer[from..(from + WINDOW_SAMPLES).min(self.buffer.len())]
            })
            .collect();
        let frames = segmentation.segment(&audio)?;
        for ((&start, audio), frames) in starts.iter().zip(&audio).zip(frames) {
            let speakers = embed_local_speakers(encoder, &self.config, audio, &frames)?;
            self.windows.push(SegmentedWindow { start, frames, speakers });
        }
        Ok(())
    }

    /// Who spoke when in the whole stream; see the module documentation.
    pub fn diarize(&self) -> SegmentedDiarization {
        let c = &self.config;
        // Units: (window, local speaker) with an embedding.
        let units: Vec<(usize, usize)> = self
            .windows
            .iter()
            .enumerate()
            .flat_map(|(w, win)| (0..LOCAL_SPEAKERS).filter(move |&k| win.speakers[k].is_some()).map(move |k| (w, k)))
            .collect();
        if units.is_empty() {
            return SegmentedDiarization::default();
        }
        let local = |&(w, k): &(usize, usize)| self.windows[w].speakers[k].as_ref().expect("embedded unit");
        let mut training: Vec<usize> =
            (0..units.len()).filter(|&u| local(&units[u]).clean_s >= c.min_clean_s).collect();
        if training.is_empty() {
            training = (0..units.len()).collect();
        }
        let vectors: Vec<Vec<f32>> = training.iter().map(|&u| local(&units[u]).embedding.clone()).collect();
        // Each frame is seen by about WINDOW/step windows: speech seconds count once.
        let seen = WINDOW_SAMPLES as f64 / self.step() as f64;
        let sizes: Vec<f64> = training.iter().map(|&u| local(&units[u]).clean_s as f64 / seen).collect();
        let dim = vectors[0].len();
        let clusters: Vec<Vec<usize>> = match c.method {
            ClusterMethod::AverageLinkage => {
                average_linkage(&vectors, &sizes, c.threshold, c.max_speakers.max(1), c.min_speaker_s as f64)
            }
            ClusterMethod::Spectral => {
                let same_window = |i: usize, j: usize| units[training[i]].0 == units[training[j]].0;
                let assignment = spectral_clusters(&vectors, 1, c.max_speakers.max(1), c.p_percentile, same_window);
                let k = assignment.iter().max().map_or(0, |&m| m + 1);
                let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
                for (i, &g) in assignment.iter().enumerate() {
                    groups[g].push(i);
                }
                groups.retain(|g| !g.is_empty());
                let group_vec: Vec<Vec<f32>> =
                    groups.iter().map(|g| mean_of(g.iter().map(|&i| &vectors[i][..]), dim)).collect();
                let group_size: Vec<f64> = groups.iter().map(|g| g.iter().map(|&i| sizes[i]).sum()).collect();
                average_linkage(&group_vec, &group_size, f32::INFINITY, usize::MAX, c.min_speaker_s as f64)
                    .into_iter()
                    .map(|members| members.into_iter().flat_map(|g| groups[g].clone()).collect())
                    .collect()
            }
        };
        let centroids: Vec<Vec<f32>> =
            clusters.iter().map(|m| mean_of(m.iter().map(|&i| &vectors[i][..]), dim)).collect();

        // Every window's local speakers to distinct clusters, the most similar first.
        let mut assigned: Vec<[Option<usize>; LOCAL_SPEAKERS]> = vec![[None; LOCAL_SPEAKERS]; self.windows.len()];
        for (w, win) in self.windows.iter().enumerate() {
            let present: Vec<usize> = (0..LOCAL_SPEAKERS).filter(|&k| win.speakers[k].is_some()).collect();
            let sim = |k: usize, s: usize| dot(&win.speakers[k].as_ref().unwrap().embedding, &centroids[s]) as f64;
            let weights: Vec<Vec<f64>> =
                present.iter().map(|&k| (0..centroids.len()).map(|s| 1.0 + sim(k, s)).collect()).collect();
            for (row, s) in hungarian(&weights) {
                assigned[w][present[row]] = Some(s);
            }
            // More local speakers than clusters: the rest join their most similar one.
            for &k in &present {
                if assigned[w][k].is_none() {
                    assigned[w][k] = (0..centroids.len()).max_by(|&a, &b| sim(k, a).total_cmp(&sim(k, b)));
                }
            }
        }

        let centroids: BTreeMap<u32, Vec<f32>> =
            centroids.into_iter().enumerate().map(|(s, c)| (s as u32, c)).collect();
        self.reconstruct(&assigned, centroids)
    }

    /// Who spoke when, with the meeting's speakers given by `turns` (one speaker at a time, in
    /// stream samples, e.g. [`super::recluster`]'s): each window's local speakers take distinct
    /// speakers of `turns`, those their single-speaker frames fall in most (Hungarian), so the
    /// identities come from `turns` and the boundaries and overlapped speech from the
    /// segmentation. `centroids` are passed through for the speakers that remain.
    pub fn diarize_with(&self, turns: &[SpeakerTurn], centroids: &BTreeMap<u32, Vec<f32>>) -> SegmentedDiarization {
        let mut sorted = turns.to_vec();
        sorted.sort_by_key(|t| t.start);
        let labels: Vec<u32> = {
            let mut l: Vec<u32> = sorted.iter().map(|t| t.speaker).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        if labels.is_empty() {
            return SegmentedDiarization::default();
        }
        let speaker_at = |sample: u64| -> Option<usize> {
            let i = sorted.partition_point(|t| t.start <= sample);
            let t = sorted[..i].last().filter(|t| sample < t.end)?;
            labels.iter().position(|&l| l == t.speaker)
        };
        let mut assigned: Vec<[Option<usize>; LOCAL_SPEAKERS]> = vec![[None; LOCAL_SPEAKERS]; self.windows.len()];
        for (w, win) in self.windows.iter().enumerate() {
            // Frames of each local speaker in each speaker's turns: alone first, any if it never is.
            let mut weights = vec![vec![0f64; labels.len()]; LOCAL_SPEAKERS];
            for alone in [true, false] {
                for (f, speakers) in win.frames.iter().enumerate() {
                    if alone && speakers.count() != 1 {
                        continue;
                    }
                    let centre = win.start + (f * FRAME_STEP + FRAME_SPAN / 2) as u64;
                    let Some(s) = self.to_stream(centre).and_then(speaker_at) else { continue };
                    for (k, row) in weights.iter_mut().enumerate() {
                        if speakers.speaks(k) && (alone || row.iter().all(|&x| x == 0.0)) {
                            row[s] += 1.0;
                        }
                    }
                }
            }
            for (k, s) in hungarian(&weights) {
                assigned[w][k] = Some(s);
            }
            // More local speakers than speakers: the rest join the one they fall in most.
            for (k, row) in weights.iter().enumerate() {
                if assigned[w][k].is_none() && row.iter().any(|&x| x > 0.0) {
                    assigned[w][k] = (0..labels.len()).max_by(|&a, &b| row[a].total_cmp(&row[b]));
                }
            }
        }
        let named: BTreeMap<u32, Vec<f32>> =
            labels.iter().enumerate().map(|(i, l)| (i as u32, centroids.get(l).cloned().unwrap_or_default())).collect();
        let mut d = self.reconstruct(&assigned, named);
        let rename = |t: &mut SpeakerTurn| t.speaker = labels[t.speaker as usize];
        d.turns.iter_mut().for_each(rename);
        d.overlaps.iter_mut().for_each(rename);
        d.centroids = d.centroids.into_iter().map(|(s, c)| (labels[s as usize], c)).collect();
        d
    }

    /// The stream sample of a sample of the speech timeline.
    fn to_stream(&self, speech: u64) -> Option<u64> {
        let i = self.pieces.partition_point(|p| p.speech <= speech);
        let p = self.pieces[..i].last().filter(|p| speech < p.speech + p.len)?;
        Some(p.stream + speech - p.speech)
    }

    /// Turns from each window's local speakers mapped to speakers `0..centroids.len()`; see the
    /// module documentation.
    fn reconstruct(
        &self,
        assigned: &[[Option<usize>; LOCAL_SPEAKERS]],
        centroids: BTreeMap<u32, Vec<f32>>,
    ) -> SegmentedDiarization {
        // Aggregate per frame of the speech timeline.
        let n = self.total.div_ceil(FRAME_STEP as u64) as usize;
        let k = centroids.len();
        let mut cover = vec![0u32; n];
        let mut count = vec![0u32; n];
        let mut score = vec![0f32; n * k];
        for (win, labels) in self.windows.iter().zip(assigned) {
            let first = (win.start / FRAME_STEP as u64) as usize;
            for (f, speakers) in win.frames.iter().enumerate() {
                let g = first + f;
                // Frames centred past the speech are the padding of a short meeting.
                if g >= n || win.start + (f * FRAME_STEP + FRAME_SPAN / 2) as u64 >= self.total {
                    break;
                }
                cover[g] += 1;
                count[g] += speakers.count();
                let mut counted: Vec<usize> = Vec::with_capacity(LOCAL_SPEAKERS);
                for (kk, label) in labels.iter().enumerate() {
                    if let Some(s) = *label
                        && speakers.speaks(kk)
                        && !counted.contains(&s)
                    {
                        counted.push(s);
                        score[g * k + s] += 1.0;
                    }
                }
            }
        }
        // Per frame: the dominant speaker and the overlapped ones.
        let mut dominant: Vec<Option<u32>> = vec![None; n];
        let mut others: Vec<Vec<u32>> = vec![Vec::new(); n];
        for g in 0..n {
            if cover[g] == 0 {
                continue;
            }
            let speaking = (count[g] as f32 / cover[g] as f32).round() as usize;
            let mut order: Vec<usize> = (0..k).filter(|&s| score[g * k + s] > 0.0).collect();
            order.sort_by(|&a, &b| score[g * k + b].total_cmp(&score[g * k + a]).then(a.cmp(&b)));
            order.truncate(speaking);
            if let Some((&first, rest)) = order.split_first() {
                dominant[g] = Some(first as u32);
                others[g] = rest.iter().map(|&s| s as u32).collect();
            }
        }
        let turns = self.stream_turns(&runs(&dominant));
        let mut overlaps = Vec::new();
        for s in 0..k as u32 {
            let mask: Vec<Option<u32>> = others.iter().map(|o| o.contains(&s).then_some(s)).collect();
            overlaps.extend(self.stream_turns(&runs(&mask)));
        }
        overlaps.sort_by_key(|t| (t.start, t.speaker));
        let by_speaker: BTreeMap<u32, Vec<f32>> =
            centroids.into_iter().filter(|(s, _)| turns.iter().any(|t| t.speaker == *s)).collect();
        SegmentedDiarization { turns, overlaps, speakers: by_speaker.len(), centroids: by_speaker }
    }

    /// Speech-timeline frame runs `(first frame, end frame, speaker)` as stream turns: a frame
    /// `g` holds from the middle between its centre and the previous frame's to the next middle.
    fn stream_turns(&self, runs: &[(usize, usize, u32)]) -> Vec<SpeakerTurn> {
        let edge = |g: usize| -> u64 {
            if g == 0 { 0 } else { ((g * FRAME_STEP + FRAME_SPAN / 2) as u64 - FRAME_STEP as u64 / 2).min(self.total) }
        };
        let mut out = Vec::new();
        for &(a, b, speaker) in runs {
            let (from, to) = (edge(a), if b * FRAME_STEP >= self.total as usize { self.total } else { edge(b) });
            for p in &self.pieces {
                let (lo, hi) = (from.max(p.speech), to.min(p.speech + p.len));
                if lo < hi {
                    out.push(SpeakerTurn { start: p.stream + lo - p.speech, end: p.stream + hi - p.speech, speaker });
                }
            }
        }
        out
    }
}

/// Runs of equal labels: `(first, end, label)`.
fn runs(labels: &[Option<u32>]) -> Vec<(usize, usize, u32)> {
    let mut out: Vec<(usize, usize, u32)> = Vec::new();
    for (g, l) in labels.iter().enumerate() {
        let Some(l) = *l else { continue };
        match out.last_mut() {
            Some(r) if r.1 == g && r.2 == l => r.1 = g + 1,
            _ => out.push((g, g + 1, l)),
        }
    }
    out
}

fn floor_to_frame(samples: u64) -> u64 {
    samples / FRAME_STEP as u64 * FRAME_STEP as u64
}

/// The samples of `audio` (a window) under frames `f` where `keep(f)` holds: frame `f` stands
/// for the [`FRAME_STEP`] samples around its centre.
fn masked_audio(audio: &[f32], frames: &[FrameSpeakers], keep: impl Fn(FrameSpeakers) -> bool) -> Vec<f32> {
    let mut out = Vec::new();
    for (f, &s) in frames.iter().enumerate() {
        if keep(s) {
            let centre = f * FRAME_STEP + FRAME_SPAN / 2;
            let (a, b) = (centre - FRAME_STEP / 2, (centre + FRAME_STEP / 2).min(audio.len()));
            if a < b {
                out.extend_from_slice(&audio[a..b]);
            }
        }
    }
    out
}

/// Embeds each local speaker of a window from its single-speaker frames (all its frames when
/// those are under `min_clean_s`); speakers under `min_active_s` are left out.
fn embed_local_speakers(
    encoder: &mut SpeakerEncoder,
    config: &SegmentationConfig,
    audio: &[f32],
    frames: &[FrameSpeakers],
) -> Result<[Option<LocalSpeaker>; LOCAL_SPEAKERS], InferenceError> {
    let seconds = |n: usize| (n * FRAME_STEP) as f32 / SAMPLE_RATE as f32;
    let mut out: [Option<LocalSpeaker>; LOCAL_SPEAKERS] = Default::default();
    for (k, slot) in out.iter_mut().enumerate() {
        let active_s = seconds(frames.iter().filter(|f| f.speaks(k)).count());
        let clean_s = seconds(frames.iter().filter(|f| f.speaks(k) && f.count() == 1).count());
        if active_s < config.min_active_s {
            continue;
        }
        let speech = if clean_s >= config.min_clean_s {
            masked_audio(audio, frames, |f| f.speaks(k) && f.count() == 1)
        } else {
            masked_audio(audio, frames, |f| f.speaks(k))
        };
        if let Some(e) = speech_embedding(encoder, &config.embedding, &speech)? {
            *slot = Some(LocalSpeaker { embedding: normalized(&e), clean_s, active_s });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_labels() {
        let l = [None, Some(1), Some(1), Some(2), None, Some(2)];
        assert_eq!(runs(&l), [(1, 3, 1), (3, 4, 2), (5, 6, 2)]);
    }

    #[test]
    fn masked_audio_takes_the_frames_kept() {
        let audio: Vec<f32> = (0..WINDOW_SAMPLES).map(|i| i as f32).collect();
        let mut frames = vec![FrameSpeakers(0); 10];
        frames[2] = FrameSpeakers(1);
        frames[3] = FrameSpeakers(1);
        let out = masked_audio(&audio, &frames, |f| f.speaks(0));
        // Two frames of FRAME_STEP samples around centres 2·270+495 and 3·270+495, end to end.
        assert_eq!(out.len(), 2 * FRAME_STEP);
        assert!(out.windows(2).all(|p| p[1] == p[0] + 1.0));
        assert_eq!(out[0], (2 * FRAME_STEP + FRAME_SPAN / 2 - FRAME_STEP / 2) as f32);
    }
}
