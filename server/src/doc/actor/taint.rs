//! The actor's way out of `Phase::Tainted` (see `phase`): park what would read or write the
//! document, rebuild it from the store, then handle what was parked in order; or, after
//! [`TAINTED_PATIENCE`], refuse it in a way the client retries (close 1013, HTTP 503).

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::phase::{Backoff, Parked, Phase, Taint, Waiting, TAINTED_PATIENCE};
use super::Actor;
use crate::doc::handle::{Close, Command, Refused};
use crate::store::StoreError;

/// What the rebuild of a tainted document came to.
pub(super) enum Rebuilt {
    /// The document is clean again (`Live`).
    Clean,
    /// Still tainted; retried on the backoff schedule.
    Failed,
}

impl Actor {
    /// The in-memory document may hold what will never be committed: from now on nothing is
    /// answered from it until it is rebuilt.
    pub(super) fn taint(&mut self, why: &'static str) {
        self.fresh_step2 = None;
        let retry = match std::mem::replace(&mut self.phase, Phase::Live) {
            Phase::Failing(b) => Some(b),
            Phase::Tainted(t) => {
                self.phase = Phase::Tainted(t);
                return;
            }
            other @ (Phase::Deleting(_) | Phase::Retiring | Phase::ShuttingDown) => {
                // Ending anyway; nothing more is served from memory by these phases.
                self.phase = other;
                return;
            }
            Phase::Live | Phase::Loading => None,
        };
        warn!(
            why,
            "document tainted: nothing is served from memory until it is rebuilt"
        );
        crate::metrics::document_tainted();
        self.phase = Phase::Tainted(Taint {
            since: Instant::now(),
            retry,
        });
    }

    /// Parks `what` until the rebuild. When too much is parked, the oldest is refused (the
    /// queue stays bounded; a refused client retries).
    pub(super) fn park(&mut self, what: Waiting) {
        if self.waiting.len() >= self.settings.queue.max(1) {
            if let Some(oldest) = self.waiting.pop_front() {
                self.refuse(oldest.what);
            }
        }
        self.waiting.push_back(Parked {
            until: Instant::now() + TAINTED_PATIENCE,
            what,
        });
    }

    /// When the oldest parked item is refused, if anything is parked.
    pub(super) fn patience_ends(&self) -> Option<Instant> {
        self.waiting.front().map(|p| p.until)
    }

    /// Refuses every parked item whose patience ran out.
    pub(super) fn refuse_expired(&mut self) {
        let now = Instant::now();
        while self.waiting.front().is_some_and(|p| p.until <= now) {
            if let Some(p) = self.waiting.pop_front() {
                self.refuse(p.what);
            }
        }
    }

    /// Refuses everything parked (the actor is ending, or gave up).
    pub(super) fn refuse_all_waiting(&mut self) {
        for p in std::mem::take(&mut self.waiting) {
            self.refuse(p.what);
        }
    }

    /// A retryable refusal: sessions are closed with 1013 (they reconnect and resync), API
    /// callers get 503 with `Retry-After`. Nothing parked was applied, so nothing is lost: a
    /// reconnecting client sends its state again.
    fn refuse(&mut self, what: Waiting) {
        match what {
            Waiting::Greet(id) => self.kick(id, Close::Recovering),
            Waiting::Cmd(cmd) => match cmd {
                Command::Messages { from, .. } => self.kick(from, Close::Recovering),
                Command::Read { reply, .. } => {
                    let _ = reply.send(Err(Refused::Recovering));
                }
                Command::Apply { reply, .. } | Command::Restore { reply, .. } => {
                    let _ = reply.send(Err(Refused::Recovering));
                }
                Command::SaveVersion { reply, .. } => {
                    let _ = reply.send(Err(StoreError::Unavailable(
                        "the document is being rebuilt".into(),
                    )));
                }
                // Its waiter learns that the actor did not confirm (no acknowledgement).
                Command::Barrier { .. } => {}
                // Never parked: handled at once in every phase.
                Command::Join { .. }
                | Command::Leave { .. }
                | Command::Delete { .. }
                | Command::Remote(_) => {}
            },
        }
    }

    /// Rebuilds the document from what is committed (only called with nothing uncommitted).
    /// A failure keeps it tainted and schedules another try: the in-memory copy is never
    /// kept in its place.
    pub(super) async fn rebuild(&mut self) -> Rebuilt {
        let loaded = match self.store.load(&self.name).await {
            Ok(stored) => {
                let size = stored.parts.iter().map(|p| p.len()).sum::<usize>();
                let position = stored.log.position;
                let parts = stored.parts;
                match tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&parts))
                    .await
                {
                    Ok(Ok(doc)) => Ok((doc, size, position)),
                    Ok(Err(e)) => Err(format!("stored data does not rebuild: {e}")),
                    Err(e) => Err(format!("rebuild task failed: {e}")),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok((doc, size, position)) => {
                self.doc.replace_doc(doc);
                self.fresh_step2 = None;
                self.approx_size = size;
                self.position = self.position.max(position);
                self.head = self.head.max(position);
                if let Phase::Tainted(t) = &self.phase {
                    info!(tainted_for = ?t.since.elapsed(), "document rebuilt from the store");
                }
                self.enter(Phase::Live);
                Rebuilt::Clean
            }
            Err(reason) => {
                let previous = match &self.phase {
                    Phase::Tainted(t) => t.retry,
                    _ => None,
                };
                let retry = Backoff::after(previous, Instant::now());
                if retry.failures == 1 || retry.failures % 10 == 0 {
                    error!(%reason, failures = retry.failures, retry_in = ?retry.delay(Instant::now()),
                           "rebuild failed; the document stays tainted and nothing is served from memory");
                } else {
                    warn!(%reason, failures = retry.failures, "rebuild failed again");
                }
                let since = match &self.phase {
                    Phase::Tainted(t) => t.since,
                    _ => Instant::now(),
                };
                self.enter(Phase::Tainted(Taint {
                    since,
                    retry: Some(retry),
                }));
                Rebuilt::Failed
            }
        }
    }

    /// After a rebuild: handles what was parked, in order (it may taint the document again,
    /// and then the rest is parked again behind it).
    pub(super) fn replay_waiting(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for p in waiting {
            match p.what {
                Waiting::Greet(id) => self.greet(id),
                Waiting::Cmd(cmd) => self.accept(cmd),
            }
        }
    }
}
