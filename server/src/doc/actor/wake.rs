//! Waking a hibernated document off the actor's thread: decoding a 1 MiB state takes tens of
//! milliseconds, which the runtime's worker (and every other document and connection on it)
//! would otherwise wait for. The shell sees a command that will wake the document before the
//! core takes it, decodes the state on a blocking thread, and hands the document over; nothing
//! else runs on this actor meanwhile, so the state it decoded is still the document's. If the
//! decode fails, the core wakes the document itself and, failing too, rebuilds it from the
//! store (`Document` poisons itself).

use tracing::warn;

use super::Actor;
use crate::doc::handle::Command;

impl Actor {
    /// Wakes the document first if `cmd` would.
    pub(super) async fn wake_for(&mut self, cmd: &Command) {
        if !self.core.wakes_for(cmd) {
            return;
        }
        let Some(state) = self.core.hibernated_state() else {
            return;
        };
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&[state])).await {
            Ok(Ok(doc)) => {
                self.core.woken(doc);
                crate::metrics::document_woke(started.elapsed());
            }
            Ok(Err(e)) => {
                warn!(error = %e, "the hibernated state does not decode; waking in place")
            }
            Err(e) => warn!(error = %e, "the wake task failed; waking in place"),
        }
    }
}
