//! Sending a document's held effects to its sessions, with the overflow policy in one place:
//! a send never waits. A full queue marks the session *full* (the actor closes it with 1013 and
//! it resyncs on reconnect); a closed queue marks it *gone* (its session already ended). A
//! broadcast frame is encoded once and shared (`Bytes`) by every queue it goes to.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use weft_crdt::{Effects, SessionId};

use super::handle::Close;

/// A session as the actor keeps it.
pub(super) struct Peer {
    pub outbound: mpsc::Sender<Bytes>,
    pub close: Option<oneshot::Sender<Close>>,
}

/// Sessions that could not take what was sent to them.
#[derive(Default)]
pub(super) struct Undelivered {
    pub full: Vec<SessionId>,
    pub gone: Vec<SessionId>,
}

impl Undelivered {
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.gone.is_empty()
    }

    fn note(&mut self, id: SessionId, e: TrySendError<Bytes>) {
        match e {
            TrySendError::Full(_) => self.full.push(id),
            TrySendError::Closed(_) => self.gone.push(id),
        }
    }
}

/// What the actor holds until its commit: a handled message's effects, or a frame already
/// encoded and shared (the sync step 2 every fresh joiner gets), for one session.
pub(super) enum Held {
    Fx(Option<SessionId>, Effects),
    Shared(SessionId, Bytes),
}

/// Queues each effect's replies to its sender and its broadcasts to every other session.
pub(super) fn send(held: Vec<Held>, peers: &HashMap<SessionId, Peer>) -> Undelivered {
    let mut undelivered = Undelivered::default();
    let (mut frames, mut bytes) = (0u64, 0u64);
    for held in held {
        let (from, fx) = match held {
            Held::Fx(from, fx) => (from, fx),
            Held::Shared(id, frame) => {
                if let Some(peer) = peers.get(&id) {
                    frames += 1;
                    bytes += frame.len() as u64;
                    if let Err(e) = peer.outbound.try_send(frame) {
                        undelivered.note(id, e);
                    }
                }
                continue;
            }
        };
        if let Some((id, peer)) = from.and_then(|id| peers.get(&id).map(|p| (id, p))) {
            for frame in fx.reply {
                frames += 1;
                bytes += frame.len() as u64;
                if let Err(e) = peer.outbound.try_send(Bytes::from(frame)) {
                    undelivered.note(id, e);
                    break;
                }
            }
        }
        for frame in fx.broadcast {
            let frame = Bytes::from(frame);
            for (id, peer) in peers {
                if Some(*id) == from {
                    continue;
                }
                frames += 1;
                bytes += frame.len() as u64;
                if let Err(e) = peer.outbound.try_send(frame.clone()) {
                    undelivered.note(*id, e);
                }
            }
        }
    }
    crate::metrics::frames_out(frames, bytes);
    for list in [&mut undelivered.full, &mut undelivered.gone] {
        list.sort_unstable();
        list.dedup();
    }
    undelivered
}
