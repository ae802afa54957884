//! Files the server keeps beside its database: meeting recordings, uploaded or fetched from the
//! URL a client names.

mod recording_storage;
mod url_fetcher;

pub use recording_storage::{RecordingStorage, StorageError, StoredRecording};
pub use url_fetcher::{FetchError, UrlFetcher};

/// Recordings: where they go, how large one may be, and how one named by URL is fetched.
#[derive(Debug, Clone)]
pub struct Recordings {
    pub storage: RecordingStorage,
    /// Larger uploads are refused (413) as soon as they pass it; larger fetches fail.
    pub max_bytes: u64,
    pub fetcher: UrlFetcher,
}
