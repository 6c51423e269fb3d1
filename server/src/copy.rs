//! `weft copy`: moves documents between stores (the embedded store and PostgreSQL, either
//! way), through the [`Store`] trait only.
//!
//! For each document, by name:
//!
//! ```text
//! source: load → rebuild ─┐                     destination: load → rebuild (what is there)
//!                         ├─ covered already? ── skip (a resumed copy)
//!                         ├─ versions the destination lacks, oldest first, with their times
//!                         ├─ the state the destination lacks, as one update (create if empty)
//!                         └─ reload the destination: its state vector must equal the source's
//! ```
//!
//! Versions go first, the state last, so an interrupted copy is resumed by running it again:
//! a document counts as copied once its state is. Version ids are numbered anew at the
//! destination (1, 2, … for a fresh one); kinds, labels and times are kept. Nothing may write
//! to the destination meanwhile (stop its servers): their loaded documents would not see it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use weft_crdt::DocName;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::config::SyncMode;
use crate::store::{EmbeddedStore, NewVersion, PgSettings, PostgresStore, Store, StoreError};

/// A Yjs v1 update with nothing in it (no structs, no deletions).
const EMPTY_UPDATE: &[u8] = &[0, 0];

/// Names listed per page of the source.
const PAGE: u32 = 500;

#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// Source: the data folder of an embedded store, or a PostgreSQL URL (postgres://…).
    #[arg(long, env = "WEFT_COPY_FROM", hide_env_values = true)]
    pub from: String,

    /// Destination: a data folder (created if missing) or a PostgreSQL URL. Stop the servers that use it first.
    #[arg(long, env = "WEFT_COPY_TO", hide_env_values = true)]
    pub to: String,

    /// Copy only documents whose name starts with this.
    #[arg(long, env = "WEFT_COPY_PREFIX", default_value = "")]
    pub prefix: String,

    /// CA certificates (PEM file) for a PostgreSQL URL with sslmode=verify-ca/verify-full (see `weft serve --help`).
    #[arg(long, env = "WEFT_PG_SSLROOTCERT")]
    pub pg_sslrootcert: Option<PathBuf>,
}

/// Which end of the copy a store is: a source's folder must exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// The store `location` names: a PostgreSQL URL, else an embedded store's folder.
pub async fn open(
    location: &str,
    sslrootcert: Option<&Path>,
    side: Side,
) -> Result<Arc<dyn Store>, StoreError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        let settings = PgSettings {
            sslrootcert: sslrootcert.map(Path::to_path_buf),
            ..PgSettings::new(location)
        };
        return Ok(Arc::new(PostgresStore::connect(&settings).await?));
    }
    let dir = Path::new(location);
    if side == Side::Source && !dir.is_dir() {
        return Err(StoreError::Database(format!(
            "no embedded store at {location}: give its data folder (the server's --data-dir) or a \
             postgres:// URL"
        )));
    }
    Ok(Arc::new(EmbeddedStore::open(dir, SyncMode::Full)?))
}

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copied (or completed), with this many versions and update bytes written.
    Copied { versions: usize, bytes: u64 },
    /// The destination already holds everything the source has.
    Skipped,
    /// Not copied, or not verified: why.
    Failed(String),
}

/// What the whole copy did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub copied: usize,
    pub skipped: usize,
    pub versions: usize,
    pub bytes: u64,
    pub failed: Vec<(String, String)>,
}

/// Copies every document whose name starts with `prefix`; `progress` hears of each one as it
/// is done (its index from 1, the total, its name and outcome). Fails only if the source cannot
/// be listed; a document that cannot be copied is reported and the others go on.
pub async fn copy(
    from: &dyn Store,
    to: &dyn Store,
    prefix: &str,
    mut progress: impl FnMut(usize, usize, &str, &Outcome),
) -> Result<Report, StoreError> {
    let names = list_all(from, prefix).await?;
    let mut report = Report::default();
    for (i, name) in names.iter().enumerate() {
        let outcome = match DocName::parse(name) {
            Ok(doc) => copy_one(from, to, &doc)
                .await
                .unwrap_or_else(|e| Outcome::Failed(e.to_string())),
            Err(e) => Outcome::Failed(format!("invalid name: {e}")),
        };
        match &outcome {
            Outcome::Copied { versions, bytes } => {
                report.copied += 1;
                report.versions += versions;
                report.bytes += bytes;
            }
            Outcome::Skipped => report.skipped += 1,
            Outcome::Failed(why) => report.failed.push((name.clone(), why.clone())),
        }
        progress(i + 1, names.len(), name, &outcome);
    }
    Ok(report)
}

async fn list_all(store: &dyn Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    loop {
        let page = store
            .list(prefix, names.last().map(String::as_str), PAGE)
            .await?;
        let done = page.len() < PAGE as usize;
        names.extend(page.into_iter().map(|m| m.name));
        if done {
            return Ok(names);
        }
    }
}

/// Why one document could not be copied.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored data does not read back: {0}")]
    Corrupt(#[from] weft_crdt::SnapshotError),
    #[error("after the copy, the destination's state vector differs from the source's")]
    Differs,
}

async fn copy_one(from: &dyn Store, to: &dyn Store, doc: &DocName) -> Result<Outcome, CopyError> {
    let source = rebuild(&from.load(doc).await?.parts)?;
    let source_sv = source.transact().state_vector();
    let mut versions = from.versions(doc).await?;
    versions.reverse(); // oldest first
    let existing = to.meta(doc).await?.is_some();
    let there = rebuild(&to.load(doc).await?.parts)?;
    let there_sv = there.transact().state_vector();
    let there_versions = to.versions(doc).await?.len();
    if existing && covers(&there_sv, &source_sv) && there_versions >= versions.len() {
        return Ok(Outcome::Skipped);
    }

    // The versions the destination lacks (an interrupted copy wrote the first ones).
    let mut copied_versions = 0;
    for meta in versions.iter().skip(there_versions) {
        let Some((_, parts)) = from.version_parts(doc, meta.id).await? else {
            continue; // pruned meanwhile
        };
        let state_vector = rebuild(&parts)?.transact().state_vector().encode_v1();
        let version = NewVersion {
            kind: meta.kind,
            label: meta.label.clone(),
            // A version's own bytes are its last part; alone, it is a full state.
            base: parts.len() == 1,
            state_vector,
            data: parts.last().map(|p| p.to_vec()).unwrap_or_default(),
            created_ms: Some(meta.created_ms),
        };
        let head = to.version_head(doc).await?.map(|h| h.id);
        to.put_version(doc, version, head, usize::MAX).await?;
        copied_versions += 1;
    }

    // The state the destination lacks, as one update.
    to.create(doc).await?;
    let missing = source.transact().encode_diff_v1(&there_sv);
    let bytes = missing.len() as u64;
    if missing != EMPTY_UPDATE {
        to.append(doc, vec![Bytes::from(missing)]).await?;
    }

    let copied = rebuild(&to.load(doc).await?.parts)?;
    if copied.transact().state_vector() != source_sv {
        return Err(CopyError::Differs);
    }
    Ok(Outcome::Copied {
        versions: copied_versions,
        bytes,
    })
}

fn rebuild(parts: &[Bytes]) -> Result<Doc, weft_crdt::SnapshotError> {
    weft_crdt::snapshot::rebuild(parts)
}

/// Whether a peer at `have` already holds every update of a peer at `want`.
fn covers(have: &StateVector, want: &StateVector) -> bool {
    want.iter()
        .all(|(client, clock)| have.get(client) >= *clock)
}
