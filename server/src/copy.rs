//! `weft copy --from DATA_DIR_OR_URL --to DATA_DIR_OR_URL [--prefix P]`: moves documents
//! between stores (the embedded store to PostgreSQL when a team grows, or back), each with its
//! state and its versions, without a server.
//!
//! A `postgres://` or `postgresql://` argument names a PostgreSQL database, anything else an
//! embedded store folder; both are opened the way `weft serve` opens them (TLS settings
//! included). Embedded folders are locked first (`store::dir_lock`), so a copy never runs beside
//! a server writing them; PostgreSQL has no such lock, so stop the servers that use it first.
//!
//! Documents are copied `--jobs` at a time (`copy::document`): a rerun skips what is already there, so
//! an interrupted copy resumes. Progress goes to standard error (`copy::progress`), the report
//! to standard output; the exit status is non-zero when any document failed.

mod document;
mod progress;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use weft_crdt::DocName;

use crate::config::{PgArgs, StoreArgs, SyncMode};
use crate::store::Store;
use document::{Copied, CopyError};
use progress::{size, Progress};

/// Documents listed per store call.
const PAGE: u32 = 1000;
/// Attempts per document when a store is unreachable for a moment.
const ATTEMPTS: u32 = 3;

/// `weft copy --from A --to B [--prefix P]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// Where the documents are: an embedded store folder, or a PostgreSQL URL (postgres://…).
    #[arg(long, env = "WEFT_COPY_FROM", hide_env_values = true)]
    pub from: String,
    /// Where to copy them: an embedded store folder (created if missing), or a PostgreSQL URL (migrated first).
    #[arg(long, env = "WEFT_COPY_TO", hide_env_values = true)]
    pub to: String,
    /// Copy only the documents whose name starts with this.
    #[arg(long, env = "WEFT_COPY_PREFIX", default_value = "")]
    pub prefix: String,
    /// Documents copied at once (each waits mostly on the stores' round trips and commits).
    #[arg(long, env = "WEFT_COPY_JOBS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Without a terminal, print a progress line every this many documents.
    #[arg(long, env = "WEFT_COPY_PROGRESS_EVERY", default_value_t = 100)]
    pub progress_every: usize,
    /// Time allowed to open a PostgreSQL connection.
    #[arg(long, env = "WEFT_PG_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pg_connect_timeout: Duration,
    /// PostgreSQL statement_timeout for every statement.
    #[arg(long, env = "WEFT_PG_STATEMENT_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub pg_statement_timeout: Duration,
    /// CA certificates (PEM file) for sslmode=verify-ca/verify-full; an sslrootcert in the URL takes precedence.
    #[arg(long, env = "WEFT_PG_SSLROOTCERT")]
    pub pg_sslrootcert: Option<PathBuf>,
}

impl CopyArgs {
    /// The store configuration `weft serve` would use for `place`.
    fn store_args(&self, place: &str) -> StoreArgs {
        let postgres = place.starts_with("postgres://") || place.starts_with("postgresql://");
        StoreArgs {
            data_dir: PathBuf::from(if postgres { "." } else { place }),
            sqlite_sync: SyncMode::Full,
            pg: PgArgs {
                database_url: postgres.then(|| place.to_string()),
                pg_connect_timeout: self.pg_connect_timeout,
                pg_statement_timeout: self.pg_statement_timeout,
                pg_sslrootcert: self.pg_sslrootcert.clone(),
            },
            pg_pool_size: usize::from(self.jobs) + 1,
        }
    }
}

/// What the whole copy did.
#[derive(Debug, Default)]
struct Report {
    copied: u64,
    skipped: u64,
    versions: u64,
    versions_skipped: u64,
    bytes: u64,
    failed: Vec<(String, String)>,
    elapsed: Duration,
}

/// Runs `weft copy`.
pub fn run(args: &CopyArgs) -> anyhow::Result<()> {
    let from = args.store_args(&args.from);
    let to = args.store_args(&args.to);
    let same_folder = || match (
        std::fs::canonicalize(&from.data_dir),
        std::fs::canonicalize(&to.data_dir),
    ) {
        (Ok(a), Ok(b)) => a == b && from.pg.database_url.is_none() && to.pg.database_url.is_none(),
        _ => false,
    };
    if args.from == args.to || same_folder() {
        bail!("--from and --to name the same store: give --to another folder or database");
    }
    if from.pg.database_url.is_none() && !from.data_dir.join("weft.sqlite3").exists() {
        bail!(
            "no embedded store in {} (it has no weft.sqlite3): check --from",
            from.data_dir.display()
        );
    }
    // Held until the copy ends: no server may write either folder meanwhile.
    let _locks = (lock(&from, "--from")?, lock(&to, "--to")?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let source = open(&from, "--from", &args.from).await?;
        let dest = open(&to, "--to", &args.to).await?;
        copy_all(&*source, &*dest, args).await
    })?;
    println!(
        "copied {} document(s) ({} version(s), {}), skipped {} already there ({} version(s)), {} failed, in {:.1}s",
        report.copied,
        report.versions,
        size(report.bytes as f64),
        report.skipped,
        report.versions_skipped,
        report.failed.len(),
        report.elapsed.as_secs_f64()
    );
    for (name, reason) in &report.failed {
        println!("failed {name:?}: {reason}");
    }
    if !report.failed.is_empty() {
        bail!(
            "{} document(s) failed (listed above); fix the cause and run the same weft copy again: \
             documents already copied are skipped",
            report.failed.len()
        );
    }
    Ok(())
}

async fn copy_all(from: &dyn Store, to: &dyn Store, args: &CopyArgs) -> anyhow::Result<Report> {
    let names = list(from, &args.prefix).await?;
    let mut progress = Progress::new(names.len(), args.progress_every);
    let mut report = Report::default();
    let mut results = futures_util::stream::iter(names)
        .map(|raw| async move {
            let result = match DocName::parse(&raw) {
                Ok(name) => copy_one(from, to, &name).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("not a valid document name: {e}")),
            };
            (raw, result)
        })
        .buffer_unordered(usize::from(args.jobs));
    while let Some((raw, result)) = results.next().await {
        match result {
            Ok(copied) => {
                if copied.skipped() {
                    report.skipped += 1;
                } else {
                    report.copied += 1;
                }
                report.versions += copied.versions;
                report.versions_skipped += copied.versions_skipped;
                report.bytes += copied.bytes;
                progress.document_done(copied.bytes);
            }
            Err(reason) => {
                progress.say(&format!("failed {raw:?}: {reason}"));
                report.failed.push((raw, reason));
                progress.document_done(0);
            }
        }
    }
    progress.finish();
    report.failed.sort();
    report.elapsed = progress.elapsed();
    Ok(report)
}

/// One document, tried again while a store is unreachable for a moment.
async fn copy_one(from: &dyn Store, to: &dyn Store, name: &DocName) -> Result<Copied, CopyError> {
    let mut attempt = 1;
    loop {
        match document::copy(from, to, name).await {
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Every document name under `prefix`, in order.
async fn list(store: &dyn Store, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    loop {
        let page = store
            .list(prefix, names.last().map(String::as_str), PAGE)
            .await
            .context("cannot list the documents of --from")?;
        let full = page.len() == PAGE as usize;
        names.extend(page.into_iter().map(|m| m.name));
        if !full {
            return Ok(names);
        }
    }
}

fn lock(args: &StoreArgs, flag: &str) -> anyhow::Result<Option<crate::store::dir_lock::DirLock>> {
    if args.pg.database_url.is_some() {
        return Ok(None);
    }
    crate::store::dir_lock::lock(&args.data_dir)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{flag}: {e}: stop that server before copying"))
}

async fn open(args: &StoreArgs, flag: &str, place: &str) -> anyhow::Result<Arc<dyn Store>> {
    // A URL may hold a password: name only the kind of store then.
    let shown = match &args.pg.database_url {
        Some(_) => "(PostgreSQL)".to_string(),
        None => place.to_string(),
    };
    crate::open_store(args)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {flag} {shown}: {e}"))
}
