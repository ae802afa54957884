//! Accuracy and speed of our Whisper (ONNX Runtime) against faster-whisper (CTranslate2) on the
//! same weights, same audio, same decoding settings, in one run.
//!
//! ```sh
//! cargo run --release --example asr_parity -- [--model tiny.en] [--beam-size 1] [--threads 2]
//!     [--int8] [--trim-window] [--dev-audio ../shared/dev-audio]
//! ```
//! Without `--dev-audio` it uses the registry-fetched pyannote sample (models/testdata). With it,
//! every English clip of the developer set that has a human reference transcript. Needs
//! `models/fetch.sh --verify` (the faster-whisper venv) to have run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ddalkkak::audio;
use ddalkkak::commands::ModelPaths;
use ddalkkak::inference::asr::{DecodeOptions, EncoderWindow, Precision, Transcriber};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak_eval::wer::{errors, normalize};

struct Clip {
    path: PathBuf,
    reference: String,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn stm_text(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(6, ' ').nth(5).map(str::to_owned))
        .collect::<Vec<_>>()
        .join(" ")
}

/// English clips of the developer set with a reference transcript (inline, a `.txt` file or an
/// `.stm` next to the audio); speaker tags and channel separators removed.
fn dev_clips(root: &Path) -> Vec<Clip> {
    // A duplicate of picovoice_falcon/test.wav, and a one-speaker-per-channel file that overlaps once mixed.
    const SKIP: [&str; 2] = ["picovoice_leopard/diarization_test.wav", "faster_whisper/stereo_diarization.wav"];
    let manifest = std::fs::read_to_string(root.join("manifest.tsv")).expect("manifest.tsv");
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path, lang, has_text, text) = (col("path"), col("lang"), col("has_text"), col("text"));
    let mut clips = Vec::new();
    for fields in lines.map(|l| l.split('\t').collect::<Vec<_>>()) {
        if fields.len() <= text || fields[lang] != "en" || fields[has_text] != "True" || SKIP.contains(&fields[path]) {
            continue;
        }
        let mut reference = fields[text].to_owned();
        if reference.ends_with(".txt") {
            reference = match std::fs::read_to_string(root.join(&reference)) {
                Ok(t) => t,
                Err(_) => {
                    let stm = root.join(fields[path].replace(".wav", ".stm"));
                    if !stm.exists() {
                        continue;
                    }
                    stm_text(&stm)
                }
            };
        }
        let reference = reference
            .split_whitespace()
            .filter(|w| !(w.starts_with("spk") && w.ends_with(':')))
            .collect::<Vec<_>>()
            .join(" ")
            .replace("||", " ");
        clips.push(Clip { path: root.join(fields[path]), reference });
    }
    clips
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let model = arg(&args, "--model").unwrap_or_else(|| "tiny.en".into());
    let beam: usize = arg(&args, "--beam-size").map(|v| v.parse().unwrap()).unwrap_or(1);
    let threads: usize = arg(&args, "--threads").map(|v| v.parse().unwrap()).unwrap_or(2);
    let int8 = args.iter().any(|a| a == "--int8");
    let trim = args.iter().any(|a| a == "--trim-window");
    let paths = ModelPaths::new(std::env::var("DDALKKAK_MODELS_DIR").unwrap_or_else(|_| "models".into()));
    let clips = match arg(&args, "--dev-audio") {
        Some(root) => dev_clips(Path::new(&root)),
        None => vec![Clip {
            path: paths.root.join("testdata/pyannote_sample.wav"),
            reference: stm_text(&paths.root.join("testdata/pyannote_sample.stm")),
        }],
    };

    let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: threads })?;
    let precision = if int8 { Precision::Int8 } else { Precision::Fp32 };
    let mut ours = Transcriber::load(&runtime, &paths.whisper(&model), precision)?;
    if trim {
        ours.window = EncoderWindow::Trimmed;
    }
    let options = DecodeOptions { beam_size: beam, ..DecodeOptions::default() };

    let python = paths.root.join(".venv-verify/bin/python");
    let peer = Command::new(&python)
        .arg(paths.root.join("fw_transcribe.py"))
        .args(["--ct2-dir", paths.whisper(&model).join("ct2").to_str().unwrap()])
        .args(["--beam-size", &beam.to_string(), "--threads", &threads.to_string()])
        .args(["--compute-type", if int8 { "int8" } else { "float32" }])
        .args(clips.iter().map(|c| c.path.to_str().unwrap()))
        .output()?;
    anyhow::ensure!(peer.status.success(), "faster-whisper failed: {}", String::from_utf8_lossy(&peer.stderr));
    let peer: Vec<serde_json::Value> =
        String::from_utf8(peer.stdout)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;

    println!(
        "model {model}, beam {beam}, {threads} threads, {} weights, encoder window {}",
        if int8 { "int8" } else { "fp32" },
        if trim { "trimmed" } else { "30 s" }
    );
    println!("| clip | audio s | WER ours | WER faster-whisper | ours s | faster-whisper s | speed ratio (fw/ours) |");
    println!("|---|---|---|---|---|---|---|");
    let (mut ref_words, mut err_ours, mut err_fw, mut t_ours, mut t_fw, mut total_audio) = (0, 0, 0, 0.0, 0.0, 0.0);
    for (clip, fw) in clips.iter().zip(&peer) {
        let samples = audio::load_16k_mono(&clip.path)?;
        let started = Instant::now();
        let segments = ours.transcribe(&samples, &options, |_, _| {})?;
        let ours_secs = started.elapsed().as_secs_f64();
        let ours_text: String = segments.iter().map(|s| s.text.as_str()).collect();
        let fw_text = fw["text"].as_str().unwrap_or_default();
        let fw_secs = fw["seconds"].as_f64().unwrap_or(f64::NAN);
        let reference = normalize(&clip.reference);
        let (e_ours, e_fw) = (errors(&reference, &normalize(&ours_text)), errors(&reference, &normalize(fw_text)));
        let audio_secs = samples.len() as f64 / 16_000.0;
        println!(
            "| {} | {audio_secs:.1} | {:.1}% | {:.1}% | {ours_secs:.2} | {fw_secs:.2} | {:.2} |",
            clip.path.file_name().unwrap().to_string_lossy(),
            100.0 * e_ours as f64 / reference.len() as f64,
            100.0 * e_fw as f64 / reference.len() as f64,
            fw_secs / ours_secs
        );
        if std::env::var("PARITY_SHOW_TEXT").is_ok() {
            println!("|  ours: {} |\n|  fw:   {} |", ours_text.trim(), fw_text);
        }
        ref_words += reference.len();
        (err_ours, err_fw) = (err_ours + e_ours, err_fw + e_fw);
        (t_ours, t_fw, total_audio) = (t_ours + ours_secs, t_fw + fw_secs, total_audio + audio_secs);
    }
    println!(
        "| **all {} clips** | {total_audio:.1} | **{:.2}%** | **{:.2}%** | {t_ours:.2} | {t_fw:.2} | **{:.2}** |",
        clips.len(),
        100.0 * err_ours as f64 / ref_words as f64,
        100.0 * err_fw as f64 / ref_words as f64,
        t_fw / t_ours
    );
    Ok(())
}
