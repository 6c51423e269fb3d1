//! The PostgreSQL store (`DATABASE_URL`): tokio-postgres over a deadpool pool, schema from the
//! SQL files in `migrations/` applied by refinery.
//!
//! - **append** is one statement: it bumps the document's `last_seq` (taking its row lock, so
//!   positions are commit-ordered per document) and inserts every pending update with
//!   `unnest`. Appends of all documents are committed together by one task (`appender`): one
//!   transaction per batch, its statements pipelined in one round trip.
//! - **load** is one statement too, so it sees one consistent state even while a compaction
//!   commits: the snapshot plus every log entry after the position it covers.
//! - **compact** runs in one transaction holding a per-document advisory lock (two Weft
//!   processes never compact the same document at once), merges off the async threads, and
//!   deletes exactly the entries it merged.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use weft_crdt::DocName;

use super::{
    Compacted, DocMeta, LogStats, NewVersion, RevokedToken, Store, StoreError, Stored, VersionHead,
    VersionKind, VersionMeta,
};

mod appender;

mod migrate;
mod revoked;
pub mod tls;
mod versions;

pub use migrate::migrate;
pub use tls::PgTarget;

/// Pool and timeout settings (from the configuration).
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    /// CA certificates (PEM) for `sslmode=verify-*`, unless the URL names its own `sslrootcert`.
    pub sslrootcert: Option<std::path::PathBuf>,
}

impl PgSettings {
    /// Settings for `url` with the defaults of `weft serve` (for tests and tools).
    pub fn new(url: impl Into<String>) -> Self {
        PgSettings {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(15),
            sslrootcert: None,
        }
    }

    /// The configuration and TLS connector of every connection Weft opens to this database,
    /// announcing itself as `application`.
    pub fn target(&self, application: &str) -> Result<PgTarget, StoreError> {
        let mut target = PgTarget::parse(&self.url, self.sslrootcert.as_deref())
            .map_err(StoreError::Database)?;
        target
            .config
            .connect_timeout(self.connect_timeout)
            .options(format!(
                "-c statement_timeout={}",
                self.statement_timeout.as_millis()
            ))
            .application_name(application);
        Ok(target)
    }
}

pub struct PostgresStore {
    pool: Pool,
    /// Node id announced with every commit (`NOTIFY weft_updates`, see `cluster`); empty:
    /// no notifications.
    notify_as: std::sync::Arc<str>,
    /// The group-commit task (see `appender`).
    appends: tokio::sync::mpsc::Sender<appender::Append>,
}

/// A PostgreSQL error, typed by whether it can be retried: a lost connection, an I/O error,
/// SQLSTATE classes 08 (connection), 53 (insufficient resources), 57 (operator intervention:
/// shutdown, statement timeout), 58 (system error), and serialization failures or deadlocks
/// are; constraints, data and schema errors are not.
fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let retryable = match e.code() {
        Some(code) => {
            let code = code.code();
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "40001"
                || code == "40P01"
        }
        None => {
            e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        }
    };
    if retryable {
        StoreError::Unavailable(tls::explain(&e))
    } else {
        StoreError::Database(tls::explain(&e))
    }
}

/// No connection from the pool: unreachable or timed out (retryable), unless PostgreSQL
/// itself answered with a permanent error.
fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        e => StoreError::Unavailable(format!("no database connection: {e}")),
    }
}

/// Advisory lock namespace of the migration lock (`pg_advisory_lock(NS, 1)`, two 32-bit keys).
/// Compaction locks the document's whole 64-bit id (`pg_try_advisory_xact_lock(doc_id)`), in
/// PostgreSQL's single-key space, which never overlaps the two-key one.
const COMPACT_LOCK_NS: i32 = 0x5745_4654; // "WEFT"

const APPEND: &str = "
WITH doc AS (
    INSERT INTO documents AS d (name, last_seq, log_entries, log_bytes)
    VALUES ($1, $3, $3, $4)
    ON CONFLICT (name) DO UPDATE SET
        updated_at = now(),
        last_seq = d.last_seq + $3,
        log_entries = d.log_entries + $3,
        log_bytes = d.log_bytes + $4
    RETURNING id, last_seq, log_entries, log_bytes
), ins AS (
    INSERT INTO updates (doc_id, seq, data)
    SELECT doc.id, doc.last_seq - $3 + u.ord, u.data
    FROM doc, unnest($2::bytea[]) WITH ORDINALITY AS u(data, ord)
)
SELECT log_entries, log_bytes, last_seq,
       CASE WHEN $5::text <> '' THEN
           pg_notify('weft_updates', $5::text || ' ' || last_seq || ' ' || $1::text)
       END
FROM doc";

const LOAD: &str = "
WITH d AS (SELECT id FROM documents WHERE name = $1),
     s AS (SELECT upto_seq, data FROM snapshots WHERE doc_id = (SELECT id FROM d))
SELECT 0 AS part, upto_seq AS seq, data FROM s
UNION ALL
SELECT 1, seq, data FROM updates
WHERE doc_id = (SELECT id FROM d) AND seq > COALESCE((SELECT upto_seq FROM s), 0)
ORDER BY part, seq";

const META_SELECT: &str = "SELECT d.name,
        (extract(epoch FROM d.created_at) * 1000)::bigint,
        (extract(epoch FROM d.updated_at) * 1000)::bigint,
        d.log_bytes + COALESCE((SELECT octet_length(s.data) FROM snapshots s WHERE s.doc_id = d.id), 0),
        d.log_entries
    FROM documents d";

fn meta_row(r: &tokio_postgres::Row) -> DocMeta {
    DocMeta {
        name: r.get(0),
        created_ms: r.get(1),
        updated_ms: r.get(2),
        stored_bytes: r.get::<_, i64>(3) as u64,
        log_entries: r.get::<_, i64>(4) as u64,
    }
}

const VERSION_SELECT: &str = "SELECT v.id, (extract(epoch FROM v.created_at) * 1000)::bigint,
        v.kind, v.label, octet_length(v.data)::bigint
    FROM versions v JOIN documents d ON d.id = v.doc_id";

fn version_row(r: &tokio_postgres::Row) -> VersionMeta {
    VersionMeta {
        id: r.get(0),
        created_ms: r.get(1),
        kind: VersionKind::parse(r.get(2)),
        label: r.get(3),
        size_bytes: r.get::<_, i64>(4) as u64,
    }
}

/// The snapshot's position (kind 0, no data) and the log entries after `$2`, in one
/// consistent read.
const READ_AFTER: &str = "
WITH d AS (SELECT id FROM documents WHERE name = $1)
SELECT 0 AS kind, upto_seq AS seq, NULL::bytea AS data FROM snapshots WHERE doc_id = (SELECT id FROM d)
UNION ALL
SELECT 1, seq, data FROM updates WHERE doc_id = (SELECT id FROM d) AND seq > $2
ORDER BY kind, seq";

impl PostgresStore {
    /// Connects, applies pending migrations, and refuses a schema newer than this binary.
    pub async fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let target = settings.target("weft")?;
        migrate(&target).await?;
        let manager = Manager::from_config(
            target.config,
            target.tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .build()
            .map_err(|e| StoreError::Database(format!("invalid pool settings: {e}")))?;
        Ok(PostgresStore {
            appends: appender::start(pool.clone()),
            pool,
            notify_as: "".into(),
        })
    }

    /// Announces every commit to the other nodes of a cluster as `node` (see `cluster`).
    pub fn notify_as(mut self, node: &str) -> Self {
        self.notify_as = node.into();
        self
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Loads parts and returns the last log position they include.
    async fn load_parts(
        client: &impl deadpool_postgres::GenericClient,
        doc: &DocName,
    ) -> Result<(Stored, i64), StoreError> {
        let stmt = client.prepare_cached(LOAD).await.map_err(pg_err)?;
        let rows = client
            .query(&stmt, &[&doc.as_str()])
            .await
            .map_err(pg_err)?;
        let mut stored = Stored::default();
        let mut last = 0i64;
        for row in rows {
            let part: i32 = row.get(0);
            let seq: i64 = row.get(1);
            let data: Vec<u8> = row.get(2);
            if part == 1 {
                stored.log.entries += 1;
                stored.log.bytes += data.len() as u64;
            }
            last = last.max(seq);
            stored.parts.push(Bytes::from(data));
        }
        stored.log.position = last.max(0) as u64;
        Ok((stored, last))
    }
}

/// The document's id, with its compaction lock held for the transaction; `None` if it does
/// not exist or another process is compacting it.
/// The document's row id, the row created if missing; the row stays locked until `txn` ends
/// (which orders version writers of one document).
async fn document_row(
    txn: &tokio_postgres::Transaction<'_>,
    doc: &DocName,
) -> Result<i64, StoreError> {
    Ok(txn
        .query_one(
            "INSERT INTO documents AS d (name) VALUES ($1)
             ON CONFLICT (name) DO UPDATE SET name = d.name RETURNING id",
            &[&doc.as_str()],
        )
        .await
        .map_err(pg_err)?
        .get(0))
}

async fn lock_for_compaction(
    txn: &tokio_postgres::Transaction<'_>,
    doc: &DocName,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = txn
        .query_opt("SELECT id FROM documents WHERE name = $1", &[&doc.as_str()])
        .await
        .map_err(pg_err)?
        .map(|r| r.get(0));
    let Some(id) = id else { return Ok(None) };
    let locked: bool = txn
        .query_one("SELECT pg_try_advisory_xact_lock($1::bigint)", &[&id])
        .await
        .map_err(pg_err)?
        .get(0);
    Ok(locked.then_some(id))
}

/// Stores `snapshot` as covering the log up to `upto` and removes those entries; nothing if a
/// snapshot already covers as much.
async fn put_snapshot(
    txn: &tokio_postgres::Transaction<'_>,
    id: i64,
    upto: i64,
    snapshot: &[u8],
) -> Result<Compacted, StoreError> {
    let stored = txn
        .execute(
            "INSERT INTO snapshots (doc_id, upto_seq, data) VALUES ($1, $2, $3)
             ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data,
                 updated_at = now()
             WHERE snapshots.upto_seq < excluded.upto_seq",
            &[&id, &upto, &snapshot],
        )
        .await
        .map_err(pg_err)?;
    if stored == 0 {
        return Ok(Compacted::default()); // another compaction got further already
    }
    let merged = txn
        .query_one(
            "WITH gone AS (DELETE FROM updates WHERE doc_id = $1 AND seq <= $2 RETURNING data)
             SELECT COUNT(*), COALESCE(SUM(octet_length(data)), 0)::bigint FROM gone",
            &[&id, &upto],
        )
        .await
        .map_err(pg_err)?;
    txn.execute(
        "UPDATE documents SET
            log_entries = (SELECT COUNT(*) FROM updates WHERE doc_id = $1),
            log_bytes = (SELECT COALESCE(SUM(octet_length(data)), 0) FROM updates WHERE doc_id = $1)
         WHERE id = $1",
        &[&id],
    )
    .await
    .map_err(pg_err)?;
    Ok(Compacted {
        merged_entries: merged.get::<_, i64>(0) as u64,
        merged_bytes: merged.get::<_, i64>(1) as u64,
        snapshot_bytes: snapshot.len() as u64,
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self, doc: &DocName) -> Result<Stored, StoreError> {
        let client = self.client().await?;
        Ok(Self::load_parts(&client, doc).await?.0)
    }

    async fn append(&self, doc: &DocName, updates: Vec<Bytes>) -> Result<LogStats, StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.appends
            .send(appender::Append {
                doc: doc.clone(),
                updates,
                notify_as: self.notify_as.clone(),
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn compact(&self, doc: &DocName) -> Result<Compacted, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg_err)?;
        let Some(id) = lock_for_compaction(&txn, doc).await? else {
            return Ok(Compacted::default());
        };
        let (stored, upto) = Self::load_parts(&txn, doc).await?;
        if stored.log.entries == 0 {
            return Ok(Compacted::default());
        }
        let parts = stored.parts;
        let name = doc.clone();
        let snapshot = tokio::task::spawn_blocking(move || weft_crdt::snapshot::compact(&parts))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
            .map_err(|source| StoreError::Corrupt { doc: name, source })?;
        let done = put_snapshot(&txn, id, upto, &snapshot).await?;
        txn.commit().await.map_err(pg_err)?;
        Ok(done)
    }

    async fn replace_log(
        &self,
        doc: &DocName,
        snapshot: Vec<u8>,
        upto: u64,
    ) -> Result<Compacted, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg_err)?;
        let Some(id) = lock_for_compaction(&txn, doc).await? else {
            return Ok(Compacted::default());
        };
        let done = put_snapshot(&txn, id, upto as i64, &snapshot).await?;
        txn.commit().await.map_err(pg_err)?;
        Ok(done)
    }

    async fn create(&self, doc: &DocName) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO documents (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&doc.as_str()],
            )
            .await
            .map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DocMeta>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "{META_SELECT} WHERE d.name COLLATE \"C\" > $1 AND left(d.name, char_length($2)) = $2
                     ORDER BY d.name COLLATE \"C\" LIMIT $3"
                ),
                &[&after.unwrap_or(""), &prefix, &(limit as i64)],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows.iter().map(meta_row).collect())
    }

    async fn meta(&self, doc: &DocName) -> Result<Option<DocMeta>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("{META_SELECT} WHERE d.name = $1"),
                &[&doc.as_str()],
            )
            .await
            .map_err(pg_err)?;
        Ok(row.as_ref().map(meta_row))
    }

    async fn delete(&self, doc: &DocName) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM documents WHERE name = $1", &[&doc.as_str()])
            .await
            .map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn version_head(&self, doc: &DocName) -> Result<Option<VersionHead>, StoreError> {
        versions::head(self, doc).await
    }

    async fn put_version(
        &self,
        doc: &DocName,
        version: NewVersion,
        after: Option<i64>,
        keep: usize,
    ) -> Result<VersionMeta, StoreError> {
        versions::put(self, doc, version, after, keep).await
    }

    async fn copy_version(
        &self,
        doc: &DocName,
        meta: &VersionMeta,
        version: NewVersion,
    ) -> Result<bool, StoreError> {
        versions::copy(self, doc, meta, version).await
    }

    async fn versions(&self, doc: &DocName) -> Result<Vec<VersionMeta>, StoreError> {
        versions::list(self, doc).await
    }

    async fn version_parts(
        &self,
        doc: &DocName,
        id: i64,
    ) -> Result<Option<(VersionMeta, Vec<Bytes>)>, StoreError> {
        versions::parts(self, doc, id).await
    }

    async fn read_after(
        &self,
        doc: &DocName,
        position: u64,
    ) -> Result<Option<Vec<(u64, Bytes)>>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(READ_AFTER).await.map_err(pg_err)?;
        let rows = client
            .query(&stmt, &[&doc.as_str(), &(position as i64)])
            .await
            .map_err(pg_err)?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: i32 = row.get(0);
            let seq: i64 = row.get(1);
            if kind == 0 {
                // The snapshot covers entries after `position`: they are gone from the log.
                if seq as u64 > position {
                    return Ok(None);
                }
                continue;
            }
            entries.push((seq as u64, Bytes::from(row.get::<_, Vec<u8>>(2))));
        }
        Ok(Some(entries))
    }

    async fn revoke_token(&self, token: &RevokedToken) -> Result<(), StoreError> {
        revoked::revoke(&self.client().await?, &self.notify_as, token).await
    }

    async fn revoked_tokens(&self) -> Result<Vec<RevokedToken>, StoreError> {
        revoked::list(&self.client().await?).await
    }

    async fn purge_revoked_tokens(&self) -> Result<u64, StoreError> {
        revoked::purge(&self.client().await?).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(pg_err)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
