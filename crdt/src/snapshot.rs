//! Rebuilding a document from what a store holds (a compacted snapshot plus the update log
//! after it) and compacting the two into one snapshot.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// Stored bytes that do not form a valid document. Never papered over with a blank document.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("stored update #{index} cannot be decoded: {reason}")]
    Decode { index: usize, reason: String },
    #[error("stored update #{index} cannot be applied: {reason}")]
    Apply { index: usize, reason: String },
}

/// Applies `parts` (snapshot first, then log entries in order) to a fresh document.
pub fn rebuild<P: AsRef<[u8]>>(parts: &[P]) -> Result<Doc, SnapshotError> {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        for (index, part) in parts.iter().enumerate() {
            let update = catch_unwind(AssertUnwindSafe(|| Update::decode_v1(part.as_ref())))
                .map_err(|_| SnapshotError::Decode {
                    index,
                    reason: "decoder panicked".into(),
                })?
                .map_err(|e| SnapshotError::Decode {
                    index,
                    reason: e.to_string(),
                })?;
            catch_unwind(AssertUnwindSafe(|| txn.apply_update(update)))
                .map_err(|_| SnapshotError::Apply {
                    index,
                    reason: "yrs panicked".into(),
                })?
                .map_err(|e| SnapshotError::Apply {
                    index,
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(doc)
}

/// Merges `parts` into one update. The result is the garbage-collected document state; if some
/// part still waits for missing dependencies, the parts are merged losslessly instead, so
/// compaction never drops anything.
pub fn compact<P: AsRef<[u8]>>(parts: &[P]) -> Result<Vec<u8>, SnapshotError> {
    let doc = rebuild(parts)?;
    let txn = doc.transact();
    if txn.store().pending_update().is_none() && txn.store().pending_ds().is_none() {
        return Ok(txn.encode_state_as_update_v1(&StateVector::default()));
    }
    let slices: Vec<&[u8]> = parts.iter().map(AsRef::as_ref).collect();
    yrs::merge_updates_v1(slices).map_err(|e| SnapshotError::Apply {
        index: 0,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Text};

    #[test]
    fn compacted_log_rebuilds_the_same_text() {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut log = Vec::new();
        for i in 0..50 {
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 0, &i.to_string());
            if i % 3 == 0 {
                t.remove_range(&mut txn, 0, 1);
            }
            log.push(txn.encode_update_v1());
        }
        let snapshot = compact(&log).expect("compact");
        let total: usize = log.iter().map(Vec::len).sum();
        assert!(snapshot.len() < total);
        let rebuilt = rebuild(&[snapshot]).expect("rebuild");
        let t2 = rebuilt.get_or_insert_text("t");
        assert_eq!(
            t2.get_string(&rebuilt.transact()),
            t.get_string(&doc.transact())
        );
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_document() {
        assert!(rebuild(&[vec![0xff, 0xff, 0xff]]).is_err());
    }
}
