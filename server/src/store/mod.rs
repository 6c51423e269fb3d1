//! Durable storage of documents: an append-only update log per document plus a compacted
//! snapshot. The document actor appends what it integrated and waits for the commit before it
//! broadcasts (see `doc::actor`); compaction runs beside it and never blocks it.
//!
//! Implementations: [`embedded::EmbeddedStore`] (SQLite, the zero-setup default) and
//! [`postgres::PostgresStore`] (`DATABASE_URL`). Both keep the same promise: `append` returns
//! only once the updates are durable.

pub mod embedded;
pub mod postgres;

use async_trait::async_trait;
use bytes::Bytes;
use weft_crdt::{DocName, SnapshotError};

pub use embedded::EmbeddedStore;
pub use postgres::{PgSettings, PostgresStore};

/// Everything stored for one document, in apply order: the snapshot (if any) then the log.
#[derive(Debug, Default)]
pub struct Stored {
    pub parts: Vec<Bytes>,
    pub log: LogStats,
}

/// Size of a document's update log (what compaction would merge).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    pub entries: u64,
    pub bytes: u64,
}

/// What one compaction did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Compacted {
    pub merged_entries: u64,
    pub merged_bytes: u64,
    pub snapshot_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data of document {doc} is corrupt: {source}")]
    Corrupt {
        doc: DocName,
        #[source]
        source: SnapshotError,
    },
    #[error("the store is shutting down")]
    Closed,
}

/// A document store. Every method is safe to call concurrently for different documents; for
/// one document, appends come from its single actor, in order.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Loads a document (an unknown document is an empty `Stored`, not an error).
    async fn load(&self, doc: &DocName) -> Result<Stored, StoreError>;

    /// Appends updates to the document's log in one durable commit; returns the log's new size.
    async fn append(&self, doc: &DocName, updates: Vec<Bytes>) -> Result<LogStats, StoreError>;

    /// Merges the log into the snapshot and removes the merged entries, atomically.
    async fn compact(&self, doc: &DocName) -> Result<Compacted, StoreError>;

    /// Checks that the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// A short name for logs: `embedded`, `postgres`.
    fn kind(&self) -> &'static str;
}
