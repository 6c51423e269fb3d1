//! Copying one document between stores: its state (what the destination lacks, as one update
//! appended to its log), then its versions (row by row, as they were: same ids, times, kinds,
//! labels, chains), then the check that both stores now hold the same state.
//!
//! Every step is idempotent, so a rerun after an interruption only does what is missing: a
//! destination whose state already equals the source's gets no update, and versions whose id
//! is already there are left alone (after checking they are the same version).

use bytes::Bytes;
use weft_crdt::{DocName, SnapshotError};
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Snapshot, StateVector, Transact};

use crate::store::{NewVersion, Store, StoreError, VersionMeta};

/// What copying one document did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Whether the destination had no such document (an empty one is copied too).
    pub created: bool,
    /// Whether the destination was missing part of the state (and got it).
    pub state: bool,
    pub versions: u64,
    /// Versions already at the destination.
    pub versions_skipped: u64,
    /// Bytes written to the destination (the update and the version rows).
    pub bytes: u64,
}

impl Copied {
    /// Nothing was missing at the destination: a rerun skipped this document.
    pub fn skipped(&self) -> bool {
        !self.created && !self.state && self.versions == 0
    }
}

/// Why one document was not copied (the others still are).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored data does not read back: {0}")]
    Corrupt(#[from] SnapshotError),
    #[error(
        "the destination has edits the source has not (destination state vector {dest}, \
         source {src}): it was written there; delete it there (DELETE /api/v1/documents/NAME) \
         and copy again, or leave it out with --prefix"
    )]
    Diverged { src: String, dest: String },
    #[error(
        "the destination already has a different version {0} (written there, not copied): \
         delete the document there and copy again"
    )]
    VersionConflict(i64),
    #[error("version {0} disappeared from the source during the copy: is a server using it?")]
    VersionGone(i64),
}

impl CopyError {
    /// Whether trying again may succeed (the store was unreachable for a moment).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CopyError::Store(e) if e.is_retryable())
    }
}

/// Copies `name` from `from` to `to` (see the module docs).
pub async fn copy(from: &dyn Store, to: &dyn Store, name: &DocName) -> Result<Copied, CopyError> {
    let mut copied = Copied::default();
    let source = weft_crdt::snapshot::rebuild(&from.load(name).await?.parts)?;
    let src = source.transact().snapshot();
    copied.created = to.create(name).await?;
    let dest = snapshot_of(to, name).await?;
    if dest != src {
        if !covers(&src.state_map, &dest.state_map) {
            return Err(diverged(&src, &dest));
        }
        let update = source.transact().encode_diff_v1(&dest.state_map);
        copied.bytes += update.len() as u64;
        to.append(name, vec![Bytes::from(update)]).await?;
        copied.state = true;
    }
    copy_versions(from, to, name, &mut copied).await?;
    // The check: the destination reads back exactly the source's state (state vector and
    // deletions), whatever was there before.
    let after = snapshot_of(to, name).await?;
    if after != src {
        return Err(diverged(&src, &after));
    }
    Ok(copied)
}

/// The versions the destination lacks, oldest first, each stored as the same row.
async fn copy_versions(
    from: &dyn Store,
    to: &dyn Store,
    name: &DocName,
    copied: &mut Copied,
) -> Result<(), CopyError> {
    let there = to.versions(name).await?;
    let mut wanted = from.versions(name).await?;
    wanted.reverse();
    for meta in wanted {
        if let Some(existing) = there.iter().find(|v| v.id == meta.id) {
            if !same_version(existing, &meta) {
                return Err(CopyError::VersionConflict(meta.id));
            }
            copied.versions_skipped += 1;
            continue;
        }
        let Some((meta, parts)) = from.version_parts(name, meta.id).await? else {
            return Err(CopyError::VersionGone(meta.id));
        };
        // The parts are the chain's base then the deltas up to this version: this version's
        // own row is the last one, a base when it is alone.
        let state_vector = weft_crdt::snapshot::rebuild(&parts)?
            .transact()
            .state_vector()
            .encode_v1();
        let base = parts.len() == 1;
        let Some(data) = parts.last() else {
            return Err(CopyError::VersionGone(meta.id));
        };
        let version = NewVersion {
            kind: meta.kind,
            label: meta.label.clone(),
            base,
            state_vector,
            data: data.to_vec(),
        };
        if to.copy_version(name, &meta, version).await? {
            copied.versions += 1;
            copied.bytes += data.len() as u64;
        } else {
            copied.versions_skipped += 1;
        }
    }
    Ok(())
}

async fn snapshot_of(store: &dyn Store, name: &DocName) -> Result<Snapshot, CopyError> {
    let doc = weft_crdt::snapshot::rebuild(&store.load(name).await?.parts)?;
    let snapshot = doc.transact().snapshot();
    Ok(snapshot)
}

/// Whether `a` has seen everything `b` has.
fn covers(a: &StateVector, b: &StateVector) -> bool {
    b.iter().all(|(client, clock)| a.get(client) >= *clock)
}

/// The same version: times compared to the millisecond (PostgreSQL keeps microseconds).
fn same_version(a: &VersionMeta, b: &VersionMeta) -> bool {
    a.id == b.id && a.kind == b.kind && a.label == b.label && a.created_ms == b.created_ms
}

fn diverged(src: &Snapshot, dest: &Snapshot) -> CopyError {
    CopyError::Diverged {
        src: format!("{:?}", src.state_map),
        dest: format!("{:?}", dest.state_map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncMode;
    use crate::store::EmbeddedStore;
    use yrs::{GetString, Text};

    fn text_update(
        doc: &yrs::Doc,
        f: impl FnOnce(&yrs::TextRef, &mut yrs::TransactionMut),
    ) -> Bytes {
        let text = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        f(&text, &mut txn);
        Bytes::from(txn.encode_update_v1())
    }

    async fn text_in(store: &dyn Store, name: &DocName) -> String {
        let doc = weft_crdt::snapshot::rebuild(&store.load(name).await.expect("load").parts)
            .expect("rebuild");
        let text = doc.get_or_insert_text("t");
        let s = text.get_string(&doc.transact());
        s
    }

    /// A rerun copies what changed since, even a deletion alone (which moves no state vector),
    /// skips what did not, and refuses a destination edited on its own.
    #[tokio::test]
    async fn reruns_copy_only_what_changed_and_refuse_divergence() {
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let from = EmbeddedStore::open(a.path(), SyncMode::Normal).expect("open");
        let to = EmbeddedStore::open(b.path(), SyncMode::Normal).expect("open");
        let name = DocName::parse("doc").expect("name");
        let source = yrs::Doc::new();
        let insert = text_update(&source, |t, txn| t.push(txn, "hello world"));
        from.append(&name, vec![insert]).await.expect("append");

        let first = copy(&from, &to, &name).await.expect("copy");
        assert!(first.created && first.state && !first.skipped());
        assert!(copy(&from, &to, &name).await.expect("again").skipped());

        let delete = text_update(&source, |t, txn| t.remove_range(txn, 0, 6));
        from.append(&name, vec![delete]).await.expect("append");
        let second = copy(&from, &to, &name).await.expect("copy the deletion");
        assert!(second.state);
        assert_eq!(text_in(&to, &name).await, "world");

        let elsewhere = yrs::Doc::with_client_id(99);
        let own = text_update(&elsewhere, |t, txn| t.push(txn, "written there"));
        to.append(&name, vec![own]).await.expect("append");
        let more = text_update(&source, |t, txn| t.push(txn, "!"));
        from.append(&name, vec![more]).await.expect("append");
        let err = copy(&from, &to, &name).await.expect_err("diverged");
        assert!(matches!(err, CopyError::Diverged { .. }), "{err}");
    }
}
