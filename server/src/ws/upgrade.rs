//! Accepting a connection: validate the document name (HTTP 400 before any upgrade), pass the
//! access checks (`access::Gate`: origin 403, token or the embedder's hook 401/403, connection
//! limits 429), upgrade,
//! and hand the socket to a session task on this worker (what it reads) and to the response body
//! (what the document sends it, see `outbound`).

use std::time::Duration;

use actix_web::http::header::SEC_WEBSOCKET_EXTENSIONS;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use tokio::sync::mpsc;
use tracing::{info_span, Instrument};
use weft_crdt::DocName;

use super::conn::{Conn, QueueLimits};
use super::deflate;
use super::outbound::{Grace, SocketHandle};
use super::session::Session;
use super::socket::Socket;
use super::takeover::{Ownable, Takeover};
use crate::access::Gate;
use crate::doc::Registry;
use crate::http::problem;
use crate::live::Live;

/// Per-connection knobs (from the configuration).
#[derive(Debug, Clone)]
pub struct WsSettings {
    pub max_message_size: usize,
    pub session_queue: usize,
    /// Bytes an owned socket may hold queued (`--session-queue-bytes`).
    pub session_queue_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// A connection the server closes is gone at the TCP level within this, whatever the
    /// client does (`--close-grace`).
    pub close_grace: Duration,
    /// Negotiate permessage-deflate on owned sockets (`--permessage-deflate`).
    pub deflate: bool,
}

/// `GET /ws/{document:.*}`.
pub async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    registry: web::Data<Registry>,
    settings: web::Data<WsSettings>,
    gate: web::Data<Gate>,
    live: web::Data<Live>,
) -> actix_web::Result<HttpResponse> {
    let raw = req.match_info().get("doc").unwrap_or_default();
    let decoded = match percent_decode_str(raw).decode_utf8() {
        Ok(s) => s,
        Err(_) => {
            tracing::info!(path = raw, "refused: document name is not UTF-8");
            crate::metrics::refused("invalid_document_name");
            return Ok(problem::bad_request(
                "invalid-document-name",
                "document name is not valid UTF-8",
            ));
        }
    };
    let name = match DocName::parse(&decoded) {
        Ok(name) => name,
        Err(e) => {
            tracing::info!(path = raw, error = %e, "refused: invalid document name");
            crate::metrics::refused("invalid_document_name");
            return Ok(problem::bad_request(
                "invalid-document-name",
                &e.to_string(),
            ));
        }
    };
    if registry.is_shutting_down() {
        return Ok(HttpResponse::ServiceUnavailable().finish());
    }
    let admission = match gate.admit(&req, &name).await {
        Ok(admission) => admission,
        Err(refusal) => return Ok(refusal.response()),
    };
    let id = registry.next_session_id();
    let peer = req.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let span = info_span!(
        "conn",
        conn = id.0,
        doc = %name,
        %peer,
        access = ?admission.access,
        user = admission.user.as_deref().unwrap_or("")
    );
    let session = Session::new(
        id,
        name,
        registry.get_ref().clone(),
        settings.get_ref().clone(),
        admission,
        gate.session_limits(),
        live.get_ref().clone(),
    );
    // actix workers are single-threaded runtimes: the session lives on this worker, beside
    // its socket. The document actor lives elsewhere and writes to the socket directly.
    accept(&req, body, settings.get_ref(), move |ws| {
        actix_web::rt::spawn(session.run(ws).instrument(span));
    })
}

/// Upgrades `req` and starts `session` on its socket: owned when the server lets Weft take
/// connections over (`takeover`), else through actix-ws. Shared by `/ws` and `/hocuspocus`.
pub(crate) fn accept(
    req: &HttpRequest,
    body: web::Payload,
    settings: &WsSettings,
    session: impl FnOnce(Socket) + 'static,
) -> actix_web::Result<HttpResponse> {
    if req.extensions().get::<Ownable>().is_some() {
        let mut handshake = actix_http::ws::handshake(req.head())?;
        let offers = req.headers().get_all(SEC_WEBSOCKET_EXTENSIONS);
        let deflate =
            settings.deflate && deflate::negotiate(offers.filter_map(|v| v.to_str().ok()));
        if deflate {
            handshake.insert_header((SEC_WEBSOCKET_EXTENSIONS, deflate::ACCEPTED));
        }
        let mut response = HttpResponse::from(handshake.finish().map_into_boxed_body());
        let limits = QueueLimits {
            frames: settings.session_queue,
            bytes: settings.session_queue_bytes,
        };
        let (max, grace) = (settings.max_message_size, settings.close_grace);
        response
            .extensions_mut()
            .insert(Takeover::new(move |tcp, tls, read| {
                let conn = Conn::new(tcp, tls, limits, deflate);
                session(Socket::owned(conn, max, grace, read));
            }));
        return Ok(response);
    }
    let (response, ws, stream) = actix_ws::handle(req, body)?;
    let (outbound, queue) = mpsc::channel::<Bytes>(settings.session_queue);
    let socket = req.conn_data::<SocketHandle>().cloned();
    let grace = Grace::new(settings.close_grace, socket);
    let response = super::outbound::attach(response, queue, grace.clone());
    let stream = stream
        .max_frame_size(settings.max_message_size)
        .aggregate_continuations()
        .max_continuation_size(settings.max_message_size);
    session(Socket::mounted(ws, stream, outbound, grace));
    Ok(response)
}
