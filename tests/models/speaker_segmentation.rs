//! The speaker segmentation model (pyannote segmentation-3.0) on the pyannote sample (two
//! speakers, 30 s, 0.5 s of overlapped speech in its RTTM): frame-level activity against the
//! reference, and the segmented end-of-meeting diarization (segmentation + Resemblyzer
//! embeddings + clustering) scored by DER, with its overlap turns. Needs `models/fetch.sh` (the
//! sample, the ONNX Runtime library, Silero VAD, `speaker/resemblyzer.onnx`,
//! `segmentation/segmentation-3.0.onnx`); without them the tests say so and pass, unless
//! `DDALKKAK_REQUIRE_MODELS=1` (set by CI).

use std::sync::Mutex;

use crate::common::{model_paths as paths, require_models};
use ddalkkak::audio;
use ddalkkak::inference::diarize::speaker_segmentation::{FRAME_SPAN, FRAME_STEP, WINDOW_SAMPLES};
use ddalkkak::inference::diarize::{
    ReclusterConfig, SegmentationConfig, SegmentedStream, SpeakerEncoder, SpeakerSegmentation, SpeakerTracker,
    SpeakerTurn, TrackerConfig, recluster,
};
use ddalkkak::inference::vad::{CHUNK, SileroVad};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::session::{SegmentEvent, SegmenterConfig, UtteranceSegmenter};
use ddalkkak_eval::der::{RttmTurn, diarization_error, parse_rttm};

struct Models {
    vad: SileroVad,
    encoder: SpeakerEncoder,
    segmentation: SpeakerSegmentation,
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
        if !(paths.has_speaker() && paths.has_segmentation() && paths.vad().exists() && wav.exists() && rttm.exists()) {
            assert!(!require_models(), "models missing in {} (run models/fetch.sh)", paths.root.display());
            eprintln!(
                "segmentation/speaker/VAD models or the pyannote sample not fetched: test skipped (run models/fetch.sh)"
            );
            return None;
        }
        let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: 2 }).unwrap();
        *guard = Some(Models {
            vad: SileroVad::load(&runtime, &paths.vad()).unwrap(),
            encoder: SpeakerEncoder::load(&runtime, &paths.speaker()).unwrap(),
            segmentation: SpeakerSegmentation::load(&runtime, &paths.segmentation()).unwrap(),
            audio: audio::load_16k_mono(&wav).unwrap(),
            reference: parse_rttm(&std::fs::read_to_string(rttm).unwrap(), None),
        });
    }
    Some(f(guard.as_mut().unwrap()))
}

/// Reference speakers at `t` seconds.
fn speaking_at(reference: &[RttmTurn], t: f64) -> Vec<&str> {
    let mut v: Vec<&str> = reference.iter().filter(|r| r.start <= t && t < r.end).map(|r| r.speaker.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Three windows that tile the sample (0–10, 10–20, 20–30 s): in each, the local speakers are
/// mapped to the reference speakers (the best of the 6 permutations over its frames) and every
/// frame compared: who speaks must be exactly the reference set. Also the count of speakers per
/// frame (0, 1, 2), which needs no mapping.
#[test]
fn frame_activity_matches_the_reference() {
    with_models(|m| {
        let windows: Vec<&[f32]> = m.audio.chunks(WINDOW_SAMPLES).collect();
        let frames = m.segmentation.segment(&windows).unwrap();
        let names = ["speaker90", "speaker91"];
        let (mut exact, mut counted, mut total) = (0usize, 0usize, 0usize);
        let mut overlap_found = 0usize;
        for (w, frames) in frames.iter().enumerate() {
            let time = |f: usize| (w * WINDOW_SAMPLES + f * FRAME_STEP + FRAME_SPAN / 2) as f64 / 16_000.0;
            let truth: Vec<Vec<&str>> = (0..frames.len()).map(|f| speaking_at(&m.reference, time(f))).collect();
            // Local speaker k plays reference speaker perm[k] (2 and "none" for the third slot).
            let perms = [[0, 1, 2], [1, 0, 2], [0, 2, 1], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
            let hits = |perm: &[usize; 3]| {
                frames
                    .iter()
                    .zip(&truth)
                    .filter(|(f, t)| {
                        let mut said: Vec<&str> =
                            (0..3).filter(|&k| f.speaks(k) && perm[k] < 2).map(|k| names[perm[k]]).collect();
                        said.sort_unstable();
                        let phantom = (0..3).any(|k| f.speaks(k) && perm[k] == 2);
                        !phantom && said == **t
                    })
                    .count()
            };
            exact += perms.iter().map(hits).max().unwrap();
            counted += frames.iter().zip(&truth).filter(|(f, t)| f.count() as usize == t.len()).count();
            overlap_found += frames.iter().zip(&truth).filter(|(f, t)| f.count() == 2 && t.len() == 2).count();
            total += frames.len();
        }
        let overlap_frames = (0..total)
            .filter(|&i| {
                let (w, f) = (i / frames[0].len(), i % frames[0].len());
                speaking_at(&m.reference, (w * WINDOW_SAMPLES + f * FRAME_STEP + FRAME_SPAN / 2) as f64 / 16_000.0)
                    .len()
                    == 2
            })
            .count();
        let (exact, counted) = (exact as f64 / total as f64, counted as f64 / total as f64);
        eprintln!(
            "segmentation-3.0 on the pyannote sample: {:.1}% of {total} frames with exactly the reference speakers \
             (best local-speaker mapping per 10 s window), {:.1}% with the right count; overlap: {overlap_found} of \
             {overlap_frames} reference frames found",
            100.0 * exact,
            100.0 * counted
        );
        assert!(exact > 0.90, "exact speakers per frame: {exact}");
        assert!(counted > 0.92, "speaker count per frame: {counted}");
    });
}

/// The sample through the live path (VAD → utterances) into a `SegmentedStream`: two speakers,
/// a low DER with overlap scored (clustering the local speakers' embeddings, and with the
/// re-clustered tracker's identities), dominant turns that do not overlap each other, and
/// overlapped speech only where another speaker holds the turn.
#[test]
fn segmented_diarization_of_the_sample() {
    with_models(|m| {
        m.vad.reset();
        let mut segmenter = UtteranceSegmenter::new(SegmenterConfig { partial_every_ms: None, ..Default::default() });
        let mut events = Vec::new();
        for chunk in m.audio.chunks(CHUNK) {
            let mut chunk = chunk.to_vec();
            chunk.resize(CHUNK, 0.0);
            let p = m.vad.probability(&chunk).unwrap();
            events.extend(segmenter.push(&chunk, &[p]));
        }
        events.extend(segmenter.flush());
        let mut stream = SegmentedStream::new(SegmentationConfig::default());
        let mut tracker = SpeakerTracker::new(TrackerConfig::default());
        for e in events {
            if let SegmentEvent::Final { utterance, .. } = e {
                tracker.observe(&mut m.encoder, utterance.start, &utterance.audio).unwrap();
                stream.push(&mut m.segmentation, &mut m.encoder, utterance.start, &utterance.audio).unwrap();
            }
        }
        stream.flush(&mut m.segmentation, &mut m.encoder).unwrap();
        let d = stream.diarize();
        let rttm = |turns: &[SpeakerTurn]| -> Vec<RttmTurn> {
            turns
                .iter()
                .map(|t| RttmTurn { start: t.start_s(), end: t.end_s(), speaker: t.speaker.to_string() })
                .collect()
        };
        let mut all = d.turns.clone();
        all.extend(&d.overlaps);
        let der = diarization_error(&m.reference, &rttm(&all), 0.25).der();
        let strict = diarization_error(&m.reference, &rttm(&all), 0.0).der();
        let without_overlap = diarization_error(&m.reference, &rttm(&d.turns), 0.0).der();
        let overlap_s: f64 = d.overlaps.iter().map(|t| t.end_s() - t.start_s()).sum();
        eprintln!(
            "segmented diarization of the pyannote sample: DER {:.1}% (collar 0: {:.1}%, {:.1}% without the overlap \
             turns), {} speakers, {} windows, {overlap_s:.2} s of overlap",
            100.0 * der,
            100.0 * strict,
            100.0 * without_overlap,
            d.speakers,
            stream.windows().len()
        );
        // The same segmentation with the identities of the re-clustered tracker windows.
        let r = recluster(tracker.history(), &ReclusterConfig::default());
        let guided = stream.diarize_with(&r.turns, &r.centroids);
        let mut guided_all = guided.turns.clone();
        guided_all.extend(&guided.overlaps);
        let guided_der = diarization_error(&m.reference, &rttm(&guided_all), 0.25).der();
        let recl_der = diarization_error(&m.reference, &rttm(&r.turns), 0.25).der();
        eprintln!(
            "with the re-clustered identities: DER {:.1}% ({} speakers); re-clustering alone {:.1}%",
            100.0 * guided_der,
            guided.speakers,
            100.0 * recl_der
        );
        assert_eq!(d.speakers, 2);
        assert!(der < 0.10, "DER {der}");
        assert_eq!(guided.speakers, 2);
        assert!(guided_der < 0.10, "DER with re-clustered identities {guided_der}");
        assert!(guided.centroids.keys().all(|s| r.centroids.contains_key(s)), "labels are the re-clustering's");
        assert!(d.turns.windows(2).all(|w| w[0].end <= w[1].start), "dominant turns overlap: {:?}", d.turns);
        // Every overlap turn lies where another speaker holds the dominant turn.
        for o in &d.overlaps {
            let covered: u64 = d
                .turns
                .iter()
                .filter(|t| t.speaker != o.speaker)
                .map(|t| t.end.min(o.end).saturating_sub(t.start.max(o.start)))
                .sum();
            assert_eq!(covered, o.end - o.start, "{o:?}");
        }
    });
}
