//! The actor's side of the document API: writes that come from HTTP rather than a session
//! (answered with a [`Refused`] instead of a close, after the commit), and deleting the
//! document.

use tokio::sync::oneshot;
use tracing::{info, warn};
use weft_crdt::document::ApplyError;
use weft_crdt::{Document, Effects};

use super::phase::Phase;
use super::{Actor, AfterCommit};
use crate::doc::handle::{Close, Command, JoinError, Refused};

impl Actor {
    /// A write that comes from the API rather than a session: the same checks (store behind,
    /// invalid update, size limit) answered as a [`Refused`] instead of a close. `Ok(true)`
    /// when it changed the document.
    pub(super) fn write_from_api(
        &mut self,
        write: impl FnOnce(&mut Document, &mut Effects) -> Result<(), ApplyError>,
    ) -> Result<bool, Refused> {
        if self.unsaved_bytes > self.settings.max_unsaved {
            return Err(Refused::StoreBehind);
        }
        let max_size = self.settings.max_document_size;
        let mut fx = Effects::default();
        match write(&mut self.doc, &mut fx) {
            Ok(()) => {}
            Err(ApplyError::Poisoned) => {
                self.taint("the document was poisoned");
                return Err(Refused::Recovering);
            }
            Err(e) => {
                if matches!(e, ApplyError::Panicked) {
                    crate::metrics::caught_panic();
                }
                warn!(error = %e, "invalid update from the API; refused");
                self.taint("an API update was refused halfway");
                return Err(Refused::Invalid(e));
            }
        }
        let added: usize = fx.persist.iter().map(Vec::len).sum();
        if added > 0 && self.approx_size + added > max_size {
            warn!(
                size = self.approx_size,
                added,
                limit = max_size,
                "API write over the document size limit; refused"
            );
            self.taint("an API write over the size limit was refused");
            return Err(Refused::TooLarge { limit: max_size });
        }
        self.stage(None, fx);
        Ok(added > 0)
    }

    pub(super) fn answer_after_commit(
        &mut self,
        result: Result<bool, Refused>,
        reply: oneshot::Sender<Result<bool, Refused>>,
    ) {
        match result {
            Ok(changed) => self
                .after_commit
                .push(AfterCommit::Applied { changed, reply }),
            Err(refused) => {
                let _ = reply.send(Err(refused));
            }
        }
    }

    /// `Phase::Deleting`: closes every session with 4404, removes the document from the
    /// store, then closes the queue (in that order: a joiner that arrives meanwhile retries
    /// and finds it gone).
    pub(super) async fn delete(&mut self) {
        let Phase::Deleting(reply) = std::mem::replace(&mut self.phase, Phase::Retiring) else {
            return;
        };
        for (_, mut peer) in self.peers.drain() {
            if let Some(close) = peer.close.take() {
                let _ = close.send(Close::Deleted);
            }
        }
        crate::metrics::pending_store_bytes(-(self.unsaved_bytes as f64));
        self.unsaved.clear();
        self.unsaved_bytes = 0;
        self.held.clear();
        self.refuse_all_waiting();
        let result = self.store.delete(&self.name).await;
        match &result {
            Ok(_) => info!("document deleted"),
            Err(e) => warn!(error = %e, "document delete failed"),
        }
        let _ = reply.send(result);
        self.rx.close();
        while let Some(cmd) = self.rx.recv().await {
            if let Command::Join { reply, .. } = cmd {
                let _ = reply.send(Err(JoinError::Retired));
            }
        }
    }
}
