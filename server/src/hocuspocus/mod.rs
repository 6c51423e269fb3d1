//! The Hocuspocus endpoint: `GET /hocuspocus`, for `@hocuspocus/provider` (v2 and later) and
//! Tiptap's collaboration provider, backed by the same document actors as `/ws/{document}`,
//! so both kinds of client co-edit one document.
//!
//! ```text
//!  HocuspocusProvider ──(name, type, body)──► session: per-document state ──[Inbound]──► doc actor
//!  (one socket, many documents)  ◄──name ++ y-websocket frame── every open document's queue ◄──┘
//! ```
//!
//! - [`codec`]: the name-prefixed framing, auth / sync-status / close messages; y-protocols
//!   bodies go through `weft_crdt::codec` unchanged.
//! - [`session`]: the multiplexed loop (one member of an actor per open document), auth per
//!   document through `access::Gate` (tokens, or the embedder's `Authorize` hook given the
//!   upgrade request and the Auth message's token), SyncStatus acknowledgements, keepalive,
//!   stateless messages (relayed through `crate::live` to the document's other Hocuspocus
//!   sessions on every node), closes asked from outside (revocation, `DELETE …/sessions`).
//!
//! Only the Origin check runs before the upgrade: the URL names no document and the tokens
//! arrive in Auth messages, one per document. The module never touches the store or a
//! document's state; it speaks to actors only through [`crate::doc::DocHandle`].

pub mod codec;
pub mod session;

use actix_web::{web, HttpRequest, HttpResponse};
use tracing::{info_span, Instrument};

use crate::access::Gate;
use crate::doc::Registry;
use crate::live::Live;
use crate::ws::WsSettings;
use session::HpSession;

/// `GET /hocuspocus`.
pub async fn hocuspocus_route(
    req: HttpRequest,
    body: web::Payload,
    registry: web::Data<Registry>,
    settings: web::Data<WsSettings>,
    gate: web::Data<Gate>,
    live: web::Data<Live>,
) -> actix_web::Result<HttpResponse> {
    if registry.is_shutting_down() {
        return Ok(HttpResponse::ServiceUnavailable().finish());
    }
    if let Err(refusal) = gate.check_origin(&req) {
        return Ok(refusal.response());
    }
    let conn = registry.next_session_id().0;
    let span = info_span!(
        "hocuspocus",
        conn,
        peer = req.peer_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let session = HpSession::new(
        conn,
        registry.get_ref().clone(),
        settings.get_ref().clone(),
        gate.get_ref().clone(),
        live.get_ref().clone(),
        req.clone(),
    );
    // As for `/ws`: the session lives on this worker beside its socket; actors are elsewhere.
    crate::ws::upgrade::accept(&req, body, settings.get_ref(), move |ws| {
        actix_web::rt::spawn(session.run(ws).instrument(span));
    })
}
