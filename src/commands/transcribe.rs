use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use super::models::{ModelPaths, ensure_models};
use crate::audio;
use crate::inference::asr::{DecodeOptions, EncoderWindow, Precision, Segment, Transcriber};
use crate::inference::vad::{SileroVad, VadParams};
use crate::inference::{OrtRuntime, Threads};
use crate::session::Vocabulary;
use crate::subtitles::{self, Cue};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Srt,
    Vtt,
}

#[derive(Debug, Clone, Args)]
pub struct TranscribeArgs {
    /// Audio file: WAV, FLAC, MP3 or Ogg/Vorbis.
    pub file: PathBuf,
    /// Whisper model: tiny.en, base (multilingual).
    #[arg(long, default_value = "tiny.en")]
    pub model: String,
    #[arg(long, env = "DDALKKAK_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// 1 = greedy decoding.
    #[arg(long, default_value_t = 5)]
    pub beam_size: usize,
    /// Language code for multilingual models (e.g. en, ko).
    #[arg(long)]
    pub language: Option<String>,
    /// Use the int8 weight-quantized graphs.
    #[arg(long)]
    pub int8: bool,
    /// Encode only the frames a window holds instead of a padded 30 s window.
    #[arg(long)]
    pub trim_window: bool,
    /// Decode without timestamp tokens.
    #[arg(long)]
    pub without_timestamps: bool,
    /// Don't condition each window on the previous window's text.
    #[arg(long)]
    pub no_condition_on_previous_text: bool,
    /// Cut the audio into speech regions with Silero VAD and transcribe those (batched) instead
    /// of sliding 30 s windows over everything.
    #[arg(long)]
    pub vad: bool,
    /// A word to expect (a name, a product, jargon), spelled as it should be written;
    /// repeatable. Whisper gets them as text that came before each window (faster-whisper's
    /// `hotwords`); with `--vad`, each region is decoded with and without them and only the
    /// words that spell a term are taken from the first.
    #[arg(long = "keyterm", value_name = "TERM")]
    pub keyterms: Vec<String>,
    /// Intra-op threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl TranscribeArgs {
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            beam_size: self.beam_size.max(1),
            language: self.language.clone(),
            without_timestamps: self.without_timestamps,
            condition_on_previous_text: !self.no_condition_on_previous_text,
            keyterms: Vocabulary::new(self.keyterms.iter().cloned()).terms().to_vec(),
            ..DecodeOptions::default()
        }
    }
}

pub fn transcribe(args: TranscribeArgs) -> anyhow::Result<()> {
    let paths = ModelPaths::new(&args.models_dir);
    ensure_models(&paths, &args.model)?;
    let threads = args.threads.map(|intra_op| Threads { intra_op }).unwrap_or_default();
    let runtime = OrtRuntime::load(&paths.ort_library(), threads)?;
    let precision = if args.int8 { Precision::Int8 } else { Precision::Fp32 };
    let mut transcriber = Transcriber::load(&runtime, &paths.whisper(&args.model), precision)?;
    if args.trim_window {
        transcriber.window = EncoderWindow::Trimmed;
    }
    let audio = audio::load_16k_mono(&args.file)?;
    let started = Instant::now();
    let progress = |done: f32, total: f32| {
        eprint!("\r[transcribe] {done:7.1} / {total:.1} s ({:3.0}%)", 100.0 * done / total.max(1e-3));
    };
    let options = args.decode_options();
    let segments = if args.vad {
        let mut vad = SileroVad::load(&runtime, &paths.vad())?;
        transcriber.transcribe_with_vad(&audio, &mut vad, VadParams::default(), &options, 4, progress)?
    } else {
        transcriber.transcribe(&audio, &options, progress)?
    };
    let elapsed = started.elapsed().as_secs_f32();
    eprintln!(
        "\n[transcribe] {:.1} s of audio in {elapsed:.2} s ({:.1}x real time)",
        audio.len() as f32 / 16_000.0,
        audio.len() as f32 / 16_000.0 / elapsed.max(1e-6)
    );
    let mut out = std::io::stdout().lock();
    out.write_all(render(&segments, args.format)?.as_bytes())?;
    Ok(())
}

pub fn render(segments: &[Segment], format: OutputFormat) -> anyhow::Result<String> {
    let cues: Vec<Cue> = segments.iter().map(|s| Cue::new(s.start, s.end, &s.text)).collect();
    Ok(match format {
        OutputFormat::Text => subtitles::text(&cues) + "\n",
        OutputFormat::Srt => subtitles::srt(&cues),
        OutputFormat::Vtt => subtitles::vtt(&cues),
        OutputFormat::Json => serde_json::to_string_pretty(&serde_json::json!({ "segments": segments }))? + "\n",
    })
}
