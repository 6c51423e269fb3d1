//! How an actor ends: deleted (4404, then the store forgets the document), retired when idle
//! (its queue closed, late joiners retry with a fresh actor), at shutdown (commit, then 1001),
//! or after a failed load (every request refused, retryably).

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::phase;
use super::Actor;
use crate::doc::handle::{Close, Command, JoinError, Refused};
use crate::store::StoreError;

impl Actor {
    /// `Phase::Deleting`: every session is closed with 4404, the store forgets the document,
    /// then the queue is closed (in that order: a joiner that arrives meanwhile retries and
    /// finds it gone).
    pub(super) async fn delete(&mut self) {
        let Some(reply) = self.core.at(Instant::now()).begin_delete() else {
            return;
        };
        self.perform();
        let result = self.links.store.delete(&self.name).await;
        match &result {
            Ok(_) => info!("document deleted"),
            Err(e) => warn!(error = %e, "document delete failed"),
        }
        let _ = reply.send(result);
        self.close_queue().await;
    }

    /// Closes the queue and refuses late joiners (they retry and reach a fresh actor).
    pub(super) async fn close_queue(&mut self) {
        self.rx.close();
        while let Some(cmd) = self.rx.recv().await {
            if let Command::Join { reply, .. } = cmd {
                let _ = reply.send(Err(JoinError::Retired));
            }
        }
    }

    /// Idle with no sessions: flush, leave the registry, refuse late joiners (they retry).
    pub(super) async fn retire(&mut self) -> bool {
        self.flush().await;
        if !self.core.at(Instant::now()).retire() {
            return false;
        }
        self.close_queue().await;
        debug!("document unloaded");
        true
    }

    /// Server shutdown: handle what is queued, commit it (retrying until the registry's
    /// deadline ends us), then close every session with 1001.
    pub(super) async fn shut_down(&mut self) {
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Join { reply, .. } => {
                    let _ = reply.send(Err(JoinError::Retired));
                }
                other => self.take(other),
            }
        }
        loop {
            self.flush().await;
            if !self.core.has_unsaved() {
                break;
            }
            let wait = self.core.phase().retry_at().map_or(phase::RETRY_MIN, |t| {
                t.saturating_duration_since(Instant::now())
            });
            tokio::time::sleep(wait).await;
        }
        self.core.at(Instant::now()).shut_down();
        self.perform();
        // Sessions the core no longer knows (none should be left) go too.
        for (_, mut peer) in self.peers.drain() {
            if let Some(close) = peer.close.take() {
                let _ = close.send(Close::GoingAway);
            }
        }
    }
}

/// A command for an actor whose document could not be loaded: answered with a retryable
/// refusal (joins: `LoadFailed`, API calls: 503), never from a blank document.
pub(super) fn refuse_unloaded(cmd: Command, reason: &str) {
    let unavailable =
        || StoreError::Unavailable(format!("the document could not be loaded: {reason}"));
    match cmd {
        Command::Join { reply, .. } => {
            let _ = reply.send(Err(JoinError::LoadFailed(reason.to_string())));
        }
        Command::Read { reply, .. } => {
            let _ = reply.send(Err(Refused::Unavailable));
        }
        Command::Apply { reply, .. } | Command::Restore { reply, .. } => {
            let _ = reply.send(Err(Refused::Unavailable));
        }
        Command::SaveVersion { reply, .. } => {
            let _ = reply.send(Err(unavailable()));
        }
        Command::Delete { reply } => {
            let _ = reply.send(Err(unavailable()));
        }
        Command::Messages { .. }
        | Command::Leave { .. }
        | Command::Remote(_)
        | Command::Barrier { .. } => {}
    }
}
