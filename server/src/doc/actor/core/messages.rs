//! The core's handling of a session's messages: the checks (refused session, store behind,
//! invalid update, size limit, awareness quota), then what the document does with them.

use tracing::{debug, warn};
use weft_crdt::document::ApplyError;
use weft_crdt::{Effects, Inbound, SessionId};

use super::Core;
use crate::doc::fanout::Held;
use crate::doc::handle::Close;

impl Core {
    pub(super) fn messages(&mut self, from: SessionId, messages: Vec<Inbound>) {
        // A session we refused (bad update, quota, size, store full) has nothing more
        // applied. One that is merely gone (or too slow to read) still has its last
        // updates applied: a client closing its tab must not lose its final edits.
        if self.refused.contains(&from) {
            return;
        }
        // Of a departed session only the updates matter: its presence is already gone
        // and must not be claimed again in its name.
        let detached = !self.sessions.contains(&from);
        let max_unsaved = self.settings.max_unsaved;
        for msg in messages {
            if detached && !msg.is_write() {
                continue;
            }
            if msg.is_write() && self.unsaved_bytes > max_unsaved {
                warn!(
                    session = from.0,
                    unsaved = self.unsaved_bytes,
                    "store behind; refusing writes"
                );
                self.kick(from, Close::StoreUnavailable);
                return;
            }
            let mut fx = Effects::default();
            let now = self.now_ms();
            let is_write = msg.is_write();
            let is_awareness = matches!(msg, Inbound::Awareness(_));
            let started = std::time::Instant::now();
            let hibernated = self.doc.is_hibernated();
            if let Inbound::SyncStep1(sv) = &msg {
                if sv.is_empty() {
                    if let Some(frame) = self.fresh_step2() {
                        self.held.push(Held::Shared(from, frame));
                        continue;
                    }
                }
            }
            let handled = self.doc.handle(from, msg, now, &mut fx);
            if is_write {
                crate::metrics::update_applied(started.elapsed());
                if hibernated && !self.doc.is_hibernated() {
                    crate::metrics::document_woke(started.elapsed());
                }
            }
            match handled {
                Ok(()) => {}
                Err(ApplyError::Poisoned) => {
                    // Not this client's fault: it reconnects once the document is rebuilt.
                    self.kick(from, Close::Recovering);
                    self.taint("the document was poisoned");
                    return;
                }
                Err(e) => {
                    if matches!(e, ApplyError::Panicked) {
                        crate::metrics::caught_panic();
                    }
                    warn!(session = from.0, error = %e, "invalid update; closing its session");
                    self.kick(from, Close::InvalidUpdate);
                    // yrs may have integrated part of it before refusing.
                    self.taint("an update was refused halfway");
                    return;
                }
            }
            if fx.awareness_refused > 0 {
                debug!(
                    session = from.0,
                    refused = fx.awareness_refused,
                    "awareness entries refused"
                );
            }
            // Judged on what the update actually added, so an empty sync step 2 from a
            // joining client never counts against a full document.
            let added: usize = fx.persist.iter().map(Vec::len).sum();
            let max_size = self.settings.max_document_size;
            if added > 0 && self.approx_size + added > max_size {
                warn!(
                    session = from.0,
                    size = self.approx_size,
                    added,
                    limit = max_size,
                    "document size limit reached; refusing the write"
                );
                self.kick(from, Close::DocumentTooLarge);
                // It was applied in memory before it was measured.
                self.taint("a write over the size limit was refused");
                return;
            }
            let over_quota = fx.awareness_over_quota;
            if is_awareness {
                self.relay_presence(from, &fx);
            }
            self.stage(Some(from), fx);
            if over_quota {
                warn!(
                    session = from.0,
                    "closing a session that claims too many awareness ids"
                );
                self.kick(from, Close::TooManyAwarenessIds);
                return;
            }
        }
    }
}
