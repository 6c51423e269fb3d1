//! The actor's phase: one value that says what the actor may answer from its in-memory
//! document, instead of flags read in some order.
//!
//! ```text
//!   Loading ──► Live ◄──────► Failing ──┐        (any) ──► Deleting | Retiring | ShuttingDown
//!                 │  commit ok    ▲      │
//!                 │               │      │ a refused or partly applied write
//!                 └──────────► Tainted ◄─┘
//!                   rebuilt ◄──┘   ▲  │ rebuild failed: stays Tainted, retried with backoff
//!                                  └──┘
//! ```
//!
//! | phase | sync replies, greeting, fresh-joiner answer | API reads | new writes | versions, compaction from memory |
//! |---|---|---|---|---|
//! | `Loading` | none (commands wait in the queue) | none | none | none |
//! | `Live` | yes, sent after the batch's commit | yes, after the commit | applied, committed, then sent | yes |
//! | `Failing` | computed, held until the held updates commit | held until the commit | held up to `max_unsaved`, then refused (1013) | no (started only after a commit) |
//! | `Tainted` | **none**: each waits for the rebuild, at most [`TAINTED_PATIENCE`], then 1013 | **none**: waits, then 503 + `Retry-After` | wait for the rebuild like the rest | **none** (compaction reads the store) |
//!
//! Presence (awareness) is not the document: it is relayed in every phase that has sessions.
//! | `Deleting` | none: sessions closed 4404 | none | none | none |
//! | `Retiring` | none: joiners retry with a fresh actor | none | none | none |
//! | `ShuttingDown` | what was queued is handled as its phase allows, then 1001 | none | committed, then 1001 | none |
//!
//! `Tainted` is entered when the in-memory document may hold something that is not, and will
//! never be, committed: an update yrs refused halfway, a write over the size limit (applied,
//! then refused), a document yrs poisoned. Only a rebuild from the store ends it; a failed
//! rebuild stays `Tainted` and retries on the backoff schedule, whatever the store says.
//! Updates committed before the taint are still committed first (they were legitimate), and
//! frames computed before the taint are still sent after that commit.
//!
//! Cluster mode: being *behind* other nodes is not a phase but a fact about positions
//! (`Actor::head` past `Actor::position`): what is in memory is still all committed, so a
//! `Live` actor serves it (stale, never uncommitted) and catches up after the batch.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use weft_crdt::SessionId;

use crate::doc::handle::Command;
use crate::store::StoreError;

/// How long a request waits for a tainted document to be rebuilt before it is refused
/// (sessions: close 1013, they reconnect; API: 503 with `Retry-After`). Long enough to ride
/// out one rebuild on a busy store, short enough that a client never looks hung.
pub(crate) const TAINTED_PATIENCE: Duration = Duration::from_secs(5);
/// Seconds an API caller is told to wait (`Retry-After`) when a document is recovering.
pub const RETRY_AFTER_SECS: u64 = 2;

pub(super) const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) enum Phase {
    /// Reading the document from the store; nothing is answered.
    Loading,
    /// Everything in memory is committed (or held until it is): serve it.
    Live,
    /// The last commit failed: updates (and the frames revealing them) are held and retried.
    Failing(Backoff),
    /// The in-memory document may hold a write that will never be committed: nothing is
    /// answered from it until it is rebuilt from the store.
    Tainted(Taint),
    /// A delete was asked for: performed after the current batch.
    Deleting(oneshot::Sender<Result<bool, StoreError>>),
    /// Idle and flushed: leaving the registry.
    Retiring,
    /// The server is stopping: commit, then close every session with 1001.
    ShuttingDown,
}

impl Phase {
    /// Whether what is in memory may be answered (sync replies, reads, versions).
    pub fn serves_memory(&self) -> bool {
        matches!(self, Phase::Live | Phase::Failing(_))
    }

    pub fn is_tainted(&self) -> bool {
        matches!(self, Phase::Tainted(_))
    }

    /// The store failed and is being retried: counted in `/readyz` (degraded).
    pub fn is_failing(&self) -> bool {
        match self {
            Phase::Failing(_) => true,
            Phase::Tainted(t) => t.retry.is_some(),
            _ => false,
        }
    }

    /// When the store is to be tried again, if it is being retried.
    pub fn retry_at(&self) -> Option<Instant> {
        match self {
            Phase::Failing(b) => Some(b.retry_at),
            Phase::Tainted(t) => t.retry.as_ref().map(|b| b.retry_at),
            _ => None,
        }
    }
}

/// The retry schedule of a failing store: doubling from [`RETRY_MIN`] to [`RETRY_MAX`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub failures: u32,
    pub retry_at: Instant,
}

impl Backoff {
    /// The schedule after one more failure (`None`: the first one).
    pub fn after(previous: Option<Backoff>, now: Instant) -> Backoff {
        let failures = previous.map_or(0, |b| b.failures) + 1;
        let delay = RETRY_MIN
            .saturating_mul(1 << failures.min(10))
            .min(RETRY_MAX);
        Backoff {
            failures,
            retry_at: now + delay,
        }
    }

    pub fn delay(&self, now: Instant) -> Duration {
        self.retry_at.saturating_duration_since(now)
    }
}

/// Why and since when the document is tainted, and how its rebuild is being retried.
#[derive(Debug)]
pub(crate) struct Taint {
    pub since: Instant,
    /// Set once the store failed (a held commit, or the rebuild's load).
    pub retry: Option<Backoff>,
}

/// What waits for a tainted document to be rebuilt, in arrival order.
#[derive(Debug)]
pub(crate) enum Waiting {
    /// A session joined: its greeting (our state vector) is sent once the document is clean.
    Greet(SessionId),
    /// A command that would read or write the document.
    Cmd(Command),
}

/// A waiting item and when it is refused if the document is still tainted.
#[derive(Debug)]
pub(crate) struct Parked {
    pub until: Instant,
    pub what: Waiting,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let now = Instant::now();
        let first = Backoff::after(None, now);
        assert_eq!(first.failures, 1);
        assert_eq!(first.delay(now), RETRY_MIN * 2);
        let mut b = first;
        for _ in 0..20 {
            b = Backoff::after(Some(b), now);
        }
        assert_eq!(b.delay(now), RETRY_MAX);
    }

    #[test]
    fn only_live_and_failing_serve_memory() {
        let now = Instant::now();
        assert!(Phase::Live.serves_memory());
        assert!(Phase::Failing(Backoff::after(None, now)).serves_memory());
        let tainted = Phase::Tainted(Taint {
            since: now,
            retry: None,
        });
        assert!(!tainted.serves_memory());
        assert!(!tainted.is_failing());
        assert!(!Phase::Loading.serves_memory());
        assert!(!Phase::Retiring.serves_memory());
    }
}
