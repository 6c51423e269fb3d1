//! How sessions talk to a document actor: [`Command`]s over a bounded channel, behind the
//! cloneable [`DocHandle`].
//!
//! Outbound traffic goes the other way through each session's own bounded queue ([`Member`]).
//! The actor never waits on a session: when a session's queue is full it is told to [`Close`]
//! through a separate one-shot channel (which cannot be full), and the client resyncs on
//! reconnect. No update is ever dropped silently.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use weft_crdt::{Inbound, SessionId};

/// Why the actor ends a session. Each maps to one WebSocket close code in `ws::close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The session's outbound queue overflowed (1013, try again later).
    SlowConsumer,
    /// The server is shutting down (1001).
    GoingAway,
    /// The client sent an update yrs refused (1007).
    InvalidUpdate,
    /// The store is failing and too much is uncommitted (1013).
    StoreUnavailable,
    /// The client tried to own more awareness ids than its quota (1008).
    TooManyAwarenessIds,
    /// The document reached its size limit (1009).
    DocumentTooLarge,
    /// The document is being rebuilt after a failed update; reconnect (1013).
    Recovering,
}

impl Close {
    /// Whether the close refuses what the client sent (its queued messages are then dropped),
    /// as opposed to a close for the client's own good (too slow, shutdown, recovery).
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Close::InvalidUpdate
                | Close::StoreUnavailable
                | Close::TooManyAwarenessIds
                | Close::DocumentTooLarge
        )
    }
}

/// A session as the actor sees it.
#[derive(Debug)]
pub struct Member {
    pub id: SessionId,
    /// Frames to send to the client, in order.
    pub outbound: mpsc::Sender<Bytes>,
    /// Out-of-band close request.
    pub close: oneshot::Sender<Close>,
}

#[derive(Debug)]
pub enum Command {
    Join {
        member: Member,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    Messages {
        from: SessionId,
        messages: Vec<Inbound>,
    },
    Leave {
        from: SessionId,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JoinError {
    /// The actor is retiring; ask the registry again (a fresh actor will load the document).
    #[error("document is being unloaded")]
    Retired,
    /// The document could not be loaded; nothing was created in its place.
    #[error("document could not be loaded: {0}")]
    LoadFailed(String),
}

/// A cloneable reference to a running document actor.
#[derive(Debug, Clone)]
pub struct DocHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) actor_id: u64,
}

impl DocHandle {
    /// Registers a session. The greeting (sync step 1, awareness) arrives on its queue.
    pub async fn join(&self, member: Member) -> Result<(), JoinError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Join { member, reply })
            .await
            .map_err(|_| JoinError::Retired)?;
        rx.await.map_err(|_| JoinError::Retired)?
    }

    /// Hands decoded messages to the actor; waits while its queue is full (backpressure).
    /// `Err` means the actor is gone.
    pub async fn send(&self, from: SessionId, messages: Vec<Inbound>) -> Result<(), ()> {
        self.tx
            .send(Command::Messages { from, messages })
            .await
            .map_err(|_| ())
    }

    pub async fn leave(&self, from: SessionId) {
        let _ = self.tx.send(Command::Leave { from }).await;
    }
}
