//! Text ↔ token ids with the model's own `tokenizer.json` (GPT-2 byte-level BPE).

use std::path::Path;

use crate::inference::InferenceError;

pub struct WhisperTokenizer {
    inner: tokenizers::Tokenizer,
    eot: u32,
}

impl WhisperTokenizer {
    pub fn load(dir: &Path, eot: u32) -> Result<Self, InferenceError> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(InferenceError::MissingModel(path));
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        Ok(Self { inner, eot })
    }

    /// Text of the text tokens among `tokens` (special and timestamp tokens are skipped).
    pub fn decode(&self, tokens: &[u32]) -> String {
        let text: Vec<u32> = tokens.iter().copied().filter(|&t| t < self.eot).collect();
        self.inner.decode(&text, false).unwrap_or_default()
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, InferenceError> {
        let enc = self.inner.encode(text, false).map_err(|e| InferenceError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }
}
