//! [`Generator`]: prompt → text. Prefills the prompt, then decodes one token per model call
//! (and the tokens [`PromptLookup`] drafted, when the model chooses them too) until an
//! end-of-sequence token, the token budget, the context end or (constrained) the completed JSON
//! value.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chat_template::{ChatTemplate, Message};
use super::error::LlmError;
use super::json_schema_constraint::{CompiledSchema, JsonSchemaConstraint};
use super::model::{KvCache, LlmModel, Precision};
use super::prompt_lookup::PromptLookup;
use super::sampler::{Sampler, SamplerConfig};
use super::token_trie::TokenTrie;
use crate::inference::OrtRuntime;

/// Default [`GenerationOptions::draft_tokens`].
pub const DRAFT_TOKENS: usize = 6;

/// Cached prefixes kept at once (an extractor uses two); the oldest goes first.
const MAX_PREFIXES: usize = 4;

#[derive(Debug, Clone, Copy)]
pub struct GenerationOptions {
    pub max_new_tokens: usize,
    pub sampler: SamplerConfig,
    /// Added to the log-odds of "a value" over `null` where a [`JsonSchema::Nullable`] value
    /// starts (0: the model's own odds). Raises or lowers how readily the answer says yes.
    ///
    /// [`JsonSchema::Nullable`]: super::json_schema_constraint::JsonSchema::Nullable
    pub value_bias: f32,
    /// Most tokens drafted per model call by [`PromptLookup`] (greedy decoding only; 0: none).
    /// The output is the same as without drafts, up to the small differences between int8
    /// calls of one and of several tokens.
    pub draft_tokens: usize,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        Self { max_new_tokens: 512, sampler: SamplerConfig::default(), value_bias: 0.0, draft_tokens: DRAFT_TOKENS }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence token.
    Eos,
    /// The constrained JSON value is complete.
    Complete,
    MaxTokens,
    ContextFull,
}

/// What one generation produced and what it cost.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    /// Generated ids (forced key tokens included), without the prompt.
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    /// Prompt tokens taken from the cached prefix instead of being prefilled.
    pub cached_prompt_tokens: usize,
    pub stop: StopReason,
    pub prefill_time: Duration,
    /// Model calls after the prefill (sampled steps and forced runs).
    pub decode_time: Duration,
    pub decode_calls: usize,
    /// Time spent choosing allowed tokens (included in `decode_time`).
    pub constraint_time: Duration,
    /// Steps where the model's own choice was refused and the full mask was computed.
    pub masked_steps: usize,
    /// Time of those full masks (included in `constraint_time`).
    pub mask_time: Duration,
    /// At each nullable value: the model's log-odds of a value over `null`, before the bias.
    pub nullable_log_odds: Vec<f32>,
    /// Tokens drafted by prompt lookup and fed for checking, and how many of them the model
    /// chose (each one a model call saved).
    pub drafted: usize,
    pub accepted_drafts: usize,
}

/// What constrained choices cost and saw during one generation (see [`Generation`]).
#[derive(Default)]
struct Choices {
    time: Duration,
    masked_steps: usize,
    mask_time: Duration,
    nullable_log_odds: Vec<f32>,
    /// Scratch buffer of allowed tokens.
    allowed: Vec<u32>,
}

pub struct Generator {
    pub model: LlmModel,
    tokenizer: tokenizers::Tokenizer,
    template: ChatTemplate,
    trie: Arc<TokenTrie>,
    /// Tokens of forced key texts, by text.
    forced_cache: HashMap<Vec<u8>, Vec<u32>>,
    /// KV caches of prompt prefixes that many prompts share (instructions and worked example),
    /// each computed once by [`cache_prefix`](Self::cache_prefix).
    prefixes: Vec<(Vec<u32>, KvCache)>,
}

impl Generator {
    pub fn load(runtime: &OrtRuntime, dir: &Path, precision: Precision) -> Result<Self, LlmError> {
        if !dir.is_dir() {
            return Err(LlmError::MissingModel(dir.to_owned()));
        }
        let model = LlmModel::load(runtime, dir, precision)?;
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(LlmError::MissingModel(path));
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&path).map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        let specials = tokenizer.get_added_tokens_decoder().into_values().map(|t| t.content).collect();
        let template = ChatTemplate::new(model.config.chat_template.clone(), specials);
        let trie = Arc::new(TokenTrie::from_tokenizer(&tokenizer, model.config.vocab_size));
        Ok(Self { model, tokenizer, template, trie, forced_cache: HashMap::new(), prefixes: Vec::new() })
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn trie(&self) -> &Arc<TokenTrie> {
        &self.trie
    }

    /// Token ids of `text` (control-token texts become their ids, as in a prompt).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let enc = self.tokenizer.encode_fast(text, false).map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, tokens: &[u32]) -> Result<String, LlmError> {
        self.tokenizer.decode(tokens, true).map_err(|e| LlmError::Tokenizer(e.to_string()))
    }

    /// Prefills `messages` (rendered without the assistant's turn) once and keeps their KV
    /// cache: a later prompt whose tokens start with exactly these tokens feeds only the rest.
    /// Returns the prefix length in tokens.
    pub fn cache_prefix(&mut self, messages: &[Message]) -> Result<usize, LlmError> {
        let text = self.template.render_turns(messages);
        let tokens = self.encode(&text)?;
        self.check_prompt(&tokens, 0)?;
        let n = tokens.len();
        // Cached already (another extractor on this generator): it becomes the newest.
        if let Some(i) = self.prefixes.iter().position(|(t, _)| *t == tokens) {
            let entry = self.prefixes.remove(i);
            self.prefixes.push(entry);
            return Ok(n);
        }
        let mut cache = self.model.empty_cache()?;
        self.model.forward(&tokens, &mut cache)?;
        if self.prefixes.len() >= MAX_PREFIXES {
            self.prefixes.remove(0);
        }
        self.prefixes.push((tokens, cache));
        Ok(n)
    }

    /// A prompt must hold a token and leave room for one more (`new`: what was asked for, for
    /// the error).
    fn check_prompt(&self, prompt: &[u32], new: usize) -> Result<(), LlmError> {
        let context = self.model.config.context_length;
        if prompt.is_empty() || prompt.len() >= context {
            return Err(LlmError::ContextOverflow { prompt: prompt.len(), new, context });
        }
        Ok(())
    }

    /// A cache holding the longest cached prefix of `prompt` (shorter than it), and that
    /// prefix's length; an empty cache and 0 when none is.
    fn start_from_prefix(&self, prompt: &[u32]) -> Result<(KvCache, usize), LlmError> {
        let best = self
            .prefixes
            .iter()
            .filter(|(tokens, _)| prompt.len() > tokens.len() && prompt.starts_with(tokens))
            .max_by_key(|(tokens, _)| tokens.len());
        match best {
            Some((tokens, cache)) => Ok((self.model.clone_cache(cache)?, tokens.len())),
            None => Ok((self.model.empty_cache()?, 0)),
        }
    }

    /// The log-odds, after the prompt rendered from `messages`, that the reply starts with one
    /// of `yes` rather than one of `no` (token ids): a yes/no question answered by one prefill.
    pub fn yes_log_odds(&mut self, messages: &[Message], yes: &[u32], no: &[u32]) -> Result<f32, LlmError> {
        let prompt = self.encode(&self.template.render(messages))?;
        self.check_prompt(&prompt, 1)?;
        let (mut cache, fed) = self.start_from_prefix(&prompt)?;
        let logits = self.model.forward(&prompt[fed..], &mut cache)?;
        let mass = |ids: &[u32]| {
            let max = ids.iter().map(|&t| logits[t as usize]).fold(f32::NEG_INFINITY, f32::max);
            max + ids.iter().map(|&t| (logits[t as usize] - max).exp()).sum::<f32>().ln()
        };
        Ok(mass(yes) - mass(no))
    }

    /// Generates the assistant's reply to `messages`; see [`generate_tokens`](Self::generate_tokens).
    pub fn generate(
        &mut self,
        messages: &[Message],
        options: &GenerationOptions,
        schema: Option<&Arc<CompiledSchema>>,
        on_token: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Generation, LlmError> {
        let prompt = self.encode(&self.template.render(messages))?;
        self.generate_tokens(&prompt, options, schema, on_token)
    }

    /// Generates after `prompt`. With `schema`, every token keeps the output a prefix of a
    /// value of the schema, and generation ends when the value is complete. `on_token` gets the
    /// count of generated tokens after each step; returning false cancels.
    pub fn generate_tokens(
        &mut self,
        prompt: &[u32],
        options: &GenerationOptions,
        schema: Option<&Arc<CompiledSchema>>,
        on_token: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Generation, LlmError> {
        self.check_prompt(prompt, options.max_new_tokens)?;
        let context = self.model.config.context_length;
        let mut sampler = Sampler::new(options.sampler);
        let mut constraint = schema.map(|s| JsonSchemaConstraint::new(s.clone(), self.trie.clone()));
        let eos = self.model.config.eos_token_ids.clone();
        let vocab = self.model.config.vocab_size;
        // A draft is kept where it equals the greedy choice, so only greedy decoding drafts.
        let mut lookup = (options.draft_tokens > 0 && sampler.is_greedy()).then(|| PromptLookup::new(prompt));

        let started = Instant::now();
        let (mut cache, fed) = self.start_from_prefix(prompt)?;
        // Row r: the logits after what was fed and the first r drafted tokens.
        let mut rows = self.model.forward(&prompt[fed..], &mut cache)?;
        let prefill_time = started.elapsed();

        let decode_started = Instant::now();
        let (mut decode_calls, mut drafted, mut accepted_drafts) = (0, 0, 0);
        let mut choices = Choices::default();
        let mut tokens: Vec<u32> = Vec::new();
        let mut draft: Vec<u32> = Vec::new();
        let mut feed: Vec<u32> = Vec::new();
        let stop = 'generate: loop {
            // The cache holds the draft; what is refused of it is forgotten below.
            let drafted_from = cache.len - draft.len();
            let mut kept = 0;
            for (r, logits) in rows.chunks_mut(vocab).enumerate() {
                if tokens.len() >= options.max_new_tokens {
                    break 'generate StopReason::MaxTokens;
                }
                sampler.penalize(logits, &tokens);
                let next = match constraint.as_mut() {
                    None => {
                        // Ids past the tokenizer's vocabulary (Qwen's unused fillers) never come.
                        let limit = self.trie.vocab_len().min(logits.len());
                        sampler.sample(&logits[..limit], None).unwrap_or(eos[0])
                    }
                    Some(c) => self.choose(c, &mut sampler, logits, options.value_bias, &mut choices)?,
                };
                if constraint.is_none() && eos.contains(&next) {
                    break 'generate StopReason::Eos;
                }
                tokens.push(next);
                // A drafted token the model chose is in the cache already.
                let in_cache = draft.get(r) == Some(&next);
                kept += usize::from(in_cache);
                accepted_drafts += usize::from(in_cache);
                feed.clear();
                if !in_cache {
                    feed.push(next);
                }
                if let Some(c) = constraint.as_mut() {
                    if c.is_complete() {
                        break 'generate StopReason::Complete;
                    }
                    // Keys are fixed: feed them with the chosen token in the same call.
                    if let Some(forced) = c.forced().map(<[u8]>::to_vec) {
                        let forced_tokens = self.forced_tokens(&forced)?;
                        for &t in &forced_tokens {
                            if !c.advance(t) {
                                return Err(LlmError::ConstraintDeadEnd(
                                    String::from_utf8_lossy(c.written()).into_owned(),
                                ));
                            }
                        }
                        tokens.extend_from_slice(&forced_tokens);
                        feed.extend_from_slice(&forced_tokens);
                    }
                }
                if !feed.is_empty() {
                    break;
                }
            }
            cache.truncate(drafted_from + kept);
            if !on_token(tokens.len()) {
                return Err(LlmError::Cancelled);
            }
            if cache.len + feed.len() > context {
                break StopReason::ContextFull;
            }
            draft.clear();
            if let Some(lookup) = lookup.as_mut() {
                let room = (context - cache.len - feed.len())
                    .min(self.model.prefill_chunk.saturating_sub(feed.len()))
                    .min(options.max_new_tokens.saturating_sub(tokens.len() + 1));
                lookup.propose(&tokens, room.min(options.draft_tokens), &mut draft);
                // Tokens the constraint refuses, or that follow a forced key, cannot be kept.
                if let Some(c) = &constraint {
                    draft.truncate(c.usable_prefix(&draft));
                }
                drafted += draft.len();
                feed.extend_from_slice(&draft);
            }
            rows = self.model.forward_rows(&feed, &mut cache, draft.len() + 1)?;
            decode_calls += 1;
        };
        let text = match &constraint {
            Some(c) => String::from_utf8_lossy(c.written()).into_owned(),
            None => self.decode(&tokens)?,
        };
        Ok(Generation {
            text,
            tokens,
            prompt_tokens: prompt.len(),
            cached_prompt_tokens: fed,
            stop,
            prefill_time,
            decode_time: decode_started.elapsed(),
            decode_calls,
            constraint_time: choices.time,
            masked_steps: choices.masked_steps,
            mask_time: choices.mask_time,
            nullable_log_odds: choices.nullable_log_odds,
            drafted,
            accepted_drafts,
        })
    }

    /// The next token under the constraint `c`, which is advanced over it.
    fn choose(
        &self,
        c: &mut JsonSchemaConstraint,
        sampler: &mut Sampler,
        logits: &[f32],
        value_bias: f32,
        choices: &mut Choices,
    ) -> Result<u32, LlmError> {
        let started = Instant::now();
        // Greedy: the model's own choice, when allowed, is the answer; the full mask is needed
        // only when it is refused.
        let choice = if c.at_nullable() {
            c.allowed_tokens(&mut choices.allowed);
            let (token, log_odds) = self.decide_nullable(logits, &choices.allowed, value_bias);
            choices.nullable_log_odds.push(log_odds);
            token
        } else if sampler.is_greedy() {
            sampler.sample(logits, None).filter(|&t| c.allows(t))
        } else {
            None
        };
        let choice = match choice {
            Some(t) => t,
            None => {
                choices.masked_steps += 1;
                let masking = Instant::now();
                c.allowed_tokens(&mut choices.allowed);
                choices.mask_time += masking.elapsed();
                sampler
                    .sample(logits, Some(&choices.allowed))
                    .ok_or_else(|| LlmError::ConstraintDeadEnd(String::from_utf8_lossy(c.written()).into_owned()))?
            }
        };
        c.advance(choice);
        choices.time += started.elapsed();
        Ok(choice)
    }

    /// Greedy choice at a nullable value: the two branches (tokens starting with `n` =
    /// `null`, the rest = the value) are weighed by their total probability, so a value split
    /// over many spellings (`{`, ` {`, `{"`) is not outvoted by one `null` token. Returns the
    /// best token of the winning branch and the log-odds of a value.
    fn decide_nullable(&self, logits: &[f32], allowed: &[u32], bias: f32) -> (Option<u32>, f32) {
        let max = allowed.iter().map(|&t| logits[t as usize]).fold(f32::NEG_INFINITY, f32::max);
        let (mut mass, mut best) = ([0f64; 2], [None::<(u32, f32)>; 2]);
        for &t in allowed {
            let first = self.trie.bytes(t).and_then(|b| b.iter().find(|b| !b.is_ascii_whitespace()).copied());
            let branch = usize::from(first == Some(b'n'));
            let l = logits[t as usize];
            mass[branch] += f64::from(l - max).exp();
            if best[branch].is_none_or(|(_, b)| l > b) {
                best[branch] = Some((t, l));
            }
        }
        let log_odds = (mass[0].ln() - mass[1].ln()) as f32;
        let value = best[0].is_some() && (best[1].is_none() || log_odds + bias > 0.0);
        (best[usize::from(!value)].map(|(t, _)| t), log_odds)
    }

    fn forced_tokens(&mut self, bytes: &[u8]) -> Result<Vec<u32>, LlmError> {
        if let Some(t) = self.forced_cache.get(bytes) {
            return Ok(t.clone());
        }
        let text = std::str::from_utf8(bytes).map_err(|e| LlmError::Config(format!("schema key: {e}")))?;
        let tokens = self.encode(text)?;
        self.forced_cache.insert(bytes.to_vec(), tokens.clone());
        Ok(tokens)
    }
}
