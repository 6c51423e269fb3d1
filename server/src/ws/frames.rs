//! What a session does with every WebSocket message before the protocol sees it: charge it to
//! the connection's message rate, answer pings, echo a client's close, and refuse text frames,
//! oversized messages and broken framing. Shared by `/ws` and `/hocuspocus`, so both answer
//! and count refusals the same way.

use std::time::Duration;

use actix_web::error::PayloadError;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, ProtocolError};
use bytes::Bytes;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::close;
use crate::access::limits::TokenBucket;

/// What the session loop does next.
pub enum Incoming {
    /// A binary frame for the protocol to decode.
    Binary(Bytes),
    /// Handled here (ping, pong); nothing to do.
    Handled,
    /// The client closed: nothing more to send.
    Gone,
    /// The connection dropped without a close frame. Frames it had already delivered may
    /// still be buffered: read them with [`unread`] before leaving.
    Vanished,
    /// Refused: close with this reason.
    Close(CloseReason),
}

/// Sorts one message from the socket, answering control frames on `ws`. Data frames and pings
/// are charged to `rate` (closing with 1008 past it); pongs and closes are free.
pub async fn triage(
    ws: &mut actix_ws::Session,
    msg: Option<Result<AggregatedMessage, ProtocolError>>,
    max_message_size: usize,
    rate: &mut TokenBucket,
    now: Instant,
) -> Incoming {
    let charged = matches!(
        msg,
        Some(Ok(AggregatedMessage::Binary(_)
            | AggregatedMessage::Text(_)
            | AggregatedMessage::Ping(_)))
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
        Some(Ok(AggregatedMessage::Binary(bytes))) => Incoming::Binary(bytes),
        Some(Ok(AggregatedMessage::Text(_))) => {
            warn!("refusing text frame");
            crate::metrics::refused("text_frame");
            Incoming::Close(close::text_frame())
        }
        Some(Ok(AggregatedMessage::Ping(payload))) => match ws.pong(&payload).await {
            Ok(()) => Incoming::Handled,
            Err(_) => Incoming::Gone,
        },
        Some(Ok(AggregatedMessage::Pong(_))) => Incoming::Handled,
        Some(Ok(AggregatedMessage::Close(reason))) => {
            debug!(?reason, "client closed");
            let _ = ws.clone().close(reason).await;
            Incoming::Gone
        }
        Some(Err(ProtocolError::Overflow)) => {
            warn!(limit = max_message_size, "refusing oversized message");
            crate::metrics::refused("message_too_big");
            Incoming::Close(close::too_big())
        }
        Some(Err(ProtocolError::Io(io)))
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<PayloadError>().is_some()) =>
        {
            debug!(error = %io, "connection dropped without a close frame");
            Incoming::Vanished
        }
        Some(Err(e)) => {
            // actix-ws reports a reassembled (continuation) message over the limit as an I/O
            // error rather than `Overflow`; it is the same refusal, 1009.
            let oversized =
                matches!(&e, ProtocolError::Io(io) if io.to_string().contains("continuation size"));
            warn!(error = %e, "websocket protocol error");
            if oversized {
                crate::metrics::refused("message_too_big");
                Incoming::Close(close::too_big())
            } else {
                crate::metrics::refused("malformed_frame");
                Incoming::Close(close::protocol())
            }
        }
        None => Incoming::Gone,
    }
}

/// Most frames read after a connection vanished: what one read of the socket can hold.
const MAX_UNREAD: usize = 4096;

/// The binary messages a vanished connection had already delivered. actix-ws reports the
/// dropped connection before decoding the bytes it read with it, so a client that sends its
/// last edit and drops the connection at once (a closed tab, a killed process) would otherwise
/// lose that edit. Only what is already buffered is read; nothing waits on the network.
pub async fn unread(stream: &mut AggregatedMessageStream) -> Vec<Bytes> {
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
