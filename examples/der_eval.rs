//! Diarization error rate of the live pipeline, faster than real time: Silero VAD per 32 ms chunk
//! → the live session's `UtteranceSegmenter` (default settings, no partials) → `SpeakerTracker`
//! on every final utterance (live turns) → `recluster` at the end (turns after re-clustering).
//! With `--segmentation`, every final utterance also goes to a `SegmentedStream` (pyannote
//! segmentation-3.0 + embeddings of local speakers, clustered at the end; overlapped speech
//! scored as such), printed as `seg`; `--seg-guided` takes the speakers' identities from the
//! re-clustering instead of clustering the local speakers' embeddings. Prints DER at collar 0.25 s and 0 s (overlap scored,
//! optimal speaker mapping), per file, per group of files with the same number of reference
//! speakers, and in total.
//!
//! ```sh
//! cargo run --release --example der_eval -- --audio X.wav --rttm X.rttm [--audio Y.wav --rttm Y.rttm]
//!     [--dir DIR] [--out DIR] [--models models] [--threads 2]
//!     [--threshold 0.8] [--hop-frames 40] [--min-new 2.8] [--p 0.7] [--unit-windows 1] [--min-speaker 3]
//!     [--ahc --recluster-threshold 0.65] [--no-mask] [--center] [--no-normalize] [--verbose]
//!     [--segmentation [--seg-step 592] [--seg-threshold 0.85] [--seg-spectral --seg-p 0.7] [--seg-guided]
//!      [--seg-min-clean 1.0] [--seg-min-speaker 2] [--seg-hop 80]]
//! ```
//! `--dir DIR` adds every `*.wav` of DIR (recursively) that has an `.rttm` beside it. `--out DIR`
//! writes `NAME.live.rttm` and `NAME.rttm` (after re-clustering) there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ddalkkak::audio;
use ddalkkak::commands::ModelPaths;
use ddalkkak::inference::diarize::reclustering::ClusterMethod;
use ddalkkak::inference::diarize::{
    ReclusterConfig, SegmentationConfig, SegmentedStream, SpeakerEncoder, SpeakerSegmentation, SpeakerTracker,
    SpeakerTurn, TrackerConfig, recluster,
};
use ddalkkak::inference::vad::{CHUNK, SileroVad};
use ddalkkak::inference::{OrtRuntime, Threads};
use ddalkkak::session::{SegmentEvent, SegmenterConfig, UtteranceSegmenter};
use ddalkkak_eval::der::{DerReport, RttmTurn, diarization_error, parse_rttm, write_rttm};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn all(args: &[String], name: &str) -> Vec<String> {
    args.iter().enumerate().filter(|(_, a)| *a == name).filter_map(|(i, _)| args.get(i + 1).cloned()).collect()
}

fn parsed<T: std::str::FromStr>(args: &[String], name: &str) -> anyhow::Result<Option<T>> {
    arg(args, name).map(|v| v.parse::<T>().map_err(|_| anyhow::anyhow!("{name}: cannot parse {v}"))).transpose()
}

fn wavs_with_rttm(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            wavs_with_rttm(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "wav") && p.with_extension("rttm").exists() {
            out.push((p.clone(), p.with_extension("rttm")));
        }
    }
    Ok(())
}

struct Outcome {
    live: Vec<SpeakerTurn>,
    reclustered: Vec<SpeakerTurn>,
    live_speakers: usize,
    speakers: usize,
    /// With `--segmentation`: all turns (overlapped speech included), speakers, seconds spent.
    segmented: Option<(Vec<SpeakerTurn>, usize, f64)>,
    seconds: f64,
    wall: f64,
    embed: f64,
}

fn run(
    vad: &mut SileroVad,
    encoder: &mut SpeakerEncoder,
    audio: &[f32],
    tracker: TrackerConfig,
    recluster_config: &ReclusterConfig,
    mut segmentation: Option<(&mut SpeakerSegmentation, SegmentationConfig, bool)>,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut embed = 0.0;
    vad.reset();
    let mut segmenter = UtteranceSegmenter::new(SegmenterConfig { partial_every_ms: None, ..Default::default() });
    let mut tracker = SpeakerTracker::new(tracker);
    let mut live = Vec::new();
    let mut segmented = segmentation.as_ref().map(|(_, c, _)| SegmentedStream::new(*c));
    let mut seg_time = 0.0;
    let mut handle = |events: Vec<SegmentEvent>, tracker: &mut SpeakerTracker| -> anyhow::Result<()> {
        for e in events {
            if let SegmentEvent::Final { utterance, .. } = e {
                let t = Instant::now();
                live.extend(tracker.observe(encoder, utterance.start, &utterance.audio)?);
                embed += t.elapsed().as_secs_f64();
                if let (Some(stream), Some((model, _, _))) = (segmented.as_mut(), segmentation.as_mut()) {
                    let t = Instant::now();
                    stream.push(model, encoder, utterance.start, &utterance.audio)?;
                    seg_time += t.elapsed().as_secs_f64();
                }
            }
        }
        Ok(())
    };
    for chunk in audio.chunks(CHUNK) {
        let mut chunk = chunk.to_vec();
        chunk.resize(CHUNK, 0.0);
        let p = vad.probability(&chunk)?;
        let events = segmenter.push(&chunk, &[p]);
        handle(events, &mut tracker)?;
    }
    handle(segmenter.flush(), &mut tracker)?;
    let live_speakers = tracker.speaker_count();
    let r = recluster(tracker.history(), recluster_config);
    let segmented = match (segmented, segmentation) {
        (Some(mut stream), Some((model, _, guided))) => {
            let t = Instant::now();
            stream.flush(model, encoder)?;
            let d = match guided {
                true => stream.diarize_with(&r.turns, &r.centroids),
                false => stream.diarize(),
            };
            seg_time += t.elapsed().as_secs_f64();
            let mut turns = d.turns;
            turns.extend(d.overlaps);
            Some((turns, d.speakers, seg_time))
        }
        _ => None,
    };
    Ok(Outcome {
        segmented,
        live,
        reclustered: r.turns,
        live_speakers,
        speakers: r.speakers,
        seconds: audio.len() as f64 / 16_000.0,
        wall: started.elapsed().as_secs_f64(),
        embed,
    })
}

fn rttm_turns(turns: &[SpeakerTurn]) -> Vec<RttmTurn> {
    turns
        .iter()
        .map(|t| RttmTurn { start: t.start_s(), end: t.end_s(), speaker: format!("spk{}", t.speaker) })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut pairs: Vec<(PathBuf, PathBuf)> =
        all(&args, "--audio").into_iter().zip(all(&args, "--rttm")).map(|(a, r)| (a.into(), r.into())).collect();
    for dir in all(&args, "--dir") {
        wavs_with_rttm(Path::new(&dir), &mut pairs)?;
    }
    anyhow::ensure!(!pairs.is_empty(), "give --audio X.wav --rttm X.rttm (several allowed) or --dir DIR");
    let out = arg(&args, "--out").map(PathBuf::from);
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
    }
    let paths = ModelPaths::new(arg(&args, "--models").unwrap_or_else(|| "models".into()));
    let threads = parsed(&args, "--threads")?.unwrap_or(2);

    let mut tracker = TrackerConfig::default();
    if let Some(v) = parsed(&args, "--threshold")? {
        tracker.threshold = v;
        tracker.update_threshold = v;
    }
    if let Some(v) = parsed(&args, "--hop-frames")? {
        tracker.hop_frames = v;
    }
    if let Some(v) = parsed(&args, "--min-new")? {
        tracker.min_new_speaker_s = v;
    }
    if let Some(v) = parsed(&args, "--max-speakers")? {
        tracker.max_speakers = v;
    }
    if args.iter().any(|a| a == "--no-normalize") {
        tracker.normalize_dbfs = None;
    }
    let mut reclustering = ReclusterConfig { max_speakers: tracker.max_speakers, ..Default::default() };
    if let Some(v) = parsed(&args, "--recluster-threshold")? {
        reclustering.threshold = v;
    }
    if let Some(v) = parsed(&args, "--min-speaker")? {
        reclustering.min_speaker_s = v;
    }
    if args.iter().any(|a| a == "--ahc") {
        reclustering.method = ddalkkak::inference::diarize::reclustering::ClusterMethod::AverageLinkage;
    }
    if let Some(v) = parsed(&args, "--p")? {
        reclustering.p_percentile = v;
    }
    if let Some(v) = parsed(&args, "--unit-windows")? {
        reclustering.unit_windows = v;
    }
    if args.iter().any(|a| a == "--no-mask") {
        reclustering.mask_overlap = false;
    }
    if args.iter().any(|a| a == "--center") {
        reclustering.center = true;
    }
    if args.iter().any(|a| a == "--no-center") {
        reclustering.center = false;
    }

    let mut seg_config = SegmentationConfig { max_speakers: tracker.max_speakers, ..Default::default() };
    if let Some(v) = parsed(&args, "--seg-step")? {
        seg_config.step_frames = v;
    }
    if args.iter().any(|a| a == "--seg-spectral") {
        seg_config.method = ClusterMethod::Spectral;
    }
    if let Some(v) = parsed(&args, "--seg-threshold")? {
        seg_config.threshold = v;
    }
    if let Some(v) = parsed(&args, "--seg-p")? {
        seg_config.p_percentile = v;
    }
    if let Some(v) = parsed(&args, "--seg-min-clean")? {
        seg_config.min_clean_s = v;
    }
    if let Some(v) = parsed(&args, "--seg-min-speaker")? {
        seg_config.min_speaker_s = v;
    }
    if let Some(v) = parsed(&args, "--seg-hop")? {
        seg_config.embedding.hop_frames = v;
    }

    let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: threads })?;
    let mut vad = SileroVad::load(&runtime, &paths.vad())?;
    let mut encoder = SpeakerEncoder::load(&runtime, &paths.speaker())?;
    let mut segmentation = match args.iter().any(|a| a == "--segmentation") {
        true => Some(SpeakerSegmentation::load(&runtime, &paths.segmentation())?),
        false => None,
    };
    eprintln!("tracker {tracker:?}\nre-clustering {reclustering:?}");
    if segmentation.is_some() {
        eprintln!("segmentation {seg_config:?}");
    }

    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:>3} {:>4} {:>4} {:>3}  {:>6} {:>8} {:>8}",
        "file",
        "live.25",
        "live0",
        "recl.25",
        "recl0",
        "seg.25",
        "seg0",
        "ref",
        "live",
        "recl",
        "seg",
        "RTF",
        "emb ms/s",
        "seg ms/s"
    );
    // Totals: all files, and per number of reference speakers.
    let mut groups: std::collections::BTreeMap<usize, Totals> = Default::default();
    let mut all = Totals::default();
    for (wav, rttm) in &pairs {
        let audio = audio::load_16k_mono(wav).with_context(|| wav.display().to_string())?;
        let reference = parse_rttm(&std::fs::read_to_string(rttm)?, None);
        let guided = args.iter().any(|a| a == "--seg-guided");
        let seg = segmentation.as_mut().map(|m| (m, seg_config, guided));
        let o = run(&mut vad, &mut encoder, &audio, tracker, &reclustering, seg)?;
        let (live, recl) = (rttm_turns(&o.live), rttm_turns(&o.reclustered));
        let segmented = o.segmented.as_ref().map(|(t, _, _)| rttm_turns(t));
        let seg_turns = segmented.clone().unwrap_or_default();
        let reports = [
            diarization_error(&reference, &live, 0.25),
            diarization_error(&reference, &live, 0.0),
            diarization_error(&reference, &recl, 0.25),
            diarization_error(&reference, &recl, 0.0),
            diarization_error(&reference, &seg_turns, 0.25),
            diarization_error(&reference, &seg_turns, 0.0),
        ];
        let mut ref_speakers: Vec<&str> = reference.iter().map(|t| t.speaker.as_str()).collect();
        ref_speakers.sort_unstable();
        ref_speakers.dedup();
        let seg_seconds = o.segmented.as_ref().map_or(0.0, |s| s.2);
        for t in [&mut all, groups.entry(ref_speakers.len()).or_default()] {
            t.add(&reports, o.seconds, o.wall, o.embed, seg_seconds);
        }
        let name = wav.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let parent = wav.parent().and_then(|p| p.file_name()).map(|p| p.to_string_lossy().into_owned());
        let label = parent.map_or(name.clone(), |p| format!("{p}/{name}"));
        let seg_speakers = o.segmented.as_ref().map_or("-".to_owned(), |s| s.1.to_string());
        row(
            &label,
            &reports,
            &format!("{:>3} {:>4} {:>4} {:>3}", ref_speakers.len(), o.live_speakers, o.speakers, seg_speakers),
            o.seconds,
            o.wall,
            o.embed,
            seg_seconds,
        );
        if args.iter().any(|a| a == "--verbose") {
            for (what, r) in ["live 0.25", "live 0", "recl 0.25", "recl 0", "seg 0.25", "seg 0"].iter().zip(&reports) {
                eprintln!(
                    "  {what}: total {:.2} s, missed {:.2}, false alarm {:.2}, confusion {:.2}",
                    r.total, r.missed, r.false_alarm, r.confusion
                );
            }
        }
        if let Some(dir) = &out {
            std::fs::write(dir.join(format!("{name}.live.rttm")), write_rttm(&name, &live))?;
            std::fs::write(dir.join(format!("{name}.rttm")), write_rttm(&name, &recl))?;
            if let Some(seg) = &segmented {
                std::fs::write(dir.join(format!("{name}.seg.rttm")), write_rttm(&name, seg))?;
            }
        }
    }
    for (speakers, t) in &groups {
        t.print(&format!("{speakers}-speaker files ({})", t.files));
    }
    all.print(&format!("TOTAL ({} files)", all.files));
    Ok(())
}

#[derive(Default)]
struct Totals {
    files: usize,
    reports: [DerReport; 6],
    seconds: f64,
    wall: f64,
    embed: f64,
    seg: f64,
}

impl Totals {
    fn add(&mut self, reports: &[DerReport; 6], seconds: f64, wall: f64, embed: f64, seg: f64) {
        self.files += 1;
        for (t, r) in self.reports.iter_mut().zip(reports) {
            t.add(r);
        }
        self.seconds += seconds;
        self.wall += wall;
        self.embed += embed;
        self.seg += seg;
    }

    fn print(&self, label: &str) {
        row(
            label,
            &self.reports,
            &format!("{:>3} {:>4} {:>4} {:>3}", "", "", "", ""),
            self.seconds,
            self.wall,
            self.embed,
            self.seg,
        );
    }
}

/// One line of the table: DER figures (time-weighted), speakers, costs per second of audio. The
/// `seg` columns are `-` without `--segmentation` (no time spent on it).
fn row(label: &str, r: &[DerReport; 6], speakers: &str, seconds: f64, wall: f64, embed: f64, seg: f64) {
    let pct = |d: &DerReport| if seg > 0.0 { format!("{:.1}%", 100.0 * d.der()) } else { "-".to_owned() };
    println!(
        "{:<28} {:>6.1}% {:>6.1}% {:>6.1}% {:>6.1}% {:>7} {:>7}  {}  {:>6.3} {:>8.1} {:>8.1}",
        label,
        100.0 * r[0].der(),
        100.0 * r[1].der(),
        100.0 * r[2].der(),
        100.0 * r[3].der(),
        pct(&r[4]),
        pct(&r[5]),
        speakers,
        wall / seconds,
        1e3 * embed / seconds,
        1e3 * seg / seconds,
    );
}
