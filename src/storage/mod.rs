//! Files the server keeps beside its database: uploaded meeting recordings.

mod recording_storage;

pub use recording_storage::{RecordingStorage, StorageError, StoredRecording};

/// Recording uploads: where they go and how large one may be.
#[derive(Debug, Clone)]
pub struct Recordings {
    pub storage: RecordingStorage,
    /// Larger uploads are refused (413) as soon as they pass it.
    pub max_bytes: u64,
}
