//! Admitting documents on a Hocuspocus connection: authorizing a document's key (its token, or
//! the embedder's hook), joining its actor, greeting it, refusing it for that key only, and
//! re-authorizing an open document when its provider sends a fresh token.

use bytes::Bytes;
use futures_util::stream::{self, PollNext, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};
use weft_crdt::DocName;

use super::{send, End, HpSession, OpenDoc, Out, MAX_DOCS_PER_CONN};
use crate::access::{Access, Admission, Refusal};
use crate::hocuspocus::codec;
use crate::live::{NewSession, Protocol};
use crate::ws::close;
use crate::ws::session::join;
use crate::ws::socket::{Outbound, Socket};

impl HpSession {
    /// Admits, joins and greets a document. A refusal is a PermissionDenied for that key only.
    pub(super) async fn open(
        &mut self,
        ws: &mut Socket,
        key: String,
        token: Option<&str>,
    ) -> Result<(), End> {
        if self.docs.len() + self.denied.len() >= MAX_DOCS_PER_CONN {
            warn!(
                limit = MAX_DOCS_PER_CONN,
                "closing connection opening too many documents"
            );
            crate::metrics::refused("too_many_documents");
            return Err(End::Close(close::too_many_documents()));
        }
        // `name\0sessionId` (v4 `sessionAwareness`): the document is the part before `\0`.
        let raw_name = key.split('\0').next().unwrap_or_default();
        let name = match DocName::parse(raw_name) {
            Ok(name) => name,
            Err(e) => {
                info!(key = %key, error = %e, "refused: invalid document name");
                crate::metrics::refused("invalid_document_name");
                return self
                    .deny(ws, key, &format!("invalid-document-name: {e}"))
                    .await;
            }
        };
        let admission = match self.gate.admit_in_band(&self.req, token, &name).await {
            Ok(admission) => admission,
            Err(refusal) => return self.deny(ws, key, denial_reason(&refusal)).await,
        };
        let Admission {
            access,
            user,
            expires_in,
            jti,
            permit,
        } = admission;
        let id = self.registry.next_session_id();
        let read_only = access == Access::Read;
        let prefix = Bytes::from(codec::key_prefix(&key));
        let tag = key.clone();
        let slot = self.next_slot;
        self.next_slot += 1;
        let direct = match ws.prefixed(prefix.clone()) {
            // On an owned socket the actor writes the document's frames itself, behind its
            // key, so they go after this answer: it is sent first.
            Some(outbound) => {
                send(ws, codec::authenticated(&key, read_only)).await?;
                let (handle, close_rx) = join(&self.registry, &name, id, outbound, !read_only)
                    .await
                    .map_err(End::Close)?;
                let closed = stream::once(close_rx).map(Out::Closed);
                let tag = tag.clone();
                self.outbound.push(
                    closed
                        .map(move |out| (tag.clone(), slot, out))
                        .boxed_local(),
                );
                Some(handle)
            }
            None => None,
        };
        let (handle, direct) = match direct {
            Some(handle) => (handle, true),
            None => {
                let (out_tx, out_rx) = mpsc::channel::<Bytes>(self.settings.session_queue);
                let (handle, close_rx) = join(
                    &self.registry,
                    &name,
                    id,
                    Outbound::Queue(out_tx),
                    !read_only,
                )
                .await
                .map_err(End::Close)?;
                let frames = stream::unfold(out_rx, |mut rx| async move {
                    rx.recv().await.map(|frame| (Out::Frame(frame), rx))
                });
                let closed = stream::once(close_rx).map(Out::Closed);
                // The close request wins over frames still queued, as in the y-websocket
                // session.
                let merged =
                    stream::select_with_strategy(closed, frames, |_: &mut ()| PollNext::Left);
                self.outbound.push(
                    merged
                        .map(move |out| (tag.clone(), slot, out))
                        .boxed_local(),
                );
                (handle, false)
            }
        };
        info!(doc = %name, session = id.0, ?access, user = user.as_deref().unwrap_or(""), "document opened");
        let listed = self.live.register(
            NewSession {
                doc: name.clone(),
                id,
                protocol: Protocol::Hocuspocus,
                access,
                user: user.clone(),
                jti,
            },
            self.control.clone(),
        );
        self.docs.insert(
            key.clone(),
            OpenDoc {
                prefix,
                direct,
                name,
                slot,
                id,
                handle,
                access,
                expires_at: expires_in.map(|left| Instant::now() + left),
                _permit: permit,
                listed,
                user,
                step1_pending: 0,
                held_acks: Vec::new(),
            },
        );
        if direct {
            return Ok(());
        }
        // Sent before anything from the actor: its greeting waits in the queue we drain later.
        send(ws, codec::authenticated(&key, read_only)).await
    }

    pub(super) async fn deny(
        &mut self,
        ws: &mut Socket,
        key: String,
        reason: &str,
    ) -> Result<(), End> {
        let frame = codec::permission_denied(&key, reason);
        self.denied.insert(key);
        send(ws, frame).await
    }

    /// A fresh token for an open document (a provider recreated on the same socket, or a
    /// refreshed token): new access and expiry, or the document is closed for this socket.
    pub(super) async fn reauthorize(
        &mut self,
        ws: &mut Socket,
        key: String,
        token: &str,
    ) -> Result<(), End> {
        let Some(doc) = self.docs.get_mut(&key) else {
            return Ok(());
        };
        match self.gate.authorize(&self.req, Some(token), &doc.name).await {
            Ok(grant) => {
                doc.access = grant.access;
                doc.expires_at = grant.expires_in.map(|left| Instant::now() + left);
                doc.listed
                    .update(grant.access, grant.user.clone(), grant.jti.clone());
                doc.user = grant.user;
                send(ws, codec::authenticated(&key, grant.access == Access::Read)).await
            }
            Err(refusal) => {
                crate::metrics::refused(refusal.metric_reason());
                let reason = denial_reason(&refusal);
                if let Some(doc) = self.docs.remove(&key) {
                    info!(doc = %doc.name, ?refusal, "token refused on an open document; closing it");
                    doc.handle.leave(doc.id).await;
                }
                send(ws, codec::permission_denied(&key, reason)).await?;
                send(ws, codec::close(&key, reason)).await
            }
        }
    }
}

/// The reason a provider's `authenticationFailed` event carries: the same stable codes as the
/// HTTP refusals of `/ws` (never token content), or the embedder's hook's own reason.
fn denial_reason(refusal: &Refusal) -> &str {
    match refusal {
        Refusal::Denied { reason, .. } => reason,
        other => other.code(),
    }
}
