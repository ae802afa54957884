//! [`LlmModel`]: the converted decoder graph (one session) and its KV cache. The I/O contract is
//! in `models/README.md`: `input_ids`, `attention_mask`, `position_ids`, `past_key_values.N.*`
//! in; `logits` and `present.N.*` out; `logits_to_keep` limits the logits to the last positions.

use std::path::Path;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use super::config::LlmConfig;
use super::error::LlmError;
use crate::inference::OrtRuntime;

/// Which weights to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    Fp32,
    /// 8-bit `MatMulNBits` weights: about twice as fast to decode on CPU.
    #[default]
    Int8,
}

impl Precision {
    pub fn key(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = LlmError;

    fn from_str(s: &str) -> Result<Self, LlmError> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "int8" => Ok(Precision::Int8),
            other => Err(LlmError::InvalidInput(format!("precision {other:?}: expected fp32 or int8"))),
        }
    }
}

/// The self-attention cache of one sequence: `2 × n_layers` tensors `[1, Hkv, len, Dh]`.
pub struct KvCache {
    pub len: usize,
    values: Vec<DynValue>,
}

pub struct LlmModel {
    pub config: LlmConfig,
    session: Session,
    /// Longest run fed to the graph at once while prefilling: bounds the activations (the
    /// attention scores are `heads × chunk × (past + chunk)` floats).
    pub prefill_chunk: usize,
}

impl LlmModel {
    pub fn load(runtime: &OrtRuntime, dir: &Path, precision: Precision) -> Result<Self, LlmError> {
        let config = LlmConfig::load(dir)?;
        let graph = config.graph_path(dir, precision.key())?;
        let session = runtime.session(&graph).map_err(LlmError::from_inference)?;
        Ok(Self { config, session, prefill_chunk: 512 })
    }

    pub fn empty_cache(&self) -> Result<KvCache, LlmError> {
        let c = &self.config;
        let mut values = Vec::with_capacity(2 * c.n_layers);
        for _ in 0..2 * c.n_layers {
            values.push(Tensor::from_array(([1, c.n_kv_heads, 0, c.head_dim], Vec::<f32>::new()))?.into_dyn());
        }
        Ok(KvCache { len: 0, values })
    }

    /// A copy of `cache` (a shared prompt prefix reused by several generations).
    pub fn clone_cache(&self, cache: &KvCache) -> Result<KvCache, LlmError> {
        let mut values = Vec::with_capacity(cache.values.len());
        for v in &cache.values {
            let (shape, data) = v.try_extract_tensor::<f32>()?;
            let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            values.push(Tensor::from_array((dims, data.to_vec()))?.into_dyn());
        }
        Ok(KvCache { len: cache.len, values })
    }

    /// Feeds `tokens` after `cache` (in chunks of `prefill_chunk`), extends the cache and
    /// returns the logits of the last position (`vocab_size` floats).
    pub fn forward(&mut self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::InvalidInput("no tokens to feed".into()));
        }
        let context = self.config.context_length;
        if cache.len + tokens.len() > context {
            return Err(LlmError::ContextOverflow { prompt: cache.len + tokens.len(), new: 0, context });
        }
        let mut last = Vec::new();
        for chunk in tokens.chunks(self.prefill_chunk.max(1)) {
            let (logits, _) = self.run(chunk, cache, 1)?;
            last = logits;
        }
        Ok(last)
    }

    /// One pass over `tokens` with no cache, returning the logits of every position
    /// (`tokens.len() × vocab_size`): the reference the cached path is checked against.
    pub fn full_pass(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut cache = self.empty_cache()?;
        let (logits, rows) = self.run(tokens, &mut cache, 0)?;
        let vocab = logits.len() / rows.max(1);
        Ok(logits.chunks(vocab).map(<[f32]>::to_vec).collect())
    }

    /// One graph call; `keep` = `logits_to_keep` (0: all positions). Returns the logits and
    /// their row count.
    fn run(&mut self, tokens: &[u32], cache: &mut KvCache, keep: i64) -> Result<(Vec<f32>, usize), LlmError> {
        let (past, seq) = (cache.len, tokens.len());
        let layers = self.config.n_layers;
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let positions: Vec<i64> = (past..past + seq).map(|p| p as i64).collect();
        let mut inputs: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(4 + 2 * layers);
        inputs.push(("input_ids".into(), Tensor::from_array(([1, seq], ids))?.into()));
        inputs.push(("attention_mask".into(), Tensor::from_array(([1, past + seq], vec![1i64; past + seq]))?.into()));
        inputs.push(("position_ids".into(), Tensor::from_array(([1, seq], positions))?.into()));
        inputs.push(("logits_to_keep".into(), Tensor::from_array(((), vec![keep]))?.into()));
        for l in 0..layers {
            inputs.push((format!("past_key_values.{l}.key"), (&cache.values[2 * l]).into()));
            inputs.push((format!("past_key_values.{l}.value"), (&cache.values[2 * l + 1]).into()));
        }
        let mut out = self.session.run(inputs)?;
        let (shape, logits) = out["logits"].try_extract_tensor::<f32>()?;
        if shape.len() != 3 || shape[2] as usize != self.config.vocab_size {
            return Err(LlmError::Config(format!("logits of shape {shape:?}, expected [1, n, {}]", self.config.vocab_size)));
        }
        let (rows, logits) = (shape[1] as usize, logits.to_vec());
        let mut values = Vec::with_capacity(2 * layers);
        for l in 0..layers {
            for name in [format!("present.{l}.key"), format!("present.{l}.value")] {
                let v = out.remove(name.as_str()).ok_or_else(|| LlmError::Config(format!("graph output {name} missing")))?;
                values.push(v);
            }
        }
        *cache = KvCache { len: past + seq, values };
        Ok((logits, rows))
    }
}
