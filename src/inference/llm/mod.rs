//! The LLM that turns a finished meeting's transcript into a summary and action items, on ONNX
//! Runtime with a KV cache (graphs converted from GGUF by `models/convert_gguf.py`; I/O contract
//! in `models/README.md`).
//!
//! Layers, bottom up: [`LlmModel`] (session + cache, chunked prefill, steps of one token or of a
//! few drafted ones), [`ChatTemplate`] (ChatML prompts), [`Sampler`] (greedy / temperature +
//! top-p, repetition penalty), [`JsonSchemaConstraint`] with [`TokenTrie`] (token masks that keep
//! the output a valid prefix of a JSON schema), [`PromptLookup`] (drafts copied from the prompt),
//! [`Generator`] (prompt → text with stop conditions), [`MeetingExtractor`] (prompting about the
//! lines [`TaskCues`] pick, chunking of long transcripts, grounding, merging and deduplication),
//! [`ItemVerifier`] (a yes/no second look at each item) and [`LlmWorker`] (a dedicated thread
//! with a bounded queue and an async handle). Errors are [`LlmError`].

pub mod chat_template;
pub mod config;
pub mod error;
pub mod extraction;
pub mod generator;
pub mod item_verifier;
pub mod json_schema_constraint;
pub mod meeting_extractor;
pub mod model;
pub mod prompt_lookup;
pub mod sampler;
pub mod task_cues;
pub mod token_trie;
pub mod worker;

pub use chat_template::{ChatTemplate, Message, Role};
pub use config::LlmConfig;
pub use error::LlmError;
pub use extraction::{ExtractedItem, Extraction, MeetingInput, TranscriptLine};
pub use generator::{Generation, GenerationOptions, Generator, StopReason};
pub use item_verifier::ItemVerifier;
pub use json_schema_constraint::{CompiledSchema, JsonSchema, JsonSchemaConstraint, JsonState};
pub use meeting_extractor::{ExtractOptions, ExtractProgress, ExtractStats, MeetingExtractor};
pub use model::{KvCache, LlmModel, Precision};
pub use prompt_lookup::PromptLookup;
pub use sampler::{Sampler, SamplerConfig};
pub use task_cues::TaskCues;
pub use token_trie::TokenTrie;
pub use worker::{LlmProgress, LlmWorker, LlmWorkerOptions};
