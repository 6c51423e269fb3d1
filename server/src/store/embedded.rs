//! The embedded store: SQLite in WAL mode in `WEFT_DATA_DIR/weft.sqlite3`.
//!
//! One writer thread owns the write connection and performs **group commit** (`writer`): it
//! takes every append request queued at that moment (from any number of documents) and commits
//! them in one transaction, so one fsync serves them all. Reads (loads, compaction input) use a
//! separate connection under a mutex on the blocking pool; WAL lets them run beside the writer.
//!
//! Log sequence numbers are global and never reused (`AUTOINCREMENT`), so a snapshot can record
//! the last sequence it merged and compaction can delete exactly what it merged even while new
//! appends arrive.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};
use weft_crdt::DocName;

use super::{
    unix_now, Compacted, DocMeta, LogStats, NewVersion, RevokedToken, Store, StoreError, Stored,
    VersionHead, VersionKind, VersionMeta,
};
use crate::config::SyncMode;

mod writer;

use super::fold::Fold;
use writer::WriteOp;

/// Append requests waiting for the writer. Senders wait when it is full (backpressure).
const WRITER_QUEUE: usize = 4096;
/// Schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    log_entries INTEGER NOT NULL DEFAULT 0,
    log_bytes   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS updates (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    data   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_doc_seq ON updates(doc_id, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    doc_id   INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    upto_seq INTEGER NOT NULL,
    data     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    doc_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    id           INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    label        TEXT,
    base         INTEGER NOT NULL,
    state_vector BLOB NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (doc_id, id)
);
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
";

pub struct EmbeddedStore {
    writer: mpsc::Sender<WriteOp>,
    /// The read connection. Locked (asynchronously) *before* a blocking thread is taken, so
    /// a thousand documents loading at once wait as futures, not as a thousand blocked threads.
    reader: Arc<tokio::sync::Mutex<Connection>>,
}

/// A SQLite error, typed by whether it can be retried: the database busy or locked (another
/// writer, a checkpoint), an I/O error, a full disk, a file that cannot be opened now, memory;
/// everything else (constraints, corruption, schema) is permanent.
fn db_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    let retryable = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | OutOfMemory
            )
    );
    if retryable {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Database(e.to_string())
    }
}

/// A failure that is not SQLite's (a thread, a task): permanent.
fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open(path: &Path, sync: SyncMode) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_err)?;
    let sync = match sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
    ))
    .map_err(db_err)?;
    Ok(conn)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir` and starts its writer thread.
    pub fn open(dir: &Path, sync: SyncMode) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
        let path = dir.join("weft.sqlite3");
        let writer_conn = open(&path, sync)?;
        let version: i64 = writer_conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Database(format!(
                "{} has schema version {version}, newer than this weft supports ({SCHEMA_VERSION}); \
                 upgrade weft or point WEFT_DATA_DIR elsewhere",
                path.display()
            )));
        }
        writer_conn
            .execute_batch(&format!("{SCHEMA} PRAGMA user_version={SCHEMA_VERSION};"))
            .map_err(db_err)?;
        let reader = open(&path, sync)?;
        // One writer: the writer thread. The read connection is refused any write by SQLite.
        reader
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(db_err)?;
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("weft-sqlite-writer".into())
            .spawn(move || writer::writer_loop(writer_conn, rx))
            .map_err(internal)?;
        Ok(EmbeddedStore {
            writer: tx,
            reader: Arc::new(tokio::sync::Mutex::new(reader)),
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut conn = self.reader.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut conn))
            .await
            .map_err(internal)?
    }

    /// Queues a request for the writer thread (the only one that writes).
    async fn write(&self, op: WriteOp) -> Result<(), StoreError> {
        self.writer.send(op).await.map_err(|_| StoreError::Closed)
    }

    /// Which old versions storing `version` on top of `after` prunes, and the merged full
    /// version they fold into: read, then merged on the blocking pool, never inside a write
    /// transaction (the writer only applies the result).
    async fn plan_fold(
        &self,
        doc: &DocName,
        version: &NewVersion,
        after: Option<i64>,
        keep: usize,
    ) -> Result<Option<Fold>, StoreError> {
        let name = doc.clone();
        let stored: Vec<(i64, bool, Vec<u8>)> = self
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT v.id, v.base, v.data FROM versions v JOIN documents d ON d.id = v.doc_id
                         WHERE d.name = ?1 ORDER BY v.id",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map([name.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
            })
            .await?;
        super::fold::plan(stored, version.base, &version.data, after, keep).await
    }

    /// Snapshot (with the sequence it covers) and log entries after it, read consistently.
    async fn read_parts(&self, doc: &DocName) -> Result<(Stored, i64), StoreError> {
        let name = doc.clone();
        self.read(move |conn| {
            let txn = conn.transaction().map_err(db_err)?;
            let mut stored = Stored::default();
            let mut upto = 0i64;
            let id: Option<i64> = txn
                .query_row(
                    "SELECT id FROM documents WHERE name = ?1",
                    [name.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let Some(id) = id else { return Ok((stored, 0)) };
            if let Some((seq, data)) = txn
                .query_row(
                    "SELECT upto_seq, data FROM snapshots WHERE doc_id = ?1",
                    [id],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )
                .optional()
                .map_err(db_err)?
            {
                upto = seq;
                stored.parts.push(Bytes::from(data));
            }
            let mut stmt = txn
                .prepare_cached(
                    "SELECT seq, data FROM updates WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id, upto], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(db_err)?;
            let mut last = upto;
            for row in rows {
                let (seq, data) = row.map_err(db_err)?;
                stored.log.entries += 1;
                stored.log.bytes += data.len() as u64;
                stored.parts.push(Bytes::from(data));
                last = seq;
            }
            drop(stmt);
            txn.commit().map_err(db_err)?;
            Ok((stored, last))
        })
        .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn revoke_token(&self, token: &RevokedToken) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::Revoke {
            token: Some(token.clone()),
            reply,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?.map(|_| ())
    }

    async fn revoked_tokens(&self) -> Result<Vec<RevokedToken>, StoreError> {
        let now = unix_now() as i64;
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([now], |r| {
                    Ok(RevokedToken {
                        jti: r.get(0)?,
                        expires_at: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn purge_revoked_tokens(&self) -> Result<u64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::Revoke { token: None, reply }).await?;
        rx.await.map_err(|_| StoreError::Closed)?.map(|_| 0)
    }

    async fn load(&self, doc: &DocName) -> Result<Stored, StoreError> {
        Ok(self.read_parts(doc).await?.0)
    }

    async fn append(&self, doc: &DocName, updates: Vec<Bytes>) -> Result<LogStats, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriteOp::Append {
                doc: doc.clone(),
                updates,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn compact(&self, doc: &DocName) -> Result<Compacted, StoreError> {
        let (stored, upto_seq) = self.read_parts(doc).await?;
        if stored.log.entries == 0 {
            return Ok(Compacted::default());
        }
        let name = doc.clone();
        let parts = stored.parts;
        let snapshot = tokio::task::spawn_blocking(move || weft_crdt::snapshot::compact(&parts))
            .await
            .map_err(internal)?
            .map_err(|source| StoreError::Corrupt { doc: name, source })?;
        self.replace_log(doc, snapshot, upto_seq as u64).await
    }

    async fn replace_log(
        &self,
        doc: &DocName,
        snapshot: Vec<u8>,
        upto: u64,
    ) -> Result<Compacted, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriteOp::ReplaceLog {
                doc: doc.clone(),
                snapshot,
                upto_seq: upto as i64,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn create(&self, doc: &DocName) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::Create {
            doc: doc.clone(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DocMeta>, StoreError> {
        let prefix = prefix.to_string();
        let after = after.unwrap_or("").to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{META_SELECT} WHERE d.name > ?1 AND substr(d.name, 1, length(?2)) = ?2
                     ORDER BY d.name LIMIT ?3"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![after, prefix, limit], meta_row)
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn meta(&self, doc: &DocName) -> Result<Option<DocMeta>, StoreError> {
        let name = doc.clone();
        self.read(move |conn| {
            conn.query_row(
                &format!("{META_SELECT} WHERE d.name = ?1"),
                [name.as_str()],
                meta_row,
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn delete(&self, doc: &DocName) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::Delete {
            doc: doc.clone(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn version_head(&self, doc: &DocName) -> Result<Option<VersionHead>, StoreError> {
        let name = doc.clone();
        self.read(move |conn| {
            let head = conn
                .query_row(
                    "SELECT v.id, v.state_vector FROM versions v JOIN documents d ON d.id = v.doc_id
                     WHERE d.name = ?1 ORDER BY v.id DESC LIMIT 1",
                    [name.as_str()],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            let Some((id, state_vector)) = head else {
                return Ok(None);
            };
            let since_base: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM versions v JOIN documents d ON d.id = v.doc_id
                     WHERE d.name = ?1 AND v.id > (SELECT MAX(v2.id) FROM versions v2
                        WHERE v2.doc_id = d.id AND v2.base = 1)",
                    [name.as_str()],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            Ok(Some(VersionHead {
                id,
                state_vector,
                since_base: since_base as u32,
            }))
        })
        .await
    }

    async fn put_version(
        &self,
        doc: &DocName,
        version: NewVersion,
        after: Option<i64>,
        keep: usize,
    ) -> Result<VersionMeta, StoreError> {
        let fold = self.plan_fold(doc, &version, after, keep).await?;
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::PutVersion {
            doc: doc.clone(),
            version,
            after,
            fold,
            reply,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn copy_version(
        &self,
        doc: &DocName,
        meta: &VersionMeta,
        version: NewVersion,
    ) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.write(WriteOp::CopyVersion {
            doc: doc.clone(),
            meta: meta.clone(),
            version,
            reply,
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn versions(&self, doc: &DocName) -> Result<Vec<VersionMeta>, StoreError> {
        let name = doc.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{VERSION_SELECT} WHERE d.name = ?1 ORDER BY v.id DESC"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map([name.as_str()], version_row)
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn version_parts(
        &self,
        doc: &DocName,
        id: i64,
    ) -> Result<Option<(VersionMeta, Vec<Bytes>)>, StoreError> {
        let name = doc.clone();
        self.read(move |conn| {
            let txn = conn.transaction().map_err(db_err)?;
            let meta = txn
                .query_row(
                    &format!("{VERSION_SELECT} WHERE d.name = ?1 AND v.id = ?2"),
                    params![name.as_str(), id],
                    version_row,
                )
                .optional()
                .map_err(db_err)?;
            let Some(meta) = meta else { return Ok(None) };
            let mut stmt = txn
                .prepare_cached(
                    "SELECT v.data FROM versions v JOIN documents d ON d.id = v.doc_id
                     WHERE d.name = ?1 AND v.id <= ?2 AND v.id >= (
                        SELECT MAX(v2.id) FROM versions v2
                        WHERE v2.doc_id = d.id AND v2.base = 1 AND v2.id <= ?2)
                     ORDER BY v.id",
                )
                .map_err(db_err)?;
            let parts = stmt
                .query_map(params![name.as_str(), id], |r| {
                    r.get::<_, Vec<u8>>(0).map(Bytes::from)
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            drop(stmt);
            txn.commit().map_err(db_err)?;
            Ok(Some((meta, parts)))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}

const META_SELECT: &str = "SELECT d.name, d.created_ms, d.updated_ms,
        d.log_bytes + COALESCE((SELECT LENGTH(s.data) FROM snapshots s WHERE s.doc_id = d.id), 0),
        d.log_entries
    FROM documents d";

fn meta_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocMeta> {
    Ok(DocMeta {
        name: r.get(0)?,
        created_ms: r.get(1)?,
        updated_ms: r.get(2)?,
        stored_bytes: r.get::<_, i64>(3)? as u64,
        log_entries: r.get::<_, i64>(4)? as u64,
    })
}

const VERSION_SELECT: &str = "SELECT v.id, v.created_ms, v.kind, v.label, LENGTH(v.data)
    FROM versions v JOIN documents d ON d.id = v.doc_id";

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionMeta> {
    Ok(VersionMeta {
        id: r.get(0)?,
        created_ms: r.get(1)?,
        kind: VersionKind::parse(&r.get::<_, String>(2)?),
        label: r.get(3)?,
        size_bytes: r.get::<_, i64>(4)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fold::tests::edits;
    use yrs::{GetString, Transact};

    #[tokio::test]
    async fn append_compact_reload_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path(), SyncMode::Normal).expect("open");
        let name = DocName::parse("round/trip").expect("name");
        let (doc, log) = edits(100);
        for chunk in log.chunks(10) {
            store.append(&name, chunk.to_vec()).await.expect("append");
        }
        let loaded = store.load(&name).await.expect("load");
        assert_eq!(loaded.log.entries, 100);
        let c = store.compact(&name).await.expect("compact");
        assert_eq!(c.merged_entries, 100);
        let (_, more) = edits(1);
        store
            .append(&name, more)
            .await
            .expect("append after compaction");
        drop(store);
        let store = EmbeddedStore::open(dir.path(), SyncMode::Normal).expect("reopen");
        let loaded = store.load(&name).await.expect("load");
        assert_eq!(loaded.log.entries, 1);
        let rebuilt = weft_crdt::snapshot::rebuild(&loaded.parts[..1]).expect("rebuild");
        let text = rebuilt.get_or_insert_text("t");
        assert_eq!(
            text.get_string(&rebuilt.transact()),
            doc.get_or_insert_text("t").get_string(&doc.transact())
        );
        assert!(store
            .load(&DocName::parse("unknown").expect("name"))
            .await
            .expect("load")
            .parts
            .is_empty());
    }
}
