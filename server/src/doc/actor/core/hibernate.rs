//! Hibernation: a document with no update for `hibernate_after` drops its materialized
//! `yrs::Doc` and keeps its encoded state only (`weft_crdt::Document::hibernate`), about a
//! twelfth of the memory. Nothing else changes for the core: sync step 1, API reads and
//! versions are answered from the encoded state, presence goes on, and the first write
//! materializes the document again inside `Document` before it is applied, committed and
//! broadcast as usual.
//!
//! ```text
//!   Live (materialized) ──no update for hibernate_after──► hibernated (encoded state)
//!          ▲                                                     │
//!          └──────────────── the first write decodes it once ◄───┘
//! ```
//!
//! Only a `Live` document with nothing uncommitted or held hibernates: a failing store, a
//! taint or a pending commit keep it materialized. Its fresh joiners share the step 2 frame
//! the hibernated state *is* (one copy); the frame's wire encoding, cached while a join storm
//! lasts, is dropped at the next sweep.
//!
//! The gauges (`weft_documents{state}`, `weft_document_state_bytes{state}`) count each
//! loaded document once, in the state it is in; [`StateGauge`] moves its share when it
//! changes and takes it back when the actor ends.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::debug;

use super::Core;
use crate::doc::actor::phase::Phase;
use crate::doc::handle::Command;

impl Core {
    /// When the document hibernates if no update comes before; `None` if it does not (it
    /// hibernates already, is not `Live`, or hibernation is off).
    pub fn hibernate_at(&self) -> Option<Instant> {
        let after = self.settings.hibernate_after;
        if after.is_zero() || self.doc.is_hibernated() || !matches!(self.phase, Phase::Live) {
            return None;
        }
        Some(self.last_write + after)
    }

    /// The hibernation deadline passed: the document drops its materialized state, unless
    /// something is uncommitted or held (then it tries again a full delay later).
    pub fn hibernate(&mut self) {
        if self.hibernate_at().is_none_or(|at| self.now < at) {
            return;
        }
        if !self.unsaved.is_empty() || !self.held.is_empty() || !self.after_commit.is_empty() {
            self.last_write = self.now;
            return;
        }
        match self.doc.hibernate() {
            Some(_) => {
                self.fresh_step2 = None;
                debug!(bytes = self.doc.hibernated_bytes(), "document hibernated");
            }
            // Poisoned, unencodable or waiting for missing dependencies: stays materialized.
            None => self.last_write = self.now,
        }
        self.track_state();
    }

    /// Whether taking `cmd` would wake the document (the shell then wakes it off its thread,
    /// see `actor::wake`): a write that adds something, while it hibernates and may be served.
    pub fn wakes_for(&self, cmd: &Command) -> bool {
        if !self.doc.is_hibernated() || !self.phase.serves_memory() {
            return false;
        }
        match cmd {
            Command::Messages { from, messages } => {
                !self.refused.contains(from) && messages.iter().any(|m| self.doc.wakes_for(m))
            }
            Command::Apply { .. } | Command::Restore { .. } => true,
            _ => false,
        }
    }

    /// Whether `cmd` hints that a write is coming (a session moved its cursor) while the
    /// document hibernates and may be served: the shell then starts decoding it ahead, so
    /// that the write finds it awake (see `actor::wake`).
    pub fn hints_write(&self, cmd: &Command) -> bool {
        if !self.doc.is_hibernated() || !self.phase.serves_memory() {
            return false;
        }
        match cmd {
            Command::Messages { from, messages } => {
                !self.refused.contains(from) && messages.iter().any(|m| self.doc.hints_write(m))
            }
            _ => false,
        }
    }

    /// Woken ahead of a write (`hints_write`): it stays awake `hibernate_after` from now.
    pub fn woken_ahead(&mut self, doc: yrs::Doc) {
        self.woken(doc);
        self.last_write = self.now;
    }

    /// While hibernated: the encoded state to decode (see `wakes_for`).
    pub fn hibernated_state(&self) -> Option<bytes::Bytes> {
        self.doc.hibernated_state()
    }

    /// The document decoded from [`Core::hibernated_state`].
    pub fn woken(&mut self, doc: yrs::Doc) {
        self.doc.woken(doc);
        self.track_state();
    }

    /// An update was integrated: the hibernation deadline moves.
    pub(super) fn wrote(&mut self) {
        self.last_write = self.now;
    }

    /// Periodic, while hibernated: the fresh joiners' frame is dropped once nobody sends it
    /// (its wire encoding, built for the last join, would be a second copy of the state); the
    /// next fresh joiner gets one built again over the same bytes.
    pub(super) fn hibernated_sweep(&mut self) {
        if self.doc.is_hibernated()
            && self
                .fresh_step2
                .as_ref()
                .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            self.fresh_step2 = None;
        }
    }

    /// Moves this document's share of the gauges to the state it is in now.
    pub(super) fn track_state(&mut self) {
        let now = match self.doc.hibernated_bytes() {
            Some(bytes) => (DocState::Hibernated, bytes),
            None => (DocState::Live, self.approx_size),
        };
        self.gauge.set(now);
    }

    /// Whether the document hibernates now (tests).
    #[cfg(test)]
    pub fn is_hibernated(&self) -> bool {
        self.doc.is_hibernated()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DocState {
    /// Materialized (`weft_document_state_bytes` counts its stored size, as last measured:
    /// the materialized document holds several times that).
    Live,
    /// Only the encoded state (`weft_document_state_bytes` counts exactly what is held).
    Hibernated,
}

impl DocState {
    fn label(self) -> &'static str {
        match self {
            DocState::Live => "live",
            DocState::Hibernated => "hibernated",
        }
    }
}

/// One document's share of the state gauges.
#[derive(Debug, Default)]
pub(super) struct StateGauge {
    current: Option<(DocState, usize)>,
}

impl StateGauge {
    fn set(&mut self, now: (DocState, usize)) {
        if self.current == Some(now) {
            return;
        }
        self.clear();
        crate::metrics::document_state(now.0.label(), 1.0, now.1 as f64);
        self.current = Some(now);
    }

    /// Whether it counts the document as hibernated.
    pub(super) fn hibernated(&self) -> bool {
        matches!(self.current, Some((DocState::Hibernated, _)))
    }

    fn clear(&mut self) {
        if let Some((state, bytes)) = self.current.take() {
            crate::metrics::document_state(state.label(), -1.0, -(bytes as f64));
        }
    }
}

impl Drop for StateGauge {
    fn drop(&mut self) {
        self.clear();
    }
}
