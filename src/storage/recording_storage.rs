//! Where recordings lie: files under one directory (`<data-dir>/recordings` by default), one per
//! meeting upload, named `<tenant>/<meeting>-<upload id>.<format>`, or per live session that is
//! kept (`record=true`), `<tenant>/<meeting>-<session id>.ogg`. An upload
//! streams to a hidden temporary file that is renamed only once it is whole and sniffed, so a
//! cut or refused upload leaves nothing behind.
//!
//! Deleting a recording (its own `DELETE`, the retention job, a meeting or tenant deleted for
//! good) deletes its row in the store's transaction first, which returns the storage keys, and
//! only then removes the files ([`RecordingStorage::discard`]): a file that cannot be removed is
//! logged and left behind, never an error to the caller, and never a row pointing at no file.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::audio::sniff_container;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the recording is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the body is empty")]
    Empty,
    #[error("the body is no audio container this server reads (WAV, FLAC, MP3, Ogg, WebM, MP4)")]
    NotAudio,
    /// The client's body stream failed (disconnect, timeout).
    #[error("reading the upload failed: {0}")]
    Body(String),
    #[error("storing the recording failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A recording written to the storage.
#[derive(Debug, Clone)]
pub struct StoredRecording {
    pub key: String,
    pub bytes: u64,
    /// From the first bytes ([`sniff_container`]).
    pub format: &'static str,
}

#[derive(Debug, Clone)]
pub struct RecordingStorage {
    root: PathBuf,
}

impl RecordingStorage {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file of `key` (keys come from [`RecordingStorage::store`] only).
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Streams `body` to a new file of the meeting, refusing it past `limit` bytes or when its
    /// first bytes are no audio container; on any error nothing is left.
    pub async fn store<E: std::fmt::Display>(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        body: impl Stream<Item = Result<Bytes, E>>,
        limit: u64,
    ) -> Result<StoredRecording, StorageError> {
        let dir = self.root.join(tenant.to_string());
        tokio::fs::create_dir_all(&dir).await?;
        let upload = Uuid::new_v4();
        let partial = dir.join(format!(".{meeting}-{upload}.partial"));
        let written = Self::write(&partial, body, limit).await;
        let (bytes, format) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e);
            }
        };
        let key = format!("{tenant}/{meeting}-{upload}.{format}");
        tokio::fs::rename(&partial, self.path(&key)).await?;
        Ok(StoredRecording { key, bytes, format })
    }

    async fn write<E: std::fmt::Display>(
        path: &Path,
        body: impl Stream<Item = Result<Bytes, E>>,
        limit: u64,
    ) -> Result<(u64, &'static str), StorageError> {
        let mut file = tokio::fs::File::create(path).await?;
        let mut head = Vec::with_capacity(16);
        let mut format = None;
        let mut bytes = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StorageError::Body(e.to_string()))?;
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(StorageError::TooLarge(limit));
            }
            if format.is_none() && head.len() < 16 {
                head.extend_from_slice(&chunk[..chunk.len().min(16 - head.len())]);
                if head.len() == 16 {
                    format = Some(sniff_container(&head).ok_or(StorageError::NotAudio)?);
                }
            }
            file.write_all(&chunk).await?;
        }
        if bytes == 0 {
            return Err(StorageError::Empty);
        }
        let format = match format {
            Some(format) => format,
            None => sniff_container(&head).ok_or(StorageError::NotAudio)?,
        };
        file.sync_all().await?;
        Ok((bytes, format))
    }

    /// A new file for the live session `session` of the meeting to be written as it streams
    /// (blocking: it only creates a file); its key is `<tenant>/<meeting>-<session>.<format>`.
    pub fn create_live(
        &self,
        tenant: Uuid,
        meeting: Uuid,
        session: Uuid,
        format: &str,
    ) -> std::io::Result<(String, std::fs::File)> {
        std::fs::create_dir_all(self.root.join(tenant.to_string()))?;
        let key = format!("{tenant}/{meeting}-{session}.{format}");
        let file = std::fs::File::create_new(self.path(&key))?;
        Ok((key, file))
    }

    /// Removes a stored recording; one already gone (or never stored: an empty key) is fine.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        if key.is_empty() {
            return Ok(());
        }
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every recording of a deleted tenant.
    pub async fn delete_tenant(&self, tenant: Uuid) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(self.root.join(tenant.to_string())).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the files of recordings whose rows are deleted; one that cannot be removed is
    /// logged (its row is gone already, so the caller has nothing to undo).
    pub async fn discard(&self, keys: impl IntoIterator<Item = impl AsRef<str>>) {
        for key in keys {
            let key = key.as_ref();
            if let Err(e) = self.delete(key).await {
                tracing::warn!(key, error = %e, "removing a deleted recording's file failed; it is left behind");
            }
        }
    }

    /// [`delete_tenant`](Self::delete_tenant) for a tenant whose rows are deleted: a failure is
    /// logged.
    pub async fn discard_tenant(&self, tenant: Uuid) {
        if let Err(e) = self.delete_tenant(tenant).await {
            tracing::warn!(%tenant, error = %e, "removing the deleted tenant's recordings failed; they are left behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&[u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + use<> {
        let owned: Vec<Result<Bytes, std::io::Error>> = parts.iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
        futures_util::stream::iter(owned)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn an_upload_is_stored_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let storage = RecordingStorage::new(root.path());
        let (tenant, meeting) = (Uuid::new_v4(), Uuid::new_v4());
        let dir = root.path().join(tenant.to_string());

        let stored = storage
            .store(tenant, meeting, chunks(&[b"OggS\0\x02\0\0", b"\0\0\0\0\0\0\0\0", b"rest"]), 100)
            .await
            .unwrap();
        assert_eq!((stored.bytes, stored.format), (20, "ogg"));
        assert_eq!(std::fs::read(storage.path(&stored.key)).unwrap().len(), 20);
        assert_eq!(files(&dir).len(), 1);

        let too_large =
            storage.store(tenant, meeting, chunks(&[b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0", &[0; 90]]), 100).await;
        assert!(matches!(too_large, Err(StorageError::TooLarge(100))), "{too_large:?}");
        let not_audio = storage.store(tenant, meeting, chunks(&[b"%PDF-1.7 and more bytes"]), 100).await;
        assert!(matches!(not_audio, Err(StorageError::NotAudio)), "{not_audio:?}");
        let empty = storage.store(tenant, meeting, chunks(&[]), 100).await;
        assert!(matches!(empty, Err(StorageError::Empty)), "{empty:?}");
        let cut = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"fLaC\0\0\0\x22\0\0\0\0\0\0\0\0")),
            Err(std::io::Error::other("client went away")),
        ]);
        assert!(matches!(storage.store(tenant, meeting, cut, 100).await, Err(StorageError::Body(_))));
        // Only the first upload is there; no partial file is left.
        assert_eq!(files(&dir), vec![stored.key.rsplit('/').next().unwrap().to_owned()]);

        storage.delete(&stored.key).await.unwrap();
        storage.delete(&stored.key).await.unwrap();
        assert!(files(&dir).is_empty());
        storage.store(tenant, meeting, chunks(&[b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0"]), 100).await.unwrap();
        storage.delete_tenant(tenant).await.unwrap();
        storage.delete_tenant(tenant).await.unwrap();
        assert!(!dir.exists(), "the tenant's folder is gone");
    }
}
