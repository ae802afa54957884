//! Speaker diarization ("who spoke when"), first part: speaker embeddings.
//!
//! [`SpeakerEncoder`] runs Resemblyzer's GE2E speaker encoder (a 3-layer LSTM over 40-band mel
//! *power* frames → a 256-d L2-normalised embedding; Apache-2.0, converted from its torch
//! checkpoint by `models/convert_resemblyzer.py` into `models/speaker/resemblyzer.onnx`) on the
//! front end of [`SpeakerMel`] (librosa's mel spectrogram with Resemblyzer's parameters). Two
//! stretches of speech by the same person have embeddings with a high cosine similarity
//! ([`cosine_similarity`]); the live pipeline embeds sliding 1.6 s windows in batches
//! ([`SpeakerEncoder::embed_windows`]) and groups them.
//!
//! Parity: `tests/speaker_embedding.rs` checks the mel frames and the utterance embedding against
//! `tests/fixtures/speaker_reference.json`, written by `models/make_speaker_fixture.py` from
//! Resemblyzer's own code (librosa front end, partial-window logic) and a numpy re-implementation
//! of its PyTorch forward on the original weights.

pub mod speaker_encoder;
pub mod speaker_mel;

pub use speaker_encoder::{
    DEFAULT_MIN_COVERAGE, DEFAULT_RATE, EMBEDDING_DIM, PARTIAL_FRAMES, SpeakerEncoder, UtteranceEmbedding,
    cosine_similarity, partial_slices,
};
pub use speaker_mel::{MelFrame, N_MELS, SpeakerMel, normalize_volume};
