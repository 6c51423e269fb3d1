//! Pruning old versions (keep the newest `keep`), planned before any write transaction: which
//! versions go, and the full version the first kept one becomes when it was a delta (its base
//! and the deltas up to it, merged with CRDT code). The stores apply the plan in their write
//! (the embedded writer thread, PostgreSQL's version transaction), only if the oldest stored
//! version is still the one it was computed from; otherwise the next version prunes. So no
//! write transaction, and no commit queued behind one, waits for a merge.

use super::StoreError;

/// Every version below `survivor` goes; `survivor` becomes a full version holding `data` when
/// it was a delta. Valid while the oldest stored version is `oldest`.
#[derive(Debug)]
pub struct Fold {
    pub oldest: i64,
    pub survivor: i64,
    pub data: Option<Vec<u8>>,
}

/// The pruning that keeps the newest `keep` of `versions` (oldest first; each `(id, base,
/// data)`, the one about to be stored last): the oldest are folded into the first survivor,
/// which becomes a full version if it was a delta (its base and the deltas up to it, merged).
pub fn fold_plan(versions: &[(i64, bool, &[u8])], keep: usize) -> Result<Option<Fold>, StoreError> {
    let remove = versions.len().saturating_sub(keep.max(1));
    if remove == 0 {
        return Ok(None);
    }
    let (survivor, base, _) = versions[remove];
    let data = if base {
        None
    } else {
        let from = versions[..=remove].iter().rposition(|v| v.1).unwrap_or(0);
        let parts: Vec<&[u8]> = versions[from..=remove].iter().map(|v| v.2).collect();
        Some(weft_crdt::snapshot::compact(&parts).map_err(|e| {
            StoreError::Database(format!("cannot fold versions into {survivor}: {e}"))
        })?)
    };
    Ok(Some(Fold {
        oldest: versions[0].0,
        survivor,
        data,
    }))
}

/// The plan for storing a version on top of `after` given the `stored` versions (oldest
/// first, `(id, base, data)`), computed on the blocking pool. `None`: nothing to prune, or the
/// head moved (the write then reports the race).
pub async fn plan(
    stored: Vec<(i64, bool, Vec<u8>)>,
    new_base: bool,
    new_data: &[u8],
    after: Option<i64>,
    keep: usize,
) -> Result<Option<Fold>, StoreError> {
    if stored.len() < keep.max(1) || stored.last().map(|v| v.0) != after {
        return Ok(None);
    }
    let new = (
        after.unwrap_or(0) + 1,
        new_base || after.is_none(),
        new_data.to_vec(),
    );
    tokio::task::spawn_blocking(move || {
        let all: Vec<(i64, bool, &[u8])> = stored
            .iter()
            .chain(std::iter::once(&new))
            .map(|(id, base, data)| (*id, *base, &data[..]))
            .collect();
        fold_plan(&all, keep)
    })
    .await
    .map_err(|e| StoreError::Database(format!("version folding task failed: {e}")))?
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use yrs::{Doc, GetString, Text, Transact};

    use super::*;

    /// A document and its log of `n` small edits to the text `t` (for the stores' tests).
    pub(crate) fn edits(n: usize) -> (Doc, Vec<Bytes>) {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let log = (0..n)
            .map(|i| {
                let mut txn = doc.transact_mut();
                t.push(&mut txn, &format!("{i},"));
                Bytes::from(txn.encode_update_v1())
            })
            .collect();
        (doc, log)
    }

    /// Folding keeps what the first kept version reads as, and runs before the write.
    #[test]
    fn a_fold_merges_the_base_and_deltas_into_the_first_kept_version() {
        let (doc, log) = edits(3);
        let full = |upto: usize| weft_crdt::snapshot::compact(&log[..upto]).expect("compact");
        let (v1, v2, v3) = (full(1), log[1].to_vec(), log[2].to_vec());
        let versions = [(1, true, &v1[..]), (2, false, &v2[..]), (3, false, &v3[..])];
        assert!(fold_plan(&versions, 3).expect("plan").is_none());
        let fold = fold_plan(&versions, 1).expect("plan").expect("a fold");
        assert_eq!((fold.oldest, fold.survivor), (1, 3));
        let merged = weft_crdt::snapshot::rebuild(&[fold.data.expect("merged")]).expect("reads");
        let text = |d: &Doc| d.get_or_insert_text("t").get_string(&d.transact());
        assert_eq!(text(&merged), text(&doc));
        let base_kept = [(1, true, &v1[..]), (2, true, &v2[..])];
        let fold = fold_plan(&base_kept, 1).expect("plan").expect("a fold");
        assert!(fold.data.is_none(), "a full version was merged again");
    }
}
