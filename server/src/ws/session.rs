//! One WebSocket connection: the loop between the socket and the document actor.
//!
//! ```text
//!  socket ──frame──► decode_frame ──[Inbound]──► DocHandle::send ──► actor
//!  socket ◄──frame── outbound queue (bounded) ◄────────────────────── actor
//! ```
//!
//! Decoding happens here, so malformed input closes only this connection (1002/1007) and never
//! reaches the actor. The loop also answers pings, sends its own, and enforces the idle timeout.

use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, ProtocolError};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use weft_crdt::{codec::decode_frame, DocName, SessionId};

use super::close;
use super::upgrade::WsSettings;
use crate::doc::{Close, DocHandle, JoinError, Member, Registry};

/// Joins retried when the actor retires just as we arrive (each retry gets a fresh actor).
const JOIN_ATTEMPTS: usize = 5;

pub struct Session {
    id: SessionId,
    name: DocName,
    registry: Registry,
    settings: WsSettings,
}

/// Why the loop ended; decides the close frame.
enum End {
    /// The client closed or vanished: nothing more to send.
    Gone,
    Close(CloseReason),
}

impl Session {
    pub fn new(id: SessionId, name: DocName, registry: Registry, settings: WsSettings) -> Self {
        Session {
            id,
            name,
            registry,
            settings,
        }
    }

    pub async fn run(self, mut ws: actix_ws::Session, mut stream: AggregatedMessageStream) {
        let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(self.settings.session_queue);
        let (doc, mut close_rx) = match self.join(out_tx).await {
            Ok(joined) => joined,
            Err(reason) => {
                let _ = ws.close(Some(reason)).await;
                return;
            }
        };
        debug!("session open");
        let mut ping = tokio::time::interval(self.settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();

        let end = loop {
            tokio::select! {
                biased;
                why = &mut close_rx => {
                    break match why {
                        Ok(why) => End::Close(close::from_actor(why)),
                        Err(_) => End::Close(close::unavailable("document closed")),
                    };
                }
                frame = out_rx.recv() => {
                    let Some(frame) = frame else {
                        break End::Close(close::unavailable("document closed"));
                    };
                    if ws.binary(frame).await.is_err() {
                        break End::Gone;
                    }
                }
                msg = stream.recv() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(AggregatedMessage::Binary(bytes))) => match decode_frame(&bytes) {
                            Ok(messages) => {
                                if doc.send(self.id, messages).await.is_err() {
                                    break End::Close(close::unavailable("document closed"));
                                }
                            }
                            Err(e) => {
                                warn!(error = %e, len = bytes.len(), "refusing malformed frame");
                                break End::Close(close::decode(&e));
                            }
                        },
                        Some(Ok(AggregatedMessage::Text(_))) => {
                            warn!("refusing text frame");
                            break End::Close(close::text_frame());
                        }
                        Some(Ok(AggregatedMessage::Ping(payload))) => {
                            if ws.pong(&payload).await.is_err() {
                                break End::Gone;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(reason))) => {
                            debug!(?reason, "client closed");
                            let _ = ws.clone().close(reason).await;
                            break End::Gone;
                        }
                        Some(Err(ProtocolError::Overflow)) => {
                            warn!(limit = self.settings.max_message_size, "refusing oversized message");
                            break End::Close(close::too_big());
                        }
                        Some(Err(e)) => {
                            let reason = reason_for(e);
                            warn!(code = ?reason.code, "websocket protocol error");
                            break End::Close(reason);
                        }
                        None => break End::Gone,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.settings.idle_timeout {
                        info!(idle = ?last_heard.elapsed(), "closing idle connection");
                        break End::Close(close::idle());
                    }
                    if ws.ping(b"").await.is_err() {
                        break End::Gone;
                    }
                }
            }
        };
        doc.leave(self.id).await;
        match end {
            End::Gone => debug!("session ended by the client"),
            End::Close(reason) => {
                debug!(code = ?reason.code, "closing session");
                let _ = ws.close(Some(reason)).await;
            }
        }
    }

    /// Registers with the document's actor, retrying if it was just retiring.
    async fn join(
        &self,
        out_tx: mpsc::Sender<Bytes>,
    ) -> Result<(DocHandle, oneshot::Receiver<Close>), CloseReason> {
        for _ in 0..JOIN_ATTEMPTS {
            let doc = self.registry.handle(&self.name);
            let (close_tx, close_rx) = oneshot::channel();
            let member = Member {
                id: self.id,
                outbound: out_tx.clone(),
                close: close_tx,
            };
            match doc.join(member).await {
                Ok(()) => return Ok((doc, close_rx)),
                Err(JoinError::Retired) if self.registry.is_shutting_down() => {
                    return Err(close::going_away())
                }
                Err(JoinError::Retired) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(JoinError::LoadFailed(reason)) => {
                    warn!(%reason, "document unavailable");
                    return Err(close::unavailable(
                        "document could not be loaded; retry later",
                    ));
                }
            }
        }
        Err(close::unavailable("document busy; retry"))
    }
}

/// actix-ws reports a reassembled (continuation) message over the limit as an I/O error
/// rather than `Overflow`; it is the same refusal, 1009.
fn reason_for(e: ProtocolError) -> CloseReason {
    match e {
        ProtocolError::Io(io) if io.to_string().contains("continuation size") => close::too_big(),
        _ => close::protocol(),
    }
}
