//! The core's side of cluster mode (see `crate::cluster`): what other nodes committed is read
//! from the log by position and sent to this node's sessions (never stored again); presence
//! is relayed both ways, one remote session per session on another node.

use bytes::Bytes;
use tracing::warn;
use weft_crdt::Effects;
use yrs::updates::decoder::Decode;

use super::Core;
use crate::cluster::Remote;
use crate::doc::actor::phase::Phase;
use crate::doc::fanout::Held;

/// What the shell read from the store for a catch-up.
pub(in crate::doc::actor) enum CatchUp {
    /// Entries after our position, with their positions, in order.
    Entries(Vec<(u64, Bytes)>),
    /// Entries after our position were compacted away: the whole document.
    Reloaded { parts: Vec<Bytes>, position: u64 },
}

impl Core {
    /// What another node of the cluster did.
    pub(super) fn remote(&mut self, what: Remote) {
        match what {
            Remote::Committed(position) => self.head = self.head.max(position),
            // Something may have been missed (the listener reconnected): read after ours.
            Remote::CatchUp => self.head = self.head.max(self.position + 1),
            Remote::Awareness {
                node,
                session,
                frame,
            } => {
                let Ok(messages) = weft_crdt::codec::decode_frame(&frame) else {
                    return;
                };
                for msg in messages {
                    if !matches!(msg, weft_crdt::Inbound::Awareness(_)) {
                        continue;
                    }
                    let mut fx = Effects::default();
                    if self
                        .doc
                        .handle(session, msg, self.now_ms(), &mut fx)
                        .is_ok()
                        && !fx.broadcast.is_empty()
                    {
                        fx.persist.clear();
                        self.held.push(Held::Fx(None, fx));
                    }
                }
                self.remote_sessions
                    .entry(node)
                    .or_default()
                    .insert(session);
            }
            Remote::NodeGone(node) => {
                let now = self.now_ms();
                for session in self.remote_sessions.remove(&node).unwrap_or_default() {
                    let mut fx = Effects::default();
                    self.doc.session_left(session, now, &mut fx);
                    if !fx.is_empty() {
                        self.held.push(Held::Fx(None, fx));
                    }
                }
            }
        }
    }

    /// Cluster mode: the log position to read after, when other nodes committed past ours.
    /// Only into a document that holds exactly what is committed: a tainted one is rebuilt
    /// from the store instead (which reads these entries too).
    pub fn catch_up_from(&self) -> Option<u64> {
        let due = self.head > self.position
            && matches!(self.phase, Phase::Live)
            && self.unsaved.is_empty()
            && !self.doc.is_poisoned();
        due.then_some(self.position)
    }

    /// What the shell read for [`Core::catch_up_from`]: integrated in order and sent to our
    /// sessions (it is committed already). A whole reload (compaction merged entries we never
    /// read) is merged the same way (CRDT merges ignore what we already have).
    pub fn caught_up(&mut self, read: CatchUp) {
        match read {
            CatchUp::Reloaded { parts, position } => {
                crate::metrics::cluster_catchup(parts.len(), true);
                for part in parts {
                    self.integrate_remote(&part);
                }
                self.position = self.position.max(position);
            }
            CatchUp::Entries(entries) => {
                crate::metrics::cluster_catchup(entries.len(), false);
                for (position, update) in entries {
                    if position > self.position {
                        self.integrate_remote(&update);
                        self.position = position;
                    }
                }
            }
        }
        self.head = self.position;
        self.release_held();
    }

    /// Applies an update another node already committed: broadcast here, never stored again.
    fn integrate_remote(&mut self, update: &[u8]) {
        let Ok(update) = yrs::Update::decode_v1(update) else {
            return warn!("undecodable entry in the log; skipped");
        };
        let mut fx = Effects::default();
        match self.doc.apply_external(update, &mut fx) {
            Ok(()) => {
                if !fx.persist.is_empty() {
                    self.fresh_step2 = None;
                    self.wrote();
                }
                self.approx_size += fx.persist.iter().map(Vec::len).sum::<usize>();
                fx.persist.clear();
                if !fx.is_empty() {
                    self.held.push(Held::Fx(None, fx));
                }
            }
            Err(e) => warn!(error = %e, "a committed update from another node failed to apply"),
        }
    }
}
