//! The LLM runtime on ONNX Runtime with a KV cache (graphs converted from GGUF by
//! `models/convert_gguf.py`; I/O contract in `models/README.md`). It knows nothing of meetings:
//! the prompts, answers and action items are `crate::intelligence`'s, which runs on it.
//!
//! Layers, bottom up: [`LlmModel`] (session + cache, chunked prefill, steps of one token or of a
//! few drafted ones), [`ChatTemplate`] (ChatML prompts), [`Sampler`] (greedy / temperature +
//! top-p, repetition penalty), [`JsonSchemaConstraint`] with [`TokenTrie`] (token masks that keep
//! the output a valid prefix of a JSON schema), [`PromptLookup`] (drafts copied from the prompt),
//! [`Generator`] (prompt → text with stop conditions, cached prompt prefixes, yes/no log-odds)
//! and [`LlmWorker`] (a dedicated thread with a bounded queue and an async handle, serving an
//! [`LlmHandler`]). Errors are [`LlmError`].

pub mod chat_template;
pub mod config;
pub mod error;
pub mod generator;
pub mod json_schema_constraint;
pub mod model;
pub mod prompt_lookup;
pub mod sampler;
pub mod token_trie;
pub mod worker;

pub use chat_template::{ChatTemplate, Message, Role};
pub use config::LlmConfig;
pub use error::LlmError;
pub use generator::{Generation, GenerationOptions, Generator, StopReason};
pub use json_schema_constraint::{CompiledSchema, JsonSchema, JsonSchemaConstraint, JsonState};
pub use model::{KvCache, LlmModel, Precision};
pub use prompt_lookup::PromptLookup;
pub use sampler::{Sampler, SamplerConfig};
pub use token_trie::TokenTrie;
pub use worker::{LlmHandler, LlmProgress, LlmWorker, LlmWorkerOptions};
