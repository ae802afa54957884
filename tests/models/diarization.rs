//! The streaming diarization pipeline on the pyannote sample (two speakers, 30 s): Silero VAD →
//! the live `UtteranceSegmenter` → `SpeakerTracker` per final utterance → `recluster`, scored
//! against the sample's RTTM, as `examples/der_eval.rs` does. Needs `models/fetch.sh` (the
//! sample, the ONNX Runtime library, Silero VAD, `speaker/resemblyzer.onnx`); without them the
//! tests say so and pass, unless `DDALKKAK_REQUIRE_MODELS=1` (set by CI).

use std::sync::Mutex;

use crate::common::{model_paths as paths, require_models};
use ddalkkak::audio;
use ddalkkak::inference::diarize::{
    ReclusterConfig, SpeakerEncoder, SpeakerTracker, SpeakerTurn, TrackerConfig, VOICE_MATCH_THRESHOLD,
    cosine_similarity, match_voices, recluster, speaker_for_span, speaker_labels, speech_embedding,
};
use ddalkkak::inference::vad::{CHUNK, SileroVad};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::session::{SegmentEvent, SegmenterConfig, UtteranceSegmenter};
use ddalkkak_eval::der::{RttmTurn, diarization_error, parse_rttm};

struct Models {
    vad: SileroVad,
    encoder: SpeakerEncoder,
    audio: Vec<f32>,
    reference: Vec<RttmTurn>,
}

static MODELS: Mutex<Option<Models>> = Mutex::new(None);

/// Runs `f` with the models and the sample, or skips (see the module documentation).
fn with_models<R>(f: impl FnOnce(&mut Models) -> R) -> Option<R> {
    let mut guard = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let paths = paths();
        let wav = paths.root.join("testdata/pyannote_sample.wav");
        let rttm = paths.root.join("testdata/pyannote_sample.rttm");
        if !(paths.has_speaker() && paths.vad().exists() && wav.exists() && rttm.exists()) {
            assert!(!require_models(), "models missing in {} (run models/fetch.sh)", paths.root.display());
            eprintln!("speaker/VAD models or the pyannote sample not fetched: test skipped (run models/fetch.sh)");
            return None;
        }
        let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: 2 }).unwrap();
        *guard = Some(Models {
            vad: SileroVad::load(&runtime, &paths.vad()).unwrap(),
            encoder: SpeakerEncoder::load(&runtime, &paths.speaker()).unwrap(),
            audio: audio::load_16k_mono(&wav).unwrap(),
            reference: parse_rttm(&std::fs::read_to_string(rttm).unwrap(), None),
        });
    }
    Some(f(guard.as_mut().unwrap()))
}

fn rttm(turns: &[SpeakerTurn]) -> Vec<RttmTurn> {
    turns.iter().map(|t| RttmTurn { start: t.start_s(), end: t.end_s(), speaker: t.speaker.to_string() }).collect()
}

/// The sample through the live pipeline: Silero VAD → segmenter → tracker per final utterance.
/// Returns the live turns and the tracker (with its history).
fn track(m: &mut Models) -> (Vec<SpeakerTurn>, SpeakerTracker) {
    m.vad.reset();
    let mut segmenter = UtteranceSegmenter::new(SegmenterConfig { partial_every_ms: None, ..Default::default() });
    let mut tracker = SpeakerTracker::new(TrackerConfig::default());
    let mut live = Vec::new();
    let mut events = Vec::new();
    for chunk in m.audio.chunks(CHUNK) {
        let mut chunk = chunk.to_vec();
        chunk.resize(CHUNK, 0.0);
        let p = m.vad.probability(&chunk).unwrap();
        events.extend(segmenter.push(&chunk, &[p]));
    }
    events.extend(segmenter.flush());
    for e in events {
        if let SegmentEvent::Final { utterance, .. } = e {
            let turns = tracker.observe(&mut m.encoder, utterance.start, &utterance.audio).unwrap();
            // The turns cover the utterance exactly, without gaps.
            assert_eq!(turns.first().unwrap().start, utterance.start);
            assert_eq!(turns.last().unwrap().end, utterance.start + utterance.audio.len() as u64);
            assert!(turns.windows(2).all(|w| w[0].end == w[1].start && w[0].speaker != w[1].speaker));
            live.extend(turns);
        }
    }
    (live, tracker)
}

#[test]
fn live_pipeline_finds_two_speakers_with_low_der() {
    with_models(|m| {
        let (live, tracker) = track(m);
        let reclustered = recluster(tracker.history(), &ReclusterConfig::default());
        let live_der = diarization_error(&m.reference, &rttm(&live), 0.25).der();
        let der = diarization_error(&m.reference, &rttm(&reclustered.turns), 0.25).der();
        let strict = diarization_error(&m.reference, &rttm(&reclustered.turns), 0.0).der();
        eprintln!(
            "pyannote sample: live DER {:.1}% ({} speakers), after re-clustering {:.1}% (collar 0: {:.1}%, {} speakers)",
            100.0 * live_der,
            tracker.speaker_count(),
            100.0 * der,
            100.0 * strict,
            reclustered.speakers
        );
        assert_eq!(reclustered.speakers, 2);
        assert!(live_der < 0.25, "live DER {live_der}");
        assert!(der < 0.15, "DER after re-clustering {der}");
        assert!(strict < 0.30, "DER after re-clustering, no collar {strict}");
        let labels = speaker_labels(&reclustered.turns);
        assert_eq!(labels.as_array().unwrap().len(), 2);
        for row in labels.as_array().unwrap() {
            assert_eq!(row["label"], format!("Speaker {}", row["speaker"].as_u64().unwrap() + 1));
            assert!(row["total_seconds"].as_f64().unwrap() > 5.0, "{labels}");
        }
    });
}

#[test]
fn a_returning_speaker_keeps_its_label() {
    with_models(|m| {
        // Single-speaker stretches of the sample's RTTM: A, B, A again, B again.
        let stretches = [(10.6, 14.4), (14.8, 17.9), (18.7, 21.4), (21.9, 27.8)];
        let mut tracker = SpeakerTracker::new(TrackerConfig::default());
        let mut speakers = Vec::new();
        for (a, b) in stretches {
            let (start, end) = ((a * 16_000.0) as usize, (b * 16_000.0) as usize);
            let turns = tracker.observe(&mut m.encoder, start as u64, &m.audio[start..end]).unwrap();
            speakers.push(speaker_for_span(&turns, start as u64, end as u64).unwrap());
        }
        eprintln!("speakers of A, B, A, B: {speakers:?}");
        assert_eq!(speakers[0], speakers[2]);
        assert_eq!(speakers[1], speakers[3]);
        assert_ne!(speakers[0], speakers[1]);
        assert_eq!(tracker.speaker_count(), 2);
    });
}

/// Enrolled voices against the meeting's speakers, the figures `VOICE_MATCH_THRESHOLD` rests on:
/// each person's voiceprint from ~9 s of their speech (cut by the sample's reference), compared
/// with the centroids of the re-clustered meeting (their own voice and the other's), with their
/// own speech elsewhere in the call, and with two Korean recordings (other people, other rooms).
#[test]
fn enrolled_voices_match_their_speaker_and_not_the_other() {
    with_models(|m| {
        let config = TrackerConfig::default();
        let cut = |audio: &[f32], spans: &[(f64, f64)]| -> Vec<f32> {
            spans.iter().flat_map(|&(a, b)| audio[(a * 16_000.0) as usize..(b * 16_000.0) as usize].to_vec()).collect()
        };
        // From the sample's STM: Diane (the first voice heard) and Sheila.
        let diane = cut(&m.audio, &[(8.44, 9.80), (10.78, 14.18), (17.79, 21.47)]);
        let sheila = cut(&m.audio, &[(14.44, 17.77), (21.94, 28.42)]);
        let diane_later = cut(&m.audio, &[(6.68, 7.16), (28.45, 29.98)]);
        let mut print = |audio: &[f32]| speech_embedding(&mut m.encoder, &config, audio).unwrap().unwrap();
        let (diane_print, sheila_print, diane_later) = (print(&diane), print(&sheila), print(&diane_later));
        // Held out: each voice in two disjoint parts (~7 s and ~3 s), against each other and the other voice.
        let diane_a = print(&cut(&m.audio, &[(10.78, 14.18), (17.79, 21.47)]));
        let diane_b = print(&cut(&m.audio, &[(6.68, 7.16), (8.44, 9.80), (28.45, 29.98)]));
        let sheila_a = print(&cut(&m.audio, &[(21.94, 28.42)]));
        let sheila_b = print(&cut(&m.audio, &[(7.63, 8.16), (9.84, 10.78), (14.44, 17.77)]));
        let held_out = [
            ("Diane part A, Diane part B", cosine_similarity(&diane_a, &diane_b)),
            ("Sheila part A, Sheila part B", cosine_similarity(&sheila_a, &sheila_b)),
            ("Diane part A, Sheila part B", cosine_similarity(&diane_a, &sheila_b)),
            ("Sheila part A, Diane part B", cosine_similarity(&sheila_a, &diane_b)),
            ("Diane part A, Sheila part A", cosine_similarity(&diane_a, &sheila_a)),
        ];
        for (what, value) in held_out {
            eprintln!("voiceprint similarity, held out, {what}: {value:.3}");
        }
        let korean_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/korean");
        let strangers: Vec<Vec<f32>> = ["azure_test_audio.flac", "picovoice_test_ko.flac"]
            .iter()
            .map(|f| print(&audio::load_16k_mono(&korean_dir.join(f)).unwrap()))
            .collect();

        let (_, tracker) = track(m);
        let reclustered = recluster(tracker.history(), &ReclusterConfig::default());
        assert_eq!(reclustered.centroids.len(), 2);
        // Which re-clustered speaker is Diane: the one holding most of her reference time.
        let at = |s: f64| (s * 16_000.0) as u64;
        let diane_speaker = speaker_for_span(&reclustered.turns, at(10.78), at(14.18)).unwrap();
        let sheila_speaker = speaker_for_span(&reclustered.turns, at(21.94), at(28.42)).unwrap();
        assert_ne!(diane_speaker, sheila_speaker);
        let sim = |a: &[f32], b: &[f32]| cosine_similarity(a, b);
        let c = &reclustered.centroids;
        let figures = [
            ("Diane's print, Diane's speaker", sim(&diane_print, &c[&diane_speaker])),
            ("Sheila's print, Sheila's speaker", sim(&sheila_print, &c[&sheila_speaker])),
            ("Diane's print, her other speech", sim(&diane_print, &diane_later)),
            ("Diane's print, Sheila's speaker", sim(&diane_print, &c[&sheila_speaker])),
            ("Sheila's print, Diane's speaker", sim(&sheila_print, &c[&diane_speaker])),
            ("Diane's print, Sheila's print", sim(&diane_print, &sheila_print)),
        ];
        let stranger_max =
            strangers.iter().flat_map(|s| c.values().map(move |centroid| sim(s, centroid))).fold(f32::MIN, f32::max);
        for (what, value) in figures {
            eprintln!("voiceprint similarity, {what}: {value:.3}");
        }
        eprintln!("voiceprint similarity, Korean strangers vs either speaker, highest: {stranger_max:.3}");
        assert!(figures[0].1 >= VOICE_MATCH_THRESHOLD && figures[1].1 >= VOICE_MATCH_THRESHOLD, "{figures:?}");
        assert!(figures[3].1 < VOICE_MATCH_THRESHOLD && figures[4].1 < VOICE_MATCH_THRESHOLD, "{figures:?}");
        assert!(stranger_max < VOICE_MATCH_THRESHOLD);

        // Matching names each speaker with their own voice, and a stranger with nobody.
        let voices = vec![sheila_print.clone(), diane_print.clone(), strangers[0].clone()];
        let found: Vec<(u32, usize)> =
            match_voices(c, &voices, VOICE_MATCH_THRESHOLD).iter().map(|m| (m.speaker, m.voice)).collect();
        let mut expected = vec![(sheila_speaker, 0), (diane_speaker, 1)];
        expected.sort();
        assert_eq!(found, expected);
        let only_diane = match_voices(c, &voices[1..2], VOICE_MATCH_THRESHOLD);
        assert_eq!(only_diane.iter().map(|m| m.speaker).collect::<Vec<_>>(), [diane_speaker]);
    });
}
