//! The actor's side of cluster mode (see `crate::cluster`): what other nodes committed is read
//! from the log by position and sent to this node's sessions (never stored again); presence
//! is relayed both ways, one remote session per session on another node.

use tracing::warn;
use weft_crdt::{Effects, SessionId};
use yrs::updates::decoder::Decode;

use super::phase::Phase;
use super::{Actor, Held};
use crate::cluster::Remote;

impl Actor {
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

    /// Cluster mode: tells the other nodes about a local session's presence change.
    pub(super) fn relay_presence(&self, from: SessionId, fx: &Effects) {
        if let Some(cluster) = &self.links.cluster {
            for frame in &fx.broadcast {
                cluster.publish_awareness(&self.name, from, frame);
            }
        }
    }

    /// Cluster mode: integrates what other nodes committed after our log position, in order,
    /// and sends it to our sessions. If compaction merged entries we never read, the whole
    /// document is reloaded and merged instead (CRDT merges ignore what we already have).
    pub(super) async fn catch_up(&mut self) {
        // Only into a document that holds exactly what is committed: a tainted one is
        // rebuilt from the store instead (which reads these entries too).
        if self.head <= self.position
            || !matches!(self.phase, Phase::Live)
            || !self.unsaved.is_empty()
            || self.doc.is_poisoned()
        {
            return;
        }
        let store = self.store.clone();
        let entries = match store.read_after(&self.name, self.position).await {
            Ok(Some(entries)) => entries,
            Ok(None) => match store.load(&self.name).await {
                Ok(stored) => {
                    crate::metrics::cluster_catchup(stored.parts.len(), true);
                    let position = stored.log.position;
                    for part in stored.parts {
                        self.integrate_remote(&part);
                    }
                    self.position = self.position.max(position);
                    self.head = self.position;
                    self.send_held();
                    return;
                }
                Err(e) => return warn!(error = %e, "cluster reload failed; will retry"),
            },
            Err(e) => return warn!(error = %e, "cluster catch-up failed; will retry"),
        };
        crate::metrics::cluster_catchup(entries.len(), false);
        for (position, update) in entries {
            if position > self.position {
                self.integrate_remote(&update);
                self.position = position;
            }
        }
        self.head = self.position;
        self.send_held();
    }

    /// Applies an update another node already committed: broadcast here, never stored again.
    pub(super) fn integrate_remote(&mut self, update: &[u8]) {
        let Ok(update) = yrs::Update::decode_v1(update) else {
            return warn!("undecodable entry in the log; skipped");
        };
        let mut fx = Effects::default();
        match self.doc.apply_external(update, &mut fx) {
            Ok(()) => {
                if !fx.persist.is_empty() {
                    self.fresh_step2 = None;
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
