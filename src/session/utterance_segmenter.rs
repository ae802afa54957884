//! The streaming policy: VAD probabilities in, utterance events out. Pure logic (no model, no
//! I/O), so every rule is unit-tested.
//!
//! - Speech starts at the first 32 ms chunk at or above `threshold`; the utterance includes a
//!   short pre-roll so the first phoneme is not clipped.
//! - While speech continues, a partial is due every `partial_every` of new audio, the first
//!   once the utterance holds a second.
//! - Silence (chunks below `neg_threshold`) lasting `endpointing` ends the utterance: a final
//!   with `speech_final`. Finals are never revised; the next utterance starts fresh.
//! - In continuous speech, an utterance already `split_after` long is split at a shorter pause
//!   (`split_pause`) once speech resumes: a final without `speech_final` for what came before.
//!   Conversation rarely pauses for a whole endpoint, and a final waits for its utterance to
//!   end, so without this finals come every 15 s; with it, every few seconds (Deepgram's
//!   `is_final` during a long turn). The end of a turn is still found by `endpointing`.
//! - An utterance reaching `max_utterance` is cut at its quietest chunk in the last seconds and
//!   the rest carries over: a final without `speech_final` (Whisper windows are 30 s at most,
//!   and shorter finals mean lower latency).
//! - `commit` cuts the open utterance where the caller knows its words are settled (two
//!   partial hypotheses agree up to there): what came before becomes a final, the rest stays
//!   open, and the next partials decode only the rest.
//! - `flush` (client `Finalize`, `CloseStream`, disconnect, shutdown) finalizes what is open.

use std::collections::VecDeque;

use crate::inference::vad::CHUNK;

const RATE: usize = 16_000;
/// How far (samples) `commit` may move a cut to find the quietest chunk: Whisper's segment
/// timestamps are about this exact.
const COMMIT_SNAP: usize = 3 * CHUNK;
/// No partial of an utterance holding less audio: on a few hundred ms Whisper mostly guesses
/// ("Hello? Hello? Hello?").
const FIRST_PARTIAL_MS: u32 = 1_000;

#[derive(Debug, Clone, Copy)]
pub struct SegmenterConfig {
    pub threshold: f32,
    pub neg_threshold: f32,
    /// Silence that ends an utterance, ms; `None`: only `max_utterance` and `flush` end one.
    pub endpointing_ms: Option<u32>,
    /// Partials every this many ms of new speech; `None`: no partials.
    pub partial_every_ms: Option<u32>,
    pub max_utterance_ms: u32,
    /// Pauses this long (ms) split an utterance of at least `split_after_ms` when speech
    /// resumes; `None`: only `endpointing` and `max_utterance_ms` do.
    pub split_pause_ms: Option<u32>,
    pub split_after_ms: u32,
    /// Audio kept in front of the first speech chunk.
    pub pre_roll_ms: u32,
    /// Trailing silence kept after the last speech chunk.
    pub tail_ms: u32,
    /// Utterances with less speech than this that produced no partial are dropped as blips.
    pub min_speech_ms: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: 0.35,
            endpointing_ms: Some(500),
            partial_every_ms: Some(500),
            max_utterance_ms: 15_000,
            split_pause_ms: None,
            split_after_ms: 3_000,
            pre_roll_ms: 300,
            tail_ms: 200,
            min_speech_ms: 250,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEvent {
    SpeechStarted {
        /// Sample index (16 kHz) from the start of the stream.
        at: u64,
    },
    Partial(Utterance),
    Final {
        utterance: Utterance,
        /// The speaker paused (endpointing); false when cut for length or flushed.
        speech_final: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Counts utterances of the stream: a partial of utterance `n` is stale once `n` is final.
    pub id: u64,
    /// Sample index of `audio[0]` from the start of the stream.
    pub start: u64,
    pub audio: Vec<f32>,
}

struct Open {
    id: u64,
    start: u64,
    audio: Vec<f32>,
    /// One probability per chunk of `audio` (pre-roll counted as silence).
    probs: Vec<f32>,
    silent_chunks: usize,
    speech_chunks: usize,
    partial_at: usize,
    partials: usize,
}

pub struct UtteranceSegmenter {
    config: SegmenterConfig,
    pre_roll: VecDeque<f32>,
    open: Option<Open>,
    next_id: u64,
    /// Samples consumed so far.
    position: u64,
}

fn samples(ms: u32) -> usize {
    ms as usize * RATE / 1000
}

/// `ms` rounded up to whole VAD chunks, so audio and per-chunk probabilities stay aligned.
fn whole_chunks(ms: u32) -> usize {
    samples(ms).div_ceil(CHUNK) * CHUNK
}

impl UtteranceSegmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Self { config, pre_roll: VecDeque::new(), open: None, next_id: 0, position: 0 }
    }

    /// Whether an utterance is open (speech has started and not yet been finalized).
    pub fn in_speech(&self) -> bool {
        self.open.is_some()
    }

    /// Feeds whole chunks (`audio.len() == probs.len() * CHUNK`).
    pub fn push(&mut self, audio: &[f32], probs: &[f32]) -> Vec<SegmentEvent> {
        debug_assert_eq!(audio.len(), probs.len() * CHUNK);
        let mut events = Vec::new();
        for (chunk, &p) in audio.chunks(CHUNK).zip(probs) {
            self.chunk(chunk, p, &mut events);
            self.position += chunk.len() as u64;
        }
        events
    }

    fn chunk(&mut self, chunk: &[f32], p: f32, events: &mut Vec<SegmentEvent>) {
        let c = self.config;
        if p >= c.threshold && self.open.as_ref().is_some_and(|open| self.splits_at_resumed_speech(open)) {
            // What came before the pause is final; this chunk opens the next utterance.
            self.finish(false, events);
        }
        let Some(open) = self.open.as_mut() else {
            if p >= c.threshold {
                let mut audio: Vec<f32> = self.pre_roll.drain(..).collect();
                let pre = audio.len();
                let start = self.position - pre as u64;
                audio.extend_from_slice(chunk);
                let mut probs = vec![0.0; pre / CHUNK];
                probs.push(p);
                self.open = Some(Open {
                    id: self.next_id,
                    start,
                    audio,
                    probs,
                    silent_chunks: 0,
                    speech_chunks: 1,
                    partial_at: 0,
                    partials: 0,
                });
                self.next_id += 1;
                events.push(SegmentEvent::SpeechStarted { at: self.position });
            } else {
                self.pre_roll.extend(chunk);
                let keep = whole_chunks(c.pre_roll_ms);
                while self.pre_roll.len() > keep {
                    self.pre_roll.pop_front();
                }
            }
            return;
        };
        open.audio.extend_from_slice(chunk);
        open.probs.push(p);
        if p >= c.threshold {
            open.silent_chunks = 0;
            open.speech_chunks += 1;
        } else if p < c.neg_threshold {
            open.silent_chunks += 1;
        }
        let silence_ms = open.silent_chunks * CHUNK * 1000 / RATE;
        if c.endpointing_ms.is_some_and(|e| silence_ms >= e as usize) {
            self.finish(true, events);
            return;
        }
        if open.audio.len() >= samples(c.max_utterance_ms) {
            self.cut(events);
            return;
        }
        if let Some(every) = c.partial_every_ms
            && open.silent_chunks == 0
            && open.audio.len() - open.partial_at >= samples(every)
            && open.audio.len() >= samples(FIRST_PARTIAL_MS)
        {
            open.partial_at = open.audio.len();
            open.partials += 1;
            events.push(SegmentEvent::Partial(Utterance { id: open.id, start: open.start, audio: open.audio.clone() }));
        }
    }

    /// Whether speech resuming now splits `open`: a long enough pause after long enough speech.
    fn splits_at_resumed_speech(&self, open: &Open) -> bool {
        let c = self.config;
        let Some(pause) = c.split_pause_ms else { return false };
        open.silent_chunks * CHUNK >= samples(pause)
            && open.audio.len() >= samples(c.split_after_ms)
            // A head that `finish` would drop as a blip stays part of the utterance.
            && open.speech_chunks * CHUNK >= samples(c.min_speech_ms)
    }

    /// Ends the open utterance (if any) now.
    pub fn flush(&mut self) -> Vec<SegmentEvent> {
        let mut events = Vec::new();
        self.finish(false, &mut events);
        events
    }

    fn finish(&mut self, speech_final: bool, events: &mut Vec<SegmentEvent>) {
        let Some(mut open) = self.open.take() else { return };
        let c = self.config;
        // Trailing silence beyond `tail_ms` is not part of the utterance; it becomes pre-roll.
        let trailing = open.silent_chunks * CHUNK;
        let cut = open.audio.len() - trailing.saturating_sub(whole_chunks(c.tail_ms)).min(open.audio.len());
        self.pre_roll = open.audio[cut..].iter().copied().collect();
        while self.pre_roll.len() > whole_chunks(c.pre_roll_ms) {
            self.pre_roll.pop_front();
        }
        open.audio.truncate(cut);
        let blip = open.speech_chunks * CHUNK < samples(c.min_speech_ms);
        if blip && open.partials == 0 {
            return;
        }
        events.push(SegmentEvent::Final {
            utterance: Utterance { id: open.id, start: open.start, audio: open.audio },
            speech_final,
        });
    }

    /// Cuts a too-long utterance at its quietest chunk in the last 3 s; the rest stays open.
    fn cut(&mut self, events: &mut Vec<SegmentEvent>) {
        let Some(open) = self.open.as_ref() else { return };
        let n = open.probs.len();
        let search = (3 * RATE / CHUNK).min(n - 1);
        let head = self.split_at_quietest(n - search..n);
        events.push(SegmentEvent::Final { utterance: head, speech_final: false });
    }

    /// Ends utterance `id` at `at` samples from its start, moved to the quietest chunk within
    /// [`COMMIT_SNAP`] of it, and returns what came before (a final without `speech_final`); the
    /// rest stays open as the next utterance. `None` when `id` is no longer open or the cut
    /// would leave less than half a second on either side.
    pub fn commit(&mut self, id: u64, at: usize) -> Option<Utterance> {
        let open = self.open.as_ref().filter(|open| open.id == id)?;
        let chunk = at / CHUNK;
        let snap = COMMIT_SNAP / CHUNK;
        let (lo, hi) = (chunk.saturating_sub(snap).max(1), (chunk + snap + 1).min(open.probs.len()));
        let margin = samples(500) / CHUNK;
        if lo >= hi || chunk < margin || chunk + margin > open.probs.len() {
            return None;
        }
        Some(self.split_at_quietest(lo..hi))
    }

    /// Splits the open utterance at its quietest chunk in `chunks` (not empty, not chunk 0).
    fn split_at_quietest(&mut self, chunks: std::ops::Range<usize>) -> Utterance {
        let open = self.open.as_mut().expect("an utterance is open");
        let quietest =
            chunks.min_by(|&a, &b| open.probs[a].total_cmp(&open.probs[b])).expect("search range is not empty");
        let at = (quietest * CHUNK).min(open.audio.len());
        let rest = open.audio.split_off(at);
        let rest_probs = open.probs.split_off(quietest);
        let head = Utterance { id: open.id, start: open.start, audio: std::mem::take(&mut open.audio) };
        let start = head.start + at as u64;
        open.id = self.next_id;
        self.next_id += 1;
        open.start = start;
        open.audio = rest;
        open.probs = rest_probs;
        open.partial_at = 0;
        open.partials = 0;
        open.speech_chunks = open.probs.iter().filter(|&&p| p >= self.config.threshold).count();
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a pattern of (probability, chunks) and returns the events with their chunk index.
    fn run(config: SegmenterConfig, pattern: &[(f32, usize)]) -> (UtteranceSegmenter, Vec<SegmentEvent>) {
        let mut s = UtteranceSegmenter::new(config);
        let mut events = Vec::new();
        for &(p, n) in pattern {
            for _ in 0..n {
                events.extend(s.push(&[p; CHUNK], &[p]));
            }
        }
        (s, events)
    }

    fn finals(events: &[SegmentEvent]) -> Vec<(u64, usize, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                SegmentEvent::Final { utterance, speech_final } => {
                    Some((utterance.start, utterance.audio.len(), *speech_final))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_pause_ends_the_utterance_with_pre_roll_and_a_short_tail() {
        // 1 s silence, 2 s speech, 1 s silence.
        let (s, events) = run(SegmenterConfig::default(), &[(0.0, 31), (0.9, 62), (0.0, 31)]);
        assert!(matches!(events[0], SegmentEvent::SpeechStarted { at } if at == 31 * CHUNK as u64));
        let f = finals(&events);
        assert_eq!(f.len(), 1);
        let (start, len, speech_final) = f[0];
        assert!(speech_final);
        // Pre-roll: 300 ms rounded up to whole chunks (10).
        assert_eq!(start, 21 * CHUNK as u64);
        // Pre-roll + speech + a 200 ms tail (7 chunks).
        assert_eq!(len, (10 + 62 + 7) * CHUNK);
        assert!(!s.in_speech());
    }

    #[test]
    fn partials_come_every_500_ms_of_speech_and_grow() {
        let (_, events) = run(SegmenterConfig::default(), &[(0.9, 94)]);
        let partials: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                SegmentEvent::Partial(u) => Some(u.audio.len()),
                _ => None,
            })
            .collect();
        // 3 s of speech: a partial each 500 ms (16 chunks = 512 ms, the first chunk boundary past
        // 500), from the first second on.
        assert_eq!(partials, [32, 48, 64, 80].map(|n| n * CHUNK), "{partials:?}");
        assert!(partials.windows(2).all(|w| w[1] - w[0] == 16 * CHUNK));
    }

    #[test]
    fn long_speech_is_cut_at_the_quietest_point_and_continues() {
        let config = SegmenterConfig { max_utterance_ms: 4_000, partial_every_ms: None, ..Default::default() };
        // 3.5 s speech, one quieter chunk, then speech on and on.
        let (s, events) = run(config, &[(0.9, 110), (0.6, 1), (0.9, 200)]);
        let f = finals(&events);
        assert!(f.len() >= 2, "{f:?}");
        assert!(f.iter().all(|&(_, _, speech_final)| !speech_final));
        // The first cut is at the 0.6 chunk; the next utterance starts there, without a gap.
        assert_eq!(f[0].1, 110 * CHUNK);
        assert_eq!(f[1].0, f[0].0 + f[0].1 as u64);
        assert!(s.in_speech());
    }

    #[test]
    fn a_short_pause_splits_long_speech_once_speech_resumes() {
        let config = SegmenterConfig { split_pause_ms: Some(150), split_after_ms: 3_000, ..Default::default() };
        // 1 s speech, a 160 ms pause (too early to split), 3 s speech, a 160 ms pause, 1 s speech,
        // then silence past the endpoint.
        let pattern = [(0.9, 31), (0.0, 5), (0.9, 94), (0.0, 5), (0.9, 31), (0.0, 20)];
        let (s, events) = run(config, &pattern);
        let f = finals(&events);
        assert_eq!(f.len(), 2, "{f:?}");
        // The head ends after the second pause (kept whole: it is within the 200 ms tail) and is
        // not the end of a turn; the rest starts right there and ends with the endpoint.
        assert_eq!(f[0].1, (31 + 5 + 94 + 5) * CHUNK);
        assert!(!f[0].2);
        assert_eq!(f[1].0, f[0].0 + f[0].1 as u64);
        assert!(f[1].2);
        assert!(!s.in_speech());
        let started = events.iter().filter(|e| matches!(e, SegmentEvent::SpeechStarted { .. })).count();
        assert_eq!(started, 2);
    }

    #[test]
    fn without_split_pause_or_below_it_speech_stays_one_utterance() {
        let pattern = [(0.9, 100), (0.0, 5), (0.9, 31), (0.0, 20)];
        let (_, events) = run(SegmenterConfig::default(), &pattern);
        assert_eq!(finals(&events).len(), 1);
        let config = SegmenterConfig { split_pause_ms: Some(200), ..Default::default() };
        let (_, events) = run(config, &pattern);
        assert_eq!(finals(&events).len(), 1, "a 160 ms pause is below a 200 ms split pause");
    }

    #[test]
    fn commit_cuts_at_the_quietest_chunk_near_the_point_and_keeps_the_rest_open() {
        let config = SegmenterConfig { partial_every_ms: None, ..Default::default() };
        // 4 s of speech with a dip at chunk 60, then more speech.
        let (mut s, events) = run(config, &[(0.9, 60), (0.55, 1), (0.9, 64)]);
        assert!(finals(&events).is_empty());
        // Whisper said a segment ends at chunk 62: the cut moves to the dip, two chunks earlier.
        let head = s.commit(0, 62 * CHUNK).expect("utterance 0 is open");
        assert_eq!((head.id, head.start, head.audio.len()), (0, 0, 60 * CHUNK));
        assert!(s.commit(0, 62 * CHUNK).is_none(), "utterance 0 is no longer open");
        // The rest is utterance 1, from the cut on, and ends with the endpoint.
        let mut rest = Vec::new();
        for _ in 0..20 {
            rest.extend(s.push(&[0.0; CHUNK], &[0.0]));
        }
        let f = finals(&rest);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, 60 * CHUNK as u64);
        assert!(f[0].2);
        // Too close to either end of what is open: no cut.
        let (mut s, _) = run(config, &[(0.9, 40)]);
        assert!(s.commit(0, 5 * CHUNK).is_none());
        assert!(s.commit(0, 38 * CHUNK).is_none());
        assert!(s.commit(0, 20 * CHUNK).is_some());
    }

    #[test]
    fn blips_are_dropped_and_flush_finalizes_what_is_open() {
        let (_, events) = run(SegmenterConfig::default(), &[(0.9, 3), (0.0, 40)]);
        assert!(finals(&events).is_empty(), "a 96 ms blip is not an utterance");
        let (mut s, _) = run(SegmenterConfig::default(), &[(0.9, 20)]);
        let flushed = s.flush();
        let f = finals(&flushed);
        assert_eq!(f.len(), 1);
        assert!(!f[0].2);
        assert!(s.flush().is_empty());
    }

    #[test]
    fn endpointing_off_waits_for_flush() {
        let config = SegmenterConfig { endpointing_ms: None, ..Default::default() };
        let (mut s, events) = run(config, &[(0.9, 30), (0.0, 100)]);
        assert!(finals(&events).is_empty());
        assert_eq!(finals(&s.flush()).len(), 1);
    }
}
