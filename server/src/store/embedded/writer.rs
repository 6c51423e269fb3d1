//! The embedded store's writer thread: it owns the write connection, the only one that
//! writes. It commits every request queued at that moment (appends of any number of
//! documents, log replacements, creations, deletions, versions) in one transaction, so one
//! fsync serves them all. A failed group is retried request by request, so one bad request
//! fails only itself. Nothing CRDT-heavy runs here: a version's folding is computed before its
//! request is queued (`Fold`), so no commit ever waits behind it.

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use weft_crdt::DocName;

use super::{db_err, now_ms};
use crate::store::fold::Fold;
use crate::store::{Compacted, LogStats, NewVersion, RevokedToken, StoreError, VersionMeta};

/// Largest number of requests folded into one commit: bounds one transaction's latency.
const MAX_GROUP: usize = 512;

pub(super) enum WriteOp {
    Append {
        doc: DocName,
        updates: Vec<Bytes>,
        reply: oneshot::Sender<Result<LogStats, StoreError>>,
    },
    ReplaceLog {
        doc: DocName,
        snapshot: Vec<u8>,
        upto_seq: i64,
        reply: oneshot::Sender<Result<Compacted, StoreError>>,
    },
    /// Creates an empty document; `false` if it exists.
    Create {
        doc: DocName,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Removes the document and everything stored for it; `false` if there was none.
    Delete {
        doc: DocName,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Stores a version on top of `after` (else `VersionRace`), then applies `fold`.
    PutVersion {
        doc: DocName,
        version: NewVersion,
        after: Option<i64>,
        fold: Option<Fold>,
        reply: oneshot::Sender<Result<VersionMeta, StoreError>>,
    },
    /// Stores a version copied from another store, as it was (`false` if its id is taken).
    CopyVersion {
        doc: DocName,
        meta: VersionMeta,
        version: NewVersion,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Records a revoked token (`None`: none) and purges the revocations past their expiry.
    Revoke {
        token: Option<RevokedToken>,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// What one write did, for its requester.
enum Outcome {
    Appended(LogStats),
    Replaced(Compacted),
    Flag(bool),
    Version(VersionMeta),
    /// Another version was stored since the head the request was computed against.
    Race,
}

/// The writer thread: group commit until every sender is gone.
pub(super) fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<WriteOp>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        match commit_group(&mut conn, &group) {
            Ok(results) => {
                for (op, result) in group.into_iter().zip(results) {
                    reply(op, Ok(result));
                }
            }
            Err(e) if group.len() == 1 => {
                tracing::error!(error = %e, "store commit failed");
                reply(group.remove(0), Err(e));
            }
            // Busy, locked, I/O: one by one would only wait out the same condition once per
            // request (each up to the busy timeout). Every requester retries on its own.
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, ops = group.len(), "group commit failed; the store is unavailable");
                for op in group {
                    reply(op, Err(StoreError::Unavailable(e.to_string())));
                }
            }
            Err(e) => {
                // One bad request must not fail its neighbours: commit each on its own.
                tracing::warn!(error = %e, ops = group.len(), "group commit failed; retrying one by one");
                for op in group {
                    let result =
                        commit_group(&mut conn, std::slice::from_ref(&op)).map(|mut r| r.remove(0));
                    reply(op, result);
                }
            }
        }
    }
}

fn reply(op: WriteOp, result: Result<Outcome, StoreError>) {
    let mismatch = || StoreError::Database("internal: a write answered as another kind".into());
    match op {
        WriteOp::Append { reply, .. } => {
            let _ = reply.send(result.and_then(|o| match o {
                Outcome::Appended(stats) => Ok(stats),
                _ => Err(mismatch()),
            }));
        }
        WriteOp::ReplaceLog { reply, .. } => {
            let _ = reply.send(result.and_then(|o| match o {
                Outcome::Replaced(done) => Ok(done),
                _ => Err(mismatch()),
            }));
        }
        WriteOp::Create { reply, .. }
        | WriteOp::Delete { reply, .. }
        | WriteOp::CopyVersion { reply, .. }
        | WriteOp::Revoke { reply, .. } => {
            let _ = reply.send(result.and_then(|o| match o {
                Outcome::Flag(done) => Ok(done),
                _ => Err(mismatch()),
            }));
        }
        WriteOp::PutVersion { reply, .. } => {
            let _ = reply.send(result.and_then(|o| match o {
                Outcome::Version(meta) => Ok(meta),
                Outcome::Race => Err(StoreError::VersionRace),
                _ => Err(mismatch()),
            }));
        }
    }
}

fn commit_group(conn: &mut Connection, group: &[WriteOp]) -> Result<Vec<Outcome>, StoreError> {
    let txn = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let now = now_ms();
    let mut results = Vec::with_capacity(group.len());
    for op in group {
        let doc = match op {
            WriteOp::Append { doc, .. } | WriteOp::ReplaceLog { doc, .. } => doc,
            WriteOp::Create { doc, .. } => {
                let created = txn
                    .execute(
                        "INSERT INTO documents (name, created_ms, updated_ms) VALUES (?1, ?2, ?2)
                         ON CONFLICT(name) DO NOTHING",
                        params![doc.as_str(), now],
                    )
                    .map_err(db_err)?;
                results.push(Outcome::Flag(created == 1));
                continue;
            }
            WriteOp::Delete { doc, .. } => {
                let deleted = txn
                    .execute("DELETE FROM documents WHERE name = ?1", [doc.as_str()])
                    .map_err(db_err)?;
                results.push(Outcome::Flag(deleted > 0));
                continue;
            }
            WriteOp::PutVersion {
                doc,
                version,
                after,
                fold,
                ..
            } => {
                results.push(put_version(&txn, doc, version, *after, fold.as_ref(), now)?);
                continue;
            }
            WriteOp::CopyVersion {
                doc, meta, version, ..
            } => {
                results.push(copy_version(&txn, doc, meta, version, now)?);
                continue;
            }
            WriteOp::Revoke { token, .. } => {
                results.push(revoke(&txn, token.as_ref())?);
                continue;
            }
        };
        let id: i64 = txn
            .prepare_cached(
                "INSERT INTO documents (name, created_ms, updated_ms) VALUES (?1, ?2, ?2)
                 ON CONFLICT(name) DO UPDATE SET updated_ms = excluded.updated_ms RETURNING id",
            )
            .and_then(|mut s| s.query_row(params![doc.as_str(), now], |r| r.get(0)))
            .map_err(db_err)?;
        match op {
            WriteOp::Append { updates, .. } => {
                let mut insert = txn
                    .prepare_cached("INSERT INTO updates (doc_id, data) VALUES (?1, ?2)")
                    .map_err(db_err)?;
                let mut bytes = 0u64;
                for u in updates {
                    insert.execute(params![id, &u[..]]).map_err(db_err)?;
                    bytes += u.len() as u64;
                }
                let last_seq = txn.last_insert_rowid() as u64;
                let stats = txn
                    .prepare_cached(
                        "UPDATE documents SET log_entries = log_entries + ?2, log_bytes = log_bytes + ?3
                         WHERE id = ?1 RETURNING log_entries, log_bytes",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![id, updates.len() as i64, bytes as i64], |r| {
                            Ok(LogStats {
                                entries: r.get::<_, i64>(0)? as u64,
                                bytes: r.get::<_, i64>(1)? as u64,
                                position: 0,
                                last_seq,
                            })
                        })
                    })
                    .map_err(db_err)?;
                results.push(Outcome::Appended(stats));
            }
            WriteOp::ReplaceLog {
                snapshot, upto_seq, ..
            } => {
                let current: Option<i64> = txn
                    .query_row(
                        "SELECT upto_seq FROM snapshots WHERE doc_id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err)?;
                if current.is_some_and(|c| c >= *upto_seq) {
                    // Another compaction got further already; ours is stale.
                    results.push(Outcome::Replaced(Compacted::default()));
                    continue;
                }
                let (merged_entries, merged_bytes): (i64, i64) = txn
                    .query_row(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM updates
                         WHERE doc_id = ?1 AND seq <= ?2",
                        params![id, upto_seq],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db_err)?;
                txn.execute(
                    "INSERT INTO snapshots (doc_id, upto_seq, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT(doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data",
                    params![id, upto_seq, snapshot],
                )
                .map_err(db_err)?;
                txn.execute(
                    "DELETE FROM updates WHERE doc_id = ?1 AND seq <= ?2",
                    params![id, upto_seq],
                )
                .map_err(db_err)?;
                txn.execute(
                    "UPDATE documents SET
                        log_entries = (SELECT COUNT(*) FROM updates WHERE doc_id = ?1),
                        log_bytes = (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM updates WHERE doc_id = ?1)
                     WHERE id = ?1",
                    [id],
                )
                .map_err(db_err)?;
                results.push(Outcome::Replaced(Compacted {
                    merged_entries: merged_entries as u64,
                    merged_bytes: merged_bytes as u64,
                    snapshot_bytes: snapshot.len() as u64,
                }));
            }
            // Answered before the document row is touched (above).
            WriteOp::Create { .. }
            | WriteOp::Delete { .. }
            | WriteOp::PutVersion { .. }
            | WriteOp::CopyVersion { .. }
            | WriteOp::Revoke { .. } => {}
        }
    }
    txn.commit().map_err(db_err)?;
    Ok(results)
}

/// Records a revocation (keeping the later expiry) and purges those past their expiry, in the
/// group's transaction.
fn revoke(
    txn: &rusqlite::Transaction<'_>,
    token: Option<&RevokedToken>,
) -> Result<Outcome, StoreError> {
    if let Some(token) = token {
        txn.execute(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)
             ON CONFLICT(jti) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
            params![
                token.jti,
                i64::try_from(token.expires_at).unwrap_or(i64::MAX)
            ],
        )
        .map_err(db_err)?;
    }
    let now = i64::try_from(crate::store::unix_now()).unwrap_or(i64::MAX);
    let purged = txn
        .execute("DELETE FROM revoked_tokens WHERE expires_at <= ?1", [now])
        .map_err(db_err)?;
    Ok(Outcome::Flag(purged > 0))
}

/// The document's row id, the row created if missing (for versions of a new document).
fn document_row(
    txn: &rusqlite::Transaction<'_>,
    doc: &DocName,
    now: i64,
) -> Result<i64, StoreError> {
    txn.query_row(
        "INSERT INTO documents (name, created_ms, updated_ms) VALUES (?1, ?2, ?2)
         ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id",
        params![doc.as_str(), now],
        |r| r.get(0),
    )
    .map_err(db_err)
}

/// Stores a copied version as it was (see `WriteOp::CopyVersion`), in the group's transaction.
fn copy_version(
    txn: &rusqlite::Transaction<'_>,
    doc: &DocName,
    meta: &VersionMeta,
    version: &NewVersion,
    now: i64,
) -> Result<Outcome, StoreError> {
    let doc_id = document_row(txn, doc, now)?;
    let stored = txn
        .execute(
            "INSERT INTO versions (doc_id, id, created_ms, kind, label, base, state_vector, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(doc_id, id) DO NOTHING",
            params![
                doc_id,
                meta.id,
                meta.created_ms,
                meta.kind.as_str(),
                meta.label,
                version.base,
                version.state_vector,
                version.data
            ],
        )
        .map_err(db_err)?;
    Ok(Outcome::Flag(stored == 1))
}

/// Stores one version (see `WriteOp::PutVersion`), in the group's transaction.
fn put_version(
    txn: &rusqlite::Transaction<'_>,
    doc: &DocName,
    version: &NewVersion,
    after: Option<i64>,
    fold: Option<&Fold>,
    now: i64,
) -> Result<Outcome, StoreError> {
    let doc_id = document_row(txn, doc, now)?;
    let head: Option<i64> = txn
        .query_row(
            "SELECT MAX(id) FROM versions WHERE doc_id = ?1",
            [doc_id],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if head != after {
        return Ok(Outcome::Race);
    }
    let id = head.unwrap_or(0) + 1;
    let created_ms = now;
    txn.execute(
        "INSERT INTO versions (doc_id, id, created_ms, kind, label, base, state_vector, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            doc_id,
            id,
            created_ms,
            version.kind.as_str(),
            version.label,
            version.base || head.is_none(),
            version.state_vector,
            version.data
        ],
    )
    .map_err(db_err)?;
    if let Some(fold) = fold {
        let oldest: Option<i64> = txn
            .query_row(
                "SELECT MIN(id) FROM versions WHERE doc_id = ?1",
                [doc_id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if oldest == Some(fold.oldest) {
            if let Some(data) = &fold.data {
                txn.execute(
                    "UPDATE versions SET base = 1, data = ?3 WHERE doc_id = ?1 AND id = ?2",
                    params![doc_id, fold.survivor, data],
                )
                .map_err(db_err)?;
            }
            txn.execute(
                "DELETE FROM versions WHERE doc_id = ?1 AND id < ?2",
                params![doc_id, fold.survivor],
            )
            .map_err(db_err)?;
        }
    }
    Ok(Outcome::Version(VersionMeta {
        id,
        created_ms,
        kind: version.kind,
        label: version.label.clone(),
        size_bytes: version.data.len() as u64,
    }))
}
