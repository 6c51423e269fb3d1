//! Durable storage of documents: an append-only update log per document plus a compacted
//! snapshot. The document actor appends what it integrated and waits for the commit before it
//! broadcasts (see `doc::actor`); compaction runs beside it and never blocks it.
//!
//! Implementations: [`embedded::EmbeddedStore`] (SQLite, the zero-setup default) and
//! [`postgres::PostgresStore`] (`DATABASE_URL`). Both keep the same promise: `append` returns
//! only once the updates are durable.

pub mod embedded;
#[cfg(test)]
pub mod fake;
mod fold;
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

/// Size of a document's update log (what compaction would merge), and its position.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    pub entries: u64,
    pub bytes: u64,
    /// Position of the last entry ever appended to this document's log, in commit order
    /// (PostgreSQL; 0 where positions are not tracked). Cluster nodes catch up "after N".
    pub position: u64,
    /// Sequence number of the last entry this append stored: what [`Store::replace_log`]
    /// takes as `upto` once the caller's copy holds everything up to it.
    pub last_seq: u64,
}

/// What one compaction did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Compacted {
    pub merged_entries: u64,
    pub merged_bytes: u64,
    pub snapshot_bytes: u64,
}

/// What the store knows about one document (times in milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    pub name: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Stored bytes: the snapshot plus the log not yet compacted into it.
    pub stored_bytes: u64,
    pub log_entries: u64,
}

/// Why a version was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// After a period of activity, a number of updates, or the last session leaving.
    Auto,
    /// Asked for over the API (with a label).
    Manual,
    /// Taken right after a restore, of the restored state.
    Restore,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Auto => "auto",
            VersionKind::Manual => "manual",
            VersionKind::Restore => "restore",
        }
    }

    pub fn parse(s: &str) -> VersionKind {
        match s {
            "manual" => VersionKind::Manual,
            "restore" => VersionKind::Restore,
            _ => VersionKind::Auto,
        }
    }
}

/// One stored version (its content is read with [`Store::version_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    /// 1, 2, 3… per document, never reused.
    pub id: i64,
    pub created_ms: i64,
    pub kind: VersionKind,
    pub label: Option<String>,
    /// Bytes this version adds to the store.
    pub size_bytes: u64,
}

/// The newest version of a document: what the next one is a delta against.
#[derive(Debug, Clone)]
pub struct VersionHead {
    pub id: i64,
    pub state_vector: Vec<u8>,
    /// Versions stored since the last full one (0: the head is full).
    pub since_base: u32,
}

/// A version to store. Versions form chains: a *base* holds the full state, each later one the
/// change since the one before it (a Yjs update against the previous state vector), so a
/// version costs what changed, not the document's size.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub kind: VersionKind,
    pub label: Option<String>,
    pub base: bool,
    pub state_vector: Vec<u8>,
    pub data: Vec<u8>,
    /// When it was taken (ms since the Unix epoch); `None`: now. `weft copy` keeps the
    /// original's.
    pub created_ms: Option<i64>,
}

/// Why a store call failed. What matters to the caller is [`StoreError::is_retryable`]: a
/// store that cannot be reached or did not answer in time is retried with backoff; one that
/// refused the operation for good (a constraint, a schema mismatch, data that does not read
/// back) is refused and logged, since the same call would fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store refused the operation, for good: retrying it fails the same way.
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
    /// The store cannot be reached or did not answer in time (connection lost or refused,
    /// timeout, pool exhausted, database busy or locked, server shutting down): retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// `put_version` found another version stored since the head it was computed against.
    #[error("another version was stored meanwhile")]
    VersionRace,
}

impl StoreError {
    /// Whether the same call may succeed later (so it is retried, with backoff).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::VersionRace)
    }
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

    /// Compaction from a live copy: stores `snapshot`, the document with every log entry up to
    /// `upto` (a [`LogStats::last_seq`]) merged in and nothing else, and removes those entries,
    /// atomically. Does nothing if a snapshot already covers `upto`. The document actor calls
    /// this with its own state, which costs one encode instead of reading and replaying the log.
    async fn replace_log(
        &self,
        doc: &DocName,
        snapshot: Vec<u8>,
        upto: u64,
    ) -> Result<Compacted, StoreError>;

    /// Creates an empty document; `false` if it already exists.
    async fn create(&self, doc: &DocName) -> Result<bool, StoreError>;

    /// Documents whose name starts with `prefix`, by name, after `after`, at most `limit`.
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DocMeta>, StoreError>;

    /// One document's metadata; `None` if it was never stored.
    async fn meta(&self, doc: &DocName) -> Result<Option<DocMeta>, StoreError>;

    /// Removes every stored trace of the document (log, snapshot, versions); `false` if
    /// there was none.
    async fn delete(&self, doc: &DocName) -> Result<bool, StoreError>;

    /// The newest version, if any.
    async fn version_head(&self, doc: &DocName) -> Result<Option<VersionHead>, StoreError>;

    /// Stores a version on top of `after` (the head it was computed against;
    /// [`StoreError::VersionRace`] if that is no longer the head), then keeps only the newest
    /// `keep`, folding the oldest into the next so chains stay whole.
    async fn put_version(
        &self,
        doc: &DocName,
        version: NewVersion,
        after: Option<i64>,
        keep: usize,
    ) -> Result<VersionMeta, StoreError>;

    /// A document's versions, newest first.
    async fn versions(&self, doc: &DocName) -> Result<Vec<VersionMeta>, StoreError>;

    /// A version and the parts that rebuild it, in apply order (its base, then the deltas up
    /// to it); `None` if there is no such version.
    async fn version_parts(
        &self,
        doc: &DocName,
        id: i64,
    ) -> Result<Option<(VersionMeta, Vec<Bytes>)>, StoreError>;

    /// Log entries committed after `position`, in order, with their positions: how a
    /// cluster node catches up with what other nodes committed. `None` when entries after
    /// `position` were compacted away (the caller reloads the whole document instead).
    /// Stores without positions (single node) have nothing to catch up.
    async fn read_after(
        &self,
        _doc: &DocName,
        _position: u64,
    ) -> Result<Option<Vec<(u64, Bytes)>>, StoreError> {
        Ok(Some(Vec::new()))
    }

    /// Checks that the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// A short name for logs: `embedded`, `postgres`.
    fn kind(&self) -> &'static str;
}
