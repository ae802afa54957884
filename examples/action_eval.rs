//! Action-item quality and speed per LLM on the project's evaluation set
//! (`tests/fixtures/action_items/*.json`): runs `LlmWorker::extract` on every meeting, scores the
//! items with `ActionItemScore` (one-to-one keyword matching, assignees and due dates resolved as
//! the job worker does) and times a generated 30-minute meeting, once as if it were extracted
//! only after its end, and once as a live session's minutes are: drafted chunk by chunk while it
//! runs (`LlmWorker::draft`, about every `chunk_tokens / 4` characters of new text), then finished
//! after its end (`LlmWorker::extract_meeting`). Prints a markdown table.
//!
//! ```sh
//! cargo run --release --example action_eval -- --models smollm2,qwen0.5b
//!     [--precision int8|fp32] [--set tests/fixtures/action_items[,DIR…]] [--models-dir models]
//!     [--threads 2] [--long-minutes 30 | --no-long | --long-only] [--only NAME] [--verbose] [--dump FILE]
//!     [--task-bias 0] [--min-confidence T] [--min-verified L] [--draft-tokens N] [--write-long FILE]
//!     [--chunk-tokens 1000] [--notes 2] [--long-only] [--no-scratch] [--live]
//! ```
//! `--long-only` times the long meeting alone (no scoring); `--no-scratch` times only its live
//! minutes. `--live` reads every scored meeting as the long one's live minutes are (drafted line
//! by line), and its seconds are those after the meeting's end.
//! `--dump FILE` writes every kept item of every meeting (confidence, cited lines, matched or not)
//! as JSON.
//! `--write-long FILE` writes the generated long meeting as JSON (input of `ddalkkak extract
//! --transcript FILE`, which prints the prefill/decode split) and exits.
//! `--models` takes names (`models/llm-<name>`) or directories. `--verbose` prints every
//! meeting's summary, missed items, false positives and wrong assignees/dates. The table scores the items
//! the server would keep (`--min-confidence`, default the model's own, see
//! `ExtractOptions::for_model`); a sweep over other thresholds follows, from the same run. The
//! verifier (`--min-verified L`, default the model's own) runs before the threshold: the sweep
//! scores the items it kept.
//!
//! Logs go to stderr under `RUST_LOG` (none by default): `RUST_LOG=ddalkkak::intelligence=debug`
//! shows each chunk's raw answer and every item a filter drops.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ddalkkak::commands::ModelPaths;
use ddalkkak::inference::llm::{LlmWorker, LlmWorkerOptions, Precision};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::intelligence::{
    DueDateParser, ExtractOptions, ExtractedItem, Extraction, MeetingExtractor, MeetingInput,
};
use ddalkkak_eval::action_items::{ActionItemScore, EvalMeeting, PredictedItem, match_items};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Scored on what the model wrote: the description is the cited transcript line, quoted by
/// the extractor, and would let a vague title match through the transcript's own words. The due
/// date is the one the job worker stores: read from the cited lines (`DueDateParser::from_quote`),
/// so a date the model made up that nobody said counts as none.
fn predicted(m: &EvalMeeting, items: &[ExtractedItem]) -> Vec<PredictedItem> {
    let dates = DueDateParser::new(m.date);
    items
        .iter()
        .map(|i| {
            let quote: Vec<&str> = i
                .source_segments
                .iter()
                .filter_map(|seq| m.lines.iter().find(|l| l.seq == *seq))
                .map(|l| l.text.as_str())
                .collect();
            let due = dates.from_quote(i.due_date.as_deref(), &quote.join("\n"));
            PredictedItem {
                title: i.title.clone(),
                description: String::new(),
                assignee: i.assignee.clone(),
                due_date: due.map(|(_, date)| date.to_string()),
            }
        })
        .collect()
}

/// The long meeting's minutes as a live session gets them.
struct LiveMinutes {
    /// Seconds the drafts took while the meeting ran.
    drafting: f64,
    /// Seconds from its end to its minutes.
    after_end: f64,
    /// Chunks the final extraction took from the drafts, of all its chunks.
    reused: usize,
    chunks: usize,
    extraction: Extraction,
}

/// Titles and owners against the long meeting's expected items (it has no due dates).
fn long_score(long: &EvalMeeting, items: &[ExtractedItem]) -> String {
    let s = ActionItemScore::score(long, &predicted(long, items));
    format!(
        "P {:.2} ({}/{}), R {:.2} ({}/{}), owner right {}/{}",
        s.precision(),
        s.matched,
        s.predicted,
        s.recall(),
        s.matched,
        s.expected,
        s.assignee_correct,
        s.matched
    )
}

/// Drafts `input` line by line as a live session does (every `every_chars` of new text), then
/// extracts its minutes.
async fn live_minutes(
    worker: &LlmWorker<MeetingExtractor>,
    input: &MeetingInput,
    every_chars: usize,
) -> anyhow::Result<LiveMinutes> {
    let meeting = uuid::Uuid::new_v4();
    let mut so_far = MeetingInput { lines: Vec::new(), ..input.clone() };
    let (mut new_text, mut drafting) = (0, 0.0);
    for line in &input.lines {
        so_far.lines.push(line.clone());
        new_text += line.text.chars().count();
        if new_text >= every_chars {
            new_text = 0;
            let started = Instant::now();
            worker.draft(meeting, so_far.clone()).await?;
            drafting += started.elapsed().as_secs_f64();
        }
    }
    let started = Instant::now();
    let (minutes, stats) = worker.extract_meeting(meeting, input.clone()).await?;
    let after_end = started.elapsed().as_secs_f64();
    Ok(LiveMinutes { drafting, after_end, reused: stats.reused_chunks, chunks: stats.chunks, extraction: minutes })
}

struct Row {
    model: String,
    score: ActionItemScore,
    seconds: Vec<f64>,
    long: Option<f64>,
    long_live: Option<LiveMinutes>,
    /// Meetings whose extraction returned an error (scored as no items).
    failed: usize,
    /// The `min_confidence` the scores above apply.
    threshold: f32,
    /// Every item of every meeting, whatever its confidence.
    raw: Vec<Vec<ExtractedItem>>,
}

/// Precision and recall over `meetings` keeping the items with confidence ≥ `t`.
fn score_at(meetings: &[&EvalMeeting], raw: &[Vec<ExtractedItem>], t: f32) -> ActionItemScore {
    let mut total = ActionItemScore::default();
    for (m, items) in meetings.iter().zip(raw) {
        let kept: Vec<ExtractedItem> = items.iter().filter(|i| i.confidence >= t).cloned().collect();
        total.add(&ActionItemScore::score(m, &predicted(m, &kept)));
    }
    total
}

fn show(m: &EvalMeeting, items: &[PredictedItem], raw: &[ExtractedItem]) {
    let pairs = match_items(&m.expected, items);
    let resolver = m.resolver();
    let dates = DueDateParser::new(m.date);
    for (e, want) in m.expected.iter().enumerate() {
        match pairs.iter().find(|(_, x)| *x == e) {
            None => println!("    MISSED  {:?} ({:?}, {:?})", want.title, want.assignee, want.due_date),
            Some((p, _)) => {
                let got = &items[*p];
                let who = got.assignee.as_deref().and_then(|n| resolver.resolve(n)).map(|p| p.name.clone());
                let due = got.due_date.as_deref().and_then(|d| dates.parse(d));
                let mark = |ok: bool| if ok { "" } else { " WRONG" };
                println!(
                    "    ok      {:?} <- {:?} p={:.2} | assignee {:?} -> {:?}{} | due {:?} -> {:?}{}",
                    want.title,
                    got.title,
                    raw[*p].confidence,
                    got.assignee,
                    who,
                    mark(who == want.assignee),
                    raw[*p].due_date,
                    due,
                    mark(due == want.due_date)
                );
            }
        }
    }
    for (p, got) in items.iter().enumerate() {
        if !pairs.iter().any(|(x, _)| *x == p) {
            println!(
                "    EXTRA   {:?} ({:?}, {:?}) p={:.2} <- {}",
                got.title, got.assignee, got.due_date, raw[p].confidence, raw[p].description
            );
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let models = arg(&args, "--models").unwrap_or_else(|| "smollm2".into());
    let precision = match arg(&args, "--precision").as_deref().unwrap_or("int8") {
        "int8" => Precision::Int8,
        "fp32" => Precision::Fp32,
        other => anyhow::bail!("--precision: int8 or fp32, not {other}"),
    };
    let sets = arg(&args, "--set").unwrap_or_else(|| "tests/fixtures/action_items".into());
    let models_dir = PathBuf::from(
        arg(&args, "--models-dir")
            .or_else(|| std::env::var("DDALKKAK_MODELS_DIR").ok())
            .unwrap_or_else(|| "models".into()),
    );
    let threads: usize = arg(&args, "--threads").map(|t| t.parse()).transpose()?.unwrap_or(2);
    let long_minutes: f64 = arg(&args, "--long-minutes").map(|t| t.parse()).transpose()?.unwrap_or(30.0);
    let no_long = args.iter().any(|a| a == "--no-long");
    let long_only = args.iter().any(|a| a == "--long-only");
    let no_scratch = args.iter().any(|a| a == "--no-scratch");
    let live = args.iter().any(|a| a == "--live");
    let verbose = args.iter().any(|a| a == "--verbose");
    let only = arg(&args, "--only");
    let mut extract = ExtractOptions::default();
    if let Some(b) = arg(&args, "--task-bias") {
        extract.task_bias = b.parse()?;
    }
    if let Some(t) = arg(&args, "--min-confidence") {
        extract.min_confidence = Some(t.parse()?);
    }
    let min_verified = arg(&args, "--min-verified").map(|v| v.parse::<f32>()).transpose()?;
    if let Some(n) = arg(&args, "--draft-tokens") {
        extract.draft_tokens = n.parse()?;
    }
    if let Some(n) = arg(&args, "--notes") {
        extract.notes = n.parse()?;
    }
    if let Some(n) = arg(&args, "--chunk-tokens") {
        extract.chunk_tokens = n.parse()?;
    }

    let mut all = Vec::new();
    let mut first_set_len = None;
    for set in sets.split(',') {
        all.extend(EvalMeeting::load_dir(Path::new(set))?);
        first_set_len.get_or_insert(all.len());
    }
    let selected = |m: &&EvalMeeting| only.as_deref().is_none_or(|o| m.name.contains(o));
    let meetings: Vec<&EvalMeeting> = all.iter().filter(selected).collect();
    // The sweep reads the first set apart from the others, or with one set its two halves.
    let from_first = all[..first_set_len.unwrap_or(0)].iter().filter(selected).count();
    let (split, parts) = match from_first {
        n if n > 0 && n < meetings.len() => (n, ["first set", "other sets"]),
        _ => (meetings.len() / 2, ["first half", "second half"]),
    };
    anyhow::ensure!(!meetings.is_empty(), "no meeting matches --only");
    let long = EvalMeeting::concatenated("All-hands: quarter review", &all, long_minutes * 60.0)
        .context("building the long meeting")?;
    if let Some(file) = arg(&args, "--write-long") {
        std::fs::write(&file, serde_json::to_string_pretty(&long.input())?)?;
        eprintln!("wrote {file}: {:.1} min, {} lines", long.duration() / 60.0, long.lines.len());
        return Ok(());
    }
    let paths = ModelPaths::new(&models_dir);
    let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: threads })?;

    let mut rows = Vec::new();
    // Every kept item of every meeting, each marked matched or not (`--dump FILE`).
    let dump_file = arg(&args, "--dump");
    let mut dump = Vec::new();
    for name in models.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let dir = if Path::new(name).is_dir() { PathBuf::from(name) } else { models_dir.join(format!("llm-{name}")) };
        let mut extract = extract.clone();
        // Every item the model wrote, so the sweep below can try each threshold.
        let defaults = ExtractOptions::for_model(name);
        let chosen = extract.min_confidence.take().unwrap_or(defaults.min_confidence.unwrap_or(0.0));
        extract.min_verified = min_verified.or(defaults.min_verified);
        let draft_every = extract.chunk_tokens.div_ceil(4);
        // Normal priority: this measures the model, not the server's CPU policy.
        let options = LlmWorkerOptions { intra_op_threads: threads, nice: 0, handler: extract, ..Default::default() };
        let worker = LlmWorker::<MeetingExtractor>::start(&runtime, &dir, precision, options)
            .with_context(|| dir.display().to_string())?;
        let mut row = Row {
            model: name.to_string(),
            score: ActionItemScore::default(),
            seconds: Vec::new(),
            long: None,
            long_live: None,
            failed: 0,
            threshold: chosen,
            raw: Vec::new(),
        };
        for m in meetings.iter().filter(|_| !long_only) {
            let started = Instant::now();
            // `--live`: drafted line by line as a live session is, timed from its end.
            let (extracted, after_end) = if live {
                match live_minutes(&worker, &m.input(), draft_every).await {
                    Ok(l) => (Ok(l.extraction), Some(l.after_end)),
                    Err(e) => (Err(e.to_string()), None),
                }
            } else {
                (worker.extract(m.input()).await.map_err(|e| e.to_string()), None)
            };
            // A failed extraction is what the job worker would get too: no items for that meeting.
            let raw = match extracted {
                Ok(e) => {
                    if verbose {
                        eprintln!("{name} {}: summary: {}", m.name, e.summary.trim());
                        let said = |seqs: &[i64]| {
                            let line = m.lines.iter().find(|l| seqs.first() == Some(&l.seq));
                            line.map_or(String::new(), |l| {
                                format!(" [{}] {}: {}", l.seq, l.speaker.as_deref().unwrap_or("?"), l.text)
                            })
                        };
                        for (kind, notes) in [("DECISION", &e.decisions), ("QUESTION", &e.open_questions)] {
                            for n in notes {
                                eprintln!("    {kind} {:?} <-{}", n.text, said(&n.source_segments));
                            }
                        }
                    }
                    e.action_items
                }
                Err(e) => {
                    eprintln!("{name} {}: extraction failed: {}", m.name, e.chars().take(160).collect::<String>());
                    row.failed += 1;
                    Vec::new()
                }
            };
            let secs = after_end.unwrap_or_else(|| started.elapsed().as_secs_f64());
            row.raw.push(raw.clone());
            let raw: Vec<ExtractedItem> = raw.into_iter().filter(|i| i.confidence >= chosen).collect();
            let items = predicted(m, &raw);
            let s = ActionItemScore::score(m, &items);
            eprintln!(
                "{name} {}: {:.1} min of talk, {secs:.1} s, {} expected, {} predicted, {} matched",
                m.name,
                m.duration() / 60.0,
                s.expected,
                s.predicted,
                s.matched
            );
            if verbose {
                show(m, &items, &raw);
            }
            if dump_file.is_some() {
                let matched: Vec<usize> = match_items(&m.expected, &items).into_iter().map(|(p, _)| p).collect();
                dump.push(serde_json::json!({
                    "meeting": m.name,
                    "items": raw.iter().enumerate().map(|(p, i)| serde_json::json!({
                        "title": i.title, "assignee": i.assignee, "due_date": i.due_date, "confidence": i.confidence,
                        "source_segments": i.source_segments, "matched": matched.contains(&p),
                    })).collect::<Vec<_>>(),
                }));
            }
            row.score.add(&s);
            row.seconds.push(secs);
        }
        if !no_long && !no_scratch {
            let started = Instant::now();
            let outcome = worker.extract(long.input()).await;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{name} long meeting: {:.1} min of talk, {} lines, {secs:.1} s, {}",
                long.duration() / 60.0,
                long.lines.len(),
                match &outcome {
                    Ok(x) => format!("{} items, {}", x.action_items.len(), long_score(&long, &x.action_items)),
                    Err(e) => format!("failed: {}", e.to_string().chars().take(160).collect::<String>()),
                }
            );
            row.long = Some(secs);
        }
        if !no_long {
            let live = live_minutes(&worker, &long.input(), draft_every).await?;
            eprintln!(
                "{name} long meeting, live: {:.1} s drafting while it ran; {:.1} s after its end ({} of {} chunks drafted); {} items, {}",
                live.drafting,
                live.after_end,
                live.reused,
                live.chunks,
                live.extraction.action_items.len(),
                long_score(&long, &live.extraction.action_items)
            );
            row.long_live = Some(live);
        }
        worker.shutdown();
        rows.push(row);
    }
    if let Some(file) = &dump_file {
        std::fs::write(file, serde_json::to_string_pretty(&dump)?)?;
    }

    println!(
        "\n{} meetings, {} expected items, precision {}, {threads} threads\n",
        meetings.len(),
        rows.first().map_or(0, |r| r.score.expected),
        precision.key()
    );
    println!(
        "| model | precision | recall | F1 | assignee acc | due acc | failed | s/meeting mean | s/meeting max | \
         {:.0}-min meeting s | live: s after its end (drafting s) |",
        long_minutes
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let mean = r.seconds.iter().sum::<f64>() / r.seconds.len().max(1) as f64;
        let max = r.seconds.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {:.2} ({}/{}) | {:.2} ({}/{}) | {:.2} | {:.2} | {:.2} | {} | {mean:.1} | {max:.1} | {} | {} |",
            r.model,
            r.score.precision(),
            r.score.matched,
            r.score.predicted,
            r.score.recall(),
            r.score.matched,
            r.score.expected,
            r.score.f1(),
            r.score.assignee_accuracy(),
            r.score.due_accuracy(),
            r.failed,
            r.long.map_or("-".into(), |s| format!("{s:.1}")),
            r.long_live.as_ref().map_or("-".into(), |l| format!("{:.1} ({:.1})", l.after_end, l.drafting))
        );
    }
    for r in rows.iter().filter(|_| !long_only) {
        println!(
            "\n{}: precision / recall / F1 keeping items with confidence >= t (the table above: t = {:.2}); \
             {} and {} apart, to see how a threshold chosen on one does on the other\n",
            r.model, r.threshold, parts[0], parts[1]
        );
        println!("| t | all: P | R | F1 | {}: P | R | {}: P | R |", parts[0], parts[1]);
        println!("|---|---|---|---|---|---|---|---|");
        for t in [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] {
            let all = score_at(&meetings, &r.raw, t);
            let a = score_at(&meetings[..split], &r.raw[..split], t);
            let b = score_at(&meetings[split..], &r.raw[split..], t);
            println!(
                "| {t:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                all.precision(),
                all.recall(),
                all.f1(),
                a.precision(),
                a.recall(),
                b.precision(),
                b.recall()
            );
        }
    }
    Ok(())
}
