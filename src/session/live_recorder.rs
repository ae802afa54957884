//! [`LiveRecorder`]: a live session's audio kept as its meeting's recording (`record=true`): the
//! 16 kHz mono the models hear, as Ogg Opus in the recording storage, a page a second while the
//! session runs. The recording row is made when the session starts, so after a crash the
//! meeting still has the file as far as it was written; the restart that finalizes the session
//! records that size and length ([`settle_after_crash`]).
//!
//! The file is written inline by the session's actor: a second of audio is about 3 KB and an
//! encoder call per 20 ms frame, far less than the decoding beside it.

use uuid::Uuid;

#[cfg(feature = "opus")]
use crate::audio::{MODEL_RATE, OggOpusWriter};
use crate::storage::RecordingStorage;
use crate::store::Store;

/// The container the live recordings are kept in.
#[cfg(feature = "opus")]
const FORMAT: &str = "ogg";

#[cfg(feature = "opus")]
pub struct LiveRecorder {
    tenant: Uuid,
    meeting: Uuid,
    writer: OggOpusWriter<std::fs::File>,
}

/// Without the `opus` feature no recorder can exist (`record=true` is refused).
#[cfg(not(feature = "opus"))]
pub struct LiveRecorder(std::convert::Infallible);

#[cfg(feature = "opus")]
impl LiveRecorder {
    /// Creates the file and the meeting's recording row; on any failure neither is left.
    pub async fn start(
        storage: &RecordingStorage,
        store: &dyn Store,
        tenant: Uuid,
        meeting: Uuid,
        session: Uuid,
    ) -> Result<Self, String> {
        let (key, file) = storage.create_live(tenant, meeting, session, FORMAT).map_err(|e| e.to_string())?;
        let begun = async {
            let writer = OggOpusWriter::new(file, session.as_u64_pair().0 as u32).map_err(|e| e.to_string())?;
            let bytes = writer.get_ref().metadata().map_err(|e| e.to_string())?.len() as i64;
            store
                .start_live_recording(tenant, meeting, session, &key, FORMAT, bytes)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(writer)
        };
        match begun.await {
            Ok(writer) => Ok(Self { tenant, meeting, writer }),
            Err(e) => {
                let _ = storage.delete(&key).await;
                Err(e)
            }
        }
    }

    /// Encodes `audio`; the whole seconds among it reach the file.
    pub fn push(&mut self, audio: &[f32]) -> std::io::Result<()> {
        self.writer.push(audio)
    }

    /// Ends the stream and records the recording's size and length on its row.
    pub async fn finish(self, store: &dyn Store) -> Result<(), String> {
        let samples = self.writer.samples();
        let file = self.writer.finish().map_err(|e| e.to_string())?;
        let bytes = file.metadata().map_err(|e| e.to_string())?.len() as i64;
        let duration_ms = (samples * 1000 / u64::from(MODEL_RATE)) as i64;
        store.finish_live_recording(self.tenant, self.meeting, bytes, duration_ms).await.map_err(|e| e.to_string())
    }
}

/// After a crash: a live recording of the meeting gets the size and length its file holds (the
/// pages written before the process died). Nothing for a meeting without one.
#[cfg(feature = "opus")]
pub async fn settle_after_crash(
    storage: &RecordingStorage,
    store: &dyn Store,
    tenant: Uuid,
    meeting: Uuid,
) -> Result<(), String> {
    let Some((recording, _)) = store.get_recording(tenant, meeting).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if !recording.live {
        return Ok(());
    }
    let path = storage.path(&recording.storage_key);
    // Its first page and its tail only: a long session's file is megabytes.
    let measured =
        tokio::task::spawn_blocking(move || crate::audio::file_written_duration(&mut std::fs::File::open(path)?));
    let (bytes, duration) = measured.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    let duration = duration.ok_or("the file is no Ogg Opus stream")?;
    store
        .finish_live_recording(tenant, meeting, bytes as i64, duration.as_millis() as i64)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "opus"))]
pub async fn settle_after_crash(_: &RecordingStorage, _: &dyn Store, _: Uuid, _: Uuid) -> Result<(), String> {
    Ok(())
}

#[cfg(not(feature = "opus"))]
impl LiveRecorder {
    pub async fn start(_: &RecordingStorage, _: &dyn Store, _: Uuid, _: Uuid, _: Uuid) -> Result<Self, String> {
        Err("this build has no Opus encoder (the `opus` feature is off)".into())
    }

    pub fn push(&mut self, _: &[f32]) -> std::io::Result<()> {
        match self.0 {}
    }

    pub async fn finish(self, _: &dyn Store) -> Result<(), String> {
        match self.0 {}
    }
}
