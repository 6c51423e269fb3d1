//! Documents at run time: one actor task per loaded document, reached through a [`DocHandle`],
//! created and retired by the [`Registry`].
//!
//! - [`handle`]: the command enum and the cloneable handle sessions hold.
//! - [`actor`]: the task that owns a `weft_crdt::Document` and performs its effects:
//!   commit to the store first, then send.
//! - `fanout`: sending held effects to the sessions, with the overflow policy.
//! - [`registry`]: single-flight creation, idle retirement, shutdown.
//! - [`versions`]: when to take a version, and taking it beside the actor.

pub mod actor;
mod fanout;
pub mod handle;
pub mod registry;
pub mod versions;

pub use actor::phase::RETRY_AFTER_SECS;
pub use handle::{Close, DocHandle, JoinError, Member, Refused};
pub use registry::{ActorSettings, Registry};
