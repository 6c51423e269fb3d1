//! The y-websocket endpoint: `GET /ws/{document}`.
//!
//! - [`upgrade`]: validates the request (document name) *before* the upgrade, then starts a session.
//! - [`session`]: the per-connection loop: socket frames in → decode → document actor;
//!   keepalive; closing.
//! - [`outbound`]: the document's frames out → socket, straight from the actor's queue.
//! - [`frames`]: control frames and refusals common to every WebSocket endpoint.
//! - [`close`]: every WebSocket close code Weft sends, in one place.

pub mod close;
pub mod frames;
pub mod outbound;
pub mod session;
pub mod upgrade;

pub use upgrade::{ws_route, WsSettings};
