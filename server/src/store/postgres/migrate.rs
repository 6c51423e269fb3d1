//! The PostgreSQL schema: the SQL files in `migrations/`, embedded in the binary and applied by
//! refinery under an advisory lock, so nodes starting together migrate once.

use super::{tls, PgTarget, COMPACT_LOCK_NS};
use crate::store::StoreError;

mod embedded_migrations {
    refinery::embed_migrations!("../migrations");
}

/// Applies the embedded migrations on a dedicated connection.
pub async fn migrate(target: &PgTarget) -> Result<usize, StoreError> {
    let (mut client, connection) =
        target
            .config
            .connect(target.tls.clone())
            .await
            .map_err(|e| {
                StoreError::Database(format!(
                    "cannot connect to PostgreSQL: {}",
                    tls::explain(&e)
                ))
            })?;
    let conn_task = tokio::spawn(connection);
    // Nodes of a cluster often start together: one migrates, the others wait for it and then
    // find nothing left to do (refinery alone would race on its own bookkeeping table).
    client
        .execute("SELECT pg_advisory_lock($1, 1)", &[&COMPACT_LOCK_NS])
        .await
        .map_err(|e| StoreError::Database(format!("cannot take the migration lock: {e}")))?;
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
