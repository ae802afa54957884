//! Builds the meeting-intelligence side of [`crate::App::build`]: the LLM worker thread and the
//! durable job runners (`meeting_intelligence`, and `slack_post` which needs no model).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::models::{ModelPaths, require_llm};
use crate::auth::TokenCipher;
use crate::inference::llm::{LlmWorker, LlmWorkerOptions, Precision};
use crate::inference::{OrtRuntime, Threads};
use crate::intelligence::{ExtractOptions, MeetingExtractor};
use crate::jobs::{JobRunner, MeetingIntelligenceJob, RunnerConfig, SlackClient, SlackPostJob};
use crate::session::CaptionHub;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct IntelligenceSetup {
    pub models_dir: PathBuf,
    /// `smollm2`, `qwen0.5b`, `qwen1.5b`; `None`: no summaries (jobs stay queued).
    pub llm: Option<String>,
    pub precision: Precision,
    /// Intra-op threads of the LLM (`None`: every core).
    pub threads: Option<usize>,
    /// Niceness of the LLM's threads (see `LlmWorker`'s CPU policy).
    pub nice: i32,
    pub slack_api_url: String,
    pub runner: RunnerConfig,
    /// Live sessions draft their action items while they run (`session::live_minutes`).
    pub live_minutes: bool,
    /// Most transcript tokens the LLM reads at once ([`ExtractOptions::chunk_tokens`]).
    pub chunk_tokens: usize,
    /// [`ExtractOptions::notes`].
    pub notes: u8,
}

impl IntelligenceSetup {
    /// Fails, naming the `models/fetch.sh` command to run, when the configured LLM is missing.
    pub fn require_model(&self) -> anyhow::Result<()> {
        match &self.llm {
            Some(name) => require_llm(&ModelPaths::new(&self.models_dir), name),
            None => Ok(()),
        }
    }
}

/// The runners to spawn, and the LLM thread they use (stopped when dropped).
pub struct Intelligence {
    pub runners: Vec<JobRunner>,
    pub llm: Option<Arc<LlmWorker<MeetingExtractor>>>,
}

pub async fn start_intelligence(
    setup: IntelligenceSetup,
    store: Arc<dyn Store>,
    cipher: TokenCipher,
    captions: Option<Arc<CaptionHub>>,
) -> anyhow::Result<Intelligence> {
    let slack = SlackPostJob { store: store.clone(), cipher, slack: SlackClient::new(&setup.slack_api_url) };
    let mut runners = vec![JobRunner { store: store.clone(), handler: Arc::new(slack), config: setup.runner }];
    let Some(name) = setup.llm.clone() else {
        tracing::warn!("no LLM configured: meeting summaries and action items are not generated");
        return Ok(Intelligence { runners, llm: None });
    };
    setup.require_model()?;
    let paths = ModelPaths::new(&setup.models_dir);
    let llm = tokio::task::spawn_blocking(move || -> anyhow::Result<LlmWorker<MeetingExtractor>> {
        let threads = setup.threads.unwrap_or(Threads::default().intra_op).max(1);
        let runtime = OrtRuntime::load(&paths.ort_library(), Threads { intra_op: threads })?;
        let options = LlmWorkerOptions {
            intra_op_threads: threads,
            nice: setup.nice,
            handler: ExtractOptions {
                chunk_tokens: setup.chunk_tokens,
                notes: setup.notes,
                ..ExtractOptions::for_model(&name)
            },
            ..LlmWorkerOptions::default()
        };
        LlmWorker::start(&runtime, &paths.llm(&name), setup.precision, options)
            .with_context(|| format!("loading LLM {name}"))
    })
    .await??;
    let llm = Arc::new(llm);
    let job = MeetingIntelligenceJob { store: store.clone(), llm: llm.clone(), captions };
    runners.push(JobRunner { store, handler: Arc::new(job), config: setup.runner });
    Ok(Intelligence { runners, llm: Some(llm) })
}
