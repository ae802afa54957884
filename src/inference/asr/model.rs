//! The three ONNX graphs of a converted Whisper model (see `models/README.md`): `encoder`
//! (log-mel → hidden states), `cross_kv` (hidden states → per-layer cross-attention K/V, once
//! per window) and `decoder` (tokens + cross K/V + self-attention cache → logits + new cache).

use std::path::Path;
use std::sync::Arc;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use super::config::WhisperConfig;
use crate::inference::{InferenceError, OrtRuntime};

/// Which weights to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Fp32,
    /// Weight-only int8 (onnxruntime `quantize_dynamic`).
    Int8,
}

impl Precision {
    fn key(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }
}

pub struct WhisperModel {
    /// Shared so decoding can read it while the model runs (no copy per window).
    pub config: Arc<WhisperConfig>,
    encoder: Session,
    cross_kv: Session,
    decoder: Session,
}

/// Cross-attention K/V of a batch of windows: `2 × layers` tensors `[batch, heads, frames, 64]`.
pub struct CrossKv {
    pub batch: usize,
    values: Vec<DynValue>,
}

/// The decoder's self-attention cache: `2 × layers` tensors `[batch, heads, len, 64]`.
pub struct KvCache {
    pub batch: usize,
    pub len: usize,
    values: Vec<DynValue>,
}

/// Logits of the last position of each sequence, `[batch][vocab]`, plus (on the first call) the
/// logits at a chosen prompt position, for the no-speech probability.
pub struct StepOutput {
    pub last: Vec<Vec<f32>>,
    pub at: Option<Vec<Vec<f32>>>,
}

impl WhisperModel {
    pub fn load(runtime: &OrtRuntime, dir: &Path, precision: Precision) -> Result<Self, InferenceError> {
        let config = Arc::new(WhisperConfig::load(dir)?);
        let graphs = config
            .graphs
            .get(precision.key())
            .ok_or_else(|| InferenceError::Config(format!("no {} graphs in whisper_config.json", precision.key())))?
            .clone();
        Ok(Self {
            encoder: runtime.session(&dir.join(&graphs.encoder))?,
            cross_kv: runtime.session(&dir.join(&graphs.cross_kv))?,
            decoder: runtime.session(&dir.join(&graphs.decoder))?,
            config,
        })
    }

    /// Encodes `batch` windows of `frames` mel frames each (`mel` is `[batch, n_mels, frames]`
    /// flattened) and computes their cross-attention K/V.
    pub fn encode(&mut self, mel: Vec<f32>, batch: usize, frames: usize) -> Result<CrossKv, InferenceError> {
        let n_mels = self.config.dims.n_mels;
        let input = Tensor::from_array(([batch, n_mels, frames], mel))?;
        let mut out = self.encoder.run(ort::inputs!["mel" => input])?;
        let hidden = out.remove("encoder_hidden_states").ok_or_else(|| missing("encoder_hidden_states"))?;
        drop(out);
        let mut kv = self.cross_kv.run(ort::inputs!["encoder_hidden_states" => &hidden])?;
        let layers = self.config.dims.dec_layers;
        let mut values = Vec::with_capacity(2 * layers);
        for l in 0..layers {
            for kind in ["k", "v"] {
                let name = format!("cross_{kind}.{l}");
                values.push(kv.remove(name.as_str()).ok_or_else(|| missing(&name))?);
            }
        }
        Ok(CrossKv { batch, values })
    }

    /// An empty cache for `batch` sequences.
    pub fn empty_cache(&self, batch: usize) -> Result<KvCache, InferenceError> {
        let dims = &self.config.dims;
        let mut values = Vec::with_capacity(2 * dims.dec_layers);
        for _ in 0..2 * dims.dec_layers {
            let t = Tensor::from_array(([batch, dims.dec_heads, 0, dims.head_dim], Vec::<f32>::new()))?;
            values.push(t.into_dyn());
        }
        Ok(KvCache { batch, len: 0, values })
    }

    /// Runs the decoder on `tokens` (`batch × seq`, equal lengths) after `cache`, replacing the
    /// cache with the extended one. `want_at` asks for the logits at that position too.
    pub fn step(
        &mut self,
        tokens: &[Vec<u32>],
        cross: &CrossKv,
        cache: &mut KvCache,
        want_at: Option<usize>,
    ) -> Result<StepOutput, InferenceError> {
        let batch = tokens.len();
        let seq = tokens[0].len();
        debug_assert!(tokens.iter().all(|t| t.len() == seq));
        debug_assert_eq!(batch, cache.batch);
        let ids: Vec<i64> = tokens.iter().flatten().map(|&t| t as i64).collect();
        let layers = self.config.dims.dec_layers;
        let mut inputs: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(1 + 4 * layers);
        inputs.push(("input_ids".into(), Tensor::from_array(([batch, seq], ids))?.into()));
        for l in 0..layers {
            inputs.push((format!("cross_k.{l}"), (&cross.values[2 * l]).into()));
            inputs.push((format!("cross_v.{l}"), (&cross.values[2 * l + 1]).into()));
            inputs.push((format!("past_key.{l}"), (&cache.values[2 * l]).into()));
            inputs.push((format!("past_value.{l}"), (&cache.values[2 * l + 1]).into()));
        }
        let mut out = self.decoder.run(inputs)?;
        let (shape, logits) = out["logits"].try_extract_tensor::<f32>()?;
        let vocab = shape[2] as usize;
        let row = |b: usize, pos: usize| logits[(b * seq + pos) * vocab..(b * seq + pos + 1) * vocab].to_vec();
        let last = (0..batch).map(|b| row(b, seq - 1)).collect();
        let at = want_at.map(|pos| (0..batch).map(|b| row(b, pos)).collect());
        let mut values = Vec::with_capacity(2 * layers);
        for l in 0..layers {
            for name in [format!("present_key.{l}"), format!("present_value.{l}")] {
                values.push(out.remove(name.as_str()).ok_or_else(|| missing(&name))?);
            }
        }
        *cache = KvCache { batch, len: cache.len + seq, values };
        Ok(StepOutput { last, at })
    }

    /// Reorders (and possibly repeats) the sequences of a cache: row `i` of the result is row
    /// `order[i]` of the input. Used by beam search.
    pub fn reorder_cache(&self, cache: &KvCache, order: &[usize]) -> Result<KvCache, InferenceError> {
        Ok(KvCache { batch: order.len(), len: cache.len, values: gather(&cache.values, order)? })
    }

    /// The cross K/V of window `index` of a batch.
    pub fn select_cross(&self, cross: &CrossKv, index: usize) -> Result<CrossKv, InferenceError> {
        self.select_rows(cross, &[index])
    }

    /// The cross K/V of windows `rows` of a batch, in that order.
    pub fn select_rows(&self, cross: &CrossKv, rows: &[usize]) -> Result<CrossKv, InferenceError> {
        Ok(CrossKv { batch: rows.len(), values: gather(&cross.values, rows)? })
    }

    /// Each window's cross K/V repeated `times` times in a row (one copy per beam or sample).
    pub fn repeat_cross(&self, cross: &CrossKv, times: usize) -> Result<CrossKv, InferenceError> {
        let order: Vec<usize> = (0..cross.batch).flat_map(|b| std::iter::repeat_n(b, times)).collect();
        Ok(CrossKv { batch: order.len(), values: gather(&cross.values, &order)? })
    }
}

/// Row `order[i]` of every `[batch, …]` tensor becomes row `i` of the result.
fn gather(values: &[DynValue], order: &[usize]) -> Result<Vec<DynValue>, InferenceError> {
    values
        .iter()
        .map(|v| {
            let (shape, data) = v.try_extract_tensor::<f32>()?;
            let per_row: usize = shape[1..].iter().map(|&d| d as usize).product();
            let mut out = Vec::with_capacity(per_row * order.len());
            for &i in order {
                out.extend_from_slice(&data[i * per_row..(i + 1) * per_row]);
            }
            let mut dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            dims[0] = order.len();
            Ok(Tensor::from_array((dims, out))?.into_dyn())
        })
        .collect()
}

fn missing(name: &str) -> InferenceError {
    InferenceError::Config(format!("graph output {name} missing"))
}
