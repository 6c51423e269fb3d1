//! The PostgreSQL store (`DATABASE_URL`): tokio-postgres over a deadpool pool, schema from the
//! SQL files in `migrations/` applied by refinery.
//!
//! - **append** is one statement: it bumps the document's `last_seq` (taking its row lock, so
//!   positions are commit-ordered per document) and inserts every pending update with
//!   `unnest`, in one round trip and one commit.
//! - **load** is one statement too, so it sees one consistent state even while a compaction
//!   commits: the snapshot plus every log entry after the position it covers.
//! - **compact** runs in one transaction holding a per-document advisory lock (two Weft
//!   processes never compact the same document at once), merges off the async threads, and
//!   deletes exactly the entries it merged.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use weft_crdt::DocName;

use super::{Compacted, LogStats, Store, StoreError, Stored};

mod embedded_migrations {
    refinery::embed_migrations!("../migrations");
}

/// Pool and timeout settings (from the configuration).
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

pub struct PostgresStore {
    pool: Pool,
}

fn pg_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Advisory lock namespace for compaction (`pg_try_advisory_xact_lock(NS, doc_id)`).
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
SELECT log_entries, log_bytes FROM doc";

const LOAD: &str = "
WITH d AS (SELECT id FROM documents WHERE name = $1),
     s AS (SELECT upto_seq, data FROM snapshots WHERE doc_id = (SELECT id FROM d))
SELECT 0 AS part, upto_seq AS seq, data FROM s
UNION ALL
SELECT 1, seq, data FROM updates
WHERE doc_id = (SELECT id FROM d) AND seq > COALESCE((SELECT upto_seq FROM s), 0)
ORDER BY part, seq";

impl PostgresStore {
    /// Connects, applies pending migrations, and refuses a schema newer than this binary.
    pub async fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}")))?;
        config.connect_timeout(settings.connect_timeout);
        config.options(format!(
            "-c statement_timeout={}",
            settings.statement_timeout.as_millis()
        ));
        config.application_name("weft");
        migrate(&config).await?;
        let manager = Manager::from_config(
            config,
            NoTls,
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
            .map_err(pg_err)?;
        Ok(PostgresStore { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Database(format!("no database connection: {e}")))
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
        Ok((stored, last))
    }
}

/// Applies the embedded migrations on a dedicated connection.
pub async fn migrate(config: &tokio_postgres::Config) -> Result<usize, StoreError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?;
    let conn_task = tokio::spawn(connection);
    let report = embedded_migrations::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(&mut client)
        .await
        .map_err(|e| {
            StoreError::Database(format!(
                "database schema migration failed: {e}. If the database was migrated by a newer \
                 Weft, run that version (this binary does not know its schema)."
            ))
        })?;
    drop(client);
    let _ = conn_task.await;
    let applied = report.applied_migrations().len();
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(applied)
}

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self, doc: &DocName) -> Result<Stored, StoreError> {
        let client = self.client().await?;
        Ok(Self::load_parts(&client, doc).await?.0)
    }

    async fn append(&self, doc: &DocName, updates: Vec<Bytes>) -> Result<LogStats, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(APPEND).await.map_err(pg_err)?;
        let count = updates.len() as i64;
        let bytes: i64 = updates.iter().map(|u| u.len() as i64).sum();
        let data: Vec<&[u8]> = updates.iter().map(|u| &u[..]).collect();
        let row = client
            .query_one(&stmt, &[&doc.as_str(), &data, &count, &bytes])
            .await
            .map_err(pg_err)?;
        Ok(LogStats {
            entries: row.get::<_, i64>(0) as u64,
            bytes: row.get::<_, i64>(1) as u64,
        })
    }

    async fn compact(&self, doc: &DocName) -> Result<Compacted, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg_err)?;
        let id: Option<i64> = txn
            .query_opt("SELECT id FROM documents WHERE name = $1", &[&doc.as_str()])
            .await
            .map_err(pg_err)?
            .map(|r| r.get(0));
        let Some(id) = id else {
            return Ok(Compacted::default());
        };
        let locked: bool = txn
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1, $2::int)",
                &[&COMPACT_LOCK_NS, &(id as i32)],
            )
            .await
            .map_err(pg_err)?
            .get(0);
        if !locked {
            return Ok(Compacted::default()); // another process is compacting it
        }
        let (stored, upto) = Self::load_parts(&txn, doc).await?;
        if stored.log.entries == 0 {
            return Ok(Compacted::default());
        }
        let parts = stored.parts;
        let name = doc.clone();
        let snapshot = tokio::task::spawn_blocking(move || weft_crdt::snapshot::compact(&parts))
            .await
            .map_err(pg_err)?
            .map_err(|source| StoreError::Corrupt { doc: name, source })?;
        txn.execute(
            "INSERT INTO snapshots (doc_id, upto_seq, data) VALUES ($1, $2, $3)
             ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data,
                 updated_at = now()
             WHERE snapshots.upto_seq < excluded.upto_seq",
            &[&id, &upto, &snapshot],
        )
        .await
        .map_err(pg_err)?;
        txn.execute(
            "DELETE FROM updates WHERE doc_id = $1 AND seq <= $2",
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
        txn.commit().await.map_err(pg_err)?;
        Ok(Compacted {
            merged_entries: stored.log.entries,
            merged_bytes: stored.log.bytes,
            snapshot_bytes: snapshot.len() as u64,
        })
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
