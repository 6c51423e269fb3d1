//! `weft export` and `weft import`: a document's content in and out of the store, without a
//! server (for scripts and backups). The content conversions are the API's
//! (`weft_crdt::content::convert`); an import is one update appended to the document's log, and
//! a replace first stores a version of what it replaces.
//!
//! A running server keeps loaded documents in memory, so an import into the embedded store is
//! refused while a server holds it (see `store::dir_lock`): the REST API
//! (`PUT /api/v1/documents/NAME/content`) is the way to write then, and it shows the change to
//! open editors at once. PostgreSQL has no such lock: import offline only while no server has
//! the document open (a server compacts from its own copy and would fold the entry away), and
//! use the REST API otherwise. An export only reads and works beside a running server.

use std::path::PathBuf;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::ValueEnum;
use weft_crdt::content::convert;
use weft_crdt::content::{Format, Mode};
use weft_crdt::DocName;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Transact};

use crate::config::StoreArgs;
use crate::store::{Store, StoreError, VersionKind};

/// What `--type` reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContentType {
    Markdown,
    Html,
    Prosemirror,
    /// Plain text of a `Y.Text` (`--key` names it).
    Text,
    /// The whole document as one Yjs v1 update (binary).
    Update,
}

impl ContentType {
    fn format(self) -> Option<Format> {
        match self {
            ContentType::Markdown => Some(Format::Markdown),
            ContentType::Html => Some(Format::Html),
            ContentType::Prosemirror => Some(Format::ProseMirror),
            ContentType::Text => Some(Format::Text),
            ContentType::Update => None,
        }
    }
}

/// `weft export NAME --type markdown|html|prosemirror|text|update [--key K] [-o FILE]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The document's name.
    pub name: String,
    /// Format to write.
    #[arg(long = "type", env = "WEFT_CONTENT_TYPE", value_enum)]
    pub kind: ContentType,
    /// The root type to read (Tiptap's field; for `--type text`, the Y.Text).
    #[arg(long, env = "WEFT_CONTENT_KEY", default_value = "default")]
    pub key: String,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long, env = "WEFT_EXPORT_OUTPUT")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `weft import NAME FILE --type markdown|html|prosemirror|text|update [--key K] [--append]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The document's name (created if missing).
    pub name: String,
    /// File to read (`-` for standard input).
    pub file: PathBuf,
    /// Format of the file.
    #[arg(long = "type", env = "WEFT_CONTENT_TYPE", value_enum)]
    pub kind: ContentType,
    /// The root type to write (Tiptap's field; for `--type text`, the Y.Text).
    #[arg(long, env = "WEFT_CONTENT_KEY", default_value = "default")]
    pub key: String,
    /// Add the content after what the field holds instead of replacing it.
    #[arg(long, env = "WEFT_IMPORT_APPEND", default_value_t = false)]
    pub append: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Opens the store, turning "locked" into what to do about it.
async fn open(args: &StoreArgs) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    crate::open_store(args)
        .await
        .map_err(|e| locked_hint(args, e.to_string()))
}

fn locked_hint(args: &StoreArgs, error: String) -> anyhow::Error {
    if args.pg.database_url.is_none() && error.contains("locked") {
        anyhow::anyhow!(
            "the embedded store in {} is locked, most likely by a running weft server: \
             stop it, or use the REST API instead (GET or PUT \
             /api/v1/documents/NAME/content?type=markdown) ({error})",
            args.data_dir.display()
        )
    } else {
        anyhow::anyhow!("{error}")
    }
}

fn store_error(args: &StoreArgs, e: StoreError) -> anyhow::Error {
    locked_hint(args, e.to_string())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs `weft export`.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let name = DocName::parse(&args.name).context("invalid document name")?;
    let out = runtime()?.block_on(async {
        let store = open(&args.store).await?;
        if store
            .meta(&name)
            .await
            .map_err(|e| store_error(&args.store, e))?
            .is_none()
        {
            bail!("no document named {:?} in this store", name.as_str());
        }
        let stored = store
            .load(&name)
            .await
            .map_err(|e| store_error(&args.store, e))?;
        let doc = weft_crdt::snapshot::rebuild(&stored.parts)?;
        Ok(match args.kind.format() {
            None => doc
                .transact()
                .encode_state_as_update_v1(&yrs::StateVector::default()),
            Some(format) => convert::export(&doc, &args.key, format)?.into_bytes(),
        })
    })?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &out).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            Ok(())
        }
    }
}

/// Runs `weft import`.
pub fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let store_args = &args.store;
    let name = DocName::parse(&args.name).context("invalid document name")?;
    let body = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let mode = if args.append {
        Mode::Append
    } else {
        Mode::Replace
    };
    // Never beside a running server on the same embedded store (see store::dir_lock).
    let _dir_lock = match &store_args.pg.database_url {
        None => Some(
            crate::store::dir_lock::lock(&store_args.data_dir).map_err(|e| {
                anyhow::anyhow!(
                "{e}: stop it, or import through its REST API instead, which also shows the change \
                 to open editors at once: curl -X PUT --data-binary @FILE \
                 'http://HOST:PORT/api/v1/documents/NAME/content?type=markdown'"
            )
            })?,
        ),
        Some(_) => None,
    };
    runtime()?.block_on(async {
        let store = open(store_args).await?;
        let fail = |e| store_error(store_args, e);
        let created = store.create(&name).await.map_err(fail)?;
        let stored = store.load(&name).await.map_err(fail)?;
        let doc = weft_crdt::snapshot::rebuild(&stored.parts)?;
        let update = match args.kind.format() {
            None => {
                weft_crdt::codec::decode_update(&body)
                    .context("the file is not a Yjs v1 update")?;
                body
            }
            Some(format) => {
                let text = String::from_utf8(body).context("the file is not UTF-8 text")?;
                convert::import(&doc, &args.key, format, &text, mode)?
            }
        };
        if mode == Mode::Replace && !created && args.kind != ContentType::Update {
            // What is replaced stays reachable, as with the API.
            let txn = doc.transact();
            let state = txn.encode_state_as_update_v1(&yrs::StateVector::default());
            let sv = txn.state_vector().encode_v1();
            drop(txn);
            crate::doc::versions::save(
                &*store,
                &name,
                state,
                sv,
                VersionKind::Auto,
                Some("before content import".into()),
                usize::MAX,
            )
            .await
            .map_err(fail)?;
        }
        store
            .append(&name, vec![Bytes::from(update)])
            .await
            .map_err(fail)?;
        eprintln!(
            "{} {:?}{}",
            if created { "created" } else { "updated" },
            name.as_str(),
            if store_args.pg.database_url.is_some() {
                " (while weft servers run, import through their REST API instead: \
                 PUT /api/v1/documents/NAME/content)"
            } else {
                ""
            }
        );
        Ok(())
    })
}
