//! The actor's core: every decision about one document, with no I/O, as `weft_crdt::Document`
//! is one layer down. It takes commands (and the outcomes of the I/O it asked for) and
//! returns effects; the shell (`actor`) owns the store, the session senders and the event
//! senders, and performs them.
//!
//! ```text
//!  shell: rx ──Command──► Core::accept ──► held frames, unsaved updates, parked requests
//!         Core::next_io ──► Io::Append / Io::Rebuild ──► store ──► Core::appended / rebuilt
//!         Core::deliver ──► Effect::Send(frames) ──► fanout::send ──► sessions
//! ```
//!
//! What it may answer in each phase is in `phase`. It reads no clock: the shell passes `now`
//! with each step. It never awaits: a store call is an [`Io`] the shell performs, then hands
//! back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::debug;
use weft_crdt::{DocName, Document, Effects, Inbound, Presence, SessionId};

use super::phase::{Parked, Phase, Waiting};
use crate::doc::fanout::Held;
use crate::doc::handle::{Close, Command, Refused};
use crate::doc::registry::ActorSettings;
use crate::doc::versions::{VersionJob, Versions};
use crate::store::LogStats;
use crate::ws::socket::OutFrame;

mod cluster;
mod commit;
mod hibernate;
mod messages;
mod requests;
mod taint;
#[cfg(test)]
mod tests;

pub(in crate::doc::actor) use cluster::CatchUp;
pub(in crate::doc::actor) use commit::Io;
pub(in crate::doc::actor) use taint::Rebuilt;

/// What the shell is to do for the core.
pub(super) enum Effect {
    /// Queue these frames to the sessions now: what they reveal is committed.
    Send(Vec<Held>),
    /// End this session, for this reason.
    Close(SessionId, Close),
    /// Tell the other nodes about a local session's presence frames (cluster mode).
    Relay(SessionId, Vec<Vec<u8>>),
    /// Something was committed (document events: webhooks, hooks).
    Changed,
    /// Compact the log in the background: from `live` (this copy, exactly the log up to
    /// `upto`) or, without it, by replaying the log in the store.
    Compact {
        live: Option<Vec<u8>>,
        upto: u64,
        running: Arc<AtomicBool>,
    },
    /// Store a version in the background.
    Version(VersionJob),
    /// Answer these barriers: everything handled before them is committed, and their frames
    /// were handed to the sessions by the `Send` before this.
    Acknowledge(Vec<oneshot::Sender<()>>),
}

/// A document as its store returned it, rebuilt (by the shell, off the actor's thread).
pub(super) struct Loaded {
    pub doc: yrs::Doc,
    pub log: LogStats,
    /// Stored bytes (for the size limit).
    pub size: usize,
}

pub(super) struct Core {
    name: DocName,
    settings: Arc<ActorSettings>,
    /// Whether presence is relayed to other nodes.
    clustered: bool,
    /// The time of the step being taken (set by the shell; the core reads no clock).
    now: Instant,
    started: Instant,
    /// What the core may answer from memory now (see `phase`).
    phase: Phase,
    doc: Document,
    /// Sessions joined (the shell holds their senders).
    sessions: HashSet<SessionId>,
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
    fresh_step2: Option<Arc<OutFrame>>,
    /// Integrated updates not yet committed.
    unsaved: Vec<Bytes>,
    unsaved_bytes: usize,
    /// Since when no session is joined (the shell retires the actor after `doc_idle`).
    idle_since: Option<Instant>,
    log: LogStats,
    /// Stored bytes of the document, approximately: what was loaded plus what was committed
    /// since (compaction makes it an over-estimate until the next load). For the size limit.
    approx_size: usize,
    /// A compaction runs (set by it when it ends).
    compacting: Arc<AtomicBool>,
    /// API answers that wait for the batch's commit, like `held` frames.
    after_commit: Vec<AfterCommit>,
    versions: Versions,
    /// Log position of the last entry integrated here (cluster mode; see `cluster`).
    position: u64,
    /// Highest log position known to be committed (by any node): past `position`, the
    /// document is behind and reads the log before going on.
    head: u64,
    /// Sessions on other nodes with presence here, by node.
    remote_sessions: HashMap<String, HashSet<SessionId>>,
    /// Effects for the shell, in order.
    out: Vec<Effect>,
    /// When the last update was integrated (the document hibernates `hibernate_after` later).
    last_write: Instant,
    /// This document's share of the live/hibernated gauges.
    gauge: hibernate::StateGauge,
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

impl Core {
    pub fn new(name: DocName, settings: Arc<ActorSettings>, clustered: bool, now: Instant) -> Core {
        Core {
            versions: Versions::new(settings.versions.clone()),
            name,
            settings,
            clustered,
            now,
            started: now,
            phase: Phase::Loading,
            doc: Document::default(),
            sessions: HashSet::new(),
            refused: HashSet::new(),
            held: Vec::new(),
            waiting: VecDeque::new(),
            fresh_step2: None,
            unsaved: Vec::new(),
            unsaved_bytes: 0,
            idle_since: Some(now),
            log: LogStats::default(),
            approx_size: 0,
            compacting: Arc::new(AtomicBool::new(false)),
            after_commit: Vec::new(),
            position: 0,
            head: 0,
            remote_sessions: HashMap::new(),
            out: Vec::new(),
            last_write: now,
            gauge: hibernate::StateGauge::default(),
        }
    }

    /// Loading → Live: the document as stored.
    pub fn loaded(&mut self, loaded: Loaded) {
        self.log = loaded.log;
        self.position = loaded.log.position;
        self.head = loaded.log.position;
        self.approx_size = loaded.size;
        let settings = &self.settings;
        self.doc = Document::from_doc(loaded.doc)
            .with_presence(Presence::new(
                settings.max_awareness_per_doc,
                settings.max_awareness_per_session,
            ))
            .with_max_pending_bytes(settings.max_pending_bytes);
        debug!(log_entries = self.log.entries, "document loaded");
        self.phase = Phase::Live;
        self.last_write = self.now;
        self.track_state();
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Sets the time of the step about to be taken.
    pub fn at(&mut self, now: Instant) -> &mut Core {
        self.now = now;
        self
    }

    /// The effects produced so far, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        if self.doc.is_hibernated() != self.gauge.hibernated() {
            self.track_state(); // the document woke
        }
        std::mem::take(&mut self.out)
    }

    pub fn idle_since(&self) -> Option<Instant> {
        self.idle_since
    }

    pub fn has_unsaved(&self) -> bool {
        !self.unsaved.is_empty()
    }

    /// The running version job's end, for the shell to wait on.
    pub fn version_running(&mut self) -> Option<&mut oneshot::Receiver<()>> {
        self.versions.running()
    }

    /// The running version job ended: the next one may start.
    pub fn version_done(&mut self) {
        self.versions.job_done();
        self.start_version();
    }

    fn now_ms(&self) -> u64 {
        self.now.saturating_duration_since(self.started).as_millis() as u64
    }

    fn enter(&mut self, next: Phase) {
        self.phase = next;
    }

    /// Takes one command, as the phase allows: while the document is tainted, whatever would
    /// read or write it waits for the rebuild (see `taint`). (`Join` is the shell's: it
    /// registers the sender, then calls [`Core::joined`].)
    pub fn accept(&mut self, cmd: Command) {
        if !self.phase.is_tainted() {
            return self.handle(cmd);
        }
        match cmd {
            // None of these reads the document's content.
            cmd @ (Command::Leave { .. } | Command::Remote(_) | Command::Delete { .. }) => {
                self.handle(cmd)
            }
            // Presence is not the document: it stays live; the rest of the batch waits.
            Command::Messages { from, messages } => {
                let (presence, rest): (Vec<_>, Vec<_>) = messages.into_iter().partition(|m| {
                    matches!(
                        m,
                        Inbound::Awareness(_) | Inbound::QueryAwareness | Inbound::Auth
                    )
                });
                if !presence.is_empty() {
                    self.messages(from, presence);
                }
                if !rest.is_empty() {
                    self.park(Waiting::Cmd(Command::Messages {
                        from,
                        messages: rest,
                    }));
                }
            }
            other => self.park(Waiting::Cmd(other)),
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            // The shell's (see `accept`); answered there.
            Command::Join { .. } => {}
            Command::Messages { from, messages } => self.messages(from, messages),
            Command::Leave { from } => {
                self.refused.remove(&from);
                if self.sessions.remove(&from) {
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

    /// A session joined (its sender is the shell's): it is greeted once the document may be
    /// served.
    pub fn joined(&mut self, id: SessionId) {
        self.sessions.insert(id);
        self.idle_since = None;
        self.greet(id);
    }

    /// Queues a session's greeting (our state vector, the presence of others): at once when
    /// the document may be served, after the rebuild while it is tainted.
    fn greet(&mut self, id: SessionId) {
        if self.phase.is_tainted() {
            return self.park(Waiting::Greet(id));
        }
        if !self.sessions.contains(&id) {
            return; // it left while waiting
        }
        let greeting = Effects {
            reply: self.doc.greeting(),
            ..Effects::default()
        };
        self.held.push(Held::Fx(Some(id), greeting));
    }

    /// The shared sync step 2 for fresh joiners (see `fresh_step2`); `None` if the document
    /// cannot be encoded now (the usual path then answers, and fails, for itself).
    fn fresh_step2(&mut self) -> Option<Arc<OutFrame>> {
        if self.fresh_step2.is_none() {
            let step2 = match self.doc.hibernated_step2() {
                // The very bytes the hibernated state is kept in.
                Some(step2) => step2.clone(),
                None => {
                    let state = self.doc.encode_state().ok()?;
                    Bytes::from(weft_crdt::codec::encode_sync_step2(&state))
                }
            };
            self.fresh_step2 = Some(Arc::new(OutFrame::new(step2)));
        }
        self.fresh_step2.clone()
    }

    /// Queues what a handled message produced: its updates for the next commit, its frames
    /// to be sent after it.
    fn stage(&mut self, from: Option<SessionId>, mut fx: Effects) {
        if !fx.persist.is_empty() {
            self.fresh_step2 = None;
            self.wrote();
        }
        for update in fx.persist.drain(..) {
            self.unsaved_bytes += update.len();
            self.approx_size += update.len();
            crate::metrics::pending_store_bytes(update.len() as f64);
            self.unsaved.push(Bytes::from(update));
        }
        self.held.push(Held::Fx(from, fx));
    }

    fn after_leave(&mut self, from: SessionId) {
        let mut fx = Effects::default();
        self.doc.session_left(from, self.now_ms(), &mut fx);
        self.relay_presence(from, &fx);
        if !fx.is_empty() {
            self.held.push(Held::Fx(None, fx));
        }
        if self.sessions.is_empty() {
            self.idle_since = Some(self.now);
            self.versions.last_session_left();
        }
    }

    /// Closes a session from our side.
    pub fn kick(&mut self, id: SessionId, why: Close) {
        if why.is_refusal() {
            self.refused.insert(id);
        }
        if self.sessions.remove(&id) {
            self.out.push(Effect::Close(id, why));
            self.after_leave(id);
        }
    }

    /// A session's queue was closed (its session ended; its `Leave` is on the way).
    pub fn gone(&mut self, id: SessionId) {
        if self.sessions.remove(&id) {
            self.after_leave(id);
        }
    }

    /// Periodic: stale presence goes, versions by time.
    pub fn sweep(&mut self) {
        let mut fx = Effects::default();
        self.doc.sweep_presence(self.now_ms(), &mut fx);
        if !fx.is_empty() {
            self.held.push(Held::Fx(None, fx));
        }
        self.versions.tick();
        self.hibernated_sweep();
    }

    /// Idle, committed, no sessions: Retiring. `false` (and idle again from now) otherwise.
    pub fn retire(&mut self) -> bool {
        if !self.unsaved.is_empty() || !self.sessions.is_empty() {
            self.idle_since = Some(self.now);
            return false;
        }
        // API calls still waiting for a rebuild are dropped unanswered: their callers ask
        // again and reach a fresh actor, which loads the document from the store.
        self.waiting.clear();
        self.enter(Phase::Retiring);
        true
    }

    /// ShuttingDown, once what could be committed is: every session is closed with 1001
    /// (what still waits for a rebuild is dropped; the clients resync with the next server).
    pub fn shut_down(&mut self) {
        self.waiting.clear();
        self.enter(Phase::ShuttingDown);
        let mut ids: Vec<SessionId> = self.sessions.drain().collect();
        ids.sort_unstable();
        for id in ids {
            self.out.push(Effect::Close(id, Close::GoingAway));
        }
    }

    /// Cluster mode: tells the other nodes about a local session's presence change.
    fn relay_presence(&mut self, from: SessionId, fx: &Effects) {
        if self.clustered && !fx.broadcast.is_empty() {
            self.out.push(Effect::Relay(from, fx.broadcast.clone()));
        }
    }
}
