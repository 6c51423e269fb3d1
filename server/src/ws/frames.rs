//! What a session does with every WebSocket message before the protocol sees it: charge it to
//! the connection's message rate, answer pings, echo a client's close, and refuse text frames,
//! oversized messages and broken framing. Shared by `/ws` and `/hocuspocus`, so both answer
//! and count refusals the same way.

use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason};
use bytes::Bytes;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::close;
use super::conn::SendError;
use super::socket::{Received, Socket};
use super::wire::{Message, WireError};
use crate::access::limits::TokenBucket;

/// What the session loop does next.
pub enum Incoming {
    /// A binary frame for the protocol to decode.
    Binary(Bytes),
    /// Handled here (ping, pong); nothing to do.
    Handled,
    /// The client closed, or the connection dropped: nothing more to send. Frames it had
    /// already delivered may still be buffered (see [`Socket::unread`]).
    Gone,
    /// Refused: close with this reason.
    Close(CloseReason),
}

/// Sorts one message from the socket, answering pings on it. Data frames and pings are
/// charged to `rate` (closing with 1008 past it); pongs and closes are free.
pub async fn triage(
    ws: &mut Socket,
    msg: Received,
    max_message_size: usize,
    rate: &mut TokenBucket,
    now: Instant,
) -> Incoming {
    let charged = matches!(
        msg,
        Some(Ok(Message::Binary(_) | Message::Text | Message::Ping(_)))
    );
    if charged && !rate.take(now) {
        warn!(
            limit = rate.rate(),
            "closing connection over its message rate"
        );
        crate::metrics::refused("rate_limit");
        return Incoming::Close(close::rate_limited());
    }
    match msg {
        Some(Ok(Message::Binary(bytes))) => Incoming::Binary(bytes),
        Some(Ok(Message::Text)) => {
            warn!("refusing text frame");
            crate::metrics::refused("text_frame");
            Incoming::Close(close::text_frame())
        }
        Some(Ok(Message::Ping(payload))) => match ws.pong(&payload).await {
            Ok(()) => Incoming::Handled,
            Err(e) => sent(e),
        },
        Some(Ok(Message::Pong)) => Incoming::Handled,
        Some(Ok(Message::Close(reason))) => {
            debug!(?reason, "client closed");
            Incoming::Gone
        }
        Some(Err(WireError::TooBig)) => {
            warn!(limit = max_message_size, "refusing oversized message");
            crate::metrics::refused("message_too_big");
            Incoming::Close(close::too_big())
        }
        Some(Err(e @ WireError::InvalidUtf8)) => {
            warn!(error = %e, "refusing text frame");
            crate::metrics::refused("invalid_utf8");
            Incoming::Close(close::invalid_utf8())
        }
        Some(Err(e @ WireError::Protocol(_))) => {
            warn!(error = %e, "websocket protocol error");
            crate::metrics::refused("malformed_frame");
            Incoming::Close(close::protocol())
        }
        None => Incoming::Gone,
    }
}

/// What a failed send of the session's own means: a full queue is a slow consumer (1013),
/// like a broadcast that does not fit.
pub fn sent(e: SendError) -> Incoming {
    match e {
        SendError::Full => {
            warn!("outbound queue full; closing the session (1013), it will resync");
            crate::metrics::refused("slow_consumer");
            Incoming::Close(close::from_actor(crate::doc::Close::SlowConsumer))
        }
        SendError::Gone => Incoming::Gone,
    }
}

/// Most frames read after a connection vanished: what one read of the socket can hold.
const MAX_UNREAD: usize = 4096;

/// The binary messages a vanished connection had already delivered. actix-ws reports the
/// dropped connection before decoding the bytes it read with it, so a client that sends its
/// last edit and drops the connection at once (a closed tab, a killed process) would otherwise
/// lose that edit. Only what is already buffered is read; nothing waits on the network.
pub(super) async fn unread(stream: &mut AggregatedMessageStream) -> Vec<Bytes> {
    let mut frames = Vec::new();
    while frames.len() < MAX_UNREAD {
        match tokio::time::timeout(Duration::from_millis(100), stream.recv()).await {
            Ok(Some(Ok(AggregatedMessage::Binary(bytes)))) => frames.push(bytes),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => break,
        }
    }
    frames
}
