//! One WebSocket connection: the loop between the socket and the document actor.
//!
//! ```text
//!  socket ──frame──► decode_frame ──[Inbound]──► DocHandle::send ──► actor
//!  socket ◄──frame── Outbound (straight into an owned socket; see `socket`) ◄── actor
//! ```
//!
//! Decoding happens here, so malformed input closes only this connection (1002/1007) and never
//! reaches the actor. The loop also answers pings, sends its own, and enforces the idle timeout.
//!
//! Access rules enforced here, per connection (see `access`): a read-only session's writes
//! (sync step 2, updates) are dropped before the actor and answered with a y-protocols
//! permission-denied message; a token bucket caps messages per second (1008); a connection may
//! introduce only so many awareness client ids (1008); the session ends with 4401 when its
//! token expires, and with 4403 when its token is revoked or an admin closes the document's
//! sessions (through its control queue, see `crate::live`).

use std::time::Duration;

use actix_ws::CloseReason;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use weft_crdt::codec::{decode_frame, encode_permission_denied};
use weft_crdt::{DocName, Inbound, SessionId};

use super::close;
use super::frames::{self, Incoming};
use super::socket::{Outbound, Socket};
use super::upgrade::WsSettings;
use crate::access::limits::{AwarenessLimiter, ConnPermit, TokenBucket};
use crate::access::{Access, Admission, SessionLimits};
use crate::doc::{Close, DocHandle, JoinError, Member, Registry};
use crate::live::directory::CONTROL_QUEUE;
use crate::live::{Control, Live, NewSession, Protocol};

/// Joins retried when the actor retires just as we arrive (each retry gets a fresh actor).
const JOIN_ATTEMPTS: usize = 5;

pub struct Session {
    id: SessionId,
    name: DocName,
    registry: Registry,
    settings: WsSettings,
    access: Access,
    expires_in: Option<Duration>,
    limits: SessionLimits,
    /// Awareness size and rate (its own bucket), checked in [`Session::screen`].
    awareness: AwarenessLimiter,
    /// Holds this connection's slots in the connection limits; freed when the session ends.
    _permit: ConnPermit,
    live: Live,
    /// What the sessions list shows of this session (taken when it joins).
    listing: Option<NewSession>,
}

/// Messages that passed [`Session::screen`], and how many writes it refused.
struct Screened {
    pass: Vec<Inbound>,
    denied: usize,
}

/// Why the loop ended; decides the close frame.
enum End {
    /// The client closed or vanished: nothing more to send.
    Gone,
    Close(CloseReason),
}

/// The end a failed send of the session's own means (see `frames::sent`).
fn end_of(incoming: Incoming) -> End {
    match incoming {
        Incoming::Close(reason) => End::Close(reason),
        _ => End::Gone,
    }
}

impl Session {
    pub fn new(
        id: SessionId,
        name: DocName,
        registry: Registry,
        settings: WsSettings,
        admission: Admission,
        limits: SessionLimits,
        live: Live,
    ) -> Self {
        let listing = NewSession {
            doc: name.clone(),
            id,
            protocol: Protocol::YWebsocket,
            access: admission.access,
            user: admission.user,
            jti: admission.jti,
        };
        Session {
            live,
            listing: Some(listing),
            id,
            name,
            registry,
            settings,
            access: admission.access,
            expires_in: admission.expires_in,
            awareness: AwarenessLimiter::new(
                limits.max_awareness_size,
                limits.max_awareness_per_sec,
                limits.awareness_burst,
                Instant::now(),
            ),
            limits,
            _permit: admission.permit,
        }
    }

    /// The session, from its join to the end of its connection.
    ///
    /// Every idle connection keeps this future in memory, sized by its largest state: only
    /// the wait for the next event is inline; joining, handling a message and closing are
    /// boxed for the moment they run.
    pub async fn run(mut self, mut ws: Socket) {
        let joined = Box::pin(join(
            &self.registry,
            &self.name,
            self.id,
            ws.outbound(),
            self.access != Access::Read,
        ))
        .await;
        let (doc, mut close_rx) = match joined {
            Ok(joined) => joined,
            Err(reason) => {
                Box::pin(ws.close(Some(reason))).await;
                return;
            }
        };
        debug!("session open");
        crate::metrics::connection_opened();
        let (control_tx, mut control_rx) = mpsc::channel(CONTROL_QUEUE);
        let _listed = self
            .listing
            .take()
            .map(|listing| self.live.register(listing, control_tx));
        let mut ping = tokio::time::interval(self.settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();
        let mut bucket = TokenBucket::new(
            self.limits.max_messages_per_sec,
            self.limits.message_burst,
            last_heard,
        );
        let mut expiry = self
            .expires_in
            .map(|left| Box::pin(tokio::time::sleep(left)));

        let end = loop {
            tokio::select! {
                biased;
                why = &mut close_rx => {
                    break match why {
                        Ok(why) => {
                            if let Some(reason) = close::actor_refusal(why) {
                                crate::metrics::refused(reason);
                            }
                            End::Close(close::from_actor(why))
                        }
                        Err(_) => End::Close(close::unavailable("document closed")),
                    };
                }
                Some(control) = control_rx.recv() => {
                    if let Control::Close { reason, .. } = control {
                        info!(code = ?reason.code, "closing session (asked from outside: revocation or access change)");
                        crate::metrics::refused("closed_by_admin");
                        break End::Close(reason);
                    }
                }
                _ = async { expiry.as_mut().expect("guarded by is_some").await }, if expiry.is_some() => {
                    info!("token expired; closing session");
                    crate::metrics::refused("token_expired_in_session");
                    break End::Close(close::token_expired());
                }
                msg = ws.recv() => {
                    last_heard = Instant::now();
                    let max = self.settings.max_message_size;
                    match Box::pin(frames::triage(&mut ws, msg, max, &mut bucket, last_heard)).await {
                        Incoming::Binary(bytes) => {
                            if let Err(end) = Box::pin(self.on_frame(&mut ws, &doc, &bytes)).await {
                                break end;
                            }
                        }
                        Incoming::Handled => {}
                        Incoming::Gone => break End::Gone,
                        Incoming::Close(reason) => break End::Close(reason),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.settings.idle_timeout {
                        info!(idle = ?last_heard.elapsed(), "closing idle connection");
                        crate::metrics::refused("idle_timeout");
                        break End::Close(close::idle());
                    }
                    if let Err(e) = Box::pin(ws.ping()).await {
                        break end_of(frames::sent(e));
                    }
                }
            }
        };
        Box::pin(self.end(ws, doc, end)).await;
    }

    /// Leaves the document and closes the connection.
    async fn end(mut self, mut ws: Socket, doc: DocHandle, end: End) {
        if matches!(end, End::Gone) {
            // The client is gone (closed, dropped, or its socket failed while we wrote to it):
            // what it had already sent still counts, whichever side noticed first.
            for bytes in ws.unread().await {
                if self.on_frame(&mut ws, &doc, &bytes).await.is_err() {
                    break;
                }
            }
        }
        doc.leave(self.id).await;
        crate::metrics::connection_closed();
        match end {
            End::Gone => {
                debug!("session ended by the client");
                ws.close(None).await;
            }
            End::Close(reason) => {
                debug!(code = ?reason.code, "closing session");
                crate::metrics::closed_with(u16::from(reason.code));
                ws.close(Some(reason)).await;
            }
        }
    }

    /// Decodes one binary frame, applies this session's access rules and hands what passes to
    /// the document. `Err` ends the session.
    async fn on_frame(
        &mut self,
        ws: &mut Socket,
        doc: &DocHandle,
        bytes: &Bytes,
    ) -> Result<(), End> {
        let messages = match decode_frame(bytes) {
            Ok(messages) => messages,
            Err(e) => {
                warn!(error = %e, len = bytes.len(), "refusing malformed frame");
                crate::metrics::refused(close::decode_refusal(&e));
                return Err(End::Close(close::decode(&e)));
            }
        };
        crate::metrics::frame_in(bytes.len(), &messages);
        let messages = self.screen(messages).map_err(End::Close)?;
        if messages.denied > 0 {
            info!(
                refused = messages.denied,
                "write refused: read-only session"
            );
            crate::metrics::refused("read_only_write");
            let denied = encode_permission_denied("read-only access: updates are not accepted");
            if let Err(e) = ws.send(denied.into()).await {
                return Err(end_of(frames::sent(e)));
            }
        }
        if !messages.pass.is_empty() && doc.send(self.id, messages.pass).await.is_err() {
            return Err(End::Close(close::unavailable("document closed")));
        }
        Ok(())
    }

    /// Applies this session's access rules to decoded messages: drops a read-only session's
    /// writes (counting those that carry changes), and refuses awareness over its size or rate
    /// (the whole connection closes: 1009 / 1008). (The awareness-id quota is the document's:
    /// only it knows which ids a session owns, since stock clients relay others' states.)
    fn screen(&mut self, messages: Vec<Inbound>) -> Result<Screened, CloseReason> {
        let mut out = Screened {
            pass: Vec::with_capacity(messages.len()),
            denied: 0,
        };
        for msg in messages {
            match &msg {
                Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. }
                    if self.access == Access::Read =>
                {
                    // The empty step 2 a fresh client answers our step 1 with changes nothing:
                    // drop it silently rather than show the user a denial.
                    if !update.is_empty() {
                        out.denied += 1;
                    }
                    continue;
                }
                Inbound::Awareness(update) => {
                    if let Err(refusal) = self.awareness.check(update, Instant::now()) {
                        warn!(
                            ?refusal,
                            max_size = self.limits.max_awareness_size,
                            rate = self.limits.max_awareness_per_sec,
                            "refusing awareness"
                        );
                        crate::metrics::refused(refusal.metric_reason());
                        return Err(close::awareness(refusal));
                    }
                }
                _ => {}
            }
            out.pass.push(msg);
        }
        Ok(out)
    }
}

/// Registers a socket session with the document's actor, retrying if the actor was just
/// retiring (each retry gets a fresh one). Shared by `/ws` and `/hocuspocus`.
pub(crate) async fn join(
    registry: &Registry,
    name: &DocName,
    id: SessionId,
    outbound: Outbound,
    writes: bool,
) -> Result<(DocHandle, oneshot::Receiver<Close>), CloseReason> {
    for _ in 0..JOIN_ATTEMPTS {
        let doc = registry.handle(name);
        let (close_tx, close_rx) = oneshot::channel();
        let member = Member {
            id,
            outbound: outbound.clone(),
            close: close_tx,
            writes,
        };
        match doc.join(member).await {
            Ok(()) => return Ok((doc, close_rx)),
            Err(JoinError::Retired) if registry.is_shutting_down() => {
                return Err(close::going_away())
            }
            Err(JoinError::Retired) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(JoinError::LoadFailed(reason)) => {
                warn!(doc = %name, %reason, "document unavailable");
                return Err(close::unavailable(
                    "document could not be loaded; retry later",
                ));
            }
        }
    }
    Err(close::unavailable("document busy; retry"))
}
