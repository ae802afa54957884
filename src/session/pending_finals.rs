//! Finals on their way through ASR (and the diarizer), in the order their audio came.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::oneshot;

use super::session_error::SessionError;
use crate::inference::InferenceError;
use crate::inference::asr::UtteranceText;
use crate::inference::diarize::SpeakerTurn;

pub(super) type AsrReply = Result<UtteranceText, InferenceError>;

pub(super) struct PendingFinal {
    pub utterance_start: u64,
    pub samples: usize,
    pub speech_final: bool,
    pub from_finalize: bool,
    pub submitted: Instant,
    pub reply: oneshot::Receiver<AsrReply>,
    /// Speaker turns of the utterance, when diarizing.
    pub turns: Option<oneshot::Receiver<Result<Vec<SpeakerTurn>, InferenceError>>>,
}

pub(super) type PendingFinalFuture = std::pin::Pin<Box<dyn std::future::Future<Output = FinalDone> + Send>>;

/// Finals waiting for ASR, in order, with the audio span (samples) each covers, so what is still
/// pending when a deadline cuts the wait short can be reported.
#[derive(Default)]
pub(super) struct PendingFinals {
    futures: FuturesOrdered<PendingFinalFuture>,
    pub spans: std::collections::VecDeque<std::ops::Range<u64>>,
}

impl PendingFinals {
    pub fn push(&mut self, span: std::ops::Range<u64>, future: PendingFinalFuture) {
        self.spans.push_back(span);
        self.futures.push_back(future);
    }

    pub fn len(&self) -> usize {
        self.futures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    pub async fn next(&mut self) -> Option<FinalDone> {
        let done = self.futures.next().await?;
        self.spans.pop_front();
        Some(done)
    }
}

pub(super) struct FinalDone {
    pub start: u64,
    pub samples: usize,
    pub speech_final: bool,
    pub from_finalize: bool,
    pub latency: Duration,
    pub reply: Result<UtteranceText, SessionError>,
    pub turns: Vec<SpeakerTurn>,
}

impl PendingFinal {
    pub async fn resolve(self) -> FinalDone {
        let reply = match self.reply.await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(SessionError::Internal("the ASR engine stopped".into())),
        };
        // A diarization failure costs the speakers of this utterance, never its text.
        let turns = match self.turns {
            Some(rx) => match rx.await {
                Ok(Ok(turns)) => turns,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "speaker tracking failed for an utterance");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        FinalDone {
            turns,
            start: self.utterance_start,
            samples: self.samples,
            speech_final: self.speech_final,
            from_finalize: self.from_finalize,
            latency: self.submitted.elapsed(),
            reply,
        }
    }
}
