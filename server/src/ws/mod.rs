//! The y-websocket endpoint: `GET /ws/{document}`.
//!
//! - [`upgrade`]: validates the request (document name) *before* the upgrade, then starts a session.
//! - [`session`]: the per-connection loop: socket frames in → decode → document actor;
//!   keepalive; closing.
//! - [`takeover`]: the server `weft serve` runs, which takes each upgraded socket out of the
//!   HTTP dispatcher; [`conn`]: such a socket, written straight from the document actor;
//!   [`wire`]: its RFC 6455 framing.
//! - [`socket`]: the socket as a session sees it, owned or mounted in an embedder's server.
//! - [`outbound`]: a mounted socket's frames out, from the actor's queue into the response body.
//! - [`frames`]: control frames and refusals common to every WebSocket endpoint.
//! - [`close`]: every WebSocket close code Weft sends, in one place.

pub mod close;
pub mod conn;
pub mod deflate;
pub mod frames;
pub mod outbound;
pub mod session;
pub mod socket;
pub mod takeover;
pub mod upgrade;
pub mod wire;

pub use outbound::on_connect;
pub use upgrade::{ws_route, WsSettings};
