//! Spoken minutes, end to end: every meeting of the action-item evaluation sets is voiced by
//! espeak-ng (a voice of its own per speaker), streamed as a live session to a server in this
//! process, and the minutes that server writes are scored as `action_eval` scores the text sets.
//!
//! ```text
//! cargo run --release --example spoken_minutes_eval -- [--set DIR,DIR] [--speed 4]
//!     [--asr-model tiny.en] [--rate 165] [--pause-ms 600] [--names-in-glossary] [--only NAME]
//!     [--verbose] [-- SERVE FLAGS]
//! ```
//!
//! The server is `ddalkkak serve` with its defaults (SQLite in a temporary directory, the
//! default ASR models and LLM, speakers named as the job names them) and whatever serve flags
//! follow `--` (e.g. `-- --llm qwen0.5b`); models are not fetched here (`bash scripts/setup.sh
//! --llm NAME`). Each meeting gets its own tenant whose users are the meeting's attendees, so the
//! owners the server resolves are tenant users, as for a real team; `--names-in-glossary` puts
//! their names (first and full) in the tenant's glossary, as a team would to have them spelled
//! right. Needs `espeak-ng`.
//!
//! The client streams 100 ms linear16 frames at `--speed` × real time with `diarize=true` and
//! `wait_for_action_items=true`, then `CloseStream`; "after close" is from `CloseStream` to
//! `ActionItemsReady` (the last final, the meeting's assembly and its minutes). Above 1× the
//! session's live drafting lags its speech more than it would live, so the figure is an upper
//! bound. Spoken due dates are scored from the words the server read them from
//! (`due_date_text`) against the set's meeting date, since the live meeting is dated today.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use ddalkkak::config::{Cli, Command as CliCommand};
use ddalkkak::domain::{ActionItem, Meeting, Role};
use ddalkkak::store::{NewUser, TenantPatch};
use ddalkkak::{App, admin};
use ddalkkak_eval::action_items::{ActionItemScore, EvalMeeting, PredictedItem, match_items};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

/// espeak-ng voice and pitch per speaker, in order of first appearance: accents and registers
/// far enough apart for the speaker embedder.
const VOICES: [(&str, u32); 6] = [
    ("en-us+m3", 40),
    ("en-gb+f2", 65),
    ("en-us+m7", 30),
    ("en-gb-scotland+f4", 75),
    ("en-029+m1", 50),
    ("en-gb-x-rp+f3", 60),
];

struct Args {
    sets: Vec<PathBuf>,
    speed: f64,
    /// `model=` of the sessions; `None`: the tenant's default.
    asr_model: Option<String>,
    /// espeak-ng's words per minute.
    rate: u32,
    pause_ms: u64,
    /// The tenant's glossary holds its people's names.
    names_in_glossary: bool,
    /// Only the meetings whose file name contains this.
    only: Option<String>,
    verbose: bool,
    serve_flags: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        sets: vec!["tests/fixtures/action_items".into(), "tests/fixtures/action_items_heldout".into()],
        speed: 4.0,
        asr_model: None,
        rate: 165,
        pause_ms: 600,
        names_in_glossary: false,
        only: None,
        verbose: false,
        serve_flags: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--set" => args.sets = value()?.split(',').map(PathBuf::from).collect(),
            "--speed" => args.speed = value()?.parse().context("--speed X")?,
            "--pause-ms" => args.pause_ms = value()?.parse().context("--pause-ms N")?,
            "--asr-model" => args.asr_model = Some(value()?),
            "--rate" => args.rate = value()?.parse().context("--rate WORDS_PER_MINUTE")?,
            "--only" => args.only = Some(value()?),
            "--names-in-glossary" => args.names_in_glossary = true,
            "--verbose" => args.verbose = true,
            "--" => args.serve_flags = it.by_ref().collect(),
            other => bail!("unknown flag {other}"),
        }
    }
    ensure!(args.speed > 0.0, "--speed must be positive");
    Ok(args)
}

/// 16 kHz mono speech of `text` in `voice`.
fn speak(text: &str, (voice, pitch): (&str, u32), rate: u32, scratch: &Path) -> anyhow::Result<Vec<f32>> {
    let wav = scratch.join("line.wav");
    let mut child = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &rate.to_string(), "-p", &pitch.to_string(), "--stdin", "-w"])
        .arg(&wav)
        .stdin(Stdio::piped())
        .spawn()
        .context("running espeak-ng (apt-get install espeak-ng)")?;
    child.stdin.take().context("espeak-ng stdin")?.write_all(text.as_bytes())?;
    ensure!(child.wait()?.success(), "espeak-ng failed on {text:?}");
    Ok(ddalkkak::audio::load_16k_mono(&wav)?)
}

/// A line of the voiced meeting: seconds into the recording, and who says it.
struct SpokenLine {
    start: f64,
    end: f64,
    speaker: String,
}

/// The meeting as one recording: each line in its speaker's voice, `pause_ms` between turns.
fn voice_meeting(meeting: &EvalMeeting, args: &Args, scratch: &Path) -> anyhow::Result<(Vec<i16>, Vec<SpokenLine>)> {
    let mut voices: HashMap<&str, usize> = HashMap::new();
    let mut pcm = Vec::new();
    let mut spoken = Vec::new();
    for line in &meeting.lines {
        let speaker = line.speaker.as_deref().unwrap_or("");
        let n = voices.len();
        let voice = VOICES[*voices.entry(speaker).or_insert(n) % VOICES.len()];
        let speech = speak(&line.text, voice, args.rate, scratch)?;
        let start = pcm.len() as f64 / 16_000.0;
        pcm.extend(speech.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16));
        spoken.push(SpokenLine { start, end: pcm.len() as f64 / 16_000.0, speaker: speaker.to_owned() });
        pcm.extend(std::iter::repeat_n(0i16, (16 * args.pause_ms) as usize));
    }
    Ok((pcm, spoken))
}

/// Seconds of speech that the stored meeting gives to the right person (its speaker identified
/// as the tenant user that the set's speaker name resolves to), and seconds of speech of the
/// set's speakers that are attendees (a set line "Speaker 2" is nobody's, and left out).
fn named_right(meeting: &Meeting, set: &EvalMeeting, spoken: &[SpokenLine]) -> (f64, f64) {
    let labels = meeting.speaker_labels.as_ref().map(|l| l.0.as_slice()).unwrap_or_default();
    let name_of = |speaker: Option<i32>| {
        labels.iter().find(|l| Some(l.speaker) == speaker).and_then(|l| l.identity.as_ref()).map(|i| i.name.clone())
    };
    let segments = meeting.transcript_segments.as_ref().map(|s| s.0.as_slice()).unwrap_or_default();
    let resolver = set.resolver();
    let (mut right, mut speech) = (0.0, 0.0);
    for line in spoken {
        let Some(person) = resolver.resolve(&line.speaker) else { continue };
        speech += line.end - line.start;
        for segment in segments.iter().filter(|s| name_of(s.speaker).as_deref() == Some(person.name.as_str())) {
            right += (segment.end.min(line.end) - segment.start.max(line.start)).max(0.0);
        }
    }
    (right, speech)
}

/// The stored transcript as the minutes read it: `[seq] who: text`.
fn show_transcript(meeting: &Meeting) {
    let labels = meeting.speaker_labels.as_ref().map(|l| l.0.as_slice()).unwrap_or_default();
    for segment in meeting.transcript_segments.as_ref().map(|s| s.0.as_slice()).unwrap_or_default() {
        let label = labels.iter().find(|l| Some(l.speaker) == segment.speaker);
        let who = label.map_or("?".to_owned(), |l| match &l.identity {
            Some(identity) => format!("{} ({})", l.label, identity.name),
            None => l.label.clone(),
        });
        println!("    [{}] {who}: {}", segment.seq, segment.text);
    }
}

/// What one streamed meeting gave back.
struct Outcome {
    transcript: String,
    /// Distinct `speaker` numbers over the finals' words.
    speakers: usize,
    meeting_id: Option<uuid::Uuid>,
    proposals: usize,
    after_close: Option<f64>,
    items: Vec<ActionItem>,
    errors: Vec<String>,
}

async fn stream_meeting(url: String, key: &str, pcm: Vec<i16>, speed: f64) -> anyhow::Result<Outcome> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Token {key}"))?);
    let (ws, _) = tokio_tungstenite::connect_async(request).await.context("connecting to /v1/listen")?;
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        let started = Instant::now();
        for (i, frame) in pcm.chunks(1600).enumerate() {
            let at = started + Duration::from_secs_f64(0.1 * i as f64 / speed);
            tokio::time::sleep_until(at.into()).await;
            let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
            if tx.send(Message::Binary(bytes.into())).await.is_err() {
                return None;
            }
        }
        tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.ok()?;
        Some(Instant::now())
    });
    let mut outcome = Outcome {
        transcript: String::new(),
        speakers: 0,
        meeting_id: None,
        proposals: 0,
        after_close: None,
        items: Vec::new(),
        errors: Vec::new(),
    };
    let mut speakers = BTreeSet::new();
    let mut ready_at = None;
    while let Some(message) = rx.next().await {
        let Message::Text(text) = message? else { continue };
        let m: Value = serde_json::from_str(&text)?;
        match m["type"].as_str() {
            Some("Results") if m["is_final"] == true => {
                let alternative = &m["channel"]["alternatives"][0];
                let words = alternative["transcript"].as_str().unwrap_or_default();
                if !words.is_empty() {
                    outcome.transcript.push_str(words);
                    outcome.transcript.push(' ');
                }
                let numbers =
                    alternative["words"].as_array().into_iter().flatten().filter_map(|w| w["speaker"].as_i64());
                speakers.extend(numbers);
            }
            Some("SessionStarted") => outcome.meeting_id = m["meeting_id"].as_str().and_then(|id| id.parse().ok()),
            Some("ActionItemsProposed") => outcome.proposals += 1,
            Some("ActionItemsReady") => {
                ready_at = Some(Instant::now());
                outcome.items = serde_json::from_value(m["action_items"].clone()).unwrap_or_default();
            }
            Some("Error") => outcome.errors.push(text.to_string()),
            _ => {}
        }
    }
    let closed_at = sender.await?;
    outcome.speakers = speakers.len();
    outcome.after_close = closed_at.zip(ready_at).map(|(c, r)| r.saturating_duration_since(c).as_secs_f64());
    Ok(outcome)
}

/// The server's items as `action_eval` reads the extractor's: by title alone (the description
/// quotes the transcript and would let a vague title match through its words); the owner is the
/// tenant user the server resolved (a speaker name that is nobody counts as unassigned), the due
/// date the words it was read from.
fn predicted(items: &[ActionItem], names: &HashMap<uuid::Uuid, String>) -> Vec<PredictedItem> {
    items
        .iter()
        .map(|i| PredictedItem {
            title: i.title.clone(),
            description: String::new(),
            assignee: i.assignee_id.and_then(|id| names.get(&id).cloned()),
            due_date: i.due_date_text.clone(),
        })
        .collect()
}

fn show(meeting: &EvalMeeting, items: &[PredictedItem]) {
    let pairs = match_items(&meeting.expected, items);
    for (e, want) in meeting.expected.iter().enumerate() {
        match pairs.iter().find(|(_, x)| *x == e) {
            None => println!("    MISSED  {:?} ({:?})", want.title, want.assignee),
            Some((p, _)) => {
                let got = &items[*p];
                let owner = if got.assignee == want.assignee { "" } else { " OWNER WRONG" };
                println!(
                    "    ok      {:?} <- {:?} | {:?} -> {:?}{owner}",
                    want.title, got.title, want.assignee, got.assignee
                );
            }
        }
    }
    for (p, got) in items.iter().enumerate() {
        if !pairs.iter().any(|(x, _)| *x == p) {
            println!("    EXTRA   {:?} ({:?}, {:?})", got.title, got.assignee, got.due_date);
        }
    }
}

#[derive(Default)]
struct SetRow {
    meetings: usize,
    audio_seconds: f64,
    word_errors: f64,
    words: f64,
    speakers_right: usize,
    /// Seconds of speech given to the right person, of all speech.
    named_right: f64,
    speech: f64,
    score: ActionItemScore,
    after_close: Vec<f64>,
    failed: usize,
}

impl SetRow {
    fn add(&mut self, other: &SetRow) {
        self.meetings += other.meetings;
        self.audio_seconds += other.audio_seconds;
        self.word_errors += other.word_errors;
        self.words += other.words;
        self.speakers_right += other.speakers_right;
        self.named_right += other.named_right;
        self.speech += other.speech;
        self.score.add(&other.score);
        self.after_close.extend(&other.after_close);
        self.failed += other.failed;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = parse_args()?;
    let data = tempfile::tempdir()?;
    let scratch = tempfile::tempdir()?;
    let mut argv: Vec<String> = ["ddalkkak", "serve", "--data-dir"].map(String::from).to_vec();
    argv.push(data.path().display().to_string());
    argv.extend(args.serve_flags.iter().cloned());
    let CliCommand::Serve(serve) = Cli::try_parse_from(&argv)?.command else { unreachable!("parsed serve") };
    let mut config = serve.app_config()?;
    config.metrics_listen = None;
    config.bootstrap_owner_key = None;
    let live = config.live.as_mut().context("the evaluation needs live sessions (no --no-live)")?;
    // Above 1× the client runs ahead of the wall clock by up to the whole meeting.
    live.config.max_audio_ahead = Duration::from_secs(4 * 3600);
    let llm = config.intelligence.as_ref().and_then(|i| i.llm.clone()).context("the evaluation needs an LLM")?;
    let app = App::build(config).await?;
    let store = app.store().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone().cancelled_owned()));

    println!(
        "spoken minutes: ASR {}{}, LLM {llm}, espeak-ng voices at {} words a minute, {}× real time, {} ms between turns",
        args.asr_model.as_deref().unwrap_or("the tenant's default"),
        if args.names_in_glossary { " with the people's names in the glossary" } else { "" },
        args.rate,
        args.speed,
        args.pause_ms
    );
    let mut rows = Vec::new();
    let mut n = 0;
    for set in &args.sets {
        let mut row = SetRow::default();
        let meetings = EvalMeeting::load_dir(set)?;
        for meeting in meetings.into_iter().filter(|m| args.only.as_ref().is_none_or(|o| m.name.contains(o.as_str()))) {
            n += 1;
            let (pcm, spoken) = voice_meeting(&meeting, &args, scratch.path())?;
            let (first, rest) = meeting.attendees.split_first().context("a meeting without attendees")?;
            let slug = format!("spoken-{n}");
            let tenant = admin::create_tenant(&*store, &meeting.title, &slug, &first.email, Some(&first.name)).await?;
            let mut names = HashMap::from([(tenant.owner.id, tenant.owner.name.clone())]);
            for a in rest {
                let user =
                    NewUser { email: a.email.clone(), name: a.name.clone(), role: Role::Member, slack_user_id: None };
                let user = store.create_user(tenant.tenant.id, user).await?;
                names.insert(user.id, user.name);
            }
            if args.names_in_glossary {
                let mut glossary: Vec<String> = meeting.attendees.iter().map(|a| a.name.clone()).collect();
                glossary.extend(
                    meeting.attendees.iter().filter_map(|a| a.name.split_whitespace().next().map(str::to_owned)),
                );
                let patch = TenantPatch { glossary: Some(glossary), ..TenantPatch::default() };
                store.update_tenant(tenant.tenant.id, patch).await?;
            }
            let mut query = vec![
                ("encoding", "linear16"),
                ("sample_rate", "16000"),
                ("diarize", "true"),
                ("wait_for_action_items", "true"),
                ("title", meeting.title.as_str()),
            ];
            query.extend(args.asr_model.as_deref().map(|m| ("model", m)));
            let query = serde_urlencoded::to_string(query)?;
            let seconds = pcm.len() as f64 / 16_000.0;
            let outcome =
                stream_meeting(format!("ws://{addr}/v1/listen?{query}"), &tenant.api_key, pcm, args.speed).await?;
            let items = predicted(&outcome.items, &names);
            let score = ActionItemScore::score(&meeting, &items);
            let reference: String = meeting.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join(" ");
            let words = ddalkkak_eval::wer::normalize(&reference).len() as f64;
            let wer = ddalkkak_eval::wer::wer(&reference, &outcome.transcript);
            let stored = store.get_meeting(tenant.tenant.id, outcome.meeting_id.context("no SessionStarted")?).await?;
            let (right, speech) = named_right(&stored, &meeting, &spoken);
            let real_speakers =
                meeting.lines.iter().filter_map(|l| l.speaker.as_deref()).collect::<BTreeSet<_>>().len();
            println!(
                "{} ({:.0} s): WER {:.1} %, speakers {} of {real_speakers}, named right {:.0} %, {} proposals, items {}/{} matched of {} expected, owners {}, after close {}{}",
                meeting.name,
                seconds,
                wer * 100.0,
                outcome.speakers,
                100.0 * right / speech.max(1e-9),
                outcome.proposals,
                score.matched,
                score.predicted,
                score.expected,
                score.assignee_correct,
                outcome.after_close.map_or("-".into(), |s| format!("{s:.1} s")),
                if outcome.errors.is_empty() { String::new() } else { format!(", errors {:?}", outcome.errors) },
            );
            if args.verbose {
                show_transcript(&stored);
                show(&meeting, &items);
            }
            row.add(&SetRow {
                meetings: 1,
                audio_seconds: seconds,
                word_errors: wer * words,
                words,
                speakers_right: usize::from(outcome.speakers == real_speakers),
                named_right: right,
                speech,
                score,
                after_close: outcome.after_close.into_iter().collect(),
                failed: usize::from(outcome.after_close.is_none()),
            });
        }
        rows.push((set.display().to_string(), row));
    }
    println!();
    println!(
        "| set | meetings | audio min | WER | speaker count right | speech named right | P | R | owner right | due right | after close mean / max s | no minutes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut total = SetRow::default();
    for (name, row) in &rows {
        print_row(name, row);
        total.add(row);
    }
    if rows.len() > 1 {
        print_row("all", &total);
    }
    shutdown.cancel();
    server.await??;
    Ok(())
}

fn print_row(name: &str, row: &SetRow) {
    let s = &row.score;
    let mean = row.after_close.iter().sum::<f64>() / row.after_close.len().max(1) as f64;
    let max = row.after_close.iter().copied().fold(0.0, f64::max);
    println!(
        "| {name} | {} | {:.1} | {:.1} % | {} of {} | {:.0} % | {:.2} ({}/{}) | {:.2} ({}/{}) | {:.2} | {:.2} | {mean:.1} / {max:.1} | {} |",
        row.meetings,
        row.audio_seconds / 60.0,
        100.0 * row.word_errors / row.words.max(1.0),
        row.speakers_right,
        row.meetings,
        100.0 * row.named_right / row.speech.max(1e-9),
        s.precision(),
        s.matched,
        s.predicted,
        s.recall(),
        s.matched,
        s.expected,
        s.assignee_accuracy(),
        s.due_accuracy(),
        row.failed,
    );
}
