//! `ddalkkak models import --whisper DIR`: a faster-whisper (CTranslate2) Whisper model obtained
//! elsewhere (large-v3, large-v3-turbo, a fine-tune…) becomes `models/whisper-<name>/`, which
//! `--asr-models <name>` and `transcribe --model <name>` load like the fetched models.
//!
//! The directory is checked here, so a wrong one fails with a typed error before any work, then
//! `models/convert_whisper.py` (the converter `fetch.sh` runs, in its `models/.venv`) writes the
//! ONNX graphs into a staging directory that replaces the target only once it is complete. The
//! dimensions (mel bins, vocabulary, layers) and special tokens come from the model's own files,
//! so nothing here is specific to a size.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::models::ModelPaths;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "{dir} has no {file}: a faster-whisper (CTranslate2) Whisper directory holds model.bin, config.json and tokenizer.json"
    )]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error(
        "{dir} has no tokenizer.json (only {vocabulary}, which lacks the BPE merges): copy the tokenizer.json of the \
         same Whisper model (its Hugging Face repository has one) into the directory"
    )]
    NoTokenizer { dir: PathBuf, vocabulary: &'static str },
    #[error("{path} is not a CTranslate2 model: {reason}")]
    NotCtranslate2 { path: PathBuf, reason: String },
    #[error("{path} holds a CTranslate2 {spec}, not a Whisper model (WhisperSpec)")]
    NotWhisper { path: PathBuf, spec: String },
    #[error("{path}: CTranslate2 binary version {version} is not supported (5 and 6 are)")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{path}: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    #[error(
        "invalid model name {0:?}: letters, digits, '.', '-' and '_', not starting with '.' (it names \
         models/whisper-<name>/ and the value of --asr-models)"
    )]
    InvalidName(String),
    #[error("{0} exists: pass --force to replace it")]
    AlreadyImported(PathBuf),
    #[error("{source_dir} is inside {target}, which the import replaces: copy the model elsewhere first")]
    SourceInsideTarget { source_dir: PathBuf, target: PathBuf },
    #[error("{0} not found: the converter runs in models/.venv, which `bash models/fetch.sh` creates")]
    MissingPython(PathBuf),
    #[error("{0} not found: run from a checkout of the repository, or set DDALKKAK_MODELS_DIR to its models/ folder")]
    MissingConverter(PathBuf),
    #[error("the converter failed ({0}); its messages are above")]
    ConversionFailed(ExitStatus),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImportError {
    let context = context.into();
    move |source| ImportError::Io { context, source }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The CTranslate2 directory (`model.bin`, `config.json`, `tokenizer.json`).
    pub source: PathBuf,
    /// The served name; default: the directory's name without `faster-whisper-` / `whisper-`.
    pub name: Option<String>,
    /// Also write the int8 graphs (the server's default precision).
    pub int8: bool,
    /// Replace an existing `whisper-<name>/`.
    pub force: bool,
    /// Default: `<models>/.venv/bin/python`.
    pub python: Option<PathBuf>,
    /// Default: `<models>/convert_whisper.py`.
    pub converter: Option<PathBuf>,
}

/// What was imported, from the converted `whisper_config.json`.
#[derive(Debug, Clone)]
pub struct Imported {
    pub name: String,
    pub dir: PathBuf,
    pub n_mels: usize,
    pub vocab: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    /// Language codes (empty: English-only).
    pub languages: Vec<String>,
    pub int8: bool,
}

#[derive(Deserialize)]
struct ConvertedConfig {
    dims: ConvertedDims,
    multilingual: bool,
    tokens: ConvertedTokens,
    graphs: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ConvertedDims {
    d: usize,
    n_mels: usize,
    enc_layers: usize,
    dec_layers: usize,
    vocab: usize,
}

#[derive(Deserialize)]
struct ConvertedTokens {
    languages: std::collections::BTreeMap<String, u32>,
}

/// The served name of a model directory: `faster-whisper-large-v3` → `large-v3`.
pub fn default_name(source: &Path) -> Option<String> {
    let base = source.file_name()?.to_str()?;
    let base = base.strip_prefix("faster-whisper-").or_else(|| base.strip_prefix("whisper-")).unwrap_or(base);
    Some(base.to_owned())
}

pub fn validate_name(name: &str) -> Result<(), ImportError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok { Ok(()) } else { Err(ImportError::InvalidName(name.to_owned())) }
}

/// Checks that `dir` is a CTranslate2 Whisper directory the converter can take.
pub fn validate_source(dir: &Path) -> Result<(), ImportError> {
    if !dir.is_dir() {
        return Err(ImportError::NotADirectory(dir.to_owned()));
    }
    for file in ["model.bin", "config.json"] {
        if !dir.join(file).is_file() {
            return Err(ImportError::MissingFile { dir: dir.to_owned(), file });
        }
    }
    if !dir.join("tokenizer.json").is_file() {
        return Err(match ["vocabulary.json", "vocabulary.txt"].into_iter().find(|v| dir.join(v).is_file()) {
            Some(vocabulary) => ImportError::NoTokenizer { dir: dir.to_owned(), vocabulary },
            None => ImportError::MissingFile { dir: dir.to_owned(), file: "tokenizer.json" },
        });
    }
    check_model_bin(&dir.join("model.bin"))?;
    for file in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        let path = dir.join(file);
        if !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ImportError::InvalidFile { path: path.clone(), reason: format!("not JSON: {e}") })?;
        if file == "tokenizer.json" && value.get("added_tokens").and_then(|t| t.as_array()).is_none() {
            let reason = "no added_tokens: not a Hugging Face tokenizer of a Whisper model".to_owned();
            return Err(ImportError::InvalidFile { path, reason });
        }
    }
    Ok(())
}

/// The header of `model.bin`: `u32` binary version, then the spec name (`u16` length with NUL).
fn check_model_bin(path: &Path) -> Result<(), ImportError> {
    let mut head = [0u8; 6 + 64];
    let mut file = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let n = file.read(&mut head).map_err(io(format!("reading {}", path.display())))?;
    let not_ct2 = |reason: &str| ImportError::NotCtranslate2 { path: path.to_owned(), reason: reason.to_owned() };
    if n < 6 {
        return Err(not_ct2("shorter than its header"));
    }
    let version = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    let len = u16::from_le_bytes([head[4], head[5]]) as usize;
    if !(1..=64).contains(&len) || n < 6 + len {
        return Err(not_ct2("no spec name after the version"));
    }
    let spec = String::from_utf8_lossy(&head[6..6 + len]).trim_end_matches('\0').to_owned();
    if !spec.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_ct2("no spec name after the version"));
    }
    if spec != "WhisperSpec" {
        return Err(ImportError::NotWhisper { path: path.to_owned(), spec });
    }
    if !(5..=6).contains(&version) {
        return Err(ImportError::UnsupportedVersion { path: path.to_owned(), version });
    }
    Ok(())
}

/// Validates, converts and installs the model as `whisper-<name>/` under `paths`.
pub fn import_whisper(paths: &ModelPaths, options: &ImportOptions) -> Result<Imported, ImportError> {
    let source = &options.source;
    validate_source(source)?;
    let name = match &options.name {
        Some(name) => name.clone(),
        None => default_name(source).ok_or_else(|| ImportError::InvalidName(source.display().to_string()))?,
    };
    validate_name(&name)?;
    let target = paths.whisper(&name);
    if target.exists() {
        if !options.force {
            return Err(ImportError::AlreadyImported(target));
        }
        let (source_abs, target_abs) = (std::fs::canonicalize(source), std::fs::canonicalize(&target));
        if let (Ok(s), Ok(t)) = (source_abs, target_abs)
            && s.starts_with(&t)
        {
            return Err(ImportError::SourceInsideTarget { source_dir: source.clone(), target });
        }
    }
    let python = options.python.clone().unwrap_or_else(|| paths.root.join(".venv/bin/python"));
    if !python.exists() {
        return Err(ImportError::MissingPython(python));
    }
    let converter = options.converter.clone().unwrap_or_else(|| paths.root.join("convert_whisper.py"));
    if !converter.is_file() {
        return Err(ImportError::MissingConverter(converter));
    }

    std::fs::create_dir_all(&paths.root).map_err(io(format!("creating {}", paths.root.display())))?;
    let staging = paths.root.join(format!(".whisper-{name}.importing"));
    remove_dir(&staging)?;
    let mut cmd = Command::new(&python);
    cmd.arg(&converter).arg("--ct2-dir").arg(source).arg("--out-dir").arg(&staging);
    if options.int8 {
        cmd.arg("--int8");
    }
    // onnxruntime's self-check and quantizer would otherwise start a thread per core each
    cmd.env("OMP_NUM_THREADS", std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| "1".into()));
    let status = cmd.status().map_err(io(format!("running {}", python.display())))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(ImportError::ConversionFailed(status));
    }
    write_provenance(source, &staging, options.int8)?;

    let old = paths.root.join(format!(".whisper-{name}.replaced"));
    remove_dir(&old)?;
    if target.exists() {
        std::fs::rename(&target, &old).map_err(io(format!("moving {} aside", target.display())))?;
    }
    std::fs::rename(&staging, &target).map_err(io(format!("installing {}", target.display())))?;
    remove_dir(&old)?;
    summary(&name, &target)
}

fn remove_dir(dir: &Path) -> Result<(), ImportError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(format!("removing {}", dir.display()))(e)),
        _ => Ok(()),
    }
}

/// `imported.json`: where the weights came from (the CTranslate2 files are not copied).
fn write_provenance(source: &Path, out: &Path, int8: bool) -> Result<(), ImportError> {
    let bin = source.join("model.bin");
    let mut file = std::fs::File::open(&bin).map_err(io(format!("opening {}", bin.display())))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(io(format!("reading {}", bin.display())))?;
    let record = serde_json::json!({
        "source": std::fs::canonicalize(source).unwrap_or_else(|_| source.to_owned()),
        "model_bin_sha256": format!("{:x}", hasher.finalize()),
        "model_bin_bytes": bytes,
        "int8": int8,
        "converter": "models/convert_whisper.py",
    });
    let path = out.join("imported.json");
    std::fs::write(&path, format!("{record:#}\n")).map_err(io(format!("writing {}", path.display())))
}

fn summary(name: &str, dir: &Path) -> Result<Imported, ImportError> {
    let path = dir.join("whisper_config.json");
    let text = std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
    let config: ConvertedConfig =
        serde_json::from_str(&text).map_err(|e| ImportError::InvalidFile { path, reason: e.to_string() })?;
    let languages = if config.multilingual { config.tokens.languages.into_keys().collect() } else { Vec::new() };
    Ok(Imported {
        name: name.to_owned(),
        dir: dir.to_owned(),
        n_mels: config.dims.n_mels,
        vocab: config.dims.vocab,
        d_model: config.dims.d,
        encoder_layers: config.dims.enc_layers,
        decoder_layers: config.dims.dec_layers,
        languages,
        int8: config.graphs.contains_key("int8"),
    })
}

impl Imported {
    /// What `models import` prints: the shape, and how to serve it.
    pub fn report(&self) -> String {
        let languages = match self.languages.len() {
            0 => "English only".to_owned(),
            n => format!("multilingual, {n} languages"),
        };
        let precision = if self.int8 { "" } else { " --asr-precision fp32" };
        format!(
            "imported {name} into {dir}: {mels} mel bins, vocabulary {vocab}, d_model {d}, {enc} encoder / {dec} \
             decoder layers, {languages}; graphs fp32{int8}\n\
             serve it:      ddalkkak serve --asr-models {name}{precision}   (with others: --asr-models tiny.en,{name})\n\
             transcribe:    ddalkkak transcribe --model {name}{transcribe_int8} FILE",
            name = self.name,
            dir = self.dir.display(),
            mels = self.n_mels,
            vocab = self.vocab,
            d = self.d_model,
            enc = self.encoder_layers,
            dec = self.decoder_layers,
            int8 = if self.int8 { " + int8" } else { "" },
            transcribe_int8 = if self.int8 { " [--int8]" } else { "" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_directory_and_are_checked() {
        assert_eq!(default_name(Path::new("/x/faster-whisper-large-v3")).as_deref(), Some("large-v3"));
        assert_eq!(default_name(Path::new("whisper-large-v3-turbo/")).as_deref(), Some("large-v3-turbo"));
        assert_eq!(default_name(Path::new("my-model")).as_deref(), Some("my-model"));
        for good in ["large-v3", "large-v3-turbo", "ko_ft.2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", "a b", "large,v3"] {
            assert!(matches!(validate_name(bad), Err(ImportError::InvalidName(_))), "{bad}");
        }
    }

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    fn header(version: u32, spec: &str) -> Vec<u8> {
        let mut v = version.to_le_bytes().to_vec();
        v.extend(((spec.len() + 1) as u16).to_le_bytes());
        v.extend(spec.as_bytes());
        v.push(0);
        v.extend([0u8; 16]);
        v
    }

    const TOKENIZER: &[u8] = br#"{"added_tokens": [{"id": 50257, "content": "<|endoftext|>"}]}"#;

    #[test]
    fn each_missing_or_wrong_file_has_its_error() {
        let whisper = header(6, "WhisperSpec");
        let missing = tempfile::tempdir().unwrap().path().join("nope");
        assert!(matches!(validate_source(&missing), Err(ImportError::NotADirectory(_))));

        let d = dir_with(&[("config.json", b"{}"), ("tokenizer.json", TOKENIZER)]);
        assert!(matches!(validate_source(d.path()), Err(ImportError::MissingFile { file: "model.bin", .. })));
        let d = dir_with(&[("model.bin", &whisper), ("tokenizer.json", TOKENIZER)]);
        assert!(matches!(validate_source(d.path()), Err(ImportError::MissingFile { file: "config.json", .. })));
        let d = dir_with(&[("model.bin", &whisper), ("config.json", b"{}")]);
        assert!(matches!(validate_source(d.path()), Err(ImportError::MissingFile { file: "tokenizer.json", .. })));
        let d = dir_with(&[("model.bin", &whisper), ("config.json", b"{}"), ("vocabulary.json", b"[]")]);
        let err = validate_source(d.path()).unwrap_err();
        assert!(matches!(err, ImportError::NoTokenizer { vocabulary: "vocabulary.json", .. }), "{err}");

        let ok = |bin: &[u8]| dir_with(&[("model.bin", bin), ("config.json", b"{}"), ("tokenizer.json", TOKENIZER)]);
        assert!(validate_source(ok(&whisper).path()).is_ok());
        let err = validate_source(ok(&header(6, "TransformerSpec")).path()).unwrap_err();
        assert!(matches!(&err, ImportError::NotWhisper { spec, .. } if spec == "TransformerSpec"), "{err}");
        let err = validate_source(ok(&header(7, "WhisperSpec")).path()).unwrap_err();
        assert!(matches!(err, ImportError::UnsupportedVersion { version: 7, .. }), "{err}");
        let err = validate_source(ok(b"GGUF\x03\x00\x00\x00").path()).unwrap_err();
        assert!(matches!(err, ImportError::NotCtranslate2 { .. }), "{err}");

        let d = dir_with(&[("model.bin", &whisper), ("config.json", b"{"), ("tokenizer.json", TOKENIZER)]);
        assert!(matches!(validate_source(d.path()), Err(ImportError::InvalidFile { .. })));
        let d = dir_with(&[("model.bin", &whisper), ("config.json", b"{}"), ("tokenizer.json", b"{}")]);
        assert!(matches!(validate_source(d.path()), Err(ImportError::InvalidFile { .. })));
    }

    #[test]
    fn an_existing_model_is_kept_unless_forced_and_never_replaced_by_its_own_source() {
        let models = tempfile::tempdir().unwrap();
        let paths = ModelPaths::new(models.path());
        let target = paths.whisper("base");
        std::fs::create_dir_all(target.join("ct2")).unwrap();
        for (file, bytes) in [("model.bin", header(6, "WhisperSpec")), ("config.json", b"{}".to_vec())] {
            std::fs::write(target.join("ct2").join(file), bytes).unwrap();
        }
        std::fs::write(target.join("ct2/tokenizer.json"), TOKENIZER).unwrap();
        let options = ImportOptions {
            source: target.join("ct2"),
            name: Some("base".into()),
            int8: false,
            force: false,
            python: None,
            converter: None,
        };
        let err = import_whisper(&paths, &options).unwrap_err();
        assert!(matches!(err, ImportError::AlreadyImported(_)), "{err}");
        let err = import_whisper(&paths, &ImportOptions { force: true, ..options }).unwrap_err();
        assert!(matches!(err, ImportError::SourceInsideTarget { .. }), "{err}");
        assert!(target.join("ct2/model.bin").exists());
    }
}
