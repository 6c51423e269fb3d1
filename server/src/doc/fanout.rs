//! Sending a document's held effects to its sessions, with the overflow policy in one place:
//! a send never waits. A full queue marks the session *full* (the actor closes it with 1013 and
//! it resyncs on reconnect); a closed one marks it *gone* (its session already ended). A
//! broadcast frame is encoded (and framed, for owned sockets) once and shared by every session
//! it goes to; on an owned socket it is written from here, with no task woken (`ws::conn`).

use std::collections::HashMap;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use weft_crdt::{Effects, SessionId};

use super::handle::Close;
use crate::ws::conn::SendError;
use crate::ws::socket::{OutFrame, Outbound};

/// A session as the actor keeps it.
pub(super) struct Peer {
    pub outbound: Outbound,
    pub close: Option<oneshot::Sender<Close>>,
    /// It may edit (its cursor moving wakes a hibernating document ahead of its write).
    pub writes: bool,
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

    fn note(&mut self, id: SessionId, e: SendError) {
        match e {
            SendError::Full => self.full.push(id),
            SendError::Gone => self.gone.push(id),
        }
    }
}

/// What the actor holds until its commit: a handled message's effects, or a frame already
/// encoded and shared (the sync step 2 every fresh joiner gets), for one session.
pub(super) enum Held {
    Fx(Option<SessionId>, Effects),
    Shared(SessionId, Arc<OutFrame>),
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
                    bytes += frame.payload_len() as u64;
                    if let Err(e) = peer.outbound.try_send(&frame) {
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
                if let Err(e) = peer.outbound.try_send(&OutFrame::new(Bytes::from(frame))) {
                    undelivered.note(id, e);
                    break;
                }
            }
        }
        for frame in fx.broadcast {
            let frame = OutFrame::new(Bytes::from(frame));
            for (id, peer) in peers {
                if Some(*id) == from {
                    continue;
                }
                frames += 1;
                bytes += frame.payload_len() as u64;
                if let Err(e) = peer.outbound.try_send(&frame) {
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
