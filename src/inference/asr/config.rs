//! `whisper_config.json`, written by `models/convert_whisper.py` next to the ONNX graphs: the
//! model's dimensions, special tokens and suppression lists.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::inference::InferenceError;

#[derive(Debug, Clone, Deserialize)]
pub struct WhisperConfig {
    pub dims: Dims,
    pub multilingual: bool,
    pub tokens: SpecialTokens,
    /// Suppressed at every step (faster-whisper's default `suppress_tokens=[-1]` set).
    pub suppress_tokens: Vec<u32>,
    /// Suppressed at the first generated position (`suppress_blank`).
    pub suppress_ids_begin: Vec<u32>,
    #[serde(default)]
    pub alignment_heads: Vec<(usize, usize)>,
    pub graphs: BTreeMap<String, Graphs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dims {
    pub d: usize,
    pub n_mels: usize,
    pub dec_heads: usize,
    pub dec_layers: usize,
    pub vocab: usize,
    pub n_audio_ctx: usize,
    pub n_text_ctx: usize,
    pub head_dim: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SpecialTokens {
    pub eot: u32,
    pub sot: u32,
    pub translate: u32,
    pub transcribe: u32,
    pub sot_prev: u32,
    pub no_timestamps: u32,
    pub no_speech: u32,
    pub timestamp_begin: u32,
    pub languages: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Graphs {
    pub encoder: String,
    pub cross_kv: String,
    pub decoder: String,
}

impl WhisperConfig {
    pub fn load(dir: &Path) -> Result<Self, InferenceError> {
        let path = dir.join("whisper_config.json");
        let text = std::fs::read_to_string(&path).map_err(|_| InferenceError::MissingModel(path.clone()))?;
        serde_json::from_str(&text).map_err(|e| InferenceError::Config(format!("{}: {e}", path.display())))
    }
}
