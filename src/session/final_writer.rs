//! [`FinalWriter`]: a session's finals into the store, in order, riding out a database that is
//! away (PostgreSQL restarting, SQLite locked by another writer).
//!
//! Policy: a final that cannot be stored is kept in memory, in order, and the session goes on; the
//! client (and viewers) get `PersistenceDegraded` once, and `PersistenceRestored` when every kept
//! final has been written. Storing is retried with each new final and on the actor's tick. At
//! most [`MAX_UNSAVED_FINALS`] wait (about an hour of speech; a few MiB): one more ends the
//! session with 1011 `store_unavailable`. Each attempt is bounded by [`ATTEMPT_TIMEOUT`] so a
//! database that hangs cannot stall the session's loop. Writing a final twice is harmless (the
//! store ignores a `(session, seq)` it has), so an attempt whose answer was lost is simply
//! repeated.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::{NewFinal, Store};

/// Finals kept in memory while the database is away before the session gives up.
pub const MAX_UNSAVED_FINALS: usize = 1_000;
/// Longest one write may take before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a write or a retry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Everything is stored, as before.
    Stored,
    /// The database is away: this many finals wait in memory; `newly` on the first.
    Degraded { unsaved: usize, newly: bool },
    /// The database is back: every waiting final (this many) is stored now.
    Restored { stored: usize, after: Duration },
    /// More than [`MAX_UNSAVED_FINALS`] wait: the session must end.
    Overflow,
}

pub struct FinalWriter {
    tenant: Uuid,
    unsaved: VecDeque<NewFinal>,
    /// Since when finals wait (the first failed write).
    degraded_since: Option<Instant>,
    /// Kept finals written so far in this outage.
    written_in_outage: usize,
}

impl FinalWriter {
    pub fn new(tenant: Uuid) -> Self {
        Self { tenant, unsaved: VecDeque::new(), degraded_since: None, written_in_outage: 0 }
    }

    /// Finals waiting for the database.
    pub fn unsaved(&self) -> usize {
        self.unsaved.len()
    }

    /// Start and end (ms) of the finals still waiting.
    pub fn unsaved_range(&self) -> Option<(i32, i32)> {
        Some((self.unsaved.front()?.start_ms, self.unsaved.back()?.end_ms))
    }

    /// Queues `row` behind any waiting finals and writes as many as the store takes.
    pub async fn write(&mut self, store: &dyn Store, row: NewFinal) -> Persistence {
        if self.unsaved.len() >= MAX_UNSAVED_FINALS {
            return Persistence::Overflow;
        }
        self.unsaved.push_back(row);
        self.flush(store).await
    }

    /// Writes waiting finals in order until one fails or none is left.
    pub async fn flush(&mut self, store: &dyn Store) -> Persistence {
        while let Some(row) = self.unsaved.front() {
            let written = tokio::time::timeout(ATTEMPT_TIMEOUT, store.append_final(self.tenant, row.clone())).await;
            match written {
                Ok(Ok(())) => {
                    self.unsaved.pop_front();
                    if self.degraded_since.is_some() {
                        self.written_in_outage += 1;
                    }
                }
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer in {ATTEMPT_TIMEOUT:?}"),
                    };
                    let newly = self.degraded_since.is_none();
                    if newly {
                        self.degraded_since = Some(Instant::now());
                        tracing::warn!(session = %row.session_id, seq = row.seq, %error, "storing finals failed; keeping them in memory");
                    }
                    return Persistence::Degraded { unsaved: self.unsaved.len(), newly };
                }
            }
        }
        match self.degraded_since.take() {
            None => Persistence::Stored,
            Some(since) => {
                let stored = std::mem::take(&mut self.written_in_outage);
                tracing::info!(stored, after = ?since.elapsed(), "the database is back; kept finals stored");
                Persistence::Restored { stored, after: since.elapsed() }
            }
        }
    }
}
