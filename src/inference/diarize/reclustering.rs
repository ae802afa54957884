//! End-of-meeting re-clustering: with the whole meeting at hand, the window embeddings the live
//! tracker kept ([`TrackerHistory`]) are clustered again (agglomerative, average linkage, cosine
//! similarity), clusters with too little speech are folded into their nearest neighbour (no
//! phantom speakers), every window is re-assigned to its nearest cluster centroid, and the
//! clusters take the live labels they overlap most (Hungarian matching), so labels the
//! participants saw stay where they were right. The result is new turns for the whole meeting;
//! [`speaker_for_span`](super::speaker_tracker::speaker_for_span) relabels stored segments.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::hungarian::hungarian;
use super::speaker_tracker::{
    SAMPLE_RATE, SpeakerTurn, TrackerHistory, dot, majority_filter, normalized, turns_from_labels,
};

/// How the units are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMethod {
    /// Agglomerative, average linkage, stopping at `threshold` ([`average_linkage`]).
    AverageLinkage,
    /// Spectral clustering of the refined affinity matrix with the speaker count from the
    /// largest eigengap ([`spectral_clusters`]; Wang et al. 2018, "Speaker diarization with
    /// LSTM"): adapts to each meeting where a fixed similarity threshold does not.
    Spectral,
}

#[derive(Debug, Clone, Copy)]
pub struct ReclusterConfig {
    pub method: ClusterMethod,
    /// Spectral: row-wise thresholding keeps each affinity row's entries from this percentile
    /// up (0.9: the top 10 %) and scales the others by 0.01.
    pub p_percentile: f32,
    /// Spectral: no affinity between units that share audio (overlapping windows).
    pub mask_overlap: bool,
    /// Spectral: when at least two live speakers each hold this share of the windows, at least
    /// two speakers come out. The eigengap of a meeting of alike voices can favour one cluster
    /// (the first eigenvalue of an all-positive affinity stands out), which would give all of
    /// their speech to one person.
    pub min_live_share: f32,
    /// Average linkage: clusters merge while their average cosine similarity is at least this.
    pub threshold: f32,
    pub max_speakers: usize,
    /// A cluster with less speech than this (seconds of window steps) is merged into the most
    /// similar other cluster.
    pub min_speaker_s: f32,
    /// Units of clustering: runs of consecutive same-label windows of one utterance, at most this
    /// many windows each (more when the meeting has more than `max_units` windows).
    pub unit_windows: usize,
    pub max_units: usize,
    /// Subtract the meeting's mean embedding before comparing (removes what all voices and the
    /// room have in common).
    pub center: bool,
    /// Majority filter radius over the new window labels.
    pub smoothing_radius: usize,
}

impl Default for ReclusterConfig {
    fn default() -> Self {
        Self {
            method: ClusterMethod::Spectral,
            p_percentile: 0.7,
            mask_overlap: true,
            min_live_share: 0.1,
            threshold: 0.65,
            max_speakers: 8,
            min_speaker_s: 3.0,
            unit_windows: 1,
            max_units: 400,
            center: false,
            smoothing_radius: 1,
        }
    }
}

/// The outcome of [`recluster`].
#[derive(Debug, Clone, Default)]
pub struct Reclustered {
    /// Turns of the whole meeting, in time order, with the new labels.
    pub turns: Vec<SpeakerTurn>,
    /// The new label of every window of the history.
    pub window_speakers: Vec<u32>,
    /// Live label → the label most of its windows now have.
    pub relabel: BTreeMap<u32, u32>,
    pub speakers: usize,
    /// Per new label: the normalised mean of its windows' embeddings (as the encoder gave them,
    /// not centred), what enrolled voiceprints are compared with.
    pub centroids: BTreeMap<u32, Vec<f32>>,
}

/// Clusters the meeting again; see the module documentation.
pub fn recluster(history: &TrackerHistory, config: &ReclusterConfig) -> Reclustered {
    let windows = &history.windows;
    if windows.is_empty() {
        return Reclustered { turns: history.turns.clone(), ..Default::default() };
    }
    let dim = windows[0].embedding.len();
    let mean: Vec<f32> = if config.center {
        let mut m = vec![0f32; dim];
        for w in windows {
            m.iter_mut().zip(&w.embedding).for_each(|(a, x)| *a += x / windows.len() as f32);
        }
        m
    } else {
        vec![0.0; dim]
    };
    let features: Vec<Vec<f32>> = windows
        .iter()
        .map(|w| normalized(&w.embedding.iter().zip(&mean).map(|(x, m)| x - m).collect::<Vec<_>>()))
        .collect();

    // Units: runs of same-label windows within an utterance, cut to `per_unit` windows.
    let per_unit = config.unit_windows.max(1).max(windows.len().div_ceil(config.max_units.max(1)));
    let mut units: Vec<Vec<usize>> = Vec::new();
    for u in &history.utterances {
        let mut current: Vec<usize> = Vec::new();
        for i in u.windows.clone() {
            if current.len() >= per_unit || current.last().is_some_and(|&p| windows[p].speaker != windows[i].speaker) {
                units.push(std::mem::take(&mut current));
            }
            current.push(i);
        }
        if !current.is_empty() {
            units.push(current);
        }
    }
    let unit_vec: Vec<Vec<f32>> = units.iter().map(|m| mean_of(m.iter().map(|&i| &features[i][..]), dim)).collect();
    let sizes: Vec<f64> = units.iter().map(|m| m.len() as f64).collect();

    let min_windows = (config.min_speaker_s as f64 * SAMPLE_RATE as f64 / history.hop_samples.max(1) as f64).ceil();
    let clusters = match config.method {
        ClusterMethod::AverageLinkage => {
            average_linkage(&unit_vec, &sizes, config.threshold, config.max_speakers.max(1), min_windows)
        }
        ClusterMethod::Spectral => {
            // Windows that share audio are alike whoever speaks: their affinity says nothing.
            let spans: Vec<(u64, u64)> =
                units.iter().map(|m| (windows[m[0]].start, windows[*m.last().unwrap()].end)).collect();
            let shared = |i: usize, j: usize| config.mask_overlap && spans[i].0 < spans[j].1 && spans[j].0 < spans[i].1;
            let mut live_windows: BTreeMap<u32, usize> = BTreeMap::new();
            for w in windows {
                *live_windows.entry(w.speaker).or_default() += 1;
            }
            let held = live_windows.values().filter(|&&n| n as f32 >= config.min_live_share * windows.len() as f32);
            let min_clusters = if held.count() >= 2 { 2 } else { 1 };
            let assignment =
                spectral_clusters(&unit_vec, min_clusters, config.max_speakers.max(1), config.p_percentile, shared);
            let k = assignment.iter().max().map_or(0, |&m| m + 1);
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
            for (u, &c) in assignment.iter().enumerate() {
                groups[c].push(u);
            }
            groups.retain(|g| !g.is_empty());
            // Fold clusters with too little speech into the most similar other one.
            let group_vec: Vec<Vec<f32>> =
                groups.iter().map(|g| mean_of(g.iter().map(|&u| &unit_vec[u][..]), dim)).collect();
            let group_size: Vec<f64> = groups.iter().map(|g| g.iter().map(|&u| sizes[u]).sum()).collect();
            average_linkage(&group_vec, &group_size, f32::INFINITY, usize::MAX, min_windows)
                .into_iter()
                .map(|members| members.into_iter().flat_map(|g| groups[g].clone()).collect())
                .collect()
        }
    };

    // Centroids of the clusters, then every window to its nearest centroid.
    let centroids: Vec<Vec<f32>> = clusters
        .iter()
        .map(|members| mean_of(members.iter().flat_map(|&u| units[u].iter().map(|&i| &features[i][..])), dim))
        .collect();
    let mut labels: Vec<usize> = features
        .iter()
        .map(|f| {
            (0..centroids.len()).max_by(|&a, &b| dot(f, &centroids[a]).total_cmp(&dot(f, &centroids[b]))).unwrap_or(0)
        })
        .collect();

    // Clusters take the live labels they overlap most.
    let live_max = windows.iter().map(|w| w.speaker).max().unwrap_or(0) as usize;
    let mut overlap = vec![vec![0f64; live_max + 1]; centroids.len()];
    for (w, &c) in windows.iter().zip(&labels) {
        overlap[c][w.speaker as usize] += 1.0;
    }
    let mut name: Vec<Option<u32>> = vec![None; centroids.len()];
    for (c, live) in hungarian(&overlap) {
        name[c] = Some(live as u32);
    }
    // Unmatched clusters get the smallest labels not in use.
    let used: Vec<u32> = name.iter().flatten().copied().collect();
    let mut free = (0u32..).filter(|l| !used.contains(l));
    let name: Vec<u32> = name.into_iter().map(|n| n.unwrap_or_else(|| free.next().unwrap())).collect();
    for l in &mut labels {
        *l = name[*l] as usize;
    }

    let mut window_speakers: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let mut turns = Vec::new();
    for u in &history.utterances {
        if u.windows.is_empty() {
            // No windows: keep the live turns of that stretch.
            turns.extend(history.turns.iter().filter(|t| t.start >= u.start && t.end <= u.end));
            continue;
        }
        let smoothed = majority_filter(&window_speakers[u.windows.clone()], config.smoothing_radius);
        window_speakers[u.windows.clone()].copy_from_slice(&smoothed);
        let centers: Vec<u64> = windows[u.windows.clone()].iter().map(|w| w.center()).collect();
        turns.extend(turns_from_labels(u.start, u.end, &centers, &smoothed));
    }
    let mut votes: BTreeMap<u32, BTreeMap<u32, usize>> = BTreeMap::new();
    for (w, &s) in windows.iter().zip(&window_speakers) {
        *votes.entry(w.speaker).or_default().entry(s).or_default() += 1;
    }
    let relabel = votes
        .into_iter()
        .map(|(live, v)| (live, v.into_iter().max_by_key(|&(s, n)| (n, std::cmp::Reverse(s))).unwrap().0))
        .collect();
    let mut sums: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
    for (w, &s) in windows.iter().zip(&window_speakers) {
        let sum = sums.entry(s).or_insert_with(|| vec![0.0; dim]);
        sum.iter_mut().zip(&w.embedding).for_each(|(a, x)| *a += x);
    }
    let centroids: BTreeMap<u32, Vec<f32>> = sums.into_iter().map(|(s, sum)| (s, normalized(&sum))).collect();
    Reclustered { turns, window_speakers, relabel, speakers: centroids.len(), centroids }
}

/// Agglomerative clustering of unit vectors (normalised) weighted by `sizes`, average linkage on
/// cosine similarity: merges while the best pair is at least `threshold` similar or there are
/// more than `max_clusters`; then clusters smaller than `min_size` join their most similar
/// neighbour. Returns the members of each cluster.
pub fn average_linkage(
    vectors: &[Vec<f32>],
    sizes: &[f64],
    threshold: f32,
    max_clusters: usize,
    min_size: f64,
) -> Vec<Vec<usize>> {
    let n = vectors.len();
    let mut sim: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n).map(|j| if i == j { f64::NEG_INFINITY } else { dot(&vectors[i], &vectors[j]) as f64 }).collect()
        })
        .collect();
    let mut size = sizes.to_vec();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut active: Vec<bool> = vec![true; n];
    let mut count = n;
    let best_of = |sim: &Vec<Vec<f64>>, active: &[bool], i: usize| -> (usize, f64) {
        (0..n)
            .filter(|&j| j != i && active[j])
            .map(|j| (j, sim[i][j]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((i, f64::NEG_INFINITY))
    };
    let mut nn: Vec<(usize, f64)> = (0..n).map(|i| best_of(&sim, &active, i)).collect();
    while count > 1 {
        let small = |i: usize, size: &[f64]| size[i] < min_size;
        let any_small = (0..n).any(|i| active[i] && small(i, &size));
        // The pair to merge: the most similar overall, or while only small clusters are left to
        // fold, the most similar pair involving a small cluster.
        let (a, (b, s)) = (0..n)
            .filter(|&i| active[i])
            .map(|i| (i, nn[i]))
            .max_by(|x, y| x.1.1.total_cmp(&y.1.1))
            .expect("two active clusters");
        let (a, b) = if s >= threshold as f64 || count > max_clusters {
            (a, b)
        } else if any_small {
            let (i, (j, _)) = (0..n)
                .filter(|&i| active[i] && small(i, &size))
                .map(|i| (i, nn[i]))
                .max_by(|x, y| x.1.1.total_cmp(&y.1.1))
                .unwrap();
            (i, j)
        } else {
            break;
        };
        if a == b {
            break;
        }
        // Merge b into a (Lance–Williams update for average linkage).
        let (wa, wb) = (size[a], size[b]);
        for k in 0..n {
            if active[k] && k != a && k != b {
                let v = (wa * sim[a][k] + wb * sim[b][k]) / (wa + wb);
                sim[a][k] = v;
                sim[k][a] = v;
            }
        }
        size[a] += wb;
        active[b] = false;
        let moved = std::mem::take(&mut members[b]);
        members[a].extend(moved);
        count -= 1;
        for k in 0..n {
            if !active[k] {
                continue;
            }
            if k == a || nn[k].0 == a || nn[k].0 == b {
                nn[k] = best_of(&sim, &active, k);
            } else if sim[k][a] > nn[k].1 {
                nn[k] = (a, sim[k][a]);
            }
        }
    }
    (0..n).filter(|&i| active[i]).map(|i| std::mem::take(&mut members[i])).collect()
}

/// Spectral clustering of normalised vectors: cosine affinity; refinement (row-wise threshold at
/// `p_percentile`, symmetrise by max, diffuse `Y Yᵀ`, row-wise max normalisation, symmetrise by
/// mean); eigen-decomposition; the cluster count `k ≤ max_clusters` at the largest ratio of
/// consecutive eigenvalues, `k ≥ min_clusters`; k-means on the rows of the first `k` eigenvectors.
/// Returns a cluster index per vector.
/// Pairs for which `ignore(i, j)` holds get affinity 0 (e.g. windows that overlap in time).
pub fn spectral_clusters(
    vectors: &[Vec<f32>],
    min_clusters: usize,
    max_clusters: usize,
    p_percentile: f32,
    ignore: impl Fn(usize, usize) -> bool,
) -> Vec<usize> {
    let n = vectors.len();
    if n < 3 || max_clusters < 2 {
        return vec![0; n];
    }
    let mut a: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| match (i == j, ignore(i, j)) {
                    (true, _) => 1.0,
                    (false, true) => 0.0,
                    (false, false) => dot(&vectors[i], &vectors[j]).max(0.0) as f64,
                })
                .collect()
        })
        .collect();
    for row in &mut a {
        let mut sorted = row.clone();
        sorted.sort_by(f64::total_cmp);
        let cut = sorted[((n as f32 * p_percentile) as usize).min(n - 1)];
        for v in row.iter_mut() {
            if *v < cut {
                *v *= 0.01;
            }
        }
    }
    let sym: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| a[i][j].max(a[j][i])).collect()).collect();
    let mut y: Vec<Vec<f64>> =
        (0..n).map(|i| (0..n).map(|j| (0..n).map(|k| sym[i][k] * sym[j][k]).sum()).collect()).collect();
    for row in &mut y {
        let m = row.iter().copied().fold(0f64, f64::max);
        if m > 0.0 {
            row.iter_mut().for_each(|v| *v /= m);
        }
    }
    let y: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| 0.5 * (y[i][j] + y[j][i])).collect()).collect();
    let (values, vectors_) = symmetric_eigen(y);
    let max_k = max_clusters.min(n - 1);
    let k = (min_clusters.clamp(1, max_k)..=max_k)
        .max_by(|&i, &j| {
            let gap = |i: usize| values[i - 1] / values[i].max(1e-10);
            gap(i).total_cmp(&gap(j))
        })
        .unwrap_or(1);
    tracing::debug!(units = n, k, eigenvalues = ?&values[..(max_k + 1).min(n)], "spectral clustering");
    if k == 1 {
        return vec![0; n];
    }
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let r: Vec<f64> = (0..k).map(|c| vectors_[c][i]).collect();
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            r.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    kmeans(&rows, k)
}

/// Eigenvalues (descending) and eigenvectors (`vectors[c]` goes with `values[c]`) of a symmetric
/// matrix, by cyclic Jacobi rotations.
#[allow(clippy::needless_range_loop)]
fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| f64::from(i == j)).collect()).collect();
    for _sweep in 0..50 {
        let off: f64 = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| a[i][j] * a[i][j]).sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let values = order.iter().map(|&i| a[i][i]).collect();
    let vectors = order.iter().map(|&c| (0..n).map(|k| v[k][c]).collect()).collect();
    (values, vectors)
}

/// k-means with farthest-point initialisation (deterministic).
fn kmeans(rows: &[Vec<f64>], k: usize) -> Vec<usize> {
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
    let mut centers: Vec<Vec<f64>> = vec![rows[0].clone()];
    while centers.len() < k {
        let far = (0..rows.len())
            .max_by(|&i, &j| {
                let d = |i: usize| centers.iter().map(|c| dist(&rows[i], c)).fold(f64::INFINITY, f64::min);
                d(i).total_cmp(&d(j))
            })
            .unwrap();
        centers.push(rows[far].clone());
    }
    let mut assign = vec![0usize; rows.len()];
    for _ in 0..100 {
        let next: Vec<usize> = rows
            .iter()
            .map(|r| (0..k).min_by(|&a, &b| dist(r, &centers[a]).total_cmp(&dist(r, &centers[b]))).unwrap())
            .collect();
        let done = next == assign;
        assign = next;
        for (c, center) in centers.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = rows.iter().zip(&assign).filter(|(_, a)| **a == c).map(|(r, _)| r).collect();
            if !members.is_empty() {
                for (d, x) in center.iter_mut().enumerate() {
                    *x = members.iter().map(|m| m[d]).sum::<f64>() / members.len() as f64;
                }
            }
        }
        if done {
            break;
        }
    }
    assign
}

pub(crate) fn mean_of<'a>(vectors: impl Iterator<Item = &'a [f32]>, dim: usize) -> Vec<f32> {
    let mut m = vec![0f32; dim];
    for v in vectors {
        m.iter_mut().zip(v).for_each(|(a, x)| *a += x);
    }
    normalized(&m)
}

/// A description of the meeting's speakers for the meeting row: `[{speaker, label: "Speaker N"
/// (N = speaker + 1), total_seconds, first_seen (seconds from the start)}]`, in order of first
/// appearance.
pub fn speaker_labels(turns: &[SpeakerTurn]) -> Value {
    let mut by_speaker: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for t in turns {
        let e = by_speaker.entry(t.speaker).or_insert((0, u64::MAX));
        e.0 += t.end.saturating_sub(t.start);
        e.1 = e.1.min(t.start);
    }
    let mut rows: Vec<(u32, u64, u64)> = by_speaker.into_iter().map(|(s, (total, first))| (s, total, first)).collect();
    rows.sort_by_key(|&(s, _, first)| (first, s));
    let rate = SAMPLE_RATE as f64;
    Value::Array(
        rows.into_iter()
            .map(|(s, total, first)| {
                json!({
                    "speaker": s,
                    "label": format!("Speaker {}", s + 1),
                    "total_seconds": (total as f64 / rate * 100.0).round() / 100.0,
                    "first_seen": (first as f64 / rate * 100.0).round() / 100.0,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::diarize::speaker_tracker::{UtteranceRecord, WindowEmbedding};

    fn voice(k: usize, jitter: f32) -> Vec<f32> {
        let mut v = vec![0.1; 8];
        v[k] = 1.0;
        v[(k + 1) % 8] += jitter;
        normalized(&v)
    }

    /// One utterance per entry: (voice, live label, windows).
    fn history(parts: &[(usize, u32, usize)]) -> TrackerHistory {
        let mut h = TrackerHistory { hop_samples: 6400, ..Default::default() };
        let mut at = 0u64;
        for (n, &(k, live, count)) in parts.iter().enumerate() {
            let first = h.windows.len();
            let start = at;
            for i in 0..count {
                let jitter = 0.05 * ((i + n) % 3) as f32;
                h.windows.push(WindowEmbedding {
                    start: at,
                    end: at + 25_600,
                    embedding: voice(k, jitter),
                    speaker: live,
                });
                at += 6400;
            }
            let end = at + 19_200;
            h.utterances.push(UtteranceRecord { start, end, windows: first..h.windows.len() });
            h.turns.push(SpeakerTurn { start, end, speaker: live });
            at = end + 16_000;
        }
        h
    }

    fn ahc(config: ReclusterConfig) -> ReclusterConfig {
        ReclusterConfig { method: ClusterMethod::AverageLinkage, center: false, ..config }
    }

    #[test]
    fn spectral_clustering_finds_the_groups_and_their_number() {
        // Three voices, 15 noisy windows each (deterministic pseudo-noise).
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut vectors = Vec::new();
        for i in 0..45 {
            let mut v: Vec<f32> = (0..8).map(|_| 0.3 + 0.3 * noise()).collect();
            v[i % 3] += 1.0;
            vectors.push(normalized(&v));
        }
        let labels = spectral_clusters(&vectors, 1, 8, 0.8, |_, _| false);
        for i in 0..45 {
            assert_eq!(labels[i], labels[i % 3], "{labels:?}");
        }
        assert_ne!(labels[0], labels[1]);
        assert_ne!(labels[1], labels[2]);
        assert_ne!(labels[0], labels[2]);
    }

    /// Two alike voices, the second with a quarter of the windows: the eigengap alone sees one
    /// speaker; held apart by the live tracker, they stay two.
    #[test]
    fn alike_voices_the_live_tracker_held_apart_stay_apart() {
        let mut seed = 11u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let second = |i: usize| i.is_multiple_of(4);
        let vectors: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                let mut v = vec![0.0; 8];
                v[0] = 1.0;
                v[1 + usize::from(second(i))] = 0.3;
                (3..8).for_each(|d| v[d] = 0.2 * noise());
                normalized(&v)
            })
            .collect();
        let one = spectral_clusters(&vectors, 1, 8, 0.7, |_, _| false);
        assert!(one.iter().all(|&l| l == 0), "premise: the eigengap sees one speaker");
        let two = spectral_clusters(&vectors, 2, 8, 0.7, |_, _| false);
        assert!((0..40).all(|i| (two[i] == two[0]) == second(i)), "{two:?}");

        // One window per utterance, 2 s apart; live labels: the voices.
        let mut h = TrackerHistory { hop_samples: 6400, ..Default::default() };
        for (i, v) in vectors.iter().enumerate() {
            let (start, speaker) = (i as u64 * 32_000, u32::from(second(i)));
            h.windows.push(WindowEmbedding { start, end: start + 25_600, embedding: v.clone(), speaker });
            h.utterances.push(UtteranceRecord { start, end: start + 25_600, windows: i..i + 1 });
            h.turns.push(SpeakerTurn { start, end: start + 25_600, speaker });
        }
        let r = recluster(&h, &ReclusterConfig::default());
        assert_eq!(r.speakers, 2);
        assert!(h.windows.iter().zip(&r.window_speakers).all(|(w, &s)| w.speaker == s), "{:?}", r.window_speakers);
        // The live tracker's second voice under a tenth of the windows: the eigengap decides.
        h.windows.iter_mut().enumerate().for_each(|(i, w)| w.speaker = u32::from(i == 0));
        assert_eq!(recluster(&h, &ReclusterConfig::default()).speakers, 1);
    }

    #[test]
    fn jacobi_eigenvalues() {
        let (values, vectors) = symmetric_eigen(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!((values[0] - 3.0).abs() < 1e-9 && (values[1] - 1.0).abs() < 1e-9, "{values:?}");
        assert!((vectors[0][0].abs() - 0.5f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn live_mistakes_are_fixed_and_labels_kept() {
        // Live: voice 2 was first taken for speaker 0, and voice 0 split into labels 0 and 3.
        let h = history(&[(0, 0, 10), (1, 1, 10), (2, 0, 10), (0, 3, 10), (1, 1, 10), (0, 0, 10)]);
        let r = recluster(&h, &ahc(ReclusterConfig { threshold: 0.8, ..Default::default() }));
        assert_eq!(r.speakers, 3, "{:?}", r.turns);
        let per_utterance: Vec<u32> = r.turns.iter().map(|t| t.speaker).collect();
        // Voice 0 keeps label 0, voice 1 label 1, voice 2 gets a free label (2).
        assert_eq!(per_utterance, [0, 1, 2, 0, 1, 0]);
        assert_eq!(r.relabel[&3], 0);
        assert_eq!(r.window_speakers.len(), 60);
        // Each speaker's centroid is its voice.
        assert_eq!(r.centroids.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        for (label, k) in [(0, 0), (1, 1), (2, 2)] {
            assert!(dot(&r.centroids[&label], &voice(k, 0.05)) > 0.99, "{label}");
        }
    }

    #[test]
    fn small_clusters_are_folded_and_the_count_capped() {
        // Voice 3 speaks 2 windows (0.8 s of steps): folded into a real speaker.
        let h = history(&[(0, 0, 12), (1, 1, 12), (3, 2, 2), (0, 0, 12)]);
        let r = recluster(&h, &ahc(ReclusterConfig { threshold: 0.8, ..Default::default() }));
        assert_eq!(r.speakers, 2);
        let h = history(&[(0, 0, 12), (1, 1, 12), (2, 2, 12), (3, 3, 12)]);
        let config = ahc(ReclusterConfig { threshold: 0.8, max_speakers: 2, ..Default::default() });
        assert_eq!(recluster(&h, &config).speakers, 2);
        assert!(recluster(&TrackerHistory::default(), &config).turns.is_empty());
    }

    #[test]
    fn labels_describe_the_speakers() {
        let turns = [
            SpeakerTurn { start: 16_000, end: 48_000, speaker: 1 },
            SpeakerTurn { start: 48_000, end: 56_000, speaker: 0 },
            SpeakerTurn { start: 80_000, end: 96_000, speaker: 1 },
        ];
        let v = speaker_labels(&turns);
        assert_eq!(
            v,
            json!([
                {"speaker": 1, "label": "Speaker 2", "total_seconds": 3.0, "first_seen": 1.0},
                {"speaker": 0, "label": "Speaker 1", "total_seconds": 0.5, "first_seen": 3.0},
            ])
        );
    }
}
