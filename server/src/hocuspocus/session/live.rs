//! A Hocuspocus connection's live-session traffic: stateless messages in (screened by size and
//! rate, then relayed through `crate::live`) and out, and closes asked from outside (a revoked
//! token, `DELETE …/sessions`).

use actix_ws::CloseReason;
use tokio::time::Instant;
use tracing::{info, warn};
use weft_crdt::SessionId;

use super::{send, End, HpSession, Verdict};
use crate::hocuspocus::codec;
use crate::live::Control;
use crate::ws::close;

impl HpSession {
    /// A stateless message from the provider for the open document `key`.
    pub(super) fn on_stateless(&mut self, key: &str, payload: String) -> Result<(), End> {
        let now = Instant::now();
        match self.stateless.check(&payload, now) {
            Verdict::TooBig => {
                warn!(key = %key, len = payload.len(), "refusing a stateless message over --max-stateless-size");
                crate::metrics::refused("stateless_too_big");
                Err(End::Close(close::stateless_too_big()))
            }
            Verdict::RateLimited => {
                crate::metrics::stateless("dropped");
                let (dropped, logged) = &mut self.stateless_dropped;
                *dropped += 1;
                if logged.is_none_or(|at| now.duration_since(at).as_secs() >= 1) {
                    warn!(key = %key, dropped = *dropped, "stateless messages over --max-stateless-per-sec dropped");
                    *dropped = 0;
                    *logged = Some(now);
                }
                Ok(())
            }
            Verdict::Pass => {
                if let Some(doc) = self.docs.get(key) {
                    // Read-only sessions may send these: they change no document.
                    self.live
                        .stateless(&doc.name, doc.id, doc.user.as_deref(), payload);
                }
                Ok(())
            }
        }
    }

    /// What the outside asks of this connection.
    pub(super) async fn on_control(
        &mut self,
        ws: &mut crate::ws::socket::Socket,
        control: Control,
    ) -> Result<(), End> {
        match control {
            Control::Stateless { session, payload } => match self.key_of(session) {
                Some(key) => send(ws, codec::stateless(&key, &payload)).await,
                None => Ok(()), // closed since
            },
            Control::Close { session, reason } => self.close_document(ws, session, reason).await,
        }
    }

    /// Ends one document's session: the provider hears PermissionDenied and Close for its key
    /// (its `authenticationFailed` and `close` events); the socket itself closes with `reason`
    /// once no document is left on it. The key needs a new Auth to open again.
    async fn close_document(
        &mut self,
        ws: &mut crate::ws::socket::Socket,
        session: SessionId,
        reason: CloseReason,
    ) -> Result<(), End> {
        let Some(key) = self.key_of(session) else {
            return Ok(());
        };
        let Some(doc) = self.docs.remove(&key) else {
            return Ok(());
        };
        info!(doc = %doc.name, session = session.0, code = ?reason.code, "closing the document's session (asked from outside: revocation or access change)");
        crate::metrics::refused("closed_by_admin");
        doc.handle.leave(doc.id).await;
        drop(doc);
        let text = reason.description.clone().unwrap_or_default();
        self.denied.insert(key.clone());
        send(ws, codec::permission_denied(&key, &text)).await?;
        send(ws, codec::close(&key, &text)).await?;
        if self.docs.is_empty() {
            return Err(End::Close(reason));
        }
        Ok(())
    }

    fn key_of(&self, session: SessionId) -> Option<String> {
        self.docs
            .iter()
            .find(|(_, d)| d.id == session)
            .map(|(key, _)| key.clone())
    }
}
