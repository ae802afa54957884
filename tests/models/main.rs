//! The inference code against the real models and reference fixtures, without a server or a
//! database: the log-mel front end, the ASR model and engine, the LLM engine and worker, the
//! speaker encoder, the speaker segmentation model and diarization. Each module loads its models
//! once and shares them between its tests.

#[path = "../common/mod.rs"]
mod common;

mod asr_frontend;
mod asr_import;
mod asr_model;
mod diarization;
mod llm_engine;
mod speaker_embedding;
mod speaker_segmentation;
