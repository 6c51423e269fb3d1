//! Group commit for PostgreSQL: every document's appends go through one task, which commits
//! whatever is queued when it comes round in one transaction (statements pipelined on one
//! connection), so a hundred busy documents cost one commit, one WAL flush and one pass through
//! NOTIFY's commit-time lock per batch instead of one each, and do not queue for the pool.
//!
//! A batch is ordered by document name, so two nodes committing overlapping batches take the
//! documents' row locks in the same order and cannot deadlock. If a batch fails, its appends
//! are committed one by one, so one bad request fails only itself.

use std::sync::Arc;

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Pool};
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Row, Statement};
use weft_crdt::DocName;

use super::{pg_err, pool_err, APPEND};
use crate::store::{LogStats, StoreError};

/// Most appends in one transaction.
const MAX_BATCH: usize = 256;
/// Appends waiting for the task; senders wait when it is full.
const QUEUE: usize = 4096;

pub(super) struct Append {
    pub doc: DocName,
    pub updates: Vec<Bytes>,
    /// Node id for `NOTIFY weft_updates` (empty: none).
    pub notify_as: Arc<str>,
    pub reply: oneshot::Sender<Result<LogStats, StoreError>>,
}

/// Starts the task on the current runtime; it ends when every sender is dropped.
pub(super) fn start(pool: Pool) -> mpsc::Sender<Append> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(pool, rx));
    tx
}

async fn run(pool: Pool, mut rx: mpsc::Receiver<Append>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(append) => batch.push(append),
                Err(_) => break,
            }
        }
        // Stable: one document's appends (one per node at a time anyway) keep their order.
        batch.sort_by(|a, b| a.doc.as_str().cmp(b.doc.as_str()));
        match commit(&pool, &batch).await {
            Ok(stats) => {
                for (append, stats) in batch.into_iter().zip(stats) {
                    let _ = append.reply.send(Ok(stats));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch.remove(0).reply.send(Err(e));
            }
            // The database is unreachable: one by one would only wait out the same outage
            // once per append. Every requester retries on its own schedule.
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, appends = batch.len(), "group commit failed; the store is unavailable");
                for append in batch {
                    let _ = append
                        .reply
                        .send(Err(StoreError::Unavailable(e.to_string())));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, appends = batch.len(), "group commit failed; committing one by one");
                for append in batch {
                    let result = commit(&pool, std::slice::from_ref(&append))
                        .await
                        .map(|mut s| s.remove(0));
                    let _ = append.reply.send(result);
                }
            }
        }
    }
}

/// Commits `batch` in one transaction (a single append is one statement, its own transaction).
async fn commit(pool: &Pool, batch: &[Append]) -> Result<Vec<LogStats>, StoreError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let stmt = client.prepare_cached(APPEND).await.map_err(pg_err)?;
    let params: Vec<(Vec<&[u8]>, i64, i64)> = batch
        .iter()
        .map(|a| {
            let data: Vec<&[u8]> = a.updates.iter().map(|u| &u[..]).collect();
            let bytes = a.updates.iter().map(|u| u.len() as i64).sum();
            (data, a.updates.len() as i64, bytes)
        })
        .collect();
    let rows = if batch.len() > 1 {
        let txn = client.transaction().await.map_err(pg_err)?;
        let rows = run_all(&txn, &stmt, batch, &params).await?;
        txn.commit().await.map_err(pg_err)?;
        rows
    } else {
        run_all(&client, &stmt, batch, &params).await?
    };
    Ok(rows
        .iter()
        .map(|row| LogStats {
            entries: row.get::<_, i64>(0) as u64,
            bytes: row.get::<_, i64>(1) as u64,
            position: row.get::<_, i64>(2) as u64,
            last_seq: row.get::<_, i64>(2) as u64,
        })
        .collect())
}

/// Sends every append's statement at once (pipelined on the connection) and waits for all.
async fn run_all(
    client: &impl GenericClient,
    stmt: &Statement,
    batch: &[Append],
    params: &[(Vec<&[u8]>, i64, i64)],
) -> Result<Vec<Row>, StoreError> {
    try_join_all(batch.iter().zip(params).map(|(a, (data, count, bytes))| {
        let notify: &str = &a.notify_as;
        let doc = a.doc.as_str();
        async move {
            client
                .query_one(stmt, &[&doc, data, count, bytes, &notify])
                .await
        }
    }))
    .await
    .map_err(pg_err)
}
