//! The document actor: one task that owns a [`Document`] and performs its effects.
//!
//! Each turn of the loop takes every command queued at that moment (a *batch*), lets the
//! document handle them, then runs `Actor::flush`:
//!
//! 1. **commit** every update integrated in the batch in one store append (group commit);
//! 2. only then **send** the batch's replies and broadcasts, in order.
//!
//! So a frame that could reveal an update to another client is never sent before that update
//! is durable. If the commit fails, frames stay held and the commit is retried with backoff;
//! beyond `max_unsaved` bytes, new writes are refused (the writer is closed with 1013).
//!
//! What the actor may answer from memory depends on its [`phase::Phase`] (the table is in
//! `phase`): in particular, after a refused write the document is *tainted* and nothing is
//! answered from it until it is rebuilt from the store (`taint`).
//!
//! Overflow policy: sending never waits. A session whose queue is full is closed with 1013
//! (`Close::SlowConsumer`) and resyncs on reconnect.
//!
//! The actor holds what it uses ([`Links`]: the store, settings, event senders), not the
//! registry that created it. The commit path itself (commit, send, compact) is in `commit`.
//! Beside the sessions: `requests` (the document API's writes and deletes) and `cluster`
//! (catching up with other nodes' commits, relaying presence).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info_span, warn, Instrument};
use weft_crdt::document::ApplyError;
use weft_crdt::{DocName, Document, Effects, Presence, SessionId};

use super::fanout::{self, Held, Peer};
use super::handle::{Close, Command, JoinError, Member, Refused};
use super::registry::ActorSettings;
use super::versions::Versions;
use crate::cluster::Cluster;
use crate::store::{LogStats, Store};
use crate::webhooks::Webhooks;

mod cluster;
mod commit;
pub(crate) mod phase;
mod requests;
mod taint;
#[cfg(test)]
mod tests;

use phase::{Parked, Phase, Waiting};

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
    /// Background work the shutdown waits for (compactions).
    pub tasks: TaskTracker,
}

pub(crate) struct Actor {
    name: DocName,
    rx: mpsc::Receiver<Command>,
    store: Arc<dyn Store>,
    settings: Arc<ActorSettings>,
    links: Links,
    /// What the actor may answer from memory now (see `phase`).
    phase: Phase,
    doc: Document,
    peers: HashMap<SessionId, Peer>,
    /// Sessions closed for what they sent: messages still queued from them are dropped.
    /// Forgotten at their `Leave`.
    refused: HashSet<SessionId>,
    /// Effects of handled messages, waiting for their updates to be committed.
    held: Vec<Held>,
    /// What waits for a tainted document to be rebuilt, oldest first (bounded by the
    /// command queue's size; the oldest is refused beyond it).
    waiting: VecDeque<Parked>,
    /// The sync step 2 a client with an empty state vector gets (a fresh joiner): encoded once
    /// and shared by every joiner until the document changes, so a join storm on a large
    /// document costs one encode and one buffer, not one per joiner.
    fresh_step2: Option<Bytes>,
    /// Integrated updates not yet committed.
    unsaved: Vec<Bytes>,
    unsaved_bytes: usize,
    idle_since: Option<Instant>,
    log: LogStats,
    /// Stored bytes of the document, approximately: what was loaded plus what was committed
    /// since (compaction makes it an over-estimate until the next load). For the size limit.
    approx_size: usize,
    compacting: Arc<AtomicBool>,
    started: Instant,
    /// API answers that wait for the batch's commit, like `held` frames.
    after_commit: Vec<AfterCommit>,
    versions: Versions,
    /// Log position of the last entry integrated here (cluster mode; see `cluster`).
    position: u64,
    /// Highest log position known to be committed (by any node): past `position`, the
    /// actor is behind and reads the log before going on.
    head: u64,
    /// Sessions on other nodes with presence here, by node.
    remote_sessions: HashMap<String, HashSet<SessionId>>,
    /// The document was loaded: its end (however it comes) is reported as `unloaded`.
    loaded: bool,
}

enum AfterCommit {
    Read {
        sv: Option<yrs::StateVector>,
        reply: oneshot::Sender<Result<Vec<u8>, Refused>>,
    },
    Applied {
        changed: bool,
        reply: oneshot::Sender<Result<bool, Refused>>,
    },
    Barrier(oneshot::Sender<()>),
}

impl Drop for Actor {
    fn drop(&mut self) {
        if self.phase.is_failing() {
            self.links.failing.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(events) = self.links.webhooks.as_ref().filter(|_| self.loaded) {
            events.unloaded(&self.name);
        }
    }
}

impl Actor {
    pub(crate) fn new(name: DocName, rx: mpsc::Receiver<Command>, links: Links) -> Self {
        let versions = Versions::new(links.settings.versions.clone());
        Actor {
            name,
            rx,
            store: links.store.clone(),
            settings: links.settings.clone(),
            links,
            phase: Phase::Loading,
            doc: Document::default(),
            peers: HashMap::new(),
            refused: HashSet::new(),
            held: Vec::new(),
            waiting: VecDeque::new(),
            fresh_step2: None,
            unsaved: Vec::new(),
            unsaved_bytes: 0,
            idle_since: Some(Instant::now()),
            log: LogStats::default(),
            approx_size: 0,
            compacting: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            after_commit: Vec::new(),
            versions,
            position: 0,
            head: 0,
            remote_sessions: HashMap::new(),
            loaded: false,
        }
    }

    pub(crate) async fn run(self) {
        let span = info_span!("doc", doc = %self.name);
        self.run_inner().instrument(span).await
    }

    async fn run_inner(mut self) {
        if let Err(reason) = self.load().await {
            error!(%reason, "document load failed; refusing its sessions (nothing was created in its place)");
            self.rx.close();
            while let Some(cmd) = self.rx.recv().await {
                if let Command::Join { reply, .. } = cmd {
                    let _ = reply.send(Err(JoinError::LoadFailed(reason.clone())));
                }
            }
            return;
        }
        self.enter(Phase::Live);
        let shutdown = self.links.shutdown.clone();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_after = self.settings.doc_idle;
        loop {
            let idle_deadline = self.idle_since.map(|t| t + idle_after);
            let retry_at = self.phase.retry_at();
            let patience_ends = self.patience_ends();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    self.shut_down().await;
                    return;
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    self.accept(cmd);
                    for _ in 1..MAX_BATCH {
                        if matches!(self.phase, Phase::Deleting(_)) {
                            break; // delete before anything else touches the document
                        }
                        match self.rx.try_recv() {
                            Ok(cmd) => self.accept(cmd),
                            Err(_) => break,
                        }
                    }
                    self.flush().await;
                    if matches!(self.phase, Phase::Deleting(_)) {
                        self.delete().await;
                        return;
                    }
                    self.catch_up().await;
                }
                _ = wait_for_job(&mut self.versions) => {
                    self.versions.job_done();
                    self.start_version();
                }
                _ = sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    self.flush().await;
                }
                _ = sleep_until(patience_ends.unwrap_or_else(Instant::now)), if patience_ends.is_some() => {
                    self.refuse_expired();
                    self.flush().await;
                }
                _ = sweep.tick() => {
                    let mut fx = Effects::default();
                    self.doc.sweep_presence(self.now_ms(), &mut fx);
                    if !fx.is_empty() {
                        self.held.push(Held::Fx(None, fx));
                    }
                    self.versions.tick();
                    self.flush().await;
                    self.catch_up().await;
                }
                _ = sleep_until(idle_deadline.unwrap_or_else(Instant::now)), if idle_deadline.is_some() => {
                    if self.retire().await {
                        return;
                    }
                }
            }
        }
    }

    /// Moves to `next`, keeping the count of failing documents (for `/readyz`) right.
    fn enter(&mut self, next: Phase) {
        let was = self.phase.is_failing();
        self.phase = next;
        match (was, self.phase.is_failing()) {
            (false, true) => {
                self.links.failing.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                self.links.failing.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn load(&mut self) -> Result<(), String> {
        let stored = self
            .store
            .load(&self.name)
            .await
            .map_err(|e| e.to_string())?;
        self.log = stored.log;
        self.position = stored.log.position;
        self.head = stored.log.position;
        self.approx_size = stored.parts.iter().map(|p| p.len()).sum();
        let parts = stored.parts;
        let doc = tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&parts))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let settings = &self.settings;
        self.doc = Document::from_doc(doc)
            .with_presence(Presence::new(
                settings.max_awareness_per_doc,
                settings.max_awareness_per_session,
            ))
            .with_max_pending_bytes(settings.max_pending_bytes);
        debug!(log_entries = self.log.entries, "document loaded");
        self.loaded = true;
        if let Some(events) = &self.links.webhooks {
            events.loaded(&self.name);
        }
        Ok(())
    }

    /// Takes one command from the queue, as the phase allows: while the document is tainted,
    /// whatever would read or write it waits for the rebuild (see `taint`).
    fn accept(&mut self, cmd: Command) {
        if !self.phase.is_tainted() {
            return self.handle(cmd);
        }
        match cmd {
            Command::Join { member, reply } => {
                let id = member.id;
                self.register(member);
                let _ = reply.send(Ok(()));
                self.park(Waiting::Greet(id));
            }
            // None of these reads the document's content.
            cmd @ (Command::Leave { .. } | Command::Remote(_) | Command::Delete { .. }) => {
                self.handle(cmd)
            }
            other => self.park(Waiting::Cmd(other)),
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Join { member, reply } => self.join(member, reply),
            Command::Messages { from, messages } => {
                // A session we refused (bad update, quota, size, store full) has nothing more
                // applied. One that is merely gone (or too slow to read) still has its last
                // updates applied: a client closing its tab must not lose its final edits.
                if self.refused.contains(&from) {
                    return;
                }
                // Of a departed session only the updates matter: its presence is already gone
                // and must not be claimed again in its name.
                let detached = !self.peers.contains_key(&from);
                let max_unsaved = self.settings.max_unsaved;
                for msg in messages {
                    if detached && !msg.is_write() {
                        continue;
                    }
                    if msg.is_write() && self.unsaved_bytes > max_unsaved {
                        warn!(
                            session = from.0,
                            unsaved = self.unsaved_bytes,
                            "store behind; refusing writes"
                        );
                        self.kick(from, Close::StoreUnavailable);
                        return;
                    }
                    let mut fx = Effects::default();
                    let now = self.now_ms();
                    let is_write = msg.is_write();
                    let is_awareness = matches!(msg, weft_crdt::Inbound::Awareness(_));
                    let started = std::time::Instant::now();
                    if let weft_crdt::Inbound::SyncStep1(sv) = &msg {
                        if sv.is_empty() {
                            if let Some(frame) = self.fresh_step2() {
                                self.held.push(Held::Shared(from, frame));
                                continue;
                            }
                        }
                    }
                    let handled = self.doc.handle(from, msg, now, &mut fx);
                    if is_write {
                        crate::metrics::update_applied(started.elapsed());
                    }
                    match handled {
                        Ok(()) => {}
                        Err(ApplyError::Poisoned) => {
                            // Not this client's fault: it reconnects once the document is rebuilt.
                            self.kick(from, Close::Recovering);
                            self.taint("the document was poisoned");
                            return;
                        }
                        Err(e) => {
                            if matches!(e, ApplyError::Panicked) {
                                crate::metrics::caught_panic();
                            }
                            warn!(session = from.0, error = %e, "invalid update; closing its session");
                            self.kick(from, Close::InvalidUpdate);
                            // yrs may have integrated part of it before refusing.
                            self.taint("an update was refused halfway");
                            return;
                        }
                    }
                    if fx.awareness_refused > 0 {
                        debug!(
                            session = from.0,
                            refused = fx.awareness_refused,
                            "awareness entries refused"
                        );
                    }
                    // Judged on what the update actually added, so an empty sync step 2 from a
                    // joining client never counts against a full document.
                    let added: usize = fx.persist.iter().map(Vec::len).sum();
                    let max_size = self.settings.max_document_size;
                    if added > 0 && self.approx_size + added > max_size {
                        warn!(
                            session = from.0,
                            size = self.approx_size,
                            added,
                            limit = max_size,
                            "document size limit reached; refusing the write"
                        );
                        self.kick(from, Close::DocumentTooLarge);
                        // It was applied in memory before it was measured.
                        self.taint("a write over the size limit was refused");
                        return;
                    }
                    let over_quota = fx.awareness_over_quota;
                    if is_awareness {
                        self.relay_presence(from, &fx);
                    }
                    self.stage(Some(from), fx);
                    if over_quota {
                        warn!(
                            session = from.0,
                            "closing a session that claims too many awareness ids"
                        );
                        self.kick(from, Close::TooManyAwarenessIds);
                        return;
                    }
                }
            }
            Command::Leave { from } => {
                self.refused.remove(&from);
                if self.peers.remove(&from).is_some() {
                    self.after_leave(from);
                }
            }
            Command::Read { sv, reply } => self.after_commit.push(AfterCommit::Read { sv, reply }),
            Command::Apply { update, reply } => {
                let result = self.write_from_api(|doc, fx| doc.apply_untrusted(update, fx));
                self.answer_after_commit(result, reply);
            }
            Command::Restore { target, reply } => {
                let result = self.write_from_api(|doc, fx| doc.restore(&target, fx));
                self.answer_after_commit(result, reply);
            }
            Command::SaveVersion { kind, label, reply } => {
                self.versions.request(kind, label, Some(reply))
            }
            Command::Delete { reply } => self.enter(Phase::Deleting(reply)),
            Command::Remote(what) => self.remote(what),
            Command::Barrier { reply } => self.after_commit.push(AfterCommit::Barrier(reply)),
        }
    }

    /// The shared sync step 2 for fresh joiners (see `fresh_step2`); `None` if the document
    /// cannot be encoded now (the usual path then answers, and fails, for itself).
    fn fresh_step2(&mut self) -> Option<Bytes> {
        if self.fresh_step2.is_none() {
            let state = self.doc.encode_state().ok()?;
            self.fresh_step2 = Some(Bytes::from(weft_crdt::codec::encode_sync_step2(&state)));
        }
        self.fresh_step2.clone()
    }

    /// Queues what a handled message produced: its updates for the next commit, its frames
    /// to be sent after it.
    fn stage(&mut self, from: Option<SessionId>, mut fx: Effects) {
        if !fx.persist.is_empty() {
            self.fresh_step2 = None;
        }
        for update in fx.persist.drain(..) {
            self.unsaved_bytes += update.len();
            self.approx_size += update.len();
            crate::metrics::pending_store_bytes(update.len() as f64);
            self.unsaved.push(Bytes::from(update));
        }
        self.held.push(Held::Fx(from, fx));
    }

    fn join(&mut self, member: Member, reply: oneshot::Sender<Result<(), JoinError>>) {
        let id = member.id;
        self.register(member);
        self.greet(id);
        let _ = reply.send(Ok(()));
    }

    fn register(&mut self, member: Member) {
        self.peers.insert(
            member.id,
            Peer {
                outbound: member.outbound,
                close: Some(member.close),
            },
        );
        self.idle_since = None;
    }

    /// Queues a session's greeting (our state vector, the presence of others): at once when
    /// the document may be served, after the rebuild while it is tainted.
    fn greet(&mut self, id: SessionId) {
        if self.phase.is_tainted() {
            return self.park(Waiting::Greet(id));
        }
        if !self.peers.contains_key(&id) {
            return; // it left while waiting
        }
        let greeting = Effects {
            reply: self.doc.greeting(),
            ..Effects::default()
        };
        self.held.push(Held::Fx(Some(id), greeting));
    }

    fn after_leave(&mut self, from: SessionId) {
        let mut fx = Effects::default();
        self.doc.session_left(from, self.now_ms(), &mut fx);
        self.relay_presence(from, &fx);
        if !fx.is_empty() {
            self.held.push(Held::Fx(None, fx));
        }
        if self.peers.is_empty() {
            self.idle_since = Some(Instant::now());
            self.versions.last_session_left();
        }
    }

    /// Closes a session from our side.
    fn kick(&mut self, id: SessionId, why: Close) {
        if why.is_refusal() {
            self.refused.insert(id);
        }
        if let Some(mut peer) = self.peers.remove(&id) {
            if let Some(close) = peer.close.take() {
                let _ = close.send(why);
            }
            self.after_leave(id);
        }
    }

    /// Idle with no sessions: flush, leave the registry, refuse late joiners (they retry).
    async fn retire(&mut self) -> bool {
        self.flush().await;
        if !self.unsaved.is_empty() || !self.peers.is_empty() {
            self.idle_since = Some(Instant::now());
            return false;
        }
        // API calls still waiting for a rebuild are dropped unanswered: their callers ask
        // again and reach a fresh actor, which loads the document from the store.
        self.waiting.clear();
        self.enter(Phase::Retiring);
        self.rx.close();
        while let Some(cmd) = self.rx.recv().await {
            if let Command::Join { reply, .. } = cmd {
                let _ = reply.send(Err(JoinError::Retired));
            }
        }
        debug!("document unloaded");
        true
    }

    /// Server shutdown: handle what is queued, commit it (retrying until the registry's
    /// deadline ends us), then close every session with 1001.
    async fn shut_down(&mut self) {
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Join { reply, .. } => {
                    let _ = reply.send(Err(JoinError::Retired));
                }
                other => self.accept(other),
            }
        }
        loop {
            self.flush().await;
            if self.unsaved.is_empty() {
                break;
            }
            let wait = self.phase.retry_at().map_or(phase::RETRY_MIN, |t| {
                t.saturating_duration_since(Instant::now())
            });
            tokio::time::sleep(wait).await;
        }
        // What still waits for a rebuild is dropped: every session is closed with 1001 below
        // and resyncs with the next server, which loads what is committed.
        self.waiting.clear();
        self.enter(Phase::ShuttingDown);
        let ids: Vec<SessionId> = self.peers.keys().copied().collect();
        for id in ids {
            if let Some(mut peer) = self.peers.remove(&id) {
                if let Some(close) = peer.close.take() {
                    let _ = close.send(Close::GoingAway);
                }
            }
        }
    }
}

/// Resolves when the running version job ends; never when none runs.
async fn wait_for_job(versions: &mut Versions) {
    match versions.running() {
        Some(done) => {
            let _ = done.await;
        }
        None => std::future::pending().await,
    }
}
