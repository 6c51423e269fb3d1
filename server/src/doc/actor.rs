//! The document actor: one task that owns a document and performs its effects. It is a thin
//! async shell around a `core::Core` that makes every decision without I/O.
//!
//! Each turn of the loop takes every command queued at that moment (a *batch*), lets the core
//! handle them, then runs `Actor::flush`:
//!
//! 1. **commit** every update integrated in the batch in one store append (group commit);
//! 2. only then **send** the batch's replies and broadcasts, in order.
//!
//! So a frame that could reveal an update to another client is never sent before that update
//! is durable. If the commit fails, frames stay held and the commit is retried with backoff;
//! beyond `max_unsaved` bytes, new writes are refused (the writer is closed with 1013).
//!
//! What the actor may answer from memory depends on its `phase::Phase` (the table is in
//! `phase`): in particular, after a refused write the document is *tainted* and nothing is
//! answered from it until it is rebuilt from the store.
//!
//! Overflow policy: sending never waits. A session whose queue is full is closed with 1013
//! (`Close::SlowConsumer`) and resyncs on reconnect.
//!
//! The shell holds what it uses (`Links`: the store, settings, event senders) and the
//! sessions' senders, not the registry that created it. It performs the core's store calls
//! (`core::Io`) and effects (`core::Effect`) in plain sight, top to bottom.
//!
//! Beside this loop: `effects` (performing the core's effects) and `lifecycle` (delete,
//! retire, shutdown, a failed load).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info_span, warn, Instrument};
use weft_crdt::{DocName, SessionId};

use super::fanout::Peer;
use super::handle::Command;
use super::registry::ActorSettings;
use crate::cluster::Cluster;
use crate::store::{Store, StoreError};
use crate::webhooks::Webhooks;

mod core;
mod effects;
mod lifecycle;
pub(crate) mod phase;
#[cfg(test)]
mod tests;
mod wake;

use self::core::{CatchUp, Core, Io, Loaded, Rebuilt};
use self::lifecycle::refuse_unloaded;

/// Most commands handled before a flush: bounds the latency one batch adds.
const MAX_BATCH: usize = 256;
/// How often stale awareness states are looked for (the JS library checks every 3 s).
const SWEEP_EVERY: Duration = Duration::from_secs(3);

/// What an actor uses from the world, handed over by the registry when it is spawned (the
/// actor holds no reference back to the registry).
#[derive(Clone)]
pub(crate) struct Links {
    pub store: Arc<dyn Store>,
    pub settings: Arc<ActorSettings>,
    /// Document events (loaded, changed, unloaded), when configured.
    pub webhooks: Option<Webhooks>,
    /// The cluster this node belongs to, if any.
    pub cluster: Option<Cluster>,
    /// Documents whose store is failing (for `/readyz`): +1 while this one is.
    pub failing: Arc<AtomicUsize>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Background work the shutdown waits for (compactions, versions).
    pub tasks: TaskTracker,
}

pub(crate) struct Actor {
    name: DocName,
    rx: mpsc::Receiver<Command>,
    links: Links,
    /// Every decision about the document.
    core: Core,
    /// The sessions' senders, by session.
    peers: HashMap<SessionId, Peer>,
    /// This actor is counted in `links.failing`.
    counted_failing: bool,
    /// The document was loaded: its end (however it comes) is reported as `unloaded`.
    loaded: bool,
    /// A hibernated state being decoded (see `wake`).
    waking: Option<wake::Waking>,
}

impl Drop for Actor {
    fn drop(&mut self) {
        if self.counted_failing {
            self.links.failing.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(events) = self.links.webhooks.as_ref().filter(|_| self.loaded) {
            events.unloaded(&self.name);
        }
    }
}

impl Actor {
    pub(crate) fn new(name: DocName, rx: mpsc::Receiver<Command>, links: Links) -> Self {
        let core = Core::new(
            name.clone(),
            links.settings.clone(),
            links.cluster.is_some(),
            Instant::now(),
        );
        Actor {
            name,
            rx,
            links,
            core,
            peers: HashMap::new(),
            counted_failing: false,
            loaded: false,
            waking: None,
        }
    }

    pub(crate) async fn run(self) {
        let span = info_span!("doc", doc = %self.name);
        self.run_inner().instrument(span).await
    }

    async fn run_inner(mut self) {
        match self.load().await {
            Ok(loaded) => {
                self.core.at(Instant::now()).loaded(loaded);
                self.loaded = true;
                if let Some(events) = &self.links.webhooks {
                    events.loaded(&self.name);
                }
            }
            Err(e) => {
                error!(error = %e, "document load failed; refusing its sessions (nothing was created in its place)");
                self.rx.close();
                let reason = e.to_string();
                while let Some(cmd) = self.rx.recv().await {
                    refuse_unloaded(cmd, &reason);
                }
                return;
            }
        }
        let shutdown = self.links.shutdown.clone();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_after = self.links.settings.doc_idle;
        loop {
            if matches!(self.core.phase(), phase::Phase::Retiring) {
                // The core gave up on the document (it does not read back): its sessions
                // are closed; later joiners reach a fresh actor that loads it again.
                self.close_queue().await;
                return;
            }
            let idle_deadline = self.core.idle_since().map(|t| t + idle_after);
            let retry_at = self.core.phase().retry_at();
            let patience_ends = self.core.patience_ends();
            let hibernate_at = self.core.hibernate_at();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    self.shut_down().await;
                    return;
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    self.wake_for(&cmd).await;
                    self.take(cmd);
                    for _ in 1..MAX_BATCH {
                        if self.deleting() {
                            break; // delete before anything else touches the document
                        }
                        match self.rx.try_recv() {
                            Ok(cmd) => {
                                self.wake_for(&cmd).await;
                                self.take(cmd);
                            }
                            Err(_) => break,
                        }
                    }
                    self.flush().await;
                    if self.deleting() {
                        self.delete().await;
                        return;
                    }
                    self.catch_up().await;
                }
                woke = wake::Waking::done(&mut self.waking) => {
                    self.woke(woke);
                }
                _ = wait_for_job(&mut self.core) => {
                    self.core.at(Instant::now()).version_done();
                    self.perform();
                }
                _ = sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    self.flush().await;
                }
                _ = sleep_until(patience_ends.unwrap_or_else(Instant::now)), if patience_ends.is_some() => {
                    self.core.at(Instant::now()).refuse_expired();
                    self.flush().await;
                }
                _ = sweep.tick() => {
                    self.core.at(Instant::now()).sweep();
                    self.flush().await;
                    self.catch_up().await;
                }
                _ = sleep_until(hibernate_at.unwrap_or_else(Instant::now)), if hibernate_at.is_some() => {
                    self.core.at(Instant::now()).hibernate();
                    self.perform();
                }
                _ = sleep_until(idle_deadline.unwrap_or_else(Instant::now)), if idle_deadline.is_some() => {
                    if self.retire().await {
                        return;
                    }
                }
            }
        }
    }

    fn deleting(&self) -> bool {
        matches!(self.core.phase(), phase::Phase::Deleting(_))
    }

    /// Reads the document from the store and rebuilds it off the actor's thread.
    async fn load(&self) -> Result<Loaded, StoreError> {
        let stored = self.links.store.load(&self.name).await?;
        let size = stored.parts.iter().map(|p| p.len()).sum();
        let log = stored.log;
        let parts = stored.parts;
        let doc = tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&parts))
            .await
            .map_err(|e| StoreError::Database(format!("rebuild task failed: {e}")))?
            .map_err(|source| StoreError::Corrupt {
                doc: self.name.clone(),
                source,
            })?;
        Ok(Loaded { doc, log, size })
    }

    /// One command from the queue. A join is the shell's (it keeps the session's sender);
    /// everything else is the core's.
    fn take(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { member, reply } => {
                self.peers.insert(
                    member.id,
                    Peer {
                        outbound: member.outbound,
                        close: Some(member.close),
                        writes: member.writes,
                    },
                );
                let _ = reply.send(Ok(()));
                self.core.at(now).joined(member.id);
            }
            other => self.core.at(now).accept(other),
        }
    }

    /// Commit, then send: performs the store calls the core asks for, in order, then releases
    /// what was held. See the module docs.
    async fn flush(&mut self) {
        loop {
            let Some(io) = self.core.at(Instant::now()).next_io() else {
                break;
            };
            match io {
                Io::Append(batch) => {
                    let started = std::time::Instant::now();
                    let result = self.links.store.append(&self.name, batch.clone()).await;
                    crate::metrics::commit(started.elapsed(), batch.len(), result.is_ok());
                    self.core.at(Instant::now()).appended(batch, result);
                    if self.core.has_unsaved() {
                        self.perform();
                        return; // held until the retry
                    }
                }
                Io::Rebuild => {
                    let loaded = self.load().await;
                    // On success what waited is handled now; it may have staged updates.
                    match self.core.at(Instant::now()).rebuilt(loaded) {
                        Rebuilt::Clean => {}
                        Rebuilt::Failed => break,
                        Rebuilt::GaveUp => {
                            self.perform();
                            return;
                        }
                    }
                }
            }
            self.perform();
        }
        self.core.at(Instant::now()).deliver();
        self.perform();
    }

    /// Cluster mode: reads what other nodes committed after our position (or the whole
    /// document, if that was compacted away) and hands it to the core.
    async fn catch_up(&mut self) {
        let Some(after) = self.core.catch_up_from() else {
            return;
        };
        let store = self.links.store.clone();
        let read = match store.read_after(&self.name, after).await {
            Ok(Some(entries)) => CatchUp::Entries(entries),
            Ok(None) => match store.load(&self.name).await {
                Ok(stored) => CatchUp::Reloaded {
                    parts: stored.parts,
                    position: stored.log.position,
                },
                Err(e) => return warn!(error = %e, "cluster reload failed; will retry"),
            },
            Err(e) => return warn!(error = %e, "cluster catch-up failed; will retry"),
        };
        self.core.at(Instant::now()).caught_up(read);
        self.perform();
    }
}

/// Resolves when the running version job ends; never when none runs.
async fn wait_for_job(core: &mut Core) {
    match core.version_running() {
        Some(done) => {
            let _ = done.await;
        }
        None => std::future::pending().await,
    }
}
