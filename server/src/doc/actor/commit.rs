//! The actor's commit path: commit the batch's updates in one append, then send what was held
//! (replies, broadcasts, API answers), rebuild the document after a refused update, and
//! compact the log from the live copy once it is long enough.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::{error, info, info_span, warn, Instrument};

use super::{fanout, Actor, AfterCommit, RETRY_MAX, RETRY_MIN};
use crate::doc::handle::Close;

impl Actor {
    /// Commit, then send. See the module docs.
    pub(super) async fn flush(&mut self) {
        // While the store is failing, commits are attempted on the backoff schedule only,
        // not on every new message (which would hammer a recovering database).
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        if !self.unsaved.is_empty() {
            let batch = std::mem::take(&mut self.unsaved);
            let started = std::time::Instant::now();
            let result = self
                .registry
                .store()
                .append(&self.name, batch.clone())
                .await;
            crate::metrics::commit(started.elapsed(), batch.len(), result.is_ok());
            match result {
                Ok(stats) => {
                    crate::metrics::pending_store_bytes(-(self.unsaved_bytes as f64));
                    if self.failures > 0 {
                        info!(after_failures = self.failures, "store commits resumed");
                        self.registry.set_failing(false);
                    }
                    self.unsaved_bytes = 0;
                    self.failures = 0;
                    self.retry_at = None;
                    if stats.position > 0 {
                        if stats.position == self.position + batch.len() as u64 {
                            self.position = stats.position;
                        } else {
                            // Another node committed in between: read its entries (ours
                            // come back with them and change nothing).
                            self.behind = true;
                        }
                    }
                    self.log = stats;
                    self.versions.committed(batch.len());
                    if let Some(webhooks) = self.registry.webhooks() {
                        webhooks.changed(&self.name);
                    }
                    self.maybe_compact();
                }
                Err(e) => {
                    self.unsaved = batch;
                    self.failures += 1;
                    if self.failures == 1 {
                        self.registry.set_failing(true);
                    }
                    let backoff = RETRY_MIN
                        .saturating_mul(1 << self.failures.min(10))
                        .min(RETRY_MAX);
                    warn!(error = %e, failures = self.failures, retry_in = ?backoff,
                          unsaved_bytes = self.unsaved_bytes, "store commit failed; holding updates");
                    self.retry_at = Some(Instant::now() + backoff);
                    return;
                }
            }
        }
        if self.needs_rebuild {
            self.rebuild().await;
        }
        self.deliver();
    }

    /// Sends every held effect (see `fanout`) and answers the API requests that waited for
    /// the commit. Only called when nothing is uncommitted.
    fn deliver(&mut self) {
        for waiting in std::mem::take(&mut self.after_commit) {
            match waiting {
                AfterCommit::Read { sv, reply } => {
                    let state = match sv {
                        Some(sv) => self.doc.encode_diff(&sv),
                        None => self.doc.encode_state(),
                    };
                    match state {
                        Ok(state) => {
                            let _ = reply.send(state);
                        }
                        Err(e) => {
                            // The asker gets no answer (503); the document is rebuilt.
                            error!(error = %e, "document cannot be encoded; rebuilding it");
                            self.needs_rebuild = true;
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
        self.versions
            .start_next(&mut self.doc, self.registry.store(), &self.name);
        self.send_held();
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

    /// After a refused update the in-memory document may hold part of it: rebuild it from
    /// what is committed. Runs right after a successful flush, so nothing is lost.
    async fn rebuild(&mut self) {
        self.needs_rebuild = false;
        let store = self.registry.store().clone();
        match store.load(&self.name).await {
            Ok(stored) => {
                let parts = stored.parts;
                match tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&parts))
                    .await
                {
                    Ok(Ok(doc)) => {
                        self.doc.replace_doc(doc);
                        self.fresh_step2 = None;
                        info!("document rebuilt from the store after a refused update");
                    }
                    Ok(Err(e)) => {
                        error!(error = %e, "rebuild failed; keeping the in-memory document")
                    }
                    Err(e) => error!(error = %e, "rebuild task failed"),
                }
            }
            Err(e) => {
                warn!(error = %e, "rebuild postponed: store unavailable");
                self.needs_rebuild = true;
            }
        }
    }

    fn maybe_compact(&mut self) {
        let settings = self.registry.settings();
        if self.log.entries < settings.compact_after || self.compacting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // From this live copy when it holds exactly the log up to the last append (not behind
        // another node, nothing refused half-applied): one encode here instead of the store
        // reading the log back and replaying it onto the snapshot.
        let live = if self.behind || self.needs_rebuild || self.log.last_seq == 0 {
            None
        } else {
            self.doc.encode_state().ok()
        };
        let upto = self.log.last_seq;
        let store = self.registry.store().clone();
        let name = self.name.clone();
        let flag = self.compacting.clone();
        self.registry.spawn_background(
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
