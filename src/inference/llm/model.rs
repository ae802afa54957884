//! [`LlmModel`]: the converted decoder graph (one session) and its KV cache. The I/O contract is
//! in `models/README.md`: `input_ids`, `attention_mask`, `position_ids`, `past_key_values.N.*`
//! in; `logits` and `present.N.*` out; `logits_to_keep` limits the logits to the last positions.
//!
//! The cache is one buffer per key/value tensor with room to spare, bound (IO binding) both as
//! `past_key_values.N.*` and as `present.N.*`: the graph's GroupQueryAttention then writes only
//! the new positions in place. Returning a fresh `present` each step would copy the whole cache
//! per token (~70 MB at 3k tokens for Qwen2.5-0.5B).

use std::path::Path;

use ort::memory::{Allocator, MemoryInfo};
use ort::session::Session;
use ort::value::Tensor;

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

/// The self-attention cache of one sequence: `2 × n_layers` buffers `[1, Hkv, capacity, Dh]`
/// of which the first `len` positions are written.
pub struct KvCache {
    pub len: usize,
    capacity: usize,
    values: Vec<Tensor<f32>>,
}

impl KvCache {
    /// Forgets every position from `len` on (drafted tokens that were refused): the graph reads
    /// only the first `len` positions, and the next call writes over the rest.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Capacity grows in steps of this many positions (and by at least half), so a long generation
/// reallocates a few times, not per token.
const CAPACITY_STEP: usize = 256;

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
        Ok(KvCache { len: 0, capacity: 0, values: self.buffers(0)? })
    }

    fn buffers(&self, capacity: usize) -> Result<Vec<Tensor<f32>>, LlmError> {
        let c = &self.config;
        let allocator = Allocator::default();
        (0..2 * c.n_layers)
            .map(|_| Ok(Tensor::<f32>::new(&allocator, [1, c.n_kv_heads, capacity, c.head_dim])?))
            .collect()
    }

    /// A copy of `cache` (a shared prompt prefix reused by several generations).
    pub fn clone_cache(&self, cache: &KvCache) -> Result<KvCache, LlmError> {
        let mut copy = KvCache { len: 0, capacity: cache.capacity, values: self.buffers(cache.capacity)? };
        self.copy_positions(cache, &mut copy)?;
        Ok(copy)
    }

    /// Makes room for `needed` positions, keeping the written ones.
    fn reserve(&self, cache: &mut KvCache, needed: usize) -> Result<(), LlmError> {
        if needed <= cache.capacity {
            return Ok(());
        }
        let capacity = needed
            .max(cache.capacity + cache.capacity / 2)
            .next_multiple_of(CAPACITY_STEP)
            .min(self.config.context_length.max(needed));
        let mut grown = KvCache { len: 0, capacity, values: self.buffers(capacity)? };
        self.copy_positions(cache, &mut grown)?;
        *cache = grown;
        Ok(())
    }

    /// Copies the written positions of `from` into `to` (each head's rows start at its own offset).
    fn copy_positions(&self, from: &KvCache, to: &mut KvCache) -> Result<(), LlmError> {
        let (heads, dh) = (self.config.n_kv_heads, self.config.head_dim);
        let rows = from.len * dh;
        for (src, dst) in from.values.iter().zip(&mut to.values) {
            let (_, src) = src.try_extract_tensor::<f32>()?;
            let (_, dst) = dst.try_extract_tensor_mut::<f32>()?;
            for h in 0..heads {
                let (s, d) = (h * from.capacity * dh, h * to.capacity * dh);
                dst[d..d + rows].copy_from_slice(&src[s..s + rows]);
            }
        }
        to.len = from.len;
        Ok(())
    }

    /// Feeds `tokens` after `cache` (in chunks of `prefill_chunk`), extends the cache and
    /// returns the logits of the last position (`vocab_size` floats).
    pub fn forward(&mut self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, LlmError> {
        self.forward_rows(tokens, cache, 1)
    }

    /// [`forward`](Self::forward), returning the logits of the last `rows` positions
    /// (`rows × vocab_size` floats, in order): one call checks several drafted tokens.
    pub fn forward_rows(&mut self, tokens: &[u32], cache: &mut KvCache, rows: usize) -> Result<Vec<f32>, LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::InvalidInput("no tokens to feed".into()));
        }
        let context = self.config.context_length;
        if cache.len + tokens.len() > context {
            return Err(LlmError::ContextOverflow { prompt: cache.len + tokens.len(), new: 0, context });
        }
        // Same cuts as a plain prefill; the rows asked for all come from the last call.
        let step = self.prefill_chunk.max(1);
        let last = (tokens.len() - 1) / step * step;
        if rows == 0 || rows > tokens.len() - last {
            return Err(LlmError::InvalidInput(format!(
                "{rows} logit rows from a last call of {} tokens",
                tokens.len() - last
            )));
        }
        for chunk in tokens[..last].chunks(step) {
            self.run(chunk, cache, 1)?;
        }
        Ok(self.run(&tokens[last..], cache, rows as i64)?.0)
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
        self.reserve(cache, past + seq)?;
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let positions: Vec<i64> = (past..past + seq).map(|p| p as i64).collect();
        let mut binding = self.session.create_binding()?;
        binding.bind_input("input_ids", &Tensor::from_array(([1, seq], ids))?)?;
        binding.bind_input("attention_mask", &Tensor::from_array(([1, past + seq], vec![1i64; past + seq]))?)?;
        binding.bind_input("position_ids", &Tensor::from_array(([1, seq], positions))?)?;
        binding.bind_input("logits_to_keep", &Tensor::from_array(((), vec![keep]))?)?;
        for (i, value) in cache.values.iter_mut().enumerate() {
            let (layer, kind) = (i / 2, if i % 2 == 0 { "key" } else { "value" });
            binding.bind_input(format!("past_key_values.{layer}.{kind}"), value)?;
            binding.bind_output(format!("present.{layer}.{kind}"), value)?;
        }
        binding.bind_output_to_device("logits", &MemoryInfo::default())?;
        let out = self.session.run_binding(&binding)?;
        let (shape, logits) = out["logits"].try_extract_tensor::<f32>()?;
        if shape.len() != 3 || shape[2] as usize != self.config.vocab_size {
            return Err(LlmError::Config(format!(
                "logits of shape {shape:?}, expected [1, n, {}]",
                self.config.vocab_size
            )));
        }
        cache.len = past + seq;
        Ok((logits.to_vec(), shape[1] as usize))
    }
}
