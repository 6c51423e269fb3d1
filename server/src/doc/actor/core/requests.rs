//! The core's side of the document API: writes that come from HTTP rather than a session
//! (answered with a [`Refused`] instead of a close, after the commit), and deleting the
//! document.

use tokio::sync::oneshot;
use tracing::warn;
use weft_crdt::document::ApplyError;
use weft_crdt::{Document, Effects, SessionId};

use super::{AfterCommit, Core, Effect};
use crate::doc::actor::phase::Phase;
use crate::doc::handle::{Close, Refused};
use crate::store::StoreError;

impl Core {
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

    /// `Phase::Deleting`, begun: every session is closed with 4404 and everything held,
    /// uncommitted or waiting is dropped. Returns who asked, for the shell to answer once the
    /// store has forgotten the document (`None`: not deleting).
    pub fn begin_delete(&mut self) -> Option<oneshot::Sender<Result<bool, StoreError>>> {
        let Phase::Deleting(reply) = std::mem::replace(&mut self.phase, Phase::Retiring) else {
            return None;
        };
        let mut ids: Vec<SessionId> = self.sessions.drain().collect();
        ids.sort_unstable();
        for id in ids {
            self.out.push(Effect::Close(id, Close::Deleted));
        }
        crate::metrics::pending_store_bytes(-(self.unsaved_bytes as f64));
        self.unsaved.clear();
        self.unsaved_bytes = 0;
        self.held.clear();
        self.refuse_all_waiting();
        Some(reply)
    }
}
