//! Awareness (presence) bookkeeping for one document, following the merge rule of the
//! JavaScript `y-protocols/awareness` module, with two server-side rules on top:
//!
//! - **Ownership.** A client id belongs to the session that introduced it. Another session's
//!   update for that id (a new state or a `null` that would wipe someone's presence) is refused
//!   until the owner's session ends.
//! - **Bounded.** At most `max_entries` distinct ids are tracked; entries not renewed within the
//!   timeout (30 s, the JavaScript `outdatedTimeout`) are swept, and their removal is broadcast.
//!
//! Times are milliseconds passed in by the caller; this module never reads a clock.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::sync::awareness::AwarenessUpdate;

use crate::codec::encode_awareness;
use crate::document::SessionId;

/// The JavaScript awareness `outdatedTimeout`: a state not renewed for this long is removed.
pub const OUTDATED_TIMEOUT_MS: u64 = 30_000;
/// Default cap on distinct awareness ids per document (far above any real room).
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default cap on awareness ids one session may own: a stock client owns exactly one; a few
/// more allow tabs sharing a socket. Stock providers also relay *other* clients' states;
/// those are refused as foreign and do not count.
pub const DEFAULT_MAX_PER_SESSION: usize = 8;

const NULL: &str = "null";

#[derive(Debug)]
struct Entry {
    clock: u32,
    /// `None` once removed; kept so that an older clock is still refused.
    state: Option<Arc<str>>,
    owner: Option<SessionId>,
    updated_ms: u64,
}

/// An accepted change to broadcast: `(client id, clock, JSON or "null")`.
pub type Change = (u64, u32, Arc<str>);

/// What applying a client's awareness update did.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: Vec<Change>,
    /// Entries refused because another live session owns the id.
    pub refused_foreign: usize,
    /// Entries refused because the per-document cap was reached.
    pub refused_full: usize,
    /// Entries refused because the session already owns its quota of ids.
    pub refused_quota: usize,
}

#[derive(Debug)]
pub struct Presence {
    entries: HashMap<u64, Entry>,
    /// How many ids each session owns.
    owned: HashMap<SessionId, usize>,
    max_entries: usize,
    max_per_session: usize,
}

impl Default for Presence {
    fn default() -> Self {
        Presence::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_PER_SESSION)
    }
}

impl Presence {
    pub fn new(max_entries: usize, max_per_session: usize) -> Self {
        Presence {
            entries: HashMap::new(),
            owned: HashMap::new(),
            max_entries: max_entries.max(1),
            max_per_session: max_per_session.max(1),
        }
    }

    /// Number of clients with a live state.
    pub fn live(&self) -> usize {
        self.entries.values().filter(|e| e.state.is_some()).count()
    }

    /// Whether `update` changes the state of a client already present (a moved cursor or
    /// selection), as opposed to introducing one, renewing one unchanged or removing one.
    /// Editors move the cursor before they type: a hibernating document starts waking on it.
    pub fn moves(&self, update: &AwarenessUpdate) -> bool {
        update.clients.iter().any(|(client, incoming)| {
            self.entries.get(&client.get()).is_some_and(|e| {
                e.clock < incoming.clock
                    && &*incoming.json != NULL
                    && e.state.as_deref().is_some_and(|s| s != &*incoming.json)
            })
        })
    }

    /// Merges an update sent by `from`, returning what changed.
    pub fn apply(&mut self, from: SessionId, update: &AwarenessUpdate, now_ms: u64) -> Applied {
        let mut applied = Applied::default();
        for (client, incoming) in &update.clients {
            let client = client.get();
            let is_null = &*incoming.json == NULL;
            let entry = match self.entries.get_mut(&client) {
                Some(e) => {
                    if e.owner.is_some_and(|o| o != from) {
                        applied.refused_foreign += 1;
                        continue;
                    }
                    e
                }
                None => {
                    if self.entries.len() >= self.max_entries {
                        applied.refused_full += 1;
                        continue;
                    }
                    // Same rule as JS: an unknown client starts at clock 0, so its clock-0
                    // state is not taken (the stock client renews with a higher clock).
                    if incoming.clock == 0 || is_null {
                        continue;
                    }
                    if self.owned.get(&from).copied().unwrap_or(0) >= self.max_per_session {
                        applied.refused_quota += 1;
                        continue;
                    }
                    self.entries.entry(client).or_insert(Entry {
                        clock: 0,
                        state: None,
                        owner: None,
                        updated_ms: now_ms,
                    })
                }
            };
            let newer = entry.clock < incoming.clock;
            let removes_live = entry.clock == incoming.clock && is_null && entry.state.is_some();
            if !(newer || removes_live) {
                continue;
            }
            if entry.owner.is_none() {
                let owned = self.owned.entry(from).or_default();
                if *owned >= self.max_per_session {
                    applied.refused_quota += 1;
                    continue;
                }
                *owned += 1;
                entry.owner = Some(from);
            }
            entry.clock = incoming.clock;
            entry.updated_ms = now_ms;
            entry.state = (!is_null).then(|| incoming.json.clone());
            applied
                .changes
                .push((client, incoming.clock, incoming.json.clone()));
        }
        applied
    }

    /// Removes every state owned by a session that ended; returns the removals to broadcast.
    pub fn remove_session(&mut self, session: SessionId, now_ms: u64) -> Vec<Change> {
        self.owned.remove(&session);
        let mut removed = Vec::new();
        for (client, e) in self.entries.iter_mut() {
            if e.owner != Some(session) {
                continue;
            }
            e.owner = None;
            e.updated_ms = now_ms;
            if e.state.take().is_some() {
                e.clock = e.clock.wrapping_add(1);
                removed.push((*client, e.clock, Arc::from(NULL)));
            }
        }
        removed
    }

    /// Removes states not renewed within `timeout_ms` and forgets long-removed ids.
    pub fn sweep(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<Change> {
        let mut removed = Vec::new();
        self.entries.retain(|client, e| {
            let stale = now_ms.saturating_sub(e.updated_ms) >= timeout_ms;
            if !stale {
                return true;
            }
            if e.state.take().is_some() {
                e.clock = e.clock.wrapping_add(1);
                e.updated_ms = now_ms;
                removed.push((*client, e.clock, Arc::from(NULL)));
                return true;
            }
            // Removed long enough ago, and unowned: drop the bookkeeping too.
            e.owner.is_some()
        });
        removed
    }

    /// One awareness frame with every live state, for a joiner or a query; `None` if empty.
    pub fn encode_all(&self) -> Option<Vec<u8>> {
        let live: Vec<(u64, u32, &str)> = self
            .entries
            .iter()
            .filter_map(|(c, e)| e.state.as_deref().map(|s| (*c, e.clock, s)))
            .collect();
        (!live.is_empty()).then(|| encode_awareness(live.into_iter()))
    }
}

/// Encodes changes as one awareness frame.
pub fn encode_changes(changes: &[Change]) -> Vec<u8> {
    encode_awareness(changes.iter().map(|(c, k, j)| (*c, *k, &**j)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::sync::awareness::AwarenessUpdateEntry;

    fn update(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
        AwarenessUpdate {
            clients: entries
                .iter()
                .map(|(c, k, j)| {
                    (
                        yrs::block::ClientID::new(*c),
                        AwarenessUpdateEntry {
                            clock: *k,
                            json: Arc::from(*j),
                        },
                    )
                })
                .collect(),
        }
    }

    const A: SessionId = SessionId(1);
    const B: SessionId = SessionId(2);

    #[test]
    fn only_a_changed_state_of_a_present_client_moves() {
        let mut p = Presence::default();
        let first = update(&[(1, 1, "{\"cursor\":1}")]);
        assert!(!p.moves(&first), "a client appearing is no move");
        p.apply(A, &first, 0);
        assert!(!p.moves(&update(&[(1, 2, "{\"cursor\":1}")])), "a renewal");
        assert!(!p.moves(&update(&[(1, 2, "null")])), "a removal");
        assert!(
            !p.moves(&update(&[(1, 1, "{\"cursor\":2}")])),
            "an old clock"
        );
        assert!(p.moves(&update(&[(1, 2, "{\"cursor\":2}")])));
    }

    #[test]
    fn newer_clock_wins_older_is_ignored() {
        let mut p = Presence::default();
        assert_eq!(
            p.apply(A, &update(&[(1, 1, "{\"a\":1}")]), 0).changes.len(),
            1
        );
        assert_eq!(
            p.apply(A, &update(&[(1, 1, "{\"a\":2}")]), 0).changes.len(),
            0
        );
        assert_eq!(
            p.apply(A, &update(&[(1, 2, "{\"a\":2}")]), 0).changes.len(),
            1
        );
        assert_eq!(p.apply(A, &update(&[(1, 2, "null")]), 0).changes.len(), 1);
        assert_eq!(p.live(), 0);
    }

    #[test]
    fn another_session_cannot_touch_an_owned_id() {
        let mut p = Presence::default();
        p.apply(A, &update(&[(1, 1, "{}")]), 0);
        let r = p.apply(B, &update(&[(1, 1, "null"), (1, 5, "{}")]), 0);
        assert_eq!(r.changes.len(), 0);
        assert_eq!(r.refused_foreign, 1);
        assert_eq!(p.live(), 1);
        // Once A is gone, its id is released (a reconnecting client may take it back).
        assert_eq!(p.remove_session(A, 1).len(), 1);
        assert_eq!(p.apply(B, &update(&[(1, 5, "{}")]), 2).changes.len(), 1);
    }

    #[test]
    fn a_session_owns_at_most_its_quota() {
        let mut p = Presence::new(100, 2);
        assert_eq!(
            p.apply(A, &update(&[(1, 1, "{}"), (2, 1, "{}")]), 0)
                .changes
                .len(),
            2
        );
        let r = p.apply(A, &update(&[(3, 1, "{}")]), 0);
        assert_eq!(r.changes.len(), 0);
        assert_eq!(r.refused_quota, 1);
        // Renewals of owned ids are not new ids.
        assert_eq!(p.apply(A, &update(&[(1, 2, "{}")]), 0).changes.len(), 1);
        // Once A leaves, its quota is free again.
        p.remove_session(A, 1);
        assert_eq!(p.apply(A, &update(&[(3, 1, "{}")]), 2).changes.len(), 1);
    }

    #[test]
    fn stale_states_are_swept_and_cap_holds() {
        let mut p = Presence::new(2, 8);
        p.apply(A, &update(&[(1, 1, "{}"), (2, 1, "{}")]), 0);
        assert_eq!(p.apply(A, &update(&[(3, 1, "{}")]), 0).refused_full, 1);
        p.apply(A, &update(&[(2, 2, "{}")]), 20_000);
        let removed = p.sweep(30_000, OUTDATED_TIMEOUT_MS);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].0, 1);
        assert_eq!(removed[0].1, 2);
        assert!(p.encode_all().is_some());
    }
}
