//! What an untrusted update must pass around yrs 0.28.1, which trusts its input more than a
//! server can: [`refuse_gaps`] and [`trim_known`] before it is integrated, [`check_pending`]
//! after. Each answers a fuzzer finding; `Document::apply` runs them in that order.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::document::ApplyError;

/// Refuses an untrusted update that starts after what we have of one of its clients (it
/// depends on changes we never received). yrs would park its items as pending, but it
/// integrates its garbage-collected ranges at once behind a placeholder, and a later update
/// overlapping them made yrs 0.28.1 free memory it still used (a fuzzer finding). A correct
/// client never sends such an update over one connection (its sync step 2 answers our state
/// vector); one that does is closed and resyncs from our state vector when it reconnects.
pub(crate) fn refuse_gaps(doc: &Doc, update: &Update) -> Result<(), ApplyError> {
    let ours = doc.transact().state_vector();
    match update
        .state_vector_lower()
        .iter()
        .find(|(client, clock)| **clock > ours.get(client))
    {
        Some((client, clock)) => Err(ApplyError::Rejected(format!(
            "the update needs earlier changes of client {client} (it starts at clock {clock}, \
             the document has {}); reconnect to resync",
            ours.get(client)
        ))),
        None => Ok(()),
    }
}

/// Drops from `update` what `doc` already has, before yrs sees it. yrs 0.28.1 does this itself
/// by splitting a block that straddles our state and freeing the known half, while the kept half
/// still points at it: a use-after-free the `apply_update` fuzz target found, reachable by any
/// update that overlaps what we have (a merged offline update, a full state sent again). Trimming
/// at the encoding level (`diff_updates_v1`) leaves yrs nothing to split. Only updates that
/// start below our state vector pay for it (re-encode, diff, decode); a live edit starts at it.
pub(crate) fn trim_known(doc: &Doc, update: Update) -> Result<Update, ApplyError> {
    let ours = doc.transact().state_vector();
    let overlaps = update
        .state_vector_lower()
        .iter()
        .any(|(client, clock)| *clock < ours.get(client));
    if !overlaps {
        return Ok(update);
    }
    catch_unwind(AssertUnwindSafe(|| {
        let trimmed = yrs::diff_updates_v1(&update.encode_v1(), &ours.encode_v1())
            .map_err(|e| ApplyError::Rejected(e.to_string()))?;
        Update::decode_v1(&trimmed).map_err(|e| ApplyError::Rejected(e.to_string()))
    }))
    .map_err(|_| ApplyError::Rejected("update could not be trimmed to what is new".into()))?
}

/// Whether the document can still encode its full state. yrs 0.28.1 accepts some malformed
/// updates whose pending part (waiting for missing dependencies) it cannot merge again, and then
/// panics (an `unwrap` in `merge_pending_v1`) on every later `encode_state_as_update_v1`, so one
/// client could make a document unsaveable. Found by the `apply_update` fuzz target. This does
/// what `merge_pending_v1` does, fallibly: merge the state, the pending blocks and the pending
/// delete set. It runs only while something is pending (rare: an update whose dependencies have
/// not arrived) and then costs one full-state encode.
///
/// It also bounds what waits: pending bytes over `max_pending` are refused too, so a client
/// cannot park an unbounded amount of never-integrable data in a document.
pub(crate) fn check_pending<T: ReadTxn>(txn: &T, max_pending: usize) -> Result<(), ApplyError> {
    let store = txn.store();
    let pending = store.pending_update().map(|p| p.update.encode_v1());
    let pending_ds = store.pending_ds().map(|ds| {
        // A v1 update with no blocks (client count 0) followed by the delete set.
        let mut u = vec![0u8];
        u.extend(ds.encode_v1());
        u
    });
    if pending.is_none() && pending_ds.is_none() {
        return Ok(());
    }
    let waiting = pending.as_ref().map_or(0, Vec::len) + pending_ds.as_ref().map_or(0, Vec::len);
    if waiting > max_pending {
        return Err(ApplyError::Rejected(format!(
            "{waiting} bytes of updates wait for missing dependencies; the limit is {max_pending}"
        )));
    }
    let state = txn.encode_diff_v1(&StateVector::default());
    let mut parts: Vec<&[u8]> = vec![&state];
    parts.extend(pending.as_deref());
    parts.extend(pending_ds.as_deref());
    yrs::merge_updates_v1(&parts).map(|_| ()).map_err(|_| {
        ApplyError::Rejected("update leaves a pending part that cannot be merged".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Document, Effects};
    use yrs::{GetString, Text};

    /// A client's full state, squashed into one block, straddles what the server already has:
    /// only the new part reaches yrs, and the server ends with the client's text.
    #[test]
    fn an_update_straddling_our_state_is_trimmed_and_applies() {
        let client = Doc::with_client_id(7);
        let text = client.get_or_insert_text("t");
        let first = {
            let mut txn = client.transact_mut();
            text.push(&mut txn, "hel");
            txn.encode_update_v1()
        };
        text.push(&mut client.transact_mut(), "lo");
        let full = client
            .transact()
            .encode_state_as_update_v1(&StateVector::default());

        let mut server = Document::default();
        let mut fx = Effects::default();
        server
            .apply_external(Update::decode_v1(&first).expect("first"), &mut fx)
            .expect("first applies");
        let update = Update::decode_v1(&full).expect("full");
        let ours = server.state_vector();
        assert!(
            update
                .state_vector_lower()
                .iter()
                .any(|(c, clock)| *clock < ours.get(c)),
            "the full state starts below the server's clock"
        );
        server
            .apply_external(update, &mut fx)
            .expect("full applies");
        let state = server.encode_state().expect("encodes");
        let copy = Doc::new();
        copy.transact_mut()
            .apply_update(Update::decode_v1(&state).expect("state"))
            .expect("apply");
        let t = copy.get_or_insert_text("t");
        assert_eq!(t.get_string(&copy.transact()), "hello");
    }
}
