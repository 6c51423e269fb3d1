//! The state machine of one document: a `yrs::Doc` plus its [`Presence`].
//!
//! [`Document::handle`] takes one decoded message from one session and records what must happen
//! in an [`Effects`]: updates to **persist**, frames to **reply** to the sender and frames to
//! **broadcast** to the other sessions. The caller (the document actor) commits `persist` before
//! it sends any frame, which is what makes "nothing broadcast is ever lost" hold.
//!
//! The document never holds I/O handles and never registers observers.
//!
//! A document nobody edits can [`Document::hibernate`]: it drops the `yrs::Doc` and keeps its
//! encoded state (see `hibernate`). Reads (sync step 1, diffs, the state vector, presence)
//! are answered from that state; the first write materializes the document again, once.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::codec::{encode_sync_step1, encode_sync_step2, encode_update, Inbound};
use crate::guard::{check_pending, refuse_gaps, trim_known};
use crate::hibernate::Dormant;
use crate::presence::{encode_changes, Presence, OUTDATED_TIMEOUT_MS};

/// Identifies one connection to a document (unique per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The v1 encoding of an update that changes nothing (no structs, empty delete set).
const EMPTY_UPDATE: [u8; 2] = [0, 0];

/// What the actor must do after handling messages, in this order: persist, then send.
#[derive(Debug, Default)]
pub struct Effects {
    /// v1 updates (exactly what was integrated) to commit before any frame below is sent.
    pub persist: Vec<Vec<u8>>,
    /// Frames for the sender only.
    pub reply: Vec<Vec<u8>>,
    /// Frames for every other session of the document.
    pub broadcast: Vec<Vec<u8>>,
    /// Awareness entries refused (foreign id or cap reached), for logs and metrics.
    pub awareness_refused: usize,
    /// The sender tried to own more awareness ids than its quota: the caller closes it.
    pub awareness_over_quota: bool,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty() && self.reply.is_empty() && self.broadcast.is_empty()
    }
}

/// An update that yrs refused or panicked on. The in-memory document may hold part of it, so
/// the caller must rebuild the document from what it has committed (and still has pending).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("update rejected by yrs: {0}")]
    Rejected(String),
    #[error("yrs panicked while applying the update")]
    Panicked,
    /// An earlier panic left the document unusable until it is rebuilt.
    #[error("document is being rebuilt after a failed update")]
    Poisoned,
}

/// Default bound on update bytes waiting for missing dependencies in one document.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 8 << 20;

#[derive(Debug)]
pub struct Document {
    body: Body,
    presence: Presence,
    /// Update bytes allowed to wait for missing dependencies.
    max_pending_bytes: usize,
    /// Set when yrs panicked mid-transaction (see `apply`).
    poisoned: bool,
}

/// The document's content: materialized, or only its encoded state.
#[derive(Debug)]
enum Body {
    Live(Doc),
    Dormant(Dormant),
}

impl Default for Document {
    fn default() -> Self {
        Document::from_doc(Doc::new())
    }
}

impl Document {
    /// Wraps a document rebuilt from storage (see [`crate::snapshot::rebuild`]).
    pub fn from_doc(doc: Doc) -> Self {
        Document {
            body: Body::Live(doc),
            presence: Presence::default(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            poisoned: false,
        }
    }

    /// Replaces the presence bookkeeping (to set a different cap).
    pub fn with_presence(mut self, presence: Presence) -> Self {
        self.presence = presence;
        self
    }

    /// Sets the bound on update bytes waiting for missing dependencies.
    pub fn with_max_pending_bytes(mut self, max: usize) -> Self {
        self.max_pending_bytes = max;
        self
    }

    /// Swaps in a document rebuilt from storage after a failed apply; presence is kept.
    pub fn replace_doc(&mut self, doc: Doc) {
        self.body = Body::Live(doc);
        self.poisoned = false;
    }

    /// Drops the materialized document and keeps its encoded state only. Returns the sync
    /// step 2 that carries the whole state (for fresh joiners: the same bytes are kept once).
    /// `None` (and nothing changes) if the document is poisoned or cannot be encoded, or if
    /// part of it waits for missing dependencies.
    pub fn hibernate(&mut self) -> Option<Bytes> {
        let Body::Live(doc) = &self.body else {
            return self.hibernated_step2().cloned();
        };
        if self.poisoned {
            return None;
        }
        let dormant = Dormant::of(doc)?;
        let step2 = dormant.step2().clone();
        self.body = Body::Dormant(dormant);
        Some(step2)
    }

    pub fn is_hibernated(&self) -> bool {
        matches!(self.body, Body::Dormant(_))
    }

    /// While hibernated: the sync step 2 with the whole state.
    pub fn hibernated_step2(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Dormant(d) => Some(d.step2()),
            Body::Live(_) => None,
        }
    }

    /// While hibernated: the bytes the document holds (its encoded state, framed once).
    pub fn hibernated_bytes(&self) -> Option<usize> {
        match &self.body {
            Body::Dormant(d) => Some(d.held()),
            Body::Live(_) => None,
        }
    }

    /// The materialized document, decoding it first if it hibernates. A state that cannot
    /// be decoded again poisons the document: its owner rebuilds it from the store.
    fn live(&mut self) -> Result<&Doc, ApplyError> {
        if self.poisoned {
            return Err(ApplyError::Poisoned);
        }
        if let Body::Dormant(dormant) = &self.body {
            match dormant.wake() {
                Ok(doc) => self.body = Body::Live(doc),
                Err(_) => {
                    self.poisoned = true;
                    return Err(ApplyError::Poisoned);
                }
            }
        }
        match &self.body {
            Body::Live(doc) => Ok(doc),
            Body::Dormant(_) => Err(ApplyError::Poisoned),
        }
    }

    /// Hibernated, and `update` holds nothing new: it need not wake the document.
    fn adds_nothing(&self, update: &Update) -> bool {
        match &self.body {
            Body::Dormant(d) => !self.poisoned && d.adds_nothing(update),
            Body::Live(_) => false,
        }
    }

    /// While hibernated: the encoded state (one v1 update; shares the frame's bytes), for a
    /// caller that materializes it elsewhere (off its thread) and hands it to [`Document::woken`].
    pub fn hibernated_state(&self) -> Option<Bytes> {
        match &self.body {
            Body::Dormant(d) => Some(d.step2().slice(d.state_at()..)),
            Body::Live(_) => None,
        }
    }

    /// The document [`Document::hibernated_state`] returned, materialized (by
    /// `snapshot::rebuild`). Ignored unless the document still hibernates.
    pub fn woken(&mut self, doc: Doc) {
        if self.is_hibernated() && !self.poisoned {
            self.body = Body::Live(doc);
        }
    }

    /// Whether `msg` would wake this document: a write that adds something while it hibernates.
    pub fn wakes_for(&self, msg: &Inbound) -> bool {
        match msg {
            Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } => {
                self.is_hibernated() && !self.adds_nothing(update)
            }
            _ => false,
        }
    }

    /// Whether `msg` hints that a write is coming while this document hibernates: a client
    /// already present moved its cursor (see [`Presence::moves`]).
    pub fn hints_write(&self, msg: &Inbound) -> bool {
        match msg {
            Inbound::Awareness(update) => self.is_hibernated() && self.presence.moves(update),
            _ => false,
        }
    }

    /// Materializes a hibernated document (its first write does this by itself).
    pub fn wake(&mut self) -> Result<(), ApplyError> {
        self.live().map(|_| ())
    }

    /// Frames a new session gets on open: our sync step 1, then every live awareness state.
    /// (Nothing about the document while it is poisoned: the joiner's own step 1 is then
    /// refused and it reconnects once the document is rebuilt.)
    pub fn greeting(&self) -> Vec<Vec<u8>> {
        if self.poisoned {
            return self.presence.encode_all().into_iter().collect();
        }
        let mut frames = vec![encode_sync_step1(&self.state_vector())];
        frames.extend(self.presence.encode_all());
        frames
    }

    pub fn state_vector(&self) -> StateVector {
        match &self.body {
            Body::Live(doc) => doc.transact().state_vector(),
            Body::Dormant(d) => d.state_vector().clone(),
        }
    }

    /// The whole document as one v1 update.
    pub fn encode_state(&mut self) -> Result<Vec<u8>, ApplyError> {
        self.encode_diff(&StateVector::default())
    }

    /// The part of the document a peer with state vector `sv` misses. Guarded like `apply`:
    /// should yrs panic on a block list it corrupted earlier, the document is poisoned (and
    /// rebuilt by its actor) instead of the panic ending the actor. A hibernated document
    /// answers from its encoded state, without materializing.
    pub fn encode_diff(&mut self, sv: &StateVector) -> Result<Vec<u8>, ApplyError> {
        if self.poisoned {
            return Err(ApplyError::Poisoned);
        }
        let doc = match &self.body {
            Body::Live(doc) => doc,
            Body::Dormant(d) => return d.diff(sv),
        };
        match catch_unwind(AssertUnwindSafe(|| doc.transact().encode_diff_v1(sv))) {
            Ok(update) => Ok(update),
            Err(_) => {
                self.poisoned = true;
                Err(ApplyError::Panicked)
            }
        }
    }

    /// Live awareness states.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Handles one message from `from`. On `Err`, nothing was added to `fx`.
    pub fn handle(
        &mut self,
        from: SessionId,
        msg: Inbound,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), ApplyError> {
        if self.poisoned && !matches!(msg, Inbound::Awareness(_) | Inbound::Auth) {
            return Err(ApplyError::Poisoned);
        }
        match msg {
            Inbound::SyncStep1(sv) => fx.reply.push(encode_sync_step2(&self.encode_diff(&sv)?)),
            Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } => {
                if self.adds_nothing(&update) {
                    return Ok(()); // a hibernated document stays so
                }
                refuse_gaps(self.live()?, &update)?;
                if let Some(diff) = self.apply(update)? {
                    fx.broadcast.push(encode_update(&diff));
                    fx.persist.push(diff);
                }
            }
            Inbound::Awareness(update) => {
                let applied = self.presence.apply(from, &update, now_ms);
                fx.awareness_refused +=
                    applied.refused_foreign + applied.refused_full + applied.refused_quota;
                fx.awareness_over_quota |= applied.refused_quota > 0;
                if !applied.changes.is_empty() {
                    fx.broadcast.push(encode_changes(&applied.changes));
                }
            }
            Inbound::QueryAwareness => fx.reply.extend(self.presence.encode_all()),
            Inbound::Auth => {}
        }
        Ok(())
    }

    /// Applies an update that does not come from a session but from the same untrusted world
    /// (the HTTP API): the same rules as a session's update.
    pub fn apply_untrusted(&mut self, update: Update, fx: &mut Effects) -> Result<(), ApplyError> {
        if self.adds_nothing(&update) {
            return Ok(());
        }
        refuse_gaps(self.live()?, &update)?;
        self.apply_external(update, fx)
    }

    /// Applies an update this server committed itself (another node's log entry, in log
    /// order), so it may depend on nothing missing.
    pub fn apply_external(&mut self, update: Update, fx: &mut Effects) -> Result<(), ApplyError> {
        if let Some(diff) = self.apply(update)? {
            fx.broadcast.push(encode_update(&diff));
            fx.persist.push(diff);
        }
        Ok(())
    }

    /// Makes the content equal to `target`'s (restoring an old version of this document):
    /// one new update, committed and broadcast like any other, so every client converges to
    /// the old content without reloading. Adds nothing when the content is already equal.
    pub fn restore(&mut self, target: &Doc, fx: &mut Effects) -> Result<(), ApplyError> {
        let doc = self.live()?;
        let plan = catch_unwind(AssertUnwindSafe(|| crate::content::plan(doc, target)))
            .map_err(|_| ApplyError::Panicked)?;
        if plan.is_empty() {
            return Ok(());
        }
        let mut txn = doc.transact_mut();
        let result = catch_unwind(AssertUnwindSafe(|| {
            plan.apply(&mut txn);
            let diff = txn.encode_update_v1();
            txn.commit(); // under the guard, as in `apply`
            diff
        }));
        match result {
            Ok(diff) => {
                drop(txn);
                if diff != EMPTY_UPDATE {
                    fx.broadcast.push(encode_update(&diff));
                    fx.persist.push(diff);
                }
                Ok(())
            }
            Err(_) => {
                std::mem::forget(txn);
                self.poisoned = true;
                Err(ApplyError::Panicked)
            }
        }
    }

    /// Integrates an update; returns what it changed (`None` if it added nothing new, e.g. a
    /// duplicate, or only parts whose dependencies are still missing).
    ///
    /// If yrs panics (applying, or committing), the transaction is *forgotten*, not dropped:
    /// dropping it commits, and a commit after a failed apply can panic again while unwinding,
    /// which aborts the process (a fuzzer finding). The document is then poisoned (its transaction lock stays taken)
    /// and refuses everything until the caller replaces it ([`Document::replace_doc`]).
    fn apply(&mut self, update: Update) -> Result<Option<Vec<u8>>, ApplyError> {
        let max_pending = self.max_pending_bytes;
        let doc = self.live()?;
        let update = trim_known(doc, update)?;
        let mut txn = doc.transact_mut();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let outcome = txn
                .apply_update(update)
                .map_err(|e| ApplyError::Rejected(e.to_string()))
                .and_then(|()| check_pending(&txn, max_pending))
                .map(|()| txn.encode_update_v1());
            // The commit (GC, squashing) runs under the guard too: yrs 0.28.1 can panic there
            // after an update it accepted (a fuzzer finding). It runs once; the drop after
            // it does nothing.
            txn.commit();
            outcome
        }));
        match result {
            Ok(Ok(diff)) if diff == EMPTY_UPDATE => Ok(None),
            Ok(Ok(diff)) => Ok(Some(diff)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                std::mem::forget(txn);
                self.poisoned = true;
                Err(ApplyError::Panicked)
            }
        }
    }

    /// True after yrs panicked: the document must be rebuilt before it is used again.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// A session ended: remove its awareness states and tell everyone else.
    pub fn session_left(&mut self, session: SessionId, now_ms: u64, fx: &mut Effects) {
        let removed = self.presence.remove_session(session, now_ms);
        if !removed.is_empty() {
            fx.broadcast.push(encode_changes(&removed));
        }
    }

    /// Drops awareness states not renewed for 30 s, as the JavaScript library does.
    pub fn sweep_presence(&mut self, now_ms: u64, fx: &mut Effects) {
        let removed = self.presence.sweep(now_ms, OUTDATED_TIMEOUT_MS);
        if !removed.is_empty() {
            fx.broadcast.push(encode_changes(&removed));
        }
    }
}

#[cfg(test)]
mod tests;
