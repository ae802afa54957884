//! The streaming diarization pipeline on the pyannote sample (two speakers, 30 s): Silero VAD →
//! the live `UtteranceSegmenter` → `SpeakerTracker` per final utterance → `recluster`, scored
//! against the sample's RTTM, as `examples/der_eval.rs` does. Needs `models/fetch.sh` (the
//! sample, the ONNX Runtime library, Silero VAD, `speaker/resemblyzer.onnx`); without them the
//! tests say so and pass, unless `DDALKKAK_REQUIRE_MODELS=1` (set by CI).

use std::sync::Mutex;

use crate::common::{model_paths as paths, require_models};
use ddalkkak::audio;
use ddalkkak::inference::diarize::{
    ReclusterConfig, SpeakerEncoder, SpeakerTracker, SpeakerTurn, TrackerConfig, recluster, speaker_for_span,
    speaker_labels,
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

#[test]
fn live_pipeline_finds_two_speakers_with_low_der() {
    with_models(|m| {
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
