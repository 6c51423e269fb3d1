//! Waking a hibernated document off the actor's thread: decoding a 1 MiB state takes tens of
//! milliseconds, which the runtime's worker (and every other document and connection on it)
//! would otherwise wait for. The state is decoded on a blocking thread and the document is
//! handed to the core when the decode is done.
//!
//! Two things start a decode:
//! - **A write that adds something** (`Core::wakes_for`): the shell waits for the decode
//!   before the core takes the write (nothing else runs on this actor meanwhile).
//! - **A hint that a write is coming** (`Core::hints_write`: a session that may edit moved its
//!   cursor; editors do this before they type): the decode starts and the actor goes on. If
//!   the write comes before the decode is done, it waits for that decode instead of starting
//!   another; if the decode ends first, the write finds the document awake.
//!
//! A decode is handed over only if the document still hibernates on the very state it
//! decoded. If the decode fails, the core wakes the document itself and, failing too,
//! rebuilds it from the store (`Document` poisons itself).

use std::time::Instant;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tracing::warn;

use super::Actor;
use crate::doc::handle::Command;

/// A decode of the hibernated state, running on a blocking thread.
pub(super) struct Waking {
    /// The state being decoded (the document's, unless it changed meanwhile).
    state: Bytes,
    task: JoinHandle<Result<yrs::Doc, weft_crdt::snapshot::SnapshotError>>,
    started: Instant,
    /// Started on a hint, not by a write.
    ahead: bool,
}

impl Waking {
    /// The decode's end (for the actor's loop; pending forever when none runs).
    pub(super) async fn done(
        waking: &mut Option<Waking>,
    ) -> Result<Result<yrs::Doc, weft_crdt::snapshot::SnapshotError>, tokio::task::JoinError> {
        match waking {
            Some(w) => (&mut w.task).await,
            None => std::future::pending().await,
        }
    }
}

impl Actor {
    /// Before `cmd` is taken: waits for the document to wake if `cmd` would wake it, or
    /// starts waking it if `cmd` hints at a write from a session that may edit.
    pub(super) async fn wake_for(&mut self, cmd: &Command) {
        if self.core.wakes_for(cmd) {
            self.start_waking(false);
            let result = Waking::done(&mut self.waking).await;
            self.woke(result);
        } else if self.writes(cmd) && self.core.hints_write(cmd) {
            self.start_waking(true);
        }
    }

    /// A decode started ahead ended (see the actor's loop).
    pub(super) fn woke(
        &mut self,
        result: Result<
            Result<yrs::Doc, weft_crdt::snapshot::SnapshotError>,
            tokio::task::JoinError,
        >,
    ) {
        let Some(waking) = self.waking.take() else {
            return;
        };
        let doc = match result {
            Ok(Ok(doc)) => doc,
            Ok(Err(e)) => {
                return warn!(error = %e, "the hibernated state does not decode; waking in place")
            }
            Err(e) => return warn!(error = %e, "the wake task failed; waking in place"),
        };
        let same = self.core.hibernated_state().is_some_and(|now| {
            now.as_ptr() == waking.state.as_ptr() && now.len() == waking.state.len()
        });
        if !same {
            return; // woke in place, or hibernated again on a newer state, meanwhile
        }
        let core = self.core.at(tokio::time::Instant::now());
        if waking.ahead {
            core.woken_ahead(doc);
        } else {
            core.woken(doc);
        }
        crate::metrics::document_woke(waking.started.elapsed());
    }

    fn start_waking(&mut self, ahead: bool) {
        if self.waking.is_some() {
            return;
        }
        let Some(state) = self.core.hibernated_state() else {
            return;
        };
        let decoded = state.clone();
        self.waking = Some(Waking {
            state,
            task: tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&[decoded])),
            started: Instant::now(),
            ahead,
        });
    }

    /// Whether `cmd` comes from a session that may edit.
    fn writes(&self, cmd: &Command) -> bool {
        match cmd {
            Command::Messages { from, .. } => self.peers.get(from).is_some_and(|p| p.writes),
            _ => false,
        }
    }
}
