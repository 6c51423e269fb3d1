//! The actor's way out of `Phase::Tainted` (see `phase`): park what would read or write the
//! document, rebuild it from the store, then handle what was parked in order; or, after
//! [`TAINTED_PATIENCE`], refuse it in a way the client retries (close 1013, HTTP 503).

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{Core, Loaded};
use crate::doc::actor::phase::{Backoff, Parked, Phase, Taint, Waiting, TAINTED_PATIENCE};
use crate::doc::handle::{Close, Command, Refused};
use crate::store::StoreError;

/// What the rebuild of a tainted document came to.
pub(in crate::doc::actor) enum Rebuilt {
    /// The document is clean again (`Live`).
    Clean,
    /// Still tainted; retried on the backoff schedule.
    Failed,
    /// The stored document does not read back (corrupt data, a permanent error): not
    /// retried. Every session was closed (1013) and what waited refused; the actor ends
    /// (`Retiring`), and each later join loads the document afresh.
    GaveUp,
}

impl Core {
    /// The in-memory document may hold what will never be committed: from now on nothing is
    /// answered from it until it is rebuilt.
    pub(super) fn taint(&mut self, why: &'static str) {
        self.fresh_step2 = None;
        let retry = match &self.phase {
            Phase::Live | Phase::Loading => None,
            Phase::Failing(b) => Some(*b),
            // Already tainted, or ending anyway (nothing more is served from memory there).
            _ => return,
        };
        warn!(
            why,
            "document tainted: nothing is served from memory until it is rebuilt"
        );
        crate::metrics::document_tainted();
        self.enter(Phase::Tainted(Taint {
            since: self.now,
            retry,
        }));
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
            until: self.now + TAINTED_PATIENCE,
            what,
        });
    }

    /// When the oldest parked item is refused, if anything is parked.
    pub(in crate::doc::actor) fn patience_ends(&self) -> Option<Instant> {
        self.waiting.front().map(|p| p.until)
    }

    /// Refuses every parked item whose patience ran out.
    pub(in crate::doc::actor) fn refuse_expired(&mut self) {
        let now = self.now;
        while self.waiting.front().is_some_and(|p| p.until <= now) {
            if let Some(p) = self.waiting.pop_front() {
                self.refuse(p.what);
            }
        }
    }

    /// Refuses everything parked (the actor is ending, or gave up).
    pub(in crate::doc::actor) fn refuse_all_waiting(&mut self) {
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

    /// The outcome of `Io::Rebuild` (the document as the store has it, rebuilt). A failure
    /// keeps it tainted and schedules another try: the in-memory copy is never kept in its
    /// place. On success, what waited is handled now, in order.
    pub fn rebuilt(&mut self, loaded: Result<Loaded, StoreError>) -> Rebuilt {
        match loaded {
            Ok(loaded) => {
                self.doc.replace_doc(loaded.doc);
                self.fresh_step2 = None;
                self.approx_size = loaded.size;
                self.position = self.position.max(loaded.log.position);
                self.head = self.head.max(loaded.log.position);
                if let Phase::Tainted(t) = &self.phase {
                    info!(tainted_for = ?self.now.saturating_duration_since(t.since), "document rebuilt from the store");
                }
                self.enter(Phase::Live);
                self.replay_waiting();
                Rebuilt::Clean
            }
            Err(e) if !e.is_retryable() => {
                error!(error = %e, "rebuild failed for good: the stored document does not read back; \
                       closing its sessions and unloading it (nothing is served from memory)");
                let mut ids: Vec<_> = self.sessions.iter().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    self.kick(id, Close::Recovering);
                }
                self.refuse_all_waiting();
                self.enter(Phase::Retiring);
                Rebuilt::GaveUp
            }
            Err(reason) => {
                let (since, previous) = match &self.phase {
                    Phase::Tainted(t) => (t.since, t.retry),
                    _ => (self.now, None),
                };
                let retry = Backoff::after(previous, self.now);
                if retry.failures == 1 || retry.failures % 10 == 0 {
                    error!(%reason, failures = retry.failures, retry_in = ?retry.delay(self.now),
                           "rebuild failed; the document stays tainted and nothing is served from memory");
                } else {
                    warn!(%reason, failures = retry.failures, "rebuild failed again");
                }
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
    fn replay_waiting(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for p in waiting {
            match p.what {
                Waiting::Greet(id) => self.greet(id),
                Waiting::Cmd(cmd) => self.accept(cmd),
            }
        }
    }
}
