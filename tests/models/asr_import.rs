//! `models import` of faster-whisper directories in the shapes no registry carries: large-v3
//! (128 mel bins, the 51866-token vocabulary whose `<|yue|>` shifts the later special ids) and
//! large-v3-turbo (a 4-layer decoder under a deeper encoder), as narrow random-weight models that
//! `scripts/setup.sh --tests` writes (`models/make_random_whisper.py`, deterministic).
//!
//! Random weights give no meaningful text, so the check is token for token: our ONNX pipeline
//! (import = the project's converter, then the Rust decoder) must produce the ids faster-whisper
//! produced on the same weights, recorded with `models/fw_reference_tokens.py` in
//! `tests/fixtures/random_whisper/<shape>.json` (with the command and the weights' sha256). Then
//! the imported model is served by name next to tiny.en, as `--asr-models tiny.en,<name>` does.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ddalkkak::audio;
use ddalkkak::auth::VoiceprintCipher;
use ddalkkak::commands::ModelPaths;
use ddalkkak::commands::import_whisper::{ImportOptions, Imported, import_whisper};
use ddalkkak::commands::live::{LiveSetup, start_live};
use ddalkkak::inference::asr::{DecodeContext, DecodeOptions, LanguageChoice, Precision, Transcriber};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::session::{CaptionHub, LiveConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Reference {
    model_bin_sha256: String,
    n_mels: usize,
    audio: String,
    audio_samples: usize,
    options: RefOptions,
    windows: Vec<RefWindow>,
    command: String,
}

#[derive(Deserialize)]
struct RefOptions {
    language: String,
}

#[derive(Deserialize)]
struct RefWindow {
    tokens: Vec<u32>,
}

fn reference(shape: &str) -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/random_whisper/{shape}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The fetched models and the generated CT2 directory of `shape`; `None` (a skip) without them
/// unless CI requires models.
fn source(shape: &str) -> Option<(ModelPaths, PathBuf)> {
    let paths = common::models()?;
    let dir = paths.root.join("testdata/random-whisper").join(shape);
    if !dir.join("model.bin").exists() || !paths.root.join(".venv/bin/python").exists() {
        assert!(!common::require_models(), "{} missing: run scripts/setup.sh --tests", dir.display());
        eprintln!("{} not generated: skipped (scripts/setup.sh --tests)", dir.display());
        return None;
    }
    Some((paths, dir))
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// A models directory of its own, with the fetched runtime and VAD linked in, so the import
/// lands where `--models-dir <it> --asr-models <name>` looks.
fn scratch_models(fetched: &ModelPaths) -> (tempfile::TempDir, ModelPaths) {
    let dir = tempfile::tempdir().unwrap();
    for linked in ["lib", "vad", "whisper-tiny.en"] {
        std::os::unix::fs::symlink(std::fs::canonicalize(fetched.root.join(linked)).unwrap(), dir.path().join(linked))
            .unwrap();
    }
    let paths = ModelPaths::new(dir.path());
    (dir, paths)
}

fn import(fetched: &ModelPaths, into: &ModelPaths, source: &Path, name: &str) -> Imported {
    let options = ImportOptions {
        source: source.to_owned(),
        name: Some(name.to_owned()),
        int8: false,
        force: false,
        python: Some(fetched.root.join(".venv/bin/python")),
        converter: Some(fetched.root.join("convert_whisper.py")),
    };
    import_whisper(into, &options).unwrap()
}

/// The options `fw_reference_tokens.py` gives faster-whisper: greedy, no fallback, no window
/// judged silent, no conditioning, language forced.
fn reference_options(language: &str) -> DecodeOptions {
    DecodeOptions {
        beam_size: 1,
        temperatures: vec![0.0],
        compression_ratio_threshold: None,
        log_prob_threshold: None,
        no_speech_threshold: None,
        condition_on_previous_text: false,
        without_timestamps: true,
        language: Some(language.to_owned()),
        ..DecodeOptions::default()
    }
}

fn imported_shape_decodes_as_faster_whisper(shape: &str, encoder_layers: usize, decoder_layers: usize) {
    let Some((fetched, source)) = source(shape) else { return };
    check_import(&fetched, &source, shape, reference(shape), (encoder_layers, decoder_layers));
}

/// Imports `source` as `<shape>-random`, checks its shape, and decodes the reference audio.
fn check_import(fetched: &ModelPaths, source: &Path, shape: &str, reference: Reference, layers: (usize, usize)) {
    assert_eq!(
        sha256(&source.join("model.bin")),
        reference.model_bin_sha256,
        "{shape}: these weights are not the ones the reference was recorded on (re-record with: {})",
        reference.command
    );
    let (_dir, scratch) = scratch_models(fetched);
    let name = format!("{shape}-random");
    let started = Instant::now();
    let imported = import(fetched, &scratch, source, &name);
    eprintln!(
        "{}
(import took {:.1} s)",
        imported.report(),
        started.elapsed().as_secs_f32()
    );
    assert_eq!(imported.dir, scratch.whisper(&name));
    assert!(scratch.has_whisper(&name), "the import is where --asr-models {name} looks");
    assert_eq!((imported.n_mels, imported.vocab), (128, 51866));
    assert_eq!((imported.encoder_layers, imported.decoder_layers), layers);
    assert_eq!(imported.languages.len(), 100, "large-v3 knows 100 languages, yue among them");

    let runtime = OrtRuntime::load(&fetched.ort_library(), Threads::default()).unwrap();
    let mut transcriber = Transcriber::load(&runtime, &scratch.whisper(&name), Precision::Fp32).unwrap();
    assert!(transcriber.languages().iter().any(|l| l == "yue"));
    let audio = audio::load_16k_mono(&fetched.root.join("testdata").join(&reference.audio)).unwrap();
    assert_eq!(audio.len(), reference.audio_samples);
    assert_eq!(reference.n_mels, 128, "faster-whisper read 128 mel bins from preprocessor_config.json");
    let started = Instant::now();
    let segments = transcriber.transcribe(&audio, &reference_options(&reference.options.language), |_, _| {}).unwrap();
    let seconds = started.elapsed().as_secs_f32();
    let ours: Vec<Vec<u32>> = segments.into_iter().map(|s| s.tokens).collect();
    let theirs: Vec<Vec<u32>> = reference.windows.into_iter().map(|w| w.tokens).collect();
    let total: usize = theirs.iter().map(Vec::len).sum();
    eprintln!("{shape}: faster-whisper {total} tokens in {} segment(s); ours in {seconds:.1} s", theirs.len());
    assert!(total >= 50, "too few tokens to compare: {total}");
    assert_eq!(ours, theirs, "{shape}: token ids differ from faster-whisper's");
}

#[test]
fn large_v3_shape_decodes_token_for_token_as_faster_whisper() {
    imported_shape_decodes_as_faster_whisper("large-v3-tiny", 2, 2);
}

#[test]
fn large_v3_turbo_shape_decodes_token_for_token_as_faster_whisper() {
    imported_shape_decodes_as_faster_whisper("large-v3-turbo-tiny", 8, 4);
}

/// The full-size shapes (1.55 G and 0.81 G parameters): too large to generate in CI, run by hand.
/// `DDALKKAK_FULL_SIZE_WHISPER=DIR` holds `large-v3/` and/or `large-v3-turbo/`, written by
/// `make_random_whisper.py --shape large-v3[-turbo]` (deterministic: the references in
/// tests/fixtures/random_whisper/ check the sha256); the commands are in each reference.
#[test]
#[ignore = "needs DDALKKAK_FULL_SIZE_WHISPER: full-size random models (3.1 GB), minutes to convert"]
fn full_size_shapes_decode_token_for_token_as_faster_whisper() {
    let Some(paths) = common::models() else { return };
    let dir = PathBuf::from(std::env::var("DDALKKAK_FULL_SIZE_WHISPER").expect("DDALKKAK_FULL_SIZE_WHISPER"));
    let mut checked = 0;
    for (shape, layers) in [("large-v3-turbo", (32, 4)), ("large-v3", (32, 32))] {
        if !dir.join(shape).join("model.bin").exists() {
            eprintln!("{shape}: not in {}", dir.display());
            continue;
        }
        check_import(&paths, &dir.join(shape), shape, reference(shape), layers);
        checked += 1;
    }
    assert!(checked > 0, "no full-size model in {}", dir.display());
}

/// `--asr-models tiny.en,<imported>`: the live service loads the imported model by name, with
/// its own languages (Cantonese only through it), and transcribes an utterance with it.
#[tokio::test]
async fn imported_model_is_served_by_name_next_to_tiny_en() {
    let Some((fetched, source)) = source("large-v3-turbo-tiny") else { return };
    let _heavy = common::heavy().await;
    let (_dir, scratch) = scratch_models(&fetched);
    let name = "turbo-random";
    let (f, s, src) = (fetched.clone(), scratch.clone(), source.clone());
    tokio::task::spawn_blocking(move || import(&f, &s, &src, name)).await.unwrap();

    let db = common::sqlite().await;
    let config = LiveConfig { models: vec!["tiny.en".into(), name.into()], ..LiveConfig::default() };
    let setup = LiveSetup {
        models_dir: scratch.root.clone(),
        precision: Precision::Fp32,
        asr_workers: 1,
        config,
        stand_ins: None,
    };
    setup.require_models().unwrap();
    let shutdown = CancellationToken::new();
    let cipher = VoiceprintCipher::new(&common::TEST_KEY);
    let live = start_live(setup, db.store.clone(), cipher, Arc::new(CaptionHub::default()), None, shutdown.clone())
        .await
        .unwrap();
    let served: Vec<(&str, usize)> =
        live.service.models.iter().map(|m| (m.name.as_str(), m.languages().len())).collect();
    assert_eq!(served, [("tiny.en", 1), (name, 100)]);
    let turbo = &live.service.models[1];
    assert!(turbo.languages().iter().any(|l| l == "yue") && !turbo.english_only());

    let audio = audio::load_16k_mono(&fetched.root.join("testdata/pyannote_sample.wav")).unwrap();
    let utterance = audio[16_000..16_000 * 6].to_vec();
    let pending = turbo.asr.submit(utterance, DecodeContext::new(LanguageChoice::Fixed("yue".into()))).await.unwrap();
    let text = pending.await.unwrap().unwrap();
    assert_eq!(text.language.as_deref(), Some("yue"));
    let tokens: usize = text.segments.iter().map(|s| s.tokens.len()).sum();
    eprintln!("served {name}: {tokens} tokens");
    shutdown.cancel();
}
