//! [`LlmError`]: the one error type of the LLM module.

use std::path::PathBuf;

use crate::inference::InferenceError;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM model file not found: {0} (run `models/fetch.sh --llm <name>`)")]
    MissingModel(PathBuf),
    #[error("invalid LLM configuration: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("ONNX Runtime: {0}")]
    Ort(#[from] ort::Error),
    /// Loading the runtime or building a session failed.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The prompt plus the tokens to generate do not fit the model's context.
    #[error("prompt of {prompt} tokens + {new} new tokens exceeds the context of {context} tokens")]
    ContextOverflow { prompt: usize, new: usize, context: usize },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The constraint left no token to choose (a bug in the schema or vocabulary index).
    #[error("constrained decoding reached a dead end after {0:?}")]
    ConstraintDeadEnd(String),
    /// The output did not parse into the expected type (only possible without a constraint, or
    /// when generation stopped at the token budget before the JSON closed).
    #[error("model output is not valid: {0}")]
    Output(String),
    /// The queue of the LLM worker is full (see `LlmWorker`).
    #[error("the LLM worker is overloaded")]
    Overloaded,
    #[error("starting the LLM thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("the LLM worker has stopped")]
    Stopped,
    /// The caller went away before the work was done.
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    /// Missing files surface as [`LlmError::MissingModel`] whether the runtime or the module
    /// noticed first.
    pub(crate) fn from_inference(e: InferenceError) -> Self {
        match e {
            InferenceError::MissingModel(p) | InferenceError::MissingRuntime(p) => LlmError::MissingModel(p),
            other => LlmError::Inference(other),
        }
    }
}
