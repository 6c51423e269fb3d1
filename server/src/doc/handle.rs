//! How sessions talk to a document actor: [`Command`]s over a bounded channel, behind the
//! cloneable [`DocHandle`].
//!
//! Outbound traffic goes the other way through each session's own bounded queue ([`Member`]).
//! The actor never waits on a session: when a session's queue is full it is told to [`Close`]
//! through a separate one-shot channel (which cannot be full), and the client resyncs on
//! reconnect. No update is ever dropped silently.

use tokio::sync::{mpsc, oneshot};
use weft_crdt::document::ApplyError;
use weft_crdt::{Inbound, SessionId};
use yrs::{StateVector, Update};

use super::versions::VersionReply;
use crate::cluster::Remote;
use crate::store::{StoreError, VersionKind, VersionMeta};
use crate::ws::socket::Outbound;

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
    /// The document was deleted through the API (4404).
    Deleted,
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
    /// Where the client's frames go, in order (straight into its socket, or a bounded queue).
    pub outbound: Outbound,
    /// Out-of-band close request.
    pub close: oneshot::Sender<Close>,
    /// Its token lets it edit (read-only sessions' writes never reach the actor).
    pub writes: bool,
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
    /// The committed state as one update (the part a peer at `sv` lacks, when given);
    /// [`Refused::Recovering`] when the document stayed tainted too long.
    Read {
        sv: Option<StateVector>,
        reply: oneshot::Sender<Result<Vec<u8>, Refused>>,
    },
    /// An update from the HTTP API: applied, committed and broadcast like a client's.
    Apply {
        update: Update,
        reply: oneshot::Sender<Result<bool, Refused>>,
    },
    /// Makes the content equal to `target`'s (a version being restored).
    Restore {
        target: yrs::Doc,
        reply: oneshot::Sender<Result<bool, Refused>>,
    },
    /// Takes a version now.
    SaveVersion {
        kind: VersionKind,
        label: Option<String>,
        reply: VersionReply,
    },
    /// Closes every session (4404) and removes the document from the store.
    Delete {
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// From another node of the cluster.
    Remote(Remote),
    /// Answered once everything handled before it is committed (write acknowledgements).
    Barrier {
        reply: oneshot::Sender<()>,
    },
}

/// Why the actor refused an update from the API.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(ApplyError),
    #[error("the document would exceed its size limit ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("the store is failing and too much is uncommitted; retry later")]
    StoreBehind,
    /// The document is being rebuilt from the store (after a refused write) and was not
    /// ready in time: retry.
    #[error("the document is being rebuilt; retry")]
    Recovering,
    /// The document could not be read from the store: retry later.
    #[error("the document cannot be read from the store now; retry later")]
    Unavailable,
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

/// What became of a message offered to an actor without waiting.
#[derive(Debug)]
pub enum Delivery {
    Sent,
    /// Its queue is full: here it is back.
    Full(Remote),
    /// The actor ended.
    Gone,
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

    /// Sends `cmd` built around a reply channel and waits for the answer. `None`: the actor
    /// retired before answering (ask the registry again).
    async fn ask<T>(&self, cmd: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(cmd(reply)).await.ok()?;
        rx.await.ok()
    }

    /// The committed document as one update (or its diff against `sv`).
    pub async fn read(&self, sv: Option<StateVector>) -> Option<Result<Vec<u8>, Refused>> {
        self.ask(|reply| Command::Read { sv, reply }).await
    }

    /// Applies an update; `Ok(false)` when it added nothing new. Answers once committed.
    pub async fn apply(&self, update: Update) -> Option<Result<bool, Refused>> {
        self.ask(|reply| Command::Apply { update, reply }).await
    }

    /// Restores `target`'s content; `Ok(false)` when it was already equal.
    pub async fn restore(&self, target: yrs::Doc) -> Option<Result<bool, Refused>> {
        self.ask(|reply| Command::Restore { target, reply }).await
    }

    pub async fn save_version(
        &self,
        kind: VersionKind,
        label: Option<String>,
    ) -> Option<Result<VersionMeta, StoreError>> {
        self.ask(|reply| Command::SaveVersion { kind, label, reply })
            .await
    }

    /// Resolves once every message this actor received before it is committed; an error
    /// if the actor stopped first.
    pub async fn barrier(&self) -> oneshot::Receiver<()> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Command::Barrier { reply }).await;
        rx
    }

    /// Passes on what another node did (see `cluster`), without waiting: a full queue hands
    /// it back.
    pub fn try_remote(&self, what: Remote) -> Delivery {
        match self.tx.try_send(Command::Remote(what)) {
            Ok(()) => Delivery::Sent,
            Err(mpsc::error::TrySendError::Full(Command::Remote(what))) => Delivery::Full(what),
            Err(_) => Delivery::Gone,
        }
    }

    /// Deletes the document; `Ok(false)` when nothing was stored.
    pub async fn delete(&self) -> Option<Result<bool, StoreError>> {
        self.ask(|reply| Command::Delete { reply }).await
    }
}
