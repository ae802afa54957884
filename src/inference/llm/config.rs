//! [`LlmConfig`]: `llm_config.json`, written by `models/convert_gguf.py` next to the graphs (the
//! keys are described in `models/README.md`, "LLM … GGUF → ONNX").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::LlmError;

/// The only format version this engine reads (2: GroupQueryAttention over a cache buffer that
/// may be shared between `past_key_values` and `present`).
pub const FORMAT: &str = "ddalkkak-llm-onnx/2";

#[derive(Debug, Clone, Deserialize)]
pub struct LlmConfig {
    pub format: String,
    pub name: String,
    pub architecture: String,
    pub n_layers: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Width of the logits; the tokenizer may know fewer ids.
    pub vocab_size: usize,
    pub context_length: usize,
    pub eos_token_ids: Vec<u32>,
    pub chat_template: ChatTemplateConfig,
    pub graphs: BTreeMap<String, GraphFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatTemplateConfig {
    pub kind: String,
    /// `"<|im_start|>{role}\n{content}<|im_end|>\n"`.
    pub message_format: String,
    pub generation_prompt: String,
    #[serde(default)]
    pub default_system_prompt: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphFile {
    pub file: String,
    #[serde(default)]
    pub external_data: Option<String>,
}

impl LlmConfig {
    pub fn load(dir: &Path) -> Result<Self, LlmError> {
        let path = dir.join("llm_config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LlmError::MissingModel(path.clone()),
            _ => LlmError::Config(format!("{}: {e}", path.display())),
        })?;
        let config: LlmConfig =
            serde_json::from_str(&text).map_err(|e| LlmError::Config(format!("{}: {e}", path.display())))?;
        if config.format != FORMAT {
            return Err(LlmError::Config(format!(
                "format {:?}, expected {FORMAT:?} (converted by an older models/convert_gguf.py: run models/fetch.sh)",
                config.format
            )));
        }
        if config.chat_template.kind != "chatml" {
            return Err(LlmError::Config(format!("chat template {:?} is not supported", config.chat_template.kind)));
        }
        if config.n_layers == 0 || config.vocab_size == 0 || config.eos_token_ids.is_empty() {
            return Err(LlmError::Config("n_layers, vocab_size and eos_token_ids must be set".into()));
        }
        Ok(config)
    }

    /// The graph file of `precision` (`fp32` / `int8`), checked to exist with its weights.
    pub fn graph_path(&self, dir: &Path, precision: &str) -> Result<PathBuf, LlmError> {
        let graph = self
            .graphs
            .get(precision)
            .ok_or_else(|| LlmError::Config(format!("no {precision} graph in llm_config.json")))?;
        for file in std::iter::once(&graph.file).chain(graph.external_data.as_ref()) {
            let path = dir.join(file);
            if !path.exists() {
                return Err(LlmError::MissingModel(path));
            }
        }
        Ok(dir.join(&graph.file))
    }
}
