//! Keyterm recall and error rates with and without a vocabulary, through the live ASR engine
//! (the served model's options: greedy, trimmed windows, a looping final redone with the full
//! window). Each clip is cut into utterances by Silero VAD (at most 30 s each), as a live
//! session or a recording would be, and each utterance is decoded under each mode:
//!
//! - `none`: no vocabulary;
//! - `own`: the clip's own terms, as a session's `keyterm` parameters;
//! - `glossary`: every term of every set given, as a tenant's glossary (most of it unrelated to
//!   the clip: what a shared glossary costs the rest of the speech).
//!
//! Prints, per mode: term recall (terms spelled right, [`ddalkkak_eval::keyterms`]), recall of
//! the terms `none` missed, and the error rate over all clips and over the clips that hold no
//! term (CER for Korean, WER otherwise).
//!
//! ```sh
//! cargo run --release --example keyterm_eval -- benches/keyterms/english_dev.tsv --model tiny.en
//! cargo run --release --example keyterm_eval -- benches/keyterms/korean_dev.tsv --model base
//! ```
//!
//! A set is a TSV with a header holding `path`, `text`, `language` and `keyterms` (terms
//! separated by `|`, possibly none); paths are relative to the TSV's folder, or absolute.

use std::path::{Path, PathBuf};

use clap::Parser;
use ddalkkak::commands::ModelPaths;
use ddalkkak::inference::asr::{
    AsrEngine, DecodeContext, DecodeOptions, EncoderWindow, EngineConfig, LanguageChoice, Precision,
};
use ddalkkak::inference::vad::{SileroVad, VadParams, speech_regions};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::session::Vocabulary;
use ddalkkak_eval::keyterms::{TermRecall, spelled};
use ddalkkak_eval::wer::{cer, wer};

#[derive(Parser)]
struct Args {
    /// TSV sets (`path`, `text`, `language`, `keyterms`).
    #[arg(required = true)]
    sets: Vec<PathBuf>,
    #[arg(long, default_value = "base")]
    model: String,
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Comma list of `none`, `own`, `glossary`.
    #[arg(long, default_value = "none,own,glossary")]
    modes: String,
    /// Print every hypothesis.
    #[arg(long)]
    verbose: bool,
}

struct Clip {
    path: PathBuf,
    text: String,
    language: Option<String>,
    terms: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut clips = Vec::new();
    for set in &args.sets {
        clips.extend(read_set(set)?);
    }
    let glossary: Vec<String> = {
        let mut all: Vec<String> = clips.iter().flat_map(|c| c.terms.iter().cloned()).collect();
        all.dedup();
        all
    };
    let paths = ModelPaths::new(&args.models_dir);
    let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: args.threads })?;
    let options = DecodeOptions {
        beam_size: 1,
        temperatures: vec![0.0],
        best_of: 1,
        condition_on_previous_text: false,
        ..DecodeOptions::default()
    };
    let config = EngineConfig {
        workers: 1,
        precision: Precision::Int8,
        window: EncoderWindow::Trimmed,
        partial_window: EncoderWindow::Trimmed,
        options,
        ..EngineConfig::default()
    };
    let (_engine, asr) = AsrEngine::start(&runtime, &paths.whisper(&args.model), config)?;
    let vad_runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: 1 })?;
    let mut vad = SileroVad::load(&vad_runtime, &paths.vad())?;

    let mut utterances = Vec::new();
    for clip in &clips {
        let audio = ddalkkak::audio::load_16k_mono(&clip.path)?;
        let regions = speech_regions(&mut vad, &audio, VadParams::default())?;
        utterances.push(regions.into_iter().map(|r| audio[r].to_vec()).collect::<Vec<_>>());
    }

    let modes: Vec<&str> = args.modes.split(',').map(str::trim).collect();
    let mut missed_by_none: Vec<Vec<bool>> = Vec::new();
    println!(
        "mode\tterm recall\trecall of none's misses\terror rate, all clips\terror rate, clips without terms\tseconds"
    );
    for mode in modes {
        let started = std::time::Instant::now();
        let (mut recall, mut fixed) = (TermRecall::default(), TermRecall::default());
        let (mut errors, mut units, mut control_errors, mut control_units) = (0.0, 0.0, 0.0, 0.0);
        let mut missed = Vec::new();
        for (i, (clip, pieces)) in clips.iter().zip(&utterances).enumerate() {
            let terms: &[String] = match mode {
                "none" => &[],
                "own" => &clip.terms,
                "glossary" => &glossary,
                other => anyhow::bail!("unknown mode {other}"),
            };
            let context = DecodeContext {
                language: clip.language.clone().map_or(LanguageChoice::Detect, LanguageChoice::Fixed),
                keyterms: Vocabulary::new(terms.iter().cloned()).keyterms(),
            };
            let mut pending = Vec::new();
            for piece in pieces {
                pending.push(asr.submit(piece.clone(), context.clone()).await?);
            }
            let mut texts = Vec::new();
            for p in pending {
                let text = p.await??;
                texts.push(text.segments.iter().map(|s| s.text.trim()).collect::<Vec<_>>().join(" "));
            }
            let hypothesis = texts.join(" ");
            recall.add(&hypothesis, &clip.terms);
            missed.push(clip.terms.iter().map(|t| !spelled(&hypothesis, t)).collect::<Vec<_>>());
            if let Some(before) = missed_by_none.get(i) {
                let misses: Vec<String> =
                    clip.terms.iter().zip(before).filter(|(_, m)| **m).map(|(t, _)| t.clone()).collect();
                fixed.add(&hypothesis, &misses);
            }
            if clip.text.trim().is_empty() {
                // A clip kept for its terms only (no reference text).
                if args.verbose {
                    println!("  [{mode}] {}: {hypothesis}", clip.path.display());
                }
                continue;
            }
            let korean = clip.language.as_deref() == Some("ko");
            let (rate, n) = if korean {
                (cer(&clip.text, &hypothesis), clip.text.chars().filter(|c| c.is_alphanumeric()).count() as f64)
            } else {
                (wer(&clip.text, &hypothesis), ddalkkak_eval::wer::normalize(&clip.text).len() as f64)
            };
            errors += rate * n;
            units += n;
            if clip.terms.is_empty() {
                control_errors += rate * n;
                control_units += n;
            }
            if args.verbose {
                let name = clip.path.file_name().unwrap_or_default().to_string_lossy();
                println!("  [{mode}] {name} ({:.1} %): {hypothesis}", rate * 100.0);
            }
        }
        if mode == "none" {
            missed_by_none = missed;
        }
        let fixed_text = if missed_by_none.is_empty() || mode == "none" {
            "-".to_owned()
        } else {
            format!("{}/{} ({:.0} %)", fixed.found, fixed.total, fixed.recall() * 100.0)
        };
        let control =
            if control_units > 0.0 { format!("{:.1} %", control_errors / control_units * 100.0) } else { "-".into() };
        println!(
            "{mode}\t{}/{} ({:.0} %)\t{fixed_text}\t{:.1} %\t{control}\t{:.1}",
            recall.found,
            recall.total,
            recall.recall() * 100.0,
            errors / units.max(1.0) * 100.0,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn read_set(tsv: &Path) -> anyhow::Result<Vec<Clip>> {
    let text = std::fs::read_to_string(tsv)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(path), Some(reference)) = (column("path"), column("text")) else {
        anyhow::bail!("{} needs `path` and `text` columns", tsv.display());
    };
    let (language, keyterms) = (column("language"), column("keyterms"));
    let dir = tsv.parent().unwrap_or(Path::new("."));
    let field =
        |f: &[&str], i: Option<usize>| i.and_then(|i| f.get(i)).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.len() > path)
        .map(|f| Clip {
            path: dir.join(f[path]),
            text: f.get(reference).copied().unwrap_or_default().to_owned(),
            language: field(&f, language),
            terms: field(&f, keyterms)
                .map(|k| k.split('|').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect())
                .unwrap_or_default(),
        })
        .collect())
}
