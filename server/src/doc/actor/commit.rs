//! The actor's commit path: commit the batch's updates in one append, then send what was held
//! (replies, broadcasts, API answers), rebuild a tainted document first (see `taint`), and
//! compact the log from the live copy once it is long enough.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::{error, info, info_span, warn, Instrument};

use super::phase::{Backoff, Phase, Taint, Waiting};
use super::taint::Rebuilt;
use super::{fanout, Actor, AfterCommit};
use crate::doc::handle::{Close, Command};

impl Actor {
    /// Commit, then send. See the module docs.
    pub(super) async fn flush(&mut self) {
        // While the store is failing, commits (and rebuilds) are attempted on the backoff
        // schedule only, not on every new message (which would hammer a recovering database).
        if self.phase.retry_at().is_some_and(|at| Instant::now() < at) {
            return;
        }
        loop {
            if !self.unsaved.is_empty() && !self.commit().await {
                return; // held until the retry
            }
            // Updates committed before a taint were legitimate; only now is the document
            // rebuilt, from everything committed.
            if !self.phase.is_tainted() {
                break;
            }
            match self.rebuild().await {
                // What waited is handled now; it may have staged updates to commit.
                Rebuilt::Clean => self.replay_waiting(),
                Rebuilt::Failed => break,
            }
        }
        self.deliver();
    }

    /// Appends what is unsaved in one commit. `false`: it failed and is held for a retry.
    async fn commit(&mut self) -> bool {
        let batch = std::mem::take(&mut self.unsaved);
        let started = std::time::Instant::now();
        let result = self.store.append(&self.name, batch.clone()).await;
        crate::metrics::commit(started.elapsed(), batch.len(), result.is_ok());
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
                if let Some(webhooks) = &self.links.webhooks {
                    webhooks.changed(&self.name);
                }
                self.maybe_compact();
                true
            }
            Err(e) => {
                self.unsaved = batch;
                let now = Instant::now();
                let next = match &self.phase {
                    Phase::Live | Phase::Loading => Phase::Failing(Backoff::after(None, now)),
                    Phase::Failing(b) => Phase::Failing(Backoff::after(Some(*b), now)),
                    Phase::Tainted(t) => Phase::Tainted(Taint {
                        since: t.since,
                        retry: Some(Backoff::after(t.retry, now)),
                    }),
                    // Ending anyway (delete, retire, shutdown): no schedule to keep.
                    _ => return false,
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
                false
            }
        }
    }

    /// Sends every held effect (see `fanout`) and answers the API requests that waited for
    /// the commit. Only called when nothing is uncommitted. Answers that read the document
    /// wait for its rebuild while it is tainted.
    fn deliver(&mut self) {
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
                AfterCommit::Barrier(reply) => {
                    let _ = reply.send(());
                }
            }
        }
        self.start_version();
        self.send_held();
    }

    /// Starts the next requested version, from the document as committed: only when it
    /// holds nothing uncommitted and nothing refused.
    pub(super) fn start_version(&mut self) {
        if matches!(self.phase, Phase::Live) && self.unsaved.is_empty() {
            self.versions
                .start_next(&mut self.doc, &self.store, &self.name);
        }
    }

    pub(super) fn send_held(&mut self) {
        let undelivered = fanout::send(std::mem::take(&mut self.held), &self.peers);
        if undelivered.is_empty() {
            return;
        }
        for id in undelivered.gone {
            // Its Leave is on the way; forget it now so nothing more is queued for it.
            if self.peers.remove(&id).is_some() {
                self.after_leave(id);
            }
        }
        for id in undelivered.full {
            warn!(
                session = id.0,
                "outbound queue full; closing the session (1013), it will resync"
            );
            self.kick(id, Close::SlowConsumer);
        }
        // The removals of their presence are new effects; they carry no updates.
        self.send_held();
    }

    fn maybe_compact(&mut self) {
        let settings = &self.settings;
        if self.log.entries < settings.compact_after || self.compacting.swap(true, Ordering::AcqRel)
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
        let upto = self.log.last_seq;
        let store = self.store.clone();
        let name = self.name.clone();
        let flag = self.compacting.clone();
        self.links.tasks.spawn(
            async move {
                let result = match live {
                    Some(snapshot) => store.replace_log(&name, snapshot, upto).await,
                    None => store.compact(&name).await,
                };
                crate::metrics::compaction(result.is_ok());
                match result {
                    Ok(c) => info!(
                        merged_entries = c.merged_entries,
                        merged_bytes = c.merged_bytes,
                        snapshot_bytes = c.snapshot_bytes,
                        "log compacted"
                    ),
                    Err(e) => warn!(error = %e, "compaction failed; will retry after more updates"),
                }
                flag.store(false, Ordering::Release);
            }
            .instrument(info_span!("compact", doc = %self.name)),
        );
    }
}
