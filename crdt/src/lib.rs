//! # weft-crdt: the sans-IO core of Weft
//!
//! Everything in this crate is a pure function of its inputs: no sockets, no tasks,
//! no clocks (time is passed in as milliseconds), no storage. The server crate drives it.
//!
//! ```text
//!  frame bytes ──► codec::decode_frame ──► [Inbound]            (runs in the session)
//!                                             │
//!                 Document::handle(session, inbound, now) ──► Effects
//!                                             │                 ├─ persist: updates to commit first
//!                                             │                 ├─ reply:   frames for the sender
//!                                             ▼                 └─ broadcast: frames for the others
//!                                        yrs::Doc + Presence     (owned by one document actor)
//! ```
//!
//! Modules:
//! - [`name`]: [`DocName`], the only way a document name enters the system.
//! - [`codec`]: y-protocols messages (sync step 1/2, update, awareness, query-awareness) on `yrs::sync`.
//! - [`document`]: the per-document state machine returning [`Effects`]; `guard` holds the
//!   checks an untrusted update passes around yrs.
//! - [`presence`]: awareness bookkeeping with ownership and expiry.
//! - [`content`]: a document as JSON or text, and the edit that restores old content.
//! - [`snapshot`]: rebuilding a document from stored parts and compacting an update log.

pub mod codec;
pub mod content;
pub mod document;
mod guard;
mod hibernate;
pub mod name;
pub mod presence;
pub mod snapshot;

pub use codec::{DecodeError, Inbound};
pub use document::{Document, Effects, SessionId};
pub use name::{DocName, DocNameError};
pub use presence::Presence;
pub use snapshot::SnapshotError;
