//! WebSocket close codes, in one place. Clients get a stable, short reason; logs get the detail.

use actix_ws::{CloseCode, CloseReason};
use weft_crdt::DecodeError;

use crate::access::limits::AwarenessRefusal;
use crate::doc::Close;

fn reason(code: CloseCode, text: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(text.to_owned()),
    }
}

/// 1001: the server is going away; reconnect later.
pub fn going_away() -> CloseReason {
    reason(CloseCode::Away, "server shutting down")
}

/// 1000: closed after the idle timeout.
pub fn idle() -> CloseReason {
    reason(CloseCode::Normal, "idle timeout")
}

/// 1002 for broken framing, 1007 for an invalid payload (bad update, bad awareness JSON).
pub fn decode(e: &DecodeError) -> CloseReason {
    if e.is_protocol_error() {
        reason(CloseCode::Protocol, "malformed y-protocols message")
    } else {
        reason(CloseCode::Invalid, "invalid update or awareness payload")
    }
}

/// 1002: broken WebSocket framing.
pub fn protocol() -> CloseReason {
    reason(CloseCode::Protocol, "websocket protocol error")
}

/// 1007: a text message that is not UTF-8.
pub fn invalid_utf8() -> CloseReason {
    reason(CloseCode::Invalid, "text message is not UTF-8")
}

/// 1003: y-websocket speaks binary frames only.
pub fn text_frame() -> CloseReason {
    reason(CloseCode::Unsupported, "text frames are not supported")
}

/// 1009: message over the configured limit.
pub fn too_big() -> CloseReason {
    reason(CloseCode::Size, "message too big")
}

/// 1011: the document could not be loaded or its actor stopped.
pub fn unavailable(text: &str) -> CloseReason {
    reason(CloseCode::Error, text)
}

/// 1008: the connection sent more messages per second than `--max-messages-per-sec` allows.
pub fn rate_limited() -> CloseReason {
    reason(CloseCode::Policy, "rate limit")
}

/// 1009: an awareness message larger than `--max-awareness-size`.
pub fn awareness_too_big() -> CloseReason {
    reason(CloseCode::Size, "awareness message too big")
}

/// 1008: the connection sent more awareness messages per second than
/// `--max-awareness-per-sec` allows.
pub fn awareness_rate_limited() -> CloseReason {
    reason(CloseCode::Policy, "awareness rate limit")
}

/// The close for a refused awareness message.
pub fn awareness(refusal: AwarenessRefusal) -> CloseReason {
    match refusal {
        AwarenessRefusal::TooBig(_) => awareness_too_big(),
        AwarenessRefusal::RateLimited => awareness_rate_limited(),
    }
}

/// 1008: the connection introduced more awareness client ids than
/// `--max-awareness-ids-per-conn` allows.
pub fn too_many_awareness_ids() -> CloseReason {
    reason(CloseCode::Policy, "too many awareness ids")
}

/// 1008: a Hocuspocus connection opened more documents than one connection may multiplex
/// (`hocuspocus::session::MAX_DOCS_PER_CONN`).
pub fn too_many_documents() -> CloseReason {
    reason(CloseCode::Policy, "too many documents on one connection")
}

/// 4401: the session's access token expired; reconnect with a fresh one.
pub fn token_expired() -> CloseReason {
    reason(CloseCode::Other(TOKEN_EXPIRED), "token expired")
}

/// The application close code for an expired token (4000–4999 are for applications;
/// 4401 mirrors HTTP 401).
pub const TOKEN_EXPIRED: u16 = 4401;

/// 4403: the session's token was revoked, or an admin closed the document's sessions after a
/// permission change (mirrors HTTP 403 and Hocuspocus's `Forbidden`); reconnect to be
/// admitted again, with a new token if it was revoked.
pub fn forbidden(text: &str) -> CloseReason {
    reason(CloseCode::Other(FORBIDDEN), text)
}

/// The application close code for a revoked token or a closed document (see [`forbidden`]).
pub const FORBIDDEN: u16 = 4403;

/// 1009: a Hocuspocus stateless message larger than `--max-stateless-size`.
pub fn stateless_too_big() -> CloseReason {
    reason(CloseCode::Size, "stateless message too big")
}

/// 4404: the document was deleted through the API (mirrors HTTP 404).
pub const DELETED: u16 = 4404;

/// The `weft_refusals_total` reason of a close the document actor decided, if it is a
/// refusal (the actor cannot record it: it only names the cause; the session counts it).
pub fn actor_refusal(why: Close) -> Option<&'static str> {
    match why {
        Close::SlowConsumer => Some("slow_consumer"),
        Close::GoingAway => None,
        Close::InvalidUpdate => Some("invalid_update"),
        Close::StoreUnavailable => Some("store_unavailable"),
        Close::TooManyAwarenessIds => Some("too_many_awareness_ids"),
        Close::DocumentTooLarge => Some("document_too_large"),
        Close::Recovering => None,
        Close::Deleted => None,
    }
}

/// The `weft_refusals_total` reason of a y-protocols decode error: broken framing or an
/// invalid payload.
pub fn decode_refusal(e: &DecodeError) -> &'static str {
    if e.is_protocol_error() {
        "malformed_frame"
    } else {
        "invalid_payload"
    }
}

/// Closes requested by the document actor.
pub fn from_actor(why: Close) -> CloseReason {
    match why {
        Close::SlowConsumer => reason(CloseCode::Again, "client too slow; reconnect to resync"),
        Close::GoingAway => going_away(),
        Close::InvalidUpdate => reason(CloseCode::Invalid, "update refused"),
        Close::StoreUnavailable => reason(CloseCode::Again, "storage unavailable; retry later"),
        Close::TooManyAwarenessIds => too_many_awareness_ids(),
        Close::DocumentTooLarge => reason(CloseCode::Size, "document size limit reached"),
        Close::Recovering => reason(CloseCode::Again, "document recovering; reconnect"),
        Close::Deleted => reason(CloseCode::Other(DELETED), "document deleted"),
    }
}
