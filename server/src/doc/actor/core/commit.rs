//! The core's commit path: which store call comes next ([`Io`]), what its outcome changes,
//! then what is released once nothing is uncommitted (held frames, API answers, versions),
//! and when to compact.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tracing::{error, info, warn};

use super::{AfterCommit, Core, Effect};
use crate::doc::actor::phase::{Backoff, Phase, Taint, Waiting};
use crate::doc::fanout::Undelivered;
use crate::doc::handle::{Close, Command, Refused};
use crate::store::{LogStats, StoreError};

/// A store call the core needs before it can go on; the shell performs it and hands the
/// outcome back ([`Core::appended`], [`Core::rebuilt`]).
#[derive(Debug)]
pub(in crate::doc::actor) enum Io {
    /// Commit these updates in one append.
    Append(Vec<Bytes>),
    /// Load the document and rebuild it (it is tainted).
    Rebuild,
}

impl Core {
    /// The next store call, if one is due: first what is uncommitted, then (once nothing is)
    /// the rebuild of a tainted document. `None` while the store is being retried later
    /// (the backoff schedule, not every new message, decides when) or nothing is needed.
    pub fn next_io(&mut self) -> Option<Io> {
        if self.phase.retry_at().is_some_and(|at| self.now < at) {
            return None;
        }
        if !self.unsaved.is_empty() {
            return Some(Io::Append(std::mem::take(&mut self.unsaved)));
        }
        // Updates committed before a taint were legitimate; only now is the document rebuilt,
        // from everything committed.
        self.phase.is_tainted().then_some(Io::Rebuild)
    }

    /// The outcome of `Io::Append(batch)`.
    pub fn appended(&mut self, batch: Vec<Bytes>, result: Result<LogStats, StoreError>) {
        match result {
            Ok(stats) => {
                crate::metrics::pending_store_bytes(-(self.unsaved_bytes as f64));
                self.unsaved_bytes = 0;
                let next = match &self.phase {
                    Phase::Failing(b) => {
                        info!(after_failures = b.failures, "store commits resumed");
                        Some(Phase::Live)
                    }
                    // The store answers again: the rebuild is tried right away.
                    Phase::Tainted(t) if t.retry.is_some() => Some(Phase::Tainted(Taint {
                        since: t.since,
                        retry: None,
                    })),
                    _ => None,
                };
                if let Some(next) = next {
                    self.enter(next);
                }
                if stats.position > 0 {
                    if stats.position == self.position + batch.len() as u64 {
                        self.position = stats.position;
                    } else {
                        // Another node committed in between: read its entries (ours come
                        // back with them and change nothing).
                        self.head = self.head.max(stats.position);
                    }
                }
                self.log = stats;
                self.versions.committed(batch.len());
                self.out.push(Effect::Changed);
                self.maybe_compact();
            }
            Err(e) if !e.is_retryable() => self.commit_refused(batch, e),
            Err(e) => {
                // Back in front of anything staged meanwhile (nothing is, between the take
                // and this answer: the shell awaits the append).
                let mut batch = batch;
                batch.append(&mut self.unsaved);
                self.unsaved = batch;
                let now = self.now;
                let next = match &self.phase {
                    Phase::Live | Phase::Loading => Phase::Failing(Backoff::after(None, now)),
                    Phase::Failing(b) => Phase::Failing(Backoff::after(Some(*b), now)),
                    Phase::Tainted(t) => Phase::Tainted(Taint {
                        since: t.since,
                        retry: Some(Backoff::after(t.retry, now)),
                    }),
                    // Ending anyway (delete, retire, shutdown): no schedule to keep.
                    _ => return,
                };
                if let Some(at) = next.retry_at() {
                    let failures = match &next {
                        Phase::Failing(b) => b.failures,
                        Phase::Tainted(t) => t.retry.map_or(0, |b| b.failures),
                        _ => 0,
                    };
                    warn!(error = %e, failures, retry_in = ?at.saturating_duration_since(now),
                          unsaved_bytes = self.unsaved_bytes, "store commit failed; holding updates");
                }
                self.enter(next);
            }
        }
    }

    /// The store refused the commit for good (a constraint, a schema error): retrying would
    /// fail the same way, so it is not retried. What it held can never be committed, so it is
    /// dropped with every frame that would reveal it; the document is tainted (rebuilt from
    /// the store) and every session is closed with 1013 to resync (what its client still has
    /// is offered again, and refused again if it is the cause). API writers get 503.
    fn commit_refused(&mut self, batch: Vec<Bytes>, e: StoreError) {
        error!(error = %e, updates = batch.len(), unsaved_bytes = self.unsaved_bytes,
               "the store refused the commit for good; dropping it and rebuilding the document from the store");
        crate::metrics::pending_store_bytes(-(self.unsaved_bytes as f64));
        self.unsaved.clear();
        self.unsaved_bytes = 0;
        self.held.clear();
        for waiting in std::mem::take(&mut self.after_commit) {
            match waiting {
                // Answered after the rebuild (parked by `deliver`).
                AfterCommit::Read { sv, reply } => {
                    self.after_commit.push(AfterCommit::Read { sv, reply })
                }
                AfterCommit::Applied { reply, .. } => {
                    let _ = reply.send(Err(Refused::StoreBehind));
                }
                // Not acknowledged: nothing was committed.
                AfterCommit::Barrier(_) => {}
            }
        }
        let mut ids: Vec<_> = self.sessions.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.kick(id, Close::Recovering);
        }
        // What the sessions' departures produced carries no update: sent with the rest.
        self.taint("the store refused a commit");
    }

    /// Releases every held frame (as [`Effect::Send`]) and answers the API requests that
    /// waited for the commit. Only once nothing is uncommitted; answers that read the
    /// document wait for its rebuild while it is tainted.
    pub fn deliver(&mut self) {
        if !self.unsaved.is_empty() {
            return;
        }
        let mut barriers = Vec::new();
        for waiting in std::mem::take(&mut self.after_commit) {
            match waiting {
                AfterCommit::Read { sv, reply } => {
                    if !self.phase.serves_memory() {
                        self.park(Waiting::Cmd(Command::Read { sv, reply }));
                        continue;
                    }
                    let state = match &sv {
                        Some(sv) => self.doc.encode_diff(sv),
                        None => self.doc.encode_state(),
                    };
                    match state {
                        Ok(state) => {
                            let _ = reply.send(Ok(state));
                        }
                        Err(e) => {
                            error!(error = %e, "document cannot be encoded; rebuilding it");
                            self.taint("the document cannot be encoded");
                            self.park(Waiting::Cmd(Command::Read { sv, reply }));
                        }
                    }
                }
                AfterCommit::Applied { changed, reply } => {
                    let _ = reply.send(Ok(changed));
                }
                AfterCommit::Barrier(reply) => barriers.push(reply),
            }
        }
        self.start_version();
        self.release_held();
        if !barriers.is_empty() {
            // After the frames: a session that writes its acknowledgement into the same socket
            // when the barrier answers (Hocuspocus SyncStatus) must not overtake them.
            self.out.push(Effect::Acknowledge(barriers));
        }
    }

    /// Hands the held frames to the shell. Only where they reveal nothing uncommitted.
    pub(super) fn release_held(&mut self) {
        if !self.held.is_empty() {
            self.out.push(Effect::Send(std::mem::take(&mut self.held)));
        }
    }

    /// Sessions that could not take what was sent (see `fanout`): a closed queue is a
    /// session already gone, a full one is closed with 1013 and resyncs. The removals of
    /// their presence are new frames; they carry no updates and are released at once.
    pub fn undelivered(&mut self, undelivered: Undelivered) {
        for id in undelivered.gone {
            self.gone(id);
        }
        for id in undelivered.full {
            warn!(
                session = id.0,
                "outbound queue full; closing the session (1013), it will resync"
            );
            self.kick(id, Close::SlowConsumer);
        }
        self.release_held();
    }

    /// Starts the next requested version, from the document as committed: only when it
    /// holds nothing uncommitted and nothing refused.
    pub(super) fn start_version(&mut self) {
        if matches!(self.phase, Phase::Live) && self.unsaved.is_empty() {
            if let Some(job) = self.versions.start_next(&mut self.doc, &self.name) {
                self.out.push(Effect::Version(job));
            }
        }
    }

    fn maybe_compact(&mut self) {
        if self.log.entries < self.settings.compact_after
            || self.compacting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // From this live copy when it holds exactly the log up to the last append (not behind
        // another node, nothing refused half-applied): one encode here instead of the store
        // reading the log back and replaying it onto the snapshot.
        let exact = matches!(self.phase, Phase::Live)
            && self.head <= self.position
            && self.unsaved.is_empty()
            && self.log.last_seq != 0;
        let live = if exact {
            self.doc.encode_state().ok()
        } else {
            None
        };
        self.out.push(Effect::Compact {
            live,
            upto: self.log.last_seq,
            running: self.compacting.clone(),
        });
    }
}
