//! The speaker encoder against its reference (`tests/fixtures/speaker_reference.json`, written by
//! `models/make_speaker_fixture.py` from Resemblyzer's own front end and partial-window code and a
//! numpy re-implementation of its PyTorch forward on the original weights), and a sanity check
//! on the two speakers of the pyannote sample. Needs `models/fetch.sh` (the sample, the ONNX
//! Runtime library, `speaker/resemblyzer.onnx`); without them the tests say so and pass, unless
//! `DDALKKAK_REQUIRE_MODELS=1` (set by CI).

use std::sync::Mutex;
use std::time::Instant;

use ddalkkak::audio;
use ddalkkak::commands::ModelPaths;
use ddalkkak::inference::diarize::{
    MelFrame, PARTIAL_FRAMES, SpeakerEncoder, SpeakerMel, cosine_similarity, partial_slices,
};
use ddalkkak::inference::{OrtRuntime, Threads};
use serde_json::Value;

use crate::common::{model_paths as paths, require_models};

fn skip(what: &str) -> Option<ModelPaths> {
    assert!(!require_models(), "{what} missing in {} (run models/fetch.sh)", paths().root.display());
    eprintln!("{what} not fetched: test skipped (run models/fetch.sh)");
    None
}

/// The pyannote sample (16 kHz mono) when fetched.
fn sample() -> Option<Vec<f32>> {
    let wav = paths().root.join("testdata/pyannote_sample.wav");
    if !wav.exists() {
        skip("testdata/pyannote_sample.wav")?;
    }
    Some(audio::load_16k_mono(&wav).unwrap())
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/speaker_reference.json")).expect("fixture parses")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The fixture's stretch of the sample, checked to be the same samples Python read.
fn fixture_audio(fx: &Value) -> Option<Vec<f32>> {
    let audio = sample()?;
    let range = floats(&fx["sample_range"]);
    let clip = audio[range[0] as usize..range[1] as usize].to_vec();
    let sum: f64 = clip.iter().map(|&x| x as f64).sum();
    assert!((sum - fx["samples_sum"].as_f64().unwrap()).abs() < 1e-6, "decoded samples differ: sum {sum}");
    Some(clip)
}

static ENCODER: Mutex<Option<SpeakerEncoder>> = Mutex::new(None);

fn with_encoder<R>(f: impl FnOnce(&mut SpeakerEncoder) -> R) -> Option<R> {
    let mut guard = ENCODER.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let paths = paths();
        if !paths.has_speaker() {
            skip("speaker/resemblyzer.onnx")?;
        }
        let runtime = OrtRuntime::load(&paths.ort_library(), Threads::default()).unwrap();
        *guard = Some(SpeakerEncoder::load(&runtime, &paths.speaker()).unwrap());
    }
    Some(f(guard.as_mut().unwrap()))
}

#[test]
fn mel_frames_match_librosa() {
    let fx = fixture();
    let Some(clip) = fixture_audio(&fx) else { return };
    let mut padded = clip.clone();
    padded.resize(fx["padded_samples"].as_u64().unwrap() as usize, 0.0);
    let mel = SpeakerMel::new().compute(&padded);
    assert_eq!(mel.len() as u64, fx["mel_frames_total"].as_u64().unwrap());

    let (mut max_rel, mut max_rel_to_peak) = (0f64, 0f64);
    for (frame, values) in fx["mel_frames"].as_object().unwrap() {
        let reference = floats(values);
        let ours = &mel[frame.parse::<usize>().unwrap()];
        let peak = reference.iter().copied().fold(0f32, f32::max) as f64;
        for (&a, &b) in ours.iter().zip(&reference) {
            let (a, b) = (a as f64, b as f64);
            max_rel = max_rel.max((a - b).abs() / b);
            max_rel_to_peak = max_rel_to_peak.max((a - b).abs() / peak);
        }
    }
    eprintln!(
        "mel vs librosa ({} frames x 40 bands): max relative error {max_rel:.2e}, max error / frame peak \
         {max_rel_to_peak:.2e}",
        fx["mel_frames"].as_object().unwrap().len()
    );
    // librosa computes in float32 (rounding ~1e-7 of the frame's peak); we compute in f64.
    assert!(max_rel < 1e-5, "max relative error {max_rel}");
    assert!(max_rel_to_peak < 1e-6, "max error / peak {max_rel_to_peak}");
}

#[test]
fn utterance_embedding_matches_resemblyzer() {
    let fx = fixture();
    let Some(clip) = fixture_audio(&fx) else { return };
    with_encoder(|enc| {
        let u = enc.embed_utterance_partials(&clip, fx["rate"].as_f64().unwrap(), fx["min_coverage"].as_f64().unwrap());
        let u = u.unwrap().expect("speech has an embedding");
        let slices: Vec<Vec<usize>> = u.slices.iter().map(|s| vec![s.start, s.end]).collect();
        assert_eq!(serde_json::to_value(&slices).unwrap(), fx["mel_slices"]);

        let compare = |name: &str, ours: &[f32], reference: &[f32]| {
            let cos = cosine_similarity(ours, reference);
            let diff = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            eprintln!("{name}: cosine {cos:.7}, max |diff| {diff:.2e}");
            assert!(cos > 0.999 && diff < 1e-3, "{name}: cosine {cos}, max |diff| {diff}");
            diff
        };
        let reference = floats(&fx["embedding"]);
        compare("utterance embedding", &u.embedding, &reference);
        let partials = fx["partial_embeddings"].as_array().unwrap();
        assert_eq!(partials.len(), u.partials.len());
        let worst =
            u.partials.iter().zip(partials).map(|(p, r)| compare("partial", p, &floats(r))).fold(0f32, f32::max);
        eprintln!("worst partial max |diff| {worst:.2e}");

        // The plain API gives the same embedding.
        assert_eq!(enc.embed_utterance(&clip).unwrap().unwrap(), u.embedding);
    });
}

#[test]
fn batched_windows_equal_single_windows() {
    let Some(audio) = sample() else { return };
    with_encoder(|enc| {
        let mel = enc.mel().compute(&audio[16_000 * 7..16_000 * 12]);
        let windows: Vec<&[MelFrame]> = vec![
            &mel[0..PARTIAL_FRAMES],
            &mel[40..40 + PARTIAL_FRAMES],
            &mel[100..180],
            &mel[200..200 + PARTIAL_FRAMES],
        ];
        let batched = enc.embed_windows(&windows).unwrap();
        for (w, b) in windows.iter().zip(&batched) {
            let single = enc.embed_frames(w).unwrap();
            let diff = single.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-5, "batched vs single: {diff}");
            let norm: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5 && b.iter().all(|&x| x >= 0.0));
        }
        assert!(enc.embed_windows(&[&mel[0..0]]).is_err());
        assert!(enc.embed_utterance(&[]).unwrap().is_none());
    });
}

/// Single-speaker stretches of the sample from its RTTM: each speaker's turns minus everyone
/// else's, as (speaker, start s, end s).
fn clean_turns(rttm: &str) -> Vec<(String, f64, f64)> {
    let turns: Vec<(String, f64, f64)> = rttm
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (start, dur): (f64, f64) = (f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?);
            Some((f.get(7)?.to_string(), start, start + dur))
        })
        .collect();
    let mut clean = Vec::new();
    for (who, start, end) in &turns {
        let mut pieces = vec![(*start, *end)];
        for (other, s, e) in &turns {
            if other == who {
                continue;
            }
            pieces =
                pieces.into_iter().flat_map(|(a, b)| [(a, b.min(*s)), (a.max(*e), b)]).filter(|(a, b)| b > a).collect();
        }
        clean.extend(pieces.into_iter().map(|(a, b)| (who.clone(), a, b)));
    }
    clean
}

#[test]
fn same_speaker_windows_are_closer_than_other_speaker_windows() {
    let Some(audio) = sample() else { return };
    let rttm = std::fs::read_to_string(paths().root.join("testdata/pyannote_sample.rttm")).unwrap();
    with_encoder(|enc| {
        let mel = enc.mel().compute(&audio);
        // 1.6 s windows every 0.4 s inside each single-speaker stretch (frame = 10 ms).
        let mut windows: Vec<(String, usize)> = Vec::new();
        for (who, start, end) in clean_turns(&rttm) {
            let (first, last) = ((start * 100.0).ceil() as usize, (end * 100.0).floor() as usize);
            let mut at = first;
            while at + PARTIAL_FRAMES <= last.min(mel.len()) {
                windows.push((who.clone(), at));
                at += 40;
            }
        }
        let frames: Vec<&[MelFrame]> = windows.iter().map(|(_, at)| &mel[*at..*at + PARTIAL_FRAMES]).collect();
        let embeddings = enc.embed_windows(&frames).unwrap();
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for i in 0..windows.len() {
            for j in i + 1..windows.len() {
                // Overlapping windows of one turn are trivially similar: compare only windows
                // at least 1.6 s apart.
                if windows[i].1.abs_diff(windows[j].1) < PARTIAL_FRAMES {
                    continue;
                }
                let c = cosine_similarity(&embeddings[i], &embeddings[j]) as f64;
                if windows[i].0 == windows[j].0 { same.push(c) } else { other.push(c) }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let speakers: Vec<&String> = windows.iter().map(|(w, _)| w).collect();
        // Nearest-centroid check: each window against the mean embedding of each speaker's
        // other windows.
        let mut correct = 0;
        for (i, (who, _)) in windows.iter().enumerate() {
            let score = |name: &String| {
                let members: Vec<usize> = (0..windows.len()).filter(|&j| j != i && &windows[j].0 == name).collect();
                let mut centroid = vec![0f32; embeddings[0].len()];
                for &j in &members {
                    centroid.iter_mut().zip(&embeddings[j]).for_each(|(c, e)| *c += e);
                }
                cosine_similarity(&embeddings[i], &centroid)
            };
            let mut names: Vec<&String> = speakers.clone();
            names.sort();
            names.dedup();
            let best = names.into_iter().max_by(|a, b| score(a).total_cmp(&score(b))).unwrap();
            correct += usize::from(best == who);
        }
        eprintln!(
            "{} windows: same-speaker cosine mean {:.3} ({} pairs), other-speaker {:.3} ({} pairs); \
             nearest centroid {correct}/{}",
            windows.len(),
            mean(&same),
            same.len(),
            mean(&other),
            other.len(),
            windows.len()
        );
        assert!(windows.len() >= 20 && !same.is_empty() && !other.is_empty());
        assert!(mean(&same) > mean(&other) + 0.05, "same {} vs other {}", mean(&same), mean(&other));
        assert!(correct * 10 >= windows.len() * 8, "nearest centroid {correct}/{}", windows.len());
    });
}

#[test]
fn timing_of_one_and_ten_windows() {
    let Some(audio) = sample() else { return };
    with_encoder(|enc| {
        let mel = enc.mel().compute(&audio[..16_000 * 20]);
        let windows: Vec<&[MelFrame]> = (0..10).map(|i| &mel[i * 150..i * 150 + PARTIAL_FRAMES]).collect();
        let median = |f: &mut dyn FnMut()| {
            f();
            let mut t: Vec<f64> = (0..7)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            t.sort_by(f64::total_cmp);
            t[3]
        };
        let one = median(&mut || drop(enc.embed_frames(windows[0]).unwrap()));
        let ten = median(&mut || drop(enc.embed_windows(&windows).unwrap()));
        let mel_ms = median(&mut || drop(SpeakerMel::new().compute(&audio[..25_600])));
        let threads = Threads::default().intra_op;
        eprintln!(
            "speaker encoder ({threads} threads): one 1.6 s window {one:.1} ms, batch of 10 {ten:.1} ms; mel of 1.6 s {mel_ms:.2} ms"
        );
        // Resemblyzer's slicing of 20 s, for the record.
        eprintln!("20 s utterance: {} windows", partial_slices(320_000, 1.3, 0.75).len());
    });
}
