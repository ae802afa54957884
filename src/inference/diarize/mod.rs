//! Speaker diarization ("who spoke when").
//!
//! Embeddings: [`SpeakerEncoder`] runs Resemblyzer's GE2E speaker encoder (a 3-layer LSTM over
//! 40-band mel *power* frames → a 256-d L2-normalised embedding; Apache-2.0, converted from its
//! torch checkpoint by `models/convert_resemblyzer.py` into `models/speaker/resemblyzer.onnx`) on
//! the front end of [`SpeakerMel`] (librosa's mel spectrogram with Resemblyzer's parameters). Two
//! stretches of speech by the same person have embeddings with a high cosine similarity
//! ([`cosine_similarity`]).
//!
//! Live: [`DiarizeWorker`] owns the encoder and every session's tracker on one thread.
//! [`SpeakerTracker`] embeds sliding 1.6 s windows of each final utterance in one batched
//! run ([`SpeakerEncoder::embed_windows`]), assigns them to speakers online and returns
//! [`SpeakerTurn`]s; [`speaker_for_span`] gives a word or segment its speaker. End of meeting:
//! [`recluster`] clusters all kept window embeddings again and relabels the meeting;
//! [`speaker_labels`] describes the speakers; [`match_voices`] names those whose centroid is an
//! enrolled voiceprint ([`speech_embedding`]). `ddalkkak_eval::der` scores it all against a
//! reference RTTM (`examples/der_eval.rs`).
//!
//! Parity: `tests/models/speaker_embedding.rs` checks the mel frames and the utterance embedding against
//! `tests/fixtures/speaker_reference.json`, written by `models/make_speaker_fixture.py` from
//! Resemblyzer's own code (librosa front end, partial-window logic) and a numpy re-implementation
//! of its PyTorch forward on the original weights.

pub mod diarize_worker;
pub mod hungarian;
pub mod reclustering;
pub mod segmented_diarization;
pub mod speaker_encoder;
pub mod speaker_mel;
pub mod speaker_segmentation;
pub mod speaker_tracker;
pub mod voice_match;

pub use diarize_worker::{DiarizeHandle, DiarizeWorker};
pub use hungarian::hungarian;
pub use reclustering::{ReclusterConfig, Reclustered, recluster, speaker_labels};
pub use segmented_diarization::{SegmentationConfig, SegmentedDiarization, SegmentedStream};
pub use speaker_encoder::{
    DEFAULT_MIN_COVERAGE, DEFAULT_RATE, EMBEDDING_DIM, PARTIAL_FRAMES, SpeakerEncoder, UtteranceEmbedding,
    cosine_similarity, partial_slices,
};
pub use speaker_mel::{MelFrame, N_MELS, SpeakerMel, normalize_volume};
pub use speaker_segmentation::{FrameSpeakers, SpeakerSegmentation, powerset_decode};
pub use speaker_tracker::{
    SpeakerTracker, SpeakerTurn, TrackerConfig, TrackerHistory, UtteranceRecord, WindowEmbedding, speaker_for_span,
    speech_embedding,
};
pub use voice_match::{VOICE_MATCH_THRESHOLD, VoiceMatch, match_voices};
