//! # Weft
//!
//! A Yjs sync server: any editor using the stock `y-websocket` provider connects to
//! `ws://HOST:PORT/ws/{document}` (and `@hocuspocus/provider` to `/hocuspocus`). Every document
//! is one actor task owning its `yrs` document; every update it integrates is committed to the
//! store **before** it is broadcast.
//!
//! It runs two ways: as the `weft` binary ([`run`], what `weft serve` calls), or **inside your
//! own actix-web application**, mounted under any path with your own authentication:
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use weft::{ServeArgs, Weft};
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let weft = Weft::builder()
//!         .settings(ServeArgs::for_data_dir("./collab-data"))
//!         // .authorize(MyAuth)  // your users instead of Weft tokens: see `Authorize`
//!         // .hooks(MyHooks)     // loaded / changed / unloaded: see `DocumentHooks`
//!         .build()
//!         .await?;
//!     HttpServer::new(move || {
//!         App::new()
//!             .route("/hello", web::get().to(|| async { "hello" }))
//!             // ws://127.0.0.1:8080/collab/ws/{document}, /collab/hocuspocus, /collab/api/v1/…
//!             .service(web::scope("/collab").configure(|cfg| weft.configure(cfg)))
//!     })
//!     .on_connect(weft::ws::on_connect) // bounded closes for clients that stop reading
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! [`embed`] is the guide to embedding (the builder, mounting, the [`Authorize`] and
//! [`DocumentHooks`] traits, an orderly shutdown with [`Weft::shutdown`]); `cargo run -p weft-server --example embed` runs a
//! complete application.
//!
//! ```text
//!  client ──frame──► ws::session ──[Inbound]──► doc::actor ──(1) commit──► store
//!                     (decode,                  (weft_crdt::Document       (group commit)
//!                      close codes)              → Effects)
//!                                                  └──(2) send──► every session's bounded queue ──► clients
//! ```
//!
//! Modules, in data-flow order: [`ws`] (upgrade, session loop, close codes), [`hocuspocus`]
//! (the Hocuspocus provider protocol on `/hocuspocus`, same actors), [`access`] (who may
//! connect: tokens or an [`Authorize`] hook, limits), [`doc`] (actor, handle, registry),
//! [`store`] (trait, embedded SQLite, PostgreSQL), [`cluster`] (several nodes on one
//! PostgreSQL), [`api`] (the document HTTP API),
//! [`webhooks`] and [`hooks`] (document events, over HTTP and in process), [`embed`] (the
//! builder), [`http`] (health, web client), [`config`] (flags and env), [`tls`] (native HTTPS /
//! `wss://`).
//!
//! [`run`] is the whole server as a function of (configuration, listener, shutdown signal):
//! `main` and the black-box tests both call it, and it is built on [`Weft::builder`].

pub mod access;
pub mod api;
pub mod cluster;
pub mod config;
pub mod copy;
pub mod doc;
pub mod embed;
pub mod hocuspocus;
pub mod hooks;
pub mod http;
pub mod metrics;
pub mod store;
pub mod tls;
pub mod webhooks;
pub mod ws;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use crate::access::{Authorize, Decision, DenyStatus};
pub use crate::config::ServeArgs;
pub use crate::doc::Registry;
pub use crate::embed::{Weft, WeftBuilder};
pub use crate::hooks::DocumentHooks;
pub use crate::store::Store;
/// The attribute the [`Authorize`] and [`DocumentHooks`] implementations need.
pub use async_trait::async_trait;
pub use weft_crdt::DocName;

use crate::config::StoreArgs;
use crate::store::{EmbeddedStore, PgSettings, PostgresStore};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Opens the store the configuration names (PostgreSQL with a database URL, else embedded).
pub async fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, ServeError> {
    Ok(match &args.pg.database_url {
        Some(url) => Arc::new(PostgresStore::connect(&pg_settings(args, url)).await?),
        None => Arc::new(EmbeddedStore::open(&args.data_dir, args.sqlite_sync)?),
    })
}

/// The PostgreSQL settings of a store configuration.
pub fn pg_settings(args: &StoreArgs, url: &str) -> PgSettings {
    PgSettings {
        pool_size: args.pg_pool_size,
        ..args.pg.settings(url)
    }
}

/// Threads per worker for blocking work (see `run`).
const BLOCKING_THREADS_PER_WORKER: usize = 8;

/// Runs Weft on `listener` until `shutdown` is cancelled, then shuts down in order:
/// stop accepting → flush every document and close its sessions with 1001 → stop HTTP.
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    // Before anything else: a TLS misconfiguration must stop start-up, never fall back to HTTP.
    let tls = args.tls.server_config()?;
    // Before the store opens, so what it records at start-up is kept.
    let prometheus = metrics::install();
    let weft = Weft::builder().settings(args.clone()).build().await?;
    let web_dir = args.web_dir.clone();
    let addr = listener.local_addr()?;
    let mounted = weft.clone();
    let app = move || {
        ws::takeover::app(
            App::new()
                .app_data(web::Data::new(mounted.registry().clone()))
                .app_data(web::Data::new(mounted.gate().clone()))
                .app_data(web::Data::new(prometheus.clone()))
                .route("/healthz", web::get().to(http::health::healthz))
                .route("/readyz", web::get().to(http::health::readyz))
                .route("/metrics", web::get().to(http::metrics::render))
                // Before the embedded part: its `/api/v1` scope would take this path otherwise.
                .route("/api/v1/tokens", web::post().to(access::mint::mint_route))
                .configure(|cfg| mounted.configure(cfg))
                .configure(|cfg| http::web::configure(cfg, &web_dir)),
        )
    };
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    // actix-web's `HttpServer`, assembled by `ws::takeover` so that upgraded WebSocket
    // connections leave the HTTP dispatcher (see there).
    let options = ws::takeover::ServerOptions {
        workers: args.workers,
        // Blocking work here is CPU-bound (rebuilding and compacting documents, SQLite reads
        // behind one lock): more threads than this cannot run at once on a few cores, and each
        // extra one costs a stack and an allocator arena. (actix's default is 512 / cores.)
        blocking_threads: BLOCKING_THREADS_PER_WORKER,
        // A connection must finish its TLS handshake and send its request head (the upgrade)
        // in time, so idle sockets cannot pile up before the gate has even seen them.
        handshake_timeout: args.handshake_timeout,
        shutdown_timeout: 5,
    };
    let server = ws::takeover::serve(app, listener, tls, &options)?;
    let handle = server.handle();
    let store = weft.registry().store().kind();
    info!(%addr, store, "weft listening on {http}://{addr} (WebSocket: {ws}://{addr}/ws/{{document}})");
    let server_task = tokio::spawn(server);

    shutdown.cancelled().await;
    info!("shutting down: no new connections, flushing documents");
    handle.pause().await;
    if !weft.shutdown(args.shutdown_deadline).await {
        warn!(deadline = ?args.shutdown_deadline, "some documents did not finish flushing in time");
    }
    handle.stop(true).await;
    let _ = server_task.await;
    info!("shutdown complete");
    Ok(())
}
