//! A document that nobody is editing, held at its encoded size: [`Dormant`].
//!
//! A materialized `yrs::Doc` costs about twelve times its encoded state (one block per
//! insert, a map per branch, the delete set as ranges). A document that is only read needs
//! none of it: a fresh joiner gets the whole state, an old client the part of it its state
//! vector misses, and both are computed from the encoded state. So a `Dormant` keeps:
//!
//! - the sync step 2 frame that carries the whole state (what a fresh joiner is sent, as is);
//! - the state itself, one v1 update: the tail of that frame, the same allocation;
//! - the state vector (for the greeting and to know what a client misses);
//! - the delete set, decoded (a few bytes per deleted range): a client's sync step 2 carries
//!   its whole delete set, and it must not wake the document when it adds nothing.
//!
//! The first write materializes the document again ([`Dormant::wake`]): one decode.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use yrs::updates::encoder::Encode;
use yrs::{Doc, IdSet, ReadTxn, StateVector, Transact, Update};

use crate::codec::encode_sync_step2;
use crate::document::ApplyError;
use crate::snapshot::{rebuild, SnapshotError};

pub(crate) struct Dormant {
    /// Sync step 2 carrying the whole state.
    step2: Bytes,
    /// Where the state (one v1 update) starts in `step2`.
    state_at: usize,
    sv: StateVector,
    deleted: IdSet,
}

impl fmt::Debug for Dormant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dormant")
            .field("state_bytes", &self.state().len())
            .field("sv", &self.sv)
            .field("deleted_clients", &self.deleted.len())
            .finish()
    }
}

impl Dormant {
    /// Encodes `doc` (under a guard, like every encode: yrs may panic on a block list an
    /// earlier update corrupted). `None` if it cannot be encoded, or if part of it still
    /// waits for missing dependencies (that part is not in the encoded state: such a
    /// document stays materialized).
    pub(crate) fn of(doc: &Doc) -> Option<Dormant> {
        catch_unwind(AssertUnwindSafe(|| {
            let txn = doc.transact();
            let store = txn.store();
            if store.pending_update().is_some() || store.pending_ds().is_some() {
                return None;
            }
            let state = txn.encode_diff_v1(&StateVector::default());
            let step2 = Bytes::from(encode_sync_step2(&state));
            let snapshot = txn.snapshot();
            Some(Dormant {
                state_at: step2.len() - state.len(),
                step2,
                sv: snapshot.state_map,
                deleted: snapshot.delete_set,
            })
        }))
        .ok()
        .flatten()
    }

    /// The whole state as one v1 update.
    pub(crate) fn state(&self) -> &[u8] {
        &self.step2[self.state_at..]
    }

    /// Where the state starts in the frame.
    pub(crate) fn state_at(&self) -> usize {
        self.state_at
    }

    /// The sync step 2 a client with an empty state vector is sent.
    pub(crate) fn step2(&self) -> &Bytes {
        &self.step2
    }

    pub(crate) fn state_vector(&self) -> &StateVector {
        &self.sv
    }

    /// Bytes held (the frame; the state is part of it).
    pub(crate) fn held(&self) -> usize {
        self.step2.len()
    }

    /// What a peer with state vector `sv` misses, computed from the encoded state (decoded
    /// into blocks, never integrated into a document): the whole state for an empty one.
    pub(crate) fn diff(&self, sv: &StateVector) -> Result<Vec<u8>, ApplyError> {
        if sv.is_empty() {
            return Ok(self.state().to_vec());
        }
        let sv = sv.encode_v1();
        match catch_unwind(AssertUnwindSafe(|| yrs::diff_updates_v1(self.state(), &sv))) {
            Ok(Ok(diff)) => Ok(diff),
            Ok(Err(e)) => Err(ApplyError::Rejected(format!(
                "the hibernated state cannot be diffed: {e}"
            ))),
            Err(_) => Err(ApplyError::Panicked),
        }
    }

    /// Whether `update` holds nothing the document lacks: no block past its state vector,
    /// no deletion it has not recorded (a reconnecting client's sync step 2, a duplicate).
    pub(crate) fn adds_nothing(&self, update: &Update) -> bool {
        let new_blocks = update
            .insertions(true)
            .iter()
            .any(|(client, ranges)| ranges.iter().any(|r| r.end > self.sv.get(client)));
        !new_blocks
            && update
                .delete_set()
                .diff(&self.deleted)
                .iter()
                .all(|(_, ranges)| ranges.is_empty())
    }

    /// Materializes the document again.
    pub(crate) fn wake(&self) -> Result<Doc, SnapshotError> {
        rebuild(&[self.state()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{GetString, Text};

    fn doc_with(texts: &[&str]) -> Doc {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        for s in texts {
            let mut txn = doc.transact_mut();
            let len = t.len(&txn);
            t.insert(&mut txn, len, s);
        }
        doc
    }

    fn text(doc: &Doc) -> String {
        let t = doc.get_or_insert_text("t");
        let s = t.get_string(&doc.transact());
        s
    }

    #[test]
    fn the_state_is_the_tail_of_the_fresh_joiners_frame() {
        let doc = doc_with(&["hello", " world"]);
        let dormant = Dormant::of(&doc).expect("encodes");
        let state = doc.transact().encode_diff_v1(&StateVector::default());
        assert_eq!(dormant.state(), &state[..]);
        assert_eq!(&dormant.step2()[..], &encode_sync_step2(&state)[..]);
        assert_eq!(dormant.state_vector(), &doc.transact().state_vector());
        assert_eq!(text(&dormant.wake().expect("wakes")), "hello world");
    }

    #[test]
    fn a_diff_from_the_encoded_state_brings_an_old_client_up_to_date() {
        let client = doc_with(&["hello"]);
        let server = Doc::new();
        server
            .transact_mut()
            .apply_update(
                Update::decode_v1(&client.transact().encode_diff_v1(&StateVector::default()))
                    .expect("decodes"),
            )
            .expect("applies");
        {
            let t = server.get_or_insert_text("t");
            let mut txn = server.transact_mut();
            t.insert(&mut txn, 5, " again");
            t.remove_range(&mut txn, 0, 1);
        }
        let dormant = Dormant::of(&server).expect("encodes");
        let diff = dormant
            .diff(&client.transact().state_vector())
            .expect("diffs");
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&diff).expect("decodes"))
            .expect("applies");
        assert_eq!(text(&client), "ello again");
        assert_eq!(
            dormant.diff(&StateVector::default()).expect("diffs"),
            dormant.state()
        );
    }

    #[test]
    fn a_reconnecting_clients_step2_adds_nothing_a_new_edit_does() {
        let doc = doc_with(&["hello world"]);
        {
            let t = doc.get_or_insert_text("t");
            t.remove_range(&mut doc.transact_mut(), 0, 6);
        }
        let dormant = Dormant::of(&doc).expect("encodes");
        // What a client with everything answers our step 1: no blocks, its whole delete set.
        let step2 = doc
            .transact()
            .encode_diff_v1(&doc.transact().state_vector());
        assert!(dormant.adds_nothing(&Update::decode_v1(&step2).expect("decodes")));
        let full = doc.transact().encode_diff_v1(&StateVector::default());
        assert!(dormant.adds_nothing(&Update::decode_v1(&full).expect("decodes")));
        // A new deletion, or new text, adds something.
        let client = Doc::new();
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&full).expect("decodes"))
            .expect("applies");
        let t = client.get_or_insert_text("t");
        let deletion = {
            let mut txn = client.transact_mut();
            t.remove_range(&mut txn, 0, 1);
            txn.encode_update_v1()
        };
        assert!(!dormant.adds_nothing(&Update::decode_v1(&deletion).expect("decodes")));
        let insertion = {
            let mut txn = client.transact_mut();
            t.push(&mut txn, "!");
            txn.encode_update_v1()
        };
        assert!(!dormant.adds_nothing(&Update::decode_v1(&insertion).expect("decodes")));
    }
}
